//! What IAM authorises for one request: the operation (from `X-Amz-Target`, a query's
//! `Action`, or a REST path), its parameters, and one request per resource it names, with the
//! condition keys the module's policies use.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Principal, account_of};
use crate::common::iam_policy::Request;

/// The operation's name and its parameters (form fields, or a JSON body's top-level strings and
/// lists of strings, the lists as `name.1`, `name.2`, ... like a query's).
pub(super) fn action_and_params(
    head: &str,
    body: &[u8],
    service: &str,
) -> (String, BTreeMap<String, String>) {
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    if let Some(target) = header("x-amz-target") {
        let action = target.rsplit('.').next().unwrap_or_default().to_owned();
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut params = json_params(&json);
        // DynamoDB authorises each item of a transaction as its own action on its table:
        // `Item.N` = "<action> <table>".
        if action == "TransactWriteItems" {
            for (n, item) in json["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let (kind, op) = item
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .expect("a transaction item");
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    other => panic!("no IAM action known for a {other} in a transaction"),
                };
                let table = op["TableName"].as_str().unwrap_or_default();
                params.insert(format!("Item.{}", n + 1), format!("{action} {table}"));
            }
        }
        return (action, params);
    }
    let path = head.lines().next().unwrap_or_default();
    if let Some(found) = rest_operation(service, path, body) {
        return found;
    }
    if let Some(op) = path.split("/operation/").nth(1) {
        return (
            op.split([' ', '?']).next().unwrap().to_owned(),
            BTreeMap::new(),
        );
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let params: BTreeMap<String, String> = params.into_iter().collect();
    let action = params.get("Action").cloned().unwrap_or_else(|| {
        panic!("the authorizing proxy cannot tell the {service} action of {path}")
    });
    (action, params)
}

/// A JSON body's top-level strings, and its lists of strings numbered from 1.
fn json_params(json: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in json.as_object().into_iter().flatten() {
        match v {
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            Value::Array(items) => {
                for (n, item) in items.iter().filter_map(Value::as_str).enumerate() {
                    out.insert(format!("{k}.{}", n + 1), item.to_owned());
                }
            }
            _ => {}
        }
    }
    out
}

fn decoded(segment: &str) -> String {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={segment}")).unwrap_or_default();
    pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default()
}

/// The operations of the REST protocols the guard calls (Lambda, Batch, EKS), from the method
/// and path as the SDK sends them; path parameters named as the operation's input names them.
fn rest_operation(
    service: &str,
    request_line: &str,
    body: &[u8],
) -> Option<(String, BTreeMap<String, String>)> {
    let mut words = request_line.split(' ');
    let method = words.next()?;
    let path = words.next()?.split('?').next()?;
    let segments: Vec<String> = path.trim_matches('/').split('/').map(decoded).collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let mut params = BTreeMap::new();
    let action = match (service, method, seg.as_slice()) {
        ("lambda", "GET", [_, "functions"]) => "ListFunctions",
        ("lambda", m, [_, "functions", name, "concurrency"]) => {
            params.insert("FunctionName".into(), name.to_string());
            match m {
                "GET" => "GetFunctionConcurrency",
                "PUT" => "PutFunctionConcurrency",
                "DELETE" => "DeleteFunctionConcurrency",
                _ => return None,
            }
        }
        ("lambda", "GET", [_, "tags", arn]) => {
            params.insert("Resource".into(), arn.to_string());
            "ListTags"
        }
        ("batch", "POST", ["v1", op]) => {
            params = json_params(&serde_json::from_slice(body).unwrap_or(Value::Null));
            match *op {
                "describejobqueues" => "DescribeJobQueues",
                "describecomputeenvironments" => "DescribeComputeEnvironments",
                "listjobs" => "ListJobs",
                "updatejobqueue" => "UpdateJobQueue",
                "updatecomputeenvironment" => "UpdateComputeEnvironment",
                _ => return None,
            }
        }
        ("eks", "GET", ["clusters"]) => "ListClusters",
        ("eks", "GET", ["clusters", name]) => {
            params.insert("name".into(), name.to_string());
            "DescribeCluster"
        }
        ("eks", "GET", ["clusters", name, "node-groups"]) => {
            params.insert("name".into(), name.to_string());
            "ListNodegroups"
        }
        ("eks", "GET", ["clusters", name, "node-groups", group]) => {
            params.insert("name".into(), name.to_string());
            params.insert("nodegroupName".into(), group.to_string());
            "DescribeNodegroup"
        }
        _ => return None,
    };
    Some((action.to_owned(), params))
}

/// IAM's service prefix for a signing name.
fn prefix(service: &str) -> &str {
    match service {
        "monitoring" => "cloudwatch",
        other => other,
    }
}

/// The resources of a call to the compute beyond EC2, as the Service Authorization Reference
/// names them for each action (a list or a read without one resource: `*`, or the resource
/// type's wildcard where IAM names one).
fn compute_resources(
    service: &str,
    action: &str,
    params: &BTreeMap<String, String>,
    region: &str,
    a: &str,
) -> Vec<String> {
    let arn = |rest: String| format!("arn:aws:{service}:{region}:{a}:{rest}");
    let numbered = |name: &str| -> Vec<String> {
        (1..)
            .map_while(|n| params.get(&format!("{name}.{n}")).cloned())
            .collect()
    };
    // A name, or an ARN given in its place.
    let named = |value: &String, rest: &dyn Fn(&str) -> String| {
        if value.starts_with("arn:") {
            value.clone()
        } else {
            arn(rest(value))
        }
    };
    let cluster = || {
        params
            .get("cluster")
            .map(|c| c.rsplit('/').next().unwrap_or(c).to_owned())
            .unwrap_or_else(|| "default".into())
    };
    match (service, action) {
        ("rds", _) => {
            if let Some(id) = params.get("DBInstanceIdentifier") {
                vec![arn(format!("db:{id}"))]
            } else if let Some(id) = params.get("DBClusterIdentifier") {
                vec![arn(format!("cluster:{id}"))]
            } else if action == "DescribeDBClusters" {
                vec![arn("cluster:*".into())]
            } else {
                vec![arn("db:*".into())]
            }
        }
        ("ecs", "ListTasks") => vec![arn(format!("container-instance/{}/*", cluster()))],
        ("ecs", "DescribeServices") => numbered("services")
            .iter()
            .map(|s| named(s, &|n| format!("service/{}/{n}", cluster())))
            .collect(),
        ("ecs", "DescribeTasks") => numbered("tasks")
            .iter()
            .map(|t| named(t, &|n| format!("task/{}/{n}", cluster())))
            .collect(),
        ("ecs", "UpdateService") => params
            .get("service")
            .map(|s| named(s, &|n| format!("service/{}/{n}", cluster())))
            .into_iter()
            .collect(),
        ("ecs", "StopTask") => params
            .get("task")
            .map(|t| named(t, &|n| format!("task/{}/{n}", cluster())))
            .into_iter()
            .collect(),
        ("lambda", "ListTags") => params.get("Resource").cloned().into_iter().collect(),
        ("lambda", _) => params
            .get("FunctionName")
            .map(|f| named(f, &|n| format!("function:{n}")))
            .into_iter()
            .collect(),
        ("sagemaker", "ListTags") => params.get("ResourceArn").cloned().into_iter().collect(),
        ("sagemaker", _) => [
            ("NotebookInstanceName", "notebook-instance"),
            ("EndpointName", "endpoint"),
            ("EndpointConfigName", "endpoint-config"),
            ("TrainingJobName", "training-job"),
            ("ProcessingJobName", "processing-job"),
            ("TransformJobName", "transform-job"),
            ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
        ]
        .iter()
        .filter(|_| !action.starts_with("List"))
        .filter_map(|(param, kind)| {
            params
                .get(*param)
                .map(|n| arn(format!("{kind}/{}", n.to_ascii_lowercase())))
        })
        .collect(),
        ("batch", "UpdateJobQueue") => params
            .get("jobQueue")
            .map(|q| named(q, &|n| format!("job-queue/{n}")))
            .into_iter()
            .collect(),
        ("batch", "UpdateComputeEnvironment") => params
            .get("computeEnvironment")
            .map(|e| named(e, &|n| format!("compute-environment/{n}")))
            .into_iter()
            .collect(),
        ("eks", "DescribeNodegroup") => vec![arn(format!(
            "nodegroup/{}/{}/00000000-0000-4000-8000-000000000000",
            params["name"], params["nodegroupName"]
        ))],
        ("eks", "DescribeCluster" | "ListNodegroups") => {
            vec![arn(format!("cluster/{}", params["name"]))]
        }
        _ => Vec::new(),
    }
}

/// The requests IAM authorises for one call: one per resource it names.
pub(super) fn requests(
    service: &str,
    action: &str,
    params: &BTreeMap<String, String>,
    region: &str,
    p: &Principal,
    orgs: &HashMap<String, String>,
    look: super::isolation::Look<'_>,
) -> Vec<Request> {
    let a = &p.account;
    if service == "ec2"
        && let Some(requests) = super::isolation::requests(action, params, region, a, look)
    {
        return requests;
    }
    let iam_action = format!("{}:{action}", prefix(service));
    let numbered = |name: &str| -> Vec<String> {
        params
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            })
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let tag_keys: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.starts_with("Tag.") && k.ends_with(".Key"))
        .map(|(_, v)| v.clone())
        .collect();
    if !tag_keys.is_empty() {
        context.insert("aws:TagKeys".into(), tag_keys);
    }
    if let Some(policy) = params.get("PolicyArn") {
        context.insert("iam:PolicyARN".into(), vec![policy.clone()]);
    }
    let table = |name: &str| format!("arn:aws:dynamodb:{region}:{a}:table/{name}");
    if (service, action) == ("dynamodb", "TransactWriteItems") {
        return numbered("Item")
            .iter()
            .map(|item| {
                let (op, name) = item.split_once(' ').expect("action and table");
                Request {
                    action: format!("dynamodb:{op}"),
                    resource: table(name),
                    principal: None,
                    context: context.clone(),
                }
            })
            .collect();
    }
    let resources: Vec<String> = match (service, action) {
        // A read of an index is authorised on the index.
        ("dynamodb", _) => params
            .get("TableName")
            .map(|t| match params.get("IndexName") {
                Some(i) => format!("{}/index/{i}", table(t)),
                None => table(t),
            })
            .into_iter()
            .collect(),
        ("ec2", "CreateTags" | "DeleteTags") => numbered("ResourceId")
            .iter()
            .map(|id| {
                let kind = match id.split('-').next().unwrap() {
                    "i" => "instance",
                    "sg" => "security-group",
                    "vol" => "volume",
                    "snap" => return format!("arn:aws:ec2:{region}::snapshot/{id}"),
                    other => panic!("no ARN known for the EC2 resource {other}-"),
                };
                format!("arn:aws:ec2:{region}:{a}:{kind}/{id}")
            })
            .collect(),
        ("ec2", _) if !numbered("InstanceId").is_empty() && !action.starts_with("Describe") => {
            numbered("InstanceId")
                .iter()
                .map(|id| format!("arn:aws:ec2:{region}:{a}:instance/{id}"))
                .collect()
        }
        ("autoscaling", _) if !action.starts_with("Describe") => params
            .get("AutoScalingGroupName")
            .map(|g| {
                vec![format!(
                    "arn:aws:autoscaling:{region}:{a}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/{g}"
                )]
            })
            .unwrap_or_default(),
        ("iam", _) if params.contains_key("UserName") => {
            vec![format!("arn:aws:iam::{a}:user/{}", params["UserName"])]
        }
        ("iam", _) if params.contains_key("RoleName") => {
            vec![format!("arn:aws:iam::{a}:role/{}", params["RoleName"])]
        }
        ("sts", "AssumeRole") => {
            let role = params["RoleArn"].clone();
            if let Some(org) = orgs.get(&account_of(&role)) {
                context.insert("aws:ResourceOrgID".into(), vec![org.clone()]);
            }
            vec![role]
        }
        ("sns", "Publish") => params
            .get("TopicArn")
            .or(params.get("TargetArn"))
            .cloned()
            .into_iter()
            .collect(),
        ("sqs", _) => params
            .get("QueueUrl")
            .map(|u| {
                let mut path = u.rsplit('/');
                let (name, account) = (path.next().unwrap(), path.next().unwrap());
                vec![format!("arn:aws:sqs:{region}:{account}:{name}")]
            })
            .unwrap_or_default(),
        ("ssm", _) => params
            .get("Name")
            .map(|n| {
                vec![format!(
                    "arn:aws:ssm:{region}:{a}:parameter/{}",
                    n.trim_start_matches('/')
                )]
            })
            .unwrap_or_default(),
        ("logs", _) => params
            .get("logGroupName")
            .map(|g| vec![format!("arn:aws:logs:{region}:{a}:log-group:{g}")])
            .unwrap_or_default(),
        ("rds" | "ecs" | "lambda" | "sagemaker" | "batch" | "eks", _) => {
            compute_resources(service, action, params, region, a)
        }
        _ => Vec::new(),
    };
    let resources = if resources.is_empty() {
        vec!["*".to_owned()]
    } else {
        resources
    };
    resources
        .into_iter()
        .map(|resource| Request {
            action: iam_action.clone(),
            resource,
            principal: None,
            context: context.clone(),
        })
        .collect()
}
