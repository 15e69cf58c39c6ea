//! The guard's own compute, so that a halt never stops the guard itself: the EC2 instance it runs
//! on, and its ECS task and service.

use std::time::Duration;

/// The instance the guard runs on, if any, so that a halt never stops the guard itself.
/// `RUNAWAY_SELF_INSTANCE_ID` names it (empty or `none`: not on an instance); otherwise the
/// instance metadata service is asked, briefly, unless `AWS_EC2_METADATA_DISABLED=true`.
pub async fn own_instance_id() -> Option<String> {
    if let Ok(id) = std::env::var("RUNAWAY_SELF_INSTANCE_ID") {
        return (!id.is_empty() && id != "none").then_some(id);
    }
    if std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    let imds = aws_config::imds::Client::builder()
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_secs(1))
        .max_attempts(1)
        .build();
    let id = imds.get("/latest/meta-data/instance-id").await.ok()?;
    Some(id.as_ref().to_owned())
}

/// The guard's own compute beyond an EC2 instance, by ARN, so that a halt of ECS never stops
/// the guard itself: its ECS task and the service that runs it. `RUNAWAY_SELF_COMPUTE_ARNS`
/// names them (comma-separated; empty or `none`: nothing); otherwise, in an ECS task, the task
/// metadata endpoint (`ECS_CONTAINER_METADATA_URI_V4`) is asked, briefly.
pub async fn own_compute() -> Vec<String> {
    if let Ok(list) = std::env::var("RUNAWAY_SELF_COMPUTE_ARNS") {
        return list
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "none")
            .map(str::to_owned)
            .collect();
    }
    let Ok(base) = std::env::var("ECS_CONTAINER_METADATA_URI_V4") else {
        return Vec::new();
    };
    let fetched = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .ok()?;
        let task: serde_json::Value = client
            .get(format!("{base}/task"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(ecs_own_arns(&task))
    };
    match fetched.await {
        Some(arns) => arns,
        None => {
            tracing::warn!(
                "the ECS task metadata could not be read: list the guard's own task and service in RUNAWAY_SELF_COMPUTE_ARNS"
            );
            Vec::new()
        }
    }
}

/// The task's ARN and, when it runs in a service, the service's, from ECS task metadata v4.
fn ecs_own_arns(task: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(arn) = task["TaskARN"].as_str() {
        out.push(arn.to_owned());
    }
    if let (Some(cluster), Some(service)) = (task["Cluster"].as_str(), task["ServiceName"].as_str())
        && let Some((head, name)) = cluster.split_once(":cluster/")
    {
        out.push(format!("{head}:service/{name}/{service}"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_guards_own_task_and_service_from_ecs_metadata() {
        let task = serde_json::json!({
            "Cluster": "arn:aws:ecs:us-east-1:111111111111:cluster/ops",
            "TaskARN": "arn:aws:ecs:us-east-1:111111111111:task/ops/0123456789abcdef",
            "ServiceName": "runawaytrain",
        });
        assert_eq!(
            super::ecs_own_arns(&task),
            [
                "arn:aws:ecs:us-east-1:111111111111:task/ops/0123456789abcdef",
                "arn:aws:ecs:us-east-1:111111111111:service/ops/runawaytrain"
            ]
        );
    }
}
