//! Compute beyond EC2 seeded in moto: RDS databases, an ECS cluster with a service and a
//! standalone task, Lambda functions. moto quirks met here: an ECS service never starts tasks
//! (its `runningCount` stays 0), a standalone Fargate task reads back `DEACTIVATING` while still
//! listed as desired `RUNNING`, and a function's code need not be a real zip.

use aws_config::SdkConfig;

/// An RDS PostgreSQL instance, `available` at once in moto; its ARN.
pub async fn database(sdk: &SdkConfig, id: &str, tags: &[(&str, &str)]) -> String {
    let mut req = aws_sdk_rds::Client::new(sdk)
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("guard")
        .master_user_password("correct-horse-battery")
        .allocated_storage(20);
    for (k, v) in tags {
        req = req.tags(aws_sdk_rds::types::Tag::builder().key(*k).value(*v).build());
    }
    req.send()
        .await
        .expect("CreateDBInstance")
        .db_instance
        .unwrap()
        .db_instance_arn
        .unwrap()
}

pub async fn database_status(sdk: &SdkConfig, id: &str) -> String {
    aws_sdk_rds::Client::new(sdk)
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .db_instance_status()
        .unwrap()
        .to_owned()
}

/// An ECS cluster `cluster` with a service `service` of `desired` tasks and one standalone
/// Fargate task started by RunTask: (service ARN, task ARN).
pub async fn ecs_cluster(
    sdk: &SdkConfig,
    cluster: &str,
    service: &str,
    desired: i32,
) -> (String, String) {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    ecs.create_cluster()
        .cluster_name(cluster)
        .send()
        .await
        .unwrap();
    ecs.register_task_definition()
        .family("miner")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("public.ecr.aws/docker/library/busybox:latest")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let svc = ecs
        .create_service()
        .cluster(cluster)
        .service_name(service)
        .task_definition("miner")
        .desired_count(desired)
        .send()
        .await
        .unwrap()
        .service
        .unwrap()
        .service_arn
        .unwrap();
    let subnet = aws_sdk_ec2::Client::new(sdk)
        .describe_subnets()
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .subnet_id()
        .unwrap()
        .to_owned();
    let task = ecs
        .run_task()
        .cluster(cluster)
        .task_definition("miner")
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(
            aws_sdk_ecs::types::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                        .subnets(subnet)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .tasks()[0]
        .task_arn()
        .unwrap()
        .to_owned();
    (svc, task)
}

pub async fn desired_count(sdk: &SdkConfig, cluster: &str, service: &str) -> i32 {
    aws_sdk_ecs::Client::new(sdk)
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap()
        .services()[0]
        .desired_count()
}

/// A Lambda function, with `reserved` concurrency if given; its ARN.
pub async fn function(sdk: &SdkConfig, name: &str, reserved: Option<i32>) -> String {
    let iam = aws_sdk_iam::Client::new(sdk);
    let role = match iam.get_role().role_name("fn-role").send().await {
        Ok(r) => r.role.unwrap().arn,
        Err(_) => iam
            .create_role()
            .role_name("fn-role")
            .assume_role_policy_document(r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#)
            .send()
            .await
            .unwrap()
            .role
            .unwrap()
            .arn,
    };
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let arn = lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role)
        .handler("app.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(
                    b"moto does not unpack it".to_vec(),
                ))
                .build(),
        )
        .send()
        .await
        .expect("CreateFunction")
        .function_arn
        .unwrap();
    if let Some(n) = reserved {
        lambda
            .put_function_concurrency()
            .function_name(name)
            .reserved_concurrent_executions(n)
            .send()
            .await
            .unwrap();
    }
    arn
}

pub async fn reserved(sdk: &SdkConfig, name: &str) -> Option<i32> {
    aws_sdk_lambda::Client::new(sdk)
        .get_function_concurrency()
        .function_name(name)
        .send()
        .await
        .unwrap()
        .reserved_concurrent_executions()
}

/// The role SageMaker, Batch and EKS resources are created with in the emulator.
async fn service_role(sdk: &SdkConfig) -> String {
    let iam = aws_sdk_iam::Client::new(sdk);
    match iam.get_role().role_name("service-role").send().await {
        Ok(r) => r.role.unwrap().arn,
        Err(_) => {
            iam.create_role()
                .role_name("service-role")
                .assume_role_policy_document(r#"{"Version": "2012-10-17", "Statement": []}"#)
                .send()
                .await
                .unwrap()
                .role
                .unwrap()
                .arn
        }
    }
}

/// A SageMaker notebook instance, `InService` at once in moto; its ARN.
pub async fn notebook(sdk: &SdkConfig, name: &str) -> String {
    let role = service_role(sdk).await;
    aws_sdk_sagemaker::Client::new(sdk)
        .create_notebook_instance()
        .notebook_instance_name(name)
        .instance_type(aws_sdk_sagemaker::types::InstanceType::MlT3Medium)
        .role_arn(role)
        .send()
        .await
        .expect("CreateNotebookInstance")
        .notebook_instance_arn
        .unwrap()
}

pub async fn notebook_status(sdk: &SdkConfig, name: &str) -> String {
    aws_sdk_sagemaker::Client::new(sdk)
        .describe_notebook_instance()
        .notebook_instance_name(name)
        .send()
        .await
        .unwrap()
        .notebook_instance_status
        .unwrap()
        .as_str()
        .to_owned()
}

/// A SageMaker endpoint of `count` × `instance_type`; its ARN.
pub async fn endpoint(sdk: &SdkConfig, name: &str, instance_type: &str, count: i32) -> String {
    use aws_sdk_sagemaker::types::{
        ContainerDefinition, ProductionVariant, ProductionVariantInstanceType,
    };
    let role = service_role(sdk).await;
    let sm = aws_sdk_sagemaker::Client::new(sdk);
    sm.create_model()
        .model_name(name)
        .execution_role_arn(role)
        .primary_container(ContainerDefinition::builder().image("model:latest").build())
        .send()
        .await
        .unwrap();
    sm.create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(
            ProductionVariant::builder()
                .variant_name("main")
                .model_name(name)
                .initial_instance_count(count)
                .instance_type(ProductionVariantInstanceType::from(instance_type))
                .build(),
        )
        .send()
        .await
        .unwrap();
    sm.create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(name)
        .send()
        .await
        .unwrap()
        .endpoint_arn
        .unwrap()
}

/// A managed Fargate compute environment and a job queue on it, both `ENABLED`: their ARNs.
pub async fn batch(sdk: &SdkConfig, name: &str) -> (String, String) {
    use aws_sdk_batch::types::{
        CeState, CeType, ComputeEnvironmentOrder, ComputeResource, CrType, JqState,
    };
    let role = service_role(sdk).await;
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let subnet = ec2.describe_subnets().send().await.unwrap().subnets()[0]
        .subnet_id()
        .unwrap()
        .to_owned();
    let group = ec2
        .describe_security_groups()
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_owned();
    let b = aws_sdk_batch::Client::new(sdk);
    let env = b
        .create_compute_environment()
        .compute_environment_name(format!("{name}-env"))
        .r#type(CeType::Managed)
        .state(CeState::Enabled)
        .compute_resources(
            ComputeResource::builder()
                .r#type(CrType::Fargate)
                .maxv_cpus(16)
                .subnets(subnet)
                .security_group_ids(group)
                .build(),
        )
        .service_role(role)
        .send()
        .await
        .unwrap()
        .compute_environment_arn
        .unwrap();
    let queue = b
        .create_job_queue()
        .job_queue_name(format!("{name}-queue"))
        .state(JqState::Enabled)
        .priority(1)
        .compute_environment_order(
            ComputeEnvironmentOrder::builder()
                .order(1)
                .compute_environment(&env)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .job_queue_arn
        .unwrap();
    (env, queue)
}

/// The states of the Batch compute environments and queues: (environments, queues).
pub async fn batch_states(sdk: &SdkConfig) -> (Vec<String>, Vec<String>) {
    let b = aws_sdk_batch::Client::new(sdk);
    let envs = b.describe_compute_environments().send().await.unwrap();
    let queues = b.describe_job_queues().send().await.unwrap();
    (
        envs.compute_environments()
            .iter()
            .map(|e| e.state().unwrap().as_str().to_owned())
            .collect(),
        queues
            .job_queues()
            .iter()
            .map(|q| q.state().unwrap().as_str().to_owned())
            .collect(),
    )
}

/// An EKS cluster with a managed node group of `desired` nodes; the node group's ARN.
pub async fn node_group(sdk: &SdkConfig, cluster: &str, group: &str, desired: i32) -> String {
    use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
    let role = service_role(sdk).await;
    let eks = aws_sdk_eks::Client::new(sdk);
    eks.create_cluster()
        .name(cluster)
        .role_arn(&role)
        .resources_vpc_config(VpcConfigRequest::builder().build())
        .send()
        .await
        .unwrap();
    eks.create_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(group)
        .node_role(&role)
        .subnets("subnet-00000000000000001")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(desired.max(1) * 2)
                .desired_size(desired)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap()
        .nodegroup_arn
        .unwrap()
}
