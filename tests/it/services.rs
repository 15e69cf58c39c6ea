//! Compute beyond EC2 (`halt_services`) against the emulator: RDS, ECS and Lambda counted by
//! `check`, halted by `halt` (the exempt untouched, each change journaled with its undo), and
//! given back exactly by `restore`; a dry run changes nothing; a service whose API is refused is
//! an error of that service and region, while the rest is halted.

use std::io::{Read, Write};

use crate::common::config::Toml;
use crate::common::services::*;
use crate::common::*;
use serde_json::Value;

fn config(extra: &str) -> String {
    Toml::new()
        .payer(
            &["us-east-1"],
            &format!("halt_services = [\"all\"]\n{extra}"),
        )
        .into()
}

fn texts(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// Counted, halted but for the exempt, given back exactly, a second restore a no-op.
#[tokio::test(flavor = "multi_thread")]
async fn every_service_is_halted_but_the_exempt_and_restored_exactly() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let reports = database(&sdk, "reports", &[]).await;
    let prod = database(&sdk, "prod", &[("runaway:exempt", "true")]).await;
    let (web, task) = ecs_cluster(&sdk, "batch", "web", 3).await;
    let looping = function(&sdk, "loop", None).await;
    let capped = function(&sdk, "capped", Some(5)).await;
    let listed = function(&sdk, "listed", None).await;
    let w = Workdir::new(&config(&format!(
        "max_running = {{ rds = 1, ecs_tasks = 10 }}\nexempt_resources = [\"{listed}\"]"
    )));

    // Counted: two databases over a limit of one.
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let account = &out.json()["accounts"][0];
    assert_eq!(account["services"]["rds"]["running"], 2, "{account}");
    assert_eq!(account["services"]["rds"]["regions"]["us-east-1"], 2);
    assert_eq!(account["services"]["lambda"]["running"], 3);
    assert_eq!(account["violations"][0]["rule"], "max_running.rds");
    assert_eq!(account["violations"].as_array().unwrap().len(), 1);

    // A dry run: the plan, nothing changed.
    let dry = w
        .run(&moto.url, &["halt", "--dry-run", "--json"], &[])
        .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    let services = &dry.json()["accounts"][0]["services"];
    assert_eq!(
        texts(&services["rds"]["stopped"]),
        std::slice::from_ref(&reports)
    );
    assert_eq!(database_status(&sdk, "reports").await, "available");
    assert_eq!(desired_count(&sdk, "batch", "web").await, 3);
    assert_eq!(reserved(&sdk, "loop").await, None);

    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    let incident = r["incident"].as_str().unwrap().to_owned();
    let services = &r["accounts"][0]["services"];
    assert_eq!(
        texts(&services["rds"]["stopped"]),
        std::slice::from_ref(&reports)
    );
    assert_eq!(services["rds"]["skipped"][0]["arn"], prod.as_str());
    assert!(
        services["rds"]["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("runaway:exempt")
    );
    let mut ecs = vec![web.clone(), task.clone()];
    ecs.sort();
    assert_eq!(texts(&services["ecs"]["stopped"]), ecs);
    assert_eq!(
        texts(&services["ecs"]["not_restorable"]),
        std::slice::from_ref(&task)
    );
    let mut held = vec![looping.clone(), capped.clone()];
    held.sort();
    assert_eq!(texts(&services["lambda"]["stopped"]), held);
    assert_eq!(services["lambda"]["skipped"][0]["arn"], listed.as_str());
    assert_eq!(database_status(&sdk, "reports").await, "stopped");
    assert_eq!(database_status(&sdk, "prod").await, "available");
    assert_eq!(desired_count(&sdk, "batch", "web").await, 0);
    assert_eq!(reserved(&sdk, "loop").await, Some(0));
    assert_eq!(reserved(&sdk, "capped").await, Some(0));
    assert_eq!(reserved(&sdk, "listed").await, None);

    // `status INCIDENT` says what was changed, per kind.
    let status = w.run(&moto.url, &["status", &incident], &[]).await;
    assert_eq!(status.code, 0, "{status:?}");
    for said in [
        "stop_db_instance 1",
        "scale_ecs_service 1",
        "stop_ecs_task 1",
        "set_concurrency 2",
    ] {
        assert!(
            status.stdout.contains(said),
            "{said} not in {}",
            status.stdout
        );
    }

    // Without --start-instances the database stays stopped; the settings come back.
    let out = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(database_status(&sdk, "reports").await, "stopped");
    assert_eq!(desired_count(&sdk, "batch", "web").await, 3);
    assert_eq!(
        reserved(&sdk, "loop").await,
        None,
        "no reserved concurrency, as before"
    );
    assert_eq!(reserved(&sdk, "capped").await, Some(5), "the 5 it had");
    let kept = out.json()["kept"].to_string();
    assert!(
        kept.contains("--start-instances") && kept.contains("cannot be started again"),
        "{kept}"
    );

    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(database_status(&sdk, "reports").await, "available");

    // A second restore finds nothing left to undo and changes nothing.
    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["restored"], serde_json::json!([]));
    assert_eq!(desired_count(&sdk, "batch", "web").await, 3);
    assert_eq!(reserved(&sdk, "capped").await, Some(5));
}

/// A stand-in for Lambda that refuses every call as AWS does (moto cannot refuse): Lambda is
/// reached there through `AWS_ENDPOINT_URL_LAMBDA`, the rest through moto.
fn refusing_lambda() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut buf = [0u8; 65536];
            let _ = conn.read(&mut buf);
            let body = r#"{"Message":"User: arn:aws:sts::123456789012:assumed-role/runawaytrain-guard/x is not authorized to perform: lambda:ListFunctions on resource: *"}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nx-amzn-ErrorType: AccessDeniedException\r\nx-amzn-RequestId: 0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_service_is_an_error_of_that_service_and_the_rest_is_halted() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    database(&sdk, "reports", &[]).await;
    function(&sdk, "loop", None).await;
    let lambda = refusing_lambda();
    let env = [("AWS_ENDPOINT_URL_LAMBDA", lambda.as_str())];
    let w = Workdir::new(&config(""));

    let out = w.run(&moto.url, &["check", "--json"], &env).await;
    assert_eq!(out.code, 3, "could not check everything: {out:?}");
    let account = &out.json()["accounts"][0];
    assert_eq!(account["state"], "error");
    assert!(
        account["services"].get("lambda").is_none(),
        "never a zero: {account}"
    );
    assert_eq!(account["services"]["rds"]["running"], 1);
    let errors = account["errors"].to_string();
    assert!(
        errors.contains("lambda:ListFunctions") && errors.contains("us-east-1"),
        "{errors}"
    );

    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &env).await;
    assert_eq!(out.code, 1, "done in part: {out:?}");
    let services = &out.json()["accounts"][0]["services"];
    assert_eq!(services["rds"]["stopped"].as_array().unwrap().len(), 1);
    let lambda_errors = services["lambda"]["errors"].to_string();
    assert!(lambda_errors.contains("AccessDenied"), "{lambda_errors}");
    assert_eq!(database_status(&sdk, "reports").await, "stopped");
}

/// AWS starts a stopped database again after 7 days: the next check of `serve` stops it again
/// under its incident, says so in its report, and `restore --start-instances` starts it once.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_aws_started_again_is_stopped_again_until_restored() {
    use crate::common::bot::BotHarness;
    let h = BotHarness::start(|topic| {
        Toml::new()
            .guard("grace_period = \"10m\"")
            .notify(topic)
            .payer(
                &["us-east-1"],
                "halt_services = [\"rds\"]\nmax_running = { rds = 0 }",
            )
            .into()
    })
    .await;
    let sdk = h.moto.sdk("us-east-1").await;
    let arn = database(&sdk, "reports", &[]).await;
    let now = chrono::Utc::now();
    h.bot.check_step(now).await.unwrap();
    let ran = h
        .bot
        .deadline_step(now + chrono::Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!(ran.len(), 1);
    let incident = ran[0].clone();
    assert_eq!(database_status(&sdk, "reports").await, "stopped");
    let said = runawaytrain::app::status::incident_text(h.bot.journal.as_ref(), &incident)
        .unwrap()
        .unwrap();
    assert!(
        said.contains("rds: halted 1") && said.contains("stop_db_instance 1"),
        "{said}"
    );

    // Seven days later AWS starts it.
    aws_sdk_rds::Client::new(&sdk)
        .start_db_instance()
        .db_instance_identifier("reports")
        .send()
        .await
        .unwrap();
    let report = h
        .bot
        .check_step(now + chrono::Duration::days(7))
        .await
        .unwrap();
    assert_eq!(report.restopped.len(), 1, "{:?}", report.restopped);
    assert_eq!(report.restopped[0].arn, arn);
    assert_eq!(report.restopped[0].incident, incident);
    assert_eq!(report.restopped[0].error, None);
    assert_eq!(database_status(&sdk, "reports").await, "stopped");
    let stops = h
        .bot
        .journal
        .changes(&incident)
        .unwrap()
        .into_iter()
        .filter(|c| c.target == arn)
        .count();
    assert_eq!(stops, 2, "the stop and the re-stop, under one incident");
    // Nothing more to do while it stays stopped.
    let again = h
        .bot
        .check_step(now + chrono::Duration::days(7) + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert!(again.restopped.is_empty());

    // `restore` from the command line, over the bot's journal.
    let config = std::fs::read_to_string(h.dir.path().join("runaway.toml"))
        .unwrap()
        .replace(
            "state_path = \"journal.db\"",
            &format!(
                "state_path = \"{}\"",
                h.dir.path().join("journal.db").display()
            ),
        );
    let w = Workdir::new(&config);
    let out = w
        .run(
            &h.moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(database_status(&sdk, "reports").await, "available");
    assert_eq!(out.json()["restored"].as_array().unwrap().len(), 2);
}

/// SageMaker, Batch and EKS: notebooks stopped and started again, an endpoint reported with
/// what it runs and never deleted, queues and compute environments disabled and enabled again,
/// node groups counted and never scaled. (moto finishes training and processing jobs at once and
/// has no StopTrainingJob: stopping a job in progress is held by the core's tests.)
#[tokio::test(flavor = "multi_thread")]
async fn sagemaker_batch_and_eks_are_counted_halted_and_restored() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let nb = notebook(&sdk, "forgotten").await;
    let ep = endpoint(&sdk, "chat", "ml.g4dn.xlarge", 2).await;
    let (env, queue) = batch(&sdk, "render").await;
    let ng = node_group(&sdk, "prod", "gpu", 3).await;
    // The node group's nodes are EC2 instances, tagged as EKS tags them (moto starts none).
    let nodes = launch(
        &sdk,
        2,
        &[
            ("eks:cluster-name", "prod"),
            ("eks:nodegroup-name", "gpu"),
            ("kubernetes.io/cluster/prod", "owned"),
        ],
        false,
    )
    .await;
    // Two self-managed nodes of the same cluster: in no managed node group.
    let own_nodes = launch(&sdk, 2, &[("kubernetes.io/cluster/prod", "owned")], false).await;
    let w = Workdir::new(&config(
        "max_running = { sagemaker_notebooks = 0, eks_nodes = 10 }",
    ));

    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let account = &out.json()["accounts"][0];
    assert_eq!(account["services"]["sagemaker"]["running"], 2, "{account}");
    assert_eq!(
        account["services"]["eks"]["running"], 5,
        "3 desired in the node group, 2 self-managed: {account}"
    );
    assert_eq!(account["services"]["batch"]["running"], 2, "{account}");
    assert_eq!(
        account["violations"][0]["rule"],
        "max_running.sagemaker_notebooks"
    );
    assert_eq!(
        account["violations"].as_array().unwrap().len(),
        1,
        "{account}"
    );

    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    let incident = r["incident"].as_str().unwrap().to_owned();
    let services = &r["accounts"][0]["services"];
    assert_eq!(
        texts(&services["sagemaker"]["stopped"]),
        std::slice::from_ref(&nb)
    );
    let endpoint = &services["sagemaker"]["skipped"][0];
    assert_eq!(endpoint["arn"], ep.as_str());
    assert!(
        endpoint["reason"]
            .as_str()
            .unwrap()
            .contains("2 × ml.g4dn.xlarge"),
        "{endpoint}"
    );
    let mut batch = vec![env.clone(), queue.clone()];
    batch.sort();
    assert_eq!(texts(&services["batch"]["stopped"]), batch);
    let skipped: Vec<&str> = services["eks"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["arn"].as_str().unwrap())
        .collect();
    assert!(skipped.contains(&ng.as_str()), "{skipped:?}");
    assert!(
        skipped.iter().any(|a| a.ends_with(":cluster/prod")),
        "the self-managed nodes, said under their cluster: {skipped:?}"
    );
    assert!(services["eks"]["stopped"].as_array().unwrap().is_empty());
    // The nodes stopped the EC2 way, and said with their cluster and node group.
    let stopped_nodes = &services["eks"]["nodes"];
    assert_eq!(
        stopped_nodes.as_array().unwrap().len(),
        4,
        "{stopped_nodes}"
    );
    for n in stopped_nodes.as_array().unwrap() {
        let id = n["instance_id"].as_str().unwrap().to_owned();
        let group = if nodes.contains(&id) {
            "gpu"
        } else {
            assert!(own_nodes.contains(&id), "{n}");
            "self-managed"
        };
        assert_eq!(
            (n["cluster"].as_str(), n["node_group"].as_str()),
            (Some("prod"), Some(group))
        );
    }
    assert!(out.stderr.is_empty() || !out.stderr.contains("panicked"));
    assert_eq!(notebook_status(&sdk, "forgotten").await, "Stopped");
    assert_eq!(
        batch_states(&sdk).await,
        (vec!["DISABLED".to_owned()], vec!["DISABLED".to_owned()])
    );
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    assert!(
        sm.describe_endpoint()
            .endpoint_name("chat")
            .send()
            .await
            .is_ok()
    );
    let eks = aws_sdk_eks::Client::new(&sdk)
        .describe_nodegroup()
        .cluster_name("prod")
        .nodegroup_name("gpu")
        .send()
        .await
        .unwrap();
    assert_eq!(
        eks.nodegroup()
            .unwrap()
            .scaling_config()
            .unwrap()
            .desired_size(),
        Some(3),
        "never scaled"
    );

    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(notebook_status(&sdk, "forgotten").await, "InService");
    assert_eq!(
        batch_states(&sdk).await,
        (vec!["ENABLED".to_owned()], vec!["ENABLED".to_owned()])
    );
}

/// An organisation: the payer and a member reached through its role, every service present in
/// each; each account counts its own.
#[tokio::test(flavor = "multi_thread")]
async fn an_organisation_check_counts_every_service_of_each_account() {
    let moto = Moto::start();
    let payer = moto.sdk("us-east-1").await;
    let member = moto.sdk_in(MEMBER, "us-east-1").await;
    for (sdk, n) in [(&payer, 1), (&member, 2)] {
        for i in 0..n {
            database(sdk, &format!("db-{i}"), &[]).await;
            function(sdk, &format!("fn-{i}"), None).await;
            notebook(sdk, &format!("nb-{i}")).await;
        }
        ecs_cluster(sdk, "c", "web", 2).await;
        batch(sdk, "b").await;
        node_group(sdk, "k", "ng", n).await;
    }
    let w = Workdir::new(&format!(
        "{}\n[[accounts]]\nid = \"{MEMBER}\"\nname = \"research\"\nrole_arn = \"{MEMBER_ROLE}\"\nregions = [\"us-east-1\"]\nhalt_services = [\"all\"]\n",
        config("")
    ));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    for (i, n) in [(0, 1), (1, 2)] {
        let s = &r["accounts"][i]["services"];
        assert_eq!(s["rds"]["running"], n, "{s}");
        assert_eq!(s["lambda"]["running"], n, "{s}");
        assert_eq!(s["sagemaker"]["running"], n, "{s}");
        assert_eq!(s["eks"]["running"], n, "{s}");
        // One standalone task (moto's services start none) and the queue and environment.
        assert_eq!(s["ecs"]["running"], 1, "{s}");
        assert_eq!(s["batch"]["running"], 2, "{s}");
    }
}
