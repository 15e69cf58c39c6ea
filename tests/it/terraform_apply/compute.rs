//! Compute beyond EC2 on the applied single-account example: one of each service in the
//! emulator, and the guard's own session, judged by the stand-in for IAM with the resource of
//! each call as the Service Authorization Reference names it, counts, halts and restores them
//! with `halt_services = ["all"]`, every call within the policy.

use super::*;
use crate::common::services::*;

/// What the guard calls on each service, and must be allowed to.
const JUDGED: [&str; 22] = [
    "rds:DescribeDBInstances",
    "rds:StopDBInstance",
    "rds:StartDBInstance",
    "ecs:ListTasks",
    "ecs:DescribeServices",
    "ecs:UpdateService",
    "ecs:StopTask",
    "lambda:ListFunctions",
    "lambda:GetFunctionConcurrency",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "sagemaker:ListNotebookInstances",
    "sagemaker:StopNotebookInstance",
    "sagemaker:StartNotebookInstance",
    "sagemaker:DescribeEndpoint",
    "batch:DescribeJobQueues",
    "batch:UpdateJobQueue",
    "batch:UpdateComputeEnvironment",
    "eks:ListClusters",
    "eks:ListNodegroups",
    "eks:DescribeNodegroup",
    "eks:DescribeCluster",
];

/// `toml`: the example's `runaway_toml` output with the journal and the exemptions set.
pub(super) async fn within_the_policy(
    moto: &Moto,
    proxy: &AuthorizingProxy,
    env: &[(&str, &str)],
    toml: &str,
) {
    let sdk = moto.sdk("us-east-1").await;
    database(&sdk, "orders", &[]).await;
    let (service, _task) = ecs_cluster(&sdk, "web", "api", 2).await;
    function(&sdk, "resize", None).await;
    function(&sdk, "loop", Some(40)).await;
    notebook(&sdk, "forgotten").await;
    endpoint(&sdk, "chat", "ml.g4dn.xlarge", 1).await;
    batch(&sdk, "render").await;
    node_group(&sdk, "prod", "gpu", 2).await;
    // A self-managed node of the cluster: read by DescribeInstances, the cluster described.
    aws_sdk_ec2::Client::new(&sdk)
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("kubernetes.io/cluster/prod")
                        .value("owned")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let w = Workdir::new(&format!(
        "{toml}\nregions = [\"us-east-1\"]\nhalt_services = [\"all\"]\nmax_running = {{ rds = 0 }}\n"
    ));
    let from = proxy.judged().len();

    let out = w.run(&proxy.url, &["check", "--json"], env).await;
    assert_eq!(out.code, 1, "the database is over its limit: {out:?}");
    let account = &out.json()["accounts"][0];
    assert!(
        account["errors"].as_array().unwrap().is_empty(),
        "{account}"
    );
    for (s, n) in [
        ("rds", 1),
        ("lambda", 2),
        ("sagemaker", 2),
        ("batch", 2),
        ("eks", 3),
    ] {
        assert_eq!(account["services"][s]["running"], n, "{s}: {account}");
    }
    let halt = w.run(&proxy.url, &["halt", "--yes", "--json"], env).await;
    assert_eq!(halt.code, 0, "{halt:?}");
    let services = &halt.json()["accounts"][0]["services"];
    for s in ["rds", "ecs", "lambda", "sagemaker", "batch", "eks"] {
        assert!(
            services[s]["errors"].as_array().unwrap().is_empty(),
            "{s}: {services}"
        );
    }
    assert!(
        texts(&services["ecs"]["stopped"]).contains(&service),
        "{services}"
    );
    assert_eq!(database_status(&sdk, "orders").await, "stopped");
    assert_eq!(reserved(&sdk, "resize").await, Some(0));
    let incident = halt.json()["incident"].as_str().unwrap().to_owned();
    let out = w
        .run(
            &proxy.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            env,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(database_status(&sdk, "orders").await, "available");
    assert_eq!(desired_count(&sdk, "web", "api").await, 2);
    assert_eq!(
        (reserved(&sdk, "resize").await, reserved(&sdk, "loop").await),
        (None, Some(40))
    );
    assert_eq!(notebook_status(&sdk, "forgotten").await, "InService");

    let judged = &proxy.judged()[from..];
    let refusals: Vec<_> = judged.iter().filter(|j| !j.decision.allowed()).collect();
    assert!(
        refusals.is_empty(),
        "every call within the policy: {refusals:#?}"
    );
    for action in JUDGED {
        let calls: Vec<_> = judged.iter().filter(|j| j.action == action).collect();
        assert!(!calls.is_empty(), "{action} was judged");
    }
    // Judged on the resource the call names, not on "*".
    for (action, resource) in [
        (
            "rds:StopDBInstance",
            format!("arn:aws:rds:us-east-1:{PAYER}:db:orders"),
        ),
        (
            "lambda:PutFunctionConcurrency",
            format!("arn:aws:lambda:us-east-1:{PAYER}:function:resize"),
        ),
        (
            "sagemaker:StopNotebookInstance",
            format!("arn:aws:sagemaker:us-east-1:{PAYER}:notebook-instance/forgotten"),
        ),
        (
            "eks:DescribeCluster",
            format!("arn:aws:eks:us-east-1:{PAYER}:cluster/prod"),
        ),
    ] {
        assert!(
            judged
                .iter()
                .any(|j| j.action == action && j.resource == resource),
            "{action} on {resource}"
        );
    }
}

fn texts(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}
