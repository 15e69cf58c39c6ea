//! The event path on the emulator: a queue with a dead-letter queue, a rule on the us-east-1
//! default bus targeting it, and a rule in eu-west-1 forwarding to that bus, as the module
//! builds them; and events put the way AWS would send them.
//!
//! Two quirks of moto 5.2.5 shape this harness, both said where they matter:
//! - moto's default SQS target body leaves out the envelope's `account` field, which AWS always
//!   sends. The test rule's target carries an input transformer that writes the documented
//!   envelope back (AWS needs none: the module has none).
//! - moto re-puts a forwarded event in the receiving bus's account and region (AWS keeps the
//!   origin's). Events of another account are therefore sent to the queue as EventBridge
//!   delivers them, in its documented envelope, rather than through a cross-account rule.

use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::{InputTransformer, PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::QueueAttributeName;

use super::Moto;

pub const DETAIL_TYPES: [&str; 3] = [
    "EC2 Instance State-change Notification",
    "AWS API Call via CloudTrail",
    "GuardDuty Finding",
];

pub struct EventPipe {
    pub queue_url: String,
    pub dlq_url: String,
    pub sqs: aws_sdk_sqs::Client,
    /// The payer's us-east-1 configuration.
    pub home: SdkConfig,
}

/// Which patterns the pipe's rules match.
#[derive(Debug, Clone, Copy)]
pub enum Patterns {
    /// Every event of the three detail types the guard reads (most tests: what the guard does
    /// with an event, whatever the module forwards).
    DetailTypes,
    /// The module's own three patterns (`modules/event-pattern`: `pattern`, `tamper` and
    /// `bedrock`), each on a rule of its own, as the module builds them, with these
    /// `bedrock_principal_arns`.
    Module(&'static [&'static str]),
}

/// `modules/event-pattern`'s three patterns (its outputs `json`, `tamper_json` and
/// `bedrock_json`) as Terraform
/// renders them, with `bedrock_principal_arns`: the test runs exactly what the module deploys.
/// The module has no provider, so this is an init and an apply of nothing, offline.
pub fn module_patterns(bedrock_principals: &[&str]) -> ModulePatterns {
    let dir = tempfile::tempdir().unwrap();
    let module = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/terraform/modules/event-pattern"
    );
    let main = format!(
        "module \"p\" {{\n  source = \"{module}\"\n  bedrock_principal_arns = {}\n}}\n\
         output \"pattern\" {{ value = module.p.json }}\noutput \"tamper\" {{ value = module.p.tamper_json }}\n\
         output \"bedrock\" {{ value = module.p.bedrock_json }}\n",
        serde_json::to_string(bedrock_principals).unwrap()
    );
    std::fs::write(dir.path().join("main.tf"), main).unwrap();
    let run = |args: &[&str]| {
        let out = super::terraform_command(args)
            .current_dir(dir.path())
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .expect("terraform");
        assert!(
            out.status.success(),
            "terraform {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&["init", "-input=false", "-no-color"]);
    run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let outputs: serde_json::Value = serde_json::from_slice(&run(&["output", "-json"])).unwrap();
    let text = |name: &str| outputs[name]["value"].as_str().unwrap().to_owned();
    ModulePatterns {
        pattern: text("pattern"),
        tamper: text("tamper"),
        bedrock: text("bedrock"),
    }
}

/// The module's rendered patterns, as JSON.
pub struct ModulePatterns {
    pub pattern: String,
    pub tamper: String,
    pub bedrock: String,
}

/// Builds the pipe. `max_receive`: the dead-letter queue's receive limit; `visibility`: the
/// queue's visibility timeout in seconds.
pub async fn event_pipe(moto: &Moto, max_receive: u32, visibility: u32) -> EventPipe {
    event_pipe_of(moto, max_receive, visibility, Patterns::DetailTypes).await
}

/// The pipe with rules matching `patterns`.
pub async fn event_pipe_of(
    moto: &Moto,
    max_receive: u32,
    visibility: u32,
    patterns: Patterns,
) -> EventPipe {
    let home = moto.sdk("us-east-1").await;
    let sqs = aws_sdk_sqs::Client::new(&home);
    let dlq_url = sqs
        .create_queue()
        .queue_name("runawaytrain-events-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = queue_arn(&sqs, &dlq_url).await;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive});
    let queue_url = sqs
        .create_queue()
        .queue_name("runawaytrain-events")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = queue_arn(&sqs, &queue_url).await;
    let rules: Vec<(&str, &str, String)> = match patterns {
        Patterns::DetailTypes => {
            let pattern = serde_json::json!({"detail-type": DETAIL_TYPES}).to_string();
            vec![("runawaytrain-events", "runawaytrain-forward", pattern)]
        }
        Patterns::Module(principals) => {
            let rendered = module_patterns(principals);
            vec![
                (
                    "runawaytrain-events",
                    "runawaytrain-forward",
                    rendered.pattern,
                ),
                (
                    "runawaytrain-tamper",
                    "runawaytrain-forward-tamper",
                    rendered.tamper,
                ),
                (
                    "runawaytrain-bedrock",
                    "runawaytrain-forward-bedrock",
                    rendered.bedrock,
                ),
            ]
        }
    };
    let central = aws_sdk_eventbridge::Client::new(&home);
    let away = aws_sdk_eventbridge::Client::new(&moto.sdk("eu-west-1").await);
    for (rule, forward, pattern) in rules {
        to_queue(&central, rule, &pattern, &arn).await;
        forwarding(&away, forward, &pattern).await;
    }
    EventPipe {
        queue_url,
        dlq_url,
        sqs,
        home,
    }
}

/// A rule on the central bus sending what `pattern` matches to the queue, in the documented
/// envelope.
async fn to_queue(central: &aws_sdk_eventbridge::Client, rule: &str, pattern: &str, arn: &str) {
    central
        .put_rule()
        .name(rule)
        .event_pattern(pattern)
        .send()
        .await
        .unwrap();
    let envelope = InputTransformer::builder()
        .input_paths_map("id", "$.id")
        .input_paths_map("account", "$.account")
        .input_paths_map("time", "$.time")
        .input_paths_map("region", "$.region")
        .input_paths_map("source", "$.source")
        .input_paths_map("detail-type", "$.detail-type")
        .input_paths_map("resources", "$.resources")
        .input_paths_map("detail", "$.detail")
        .input_template(
            r#"{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", "account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, "detail": <detail>}"#,
        )
        .build()
        .unwrap();
    central
        .put_targets()
        .rule(rule)
        .targets(
            Target::builder()
                .id("queue")
                .arn(arn)
                .input_transformer(envelope)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// A rule in another region forwarding what `pattern` matches to the central bus.
async fn forwarding(away: &aws_sdk_eventbridge::Client, rule: &str, pattern: &str) {
    away.put_rule()
        .name(rule)
        .event_pattern(pattern)
        .send()
        .await
        .unwrap();
    away.put_targets()
        .rule(rule)
        .targets(
            Target::builder()
                .id("central-bus")
                .arn(format!(
                    "arn:aws:events:us-east-1:{}:event-bus/default",
                    super::PAYER
                ))
                .role_arn(format!(
                    "arn:aws:iam::{}:role/runawaytrain-events",
                    super::PAYER
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::QueueArn)
        .unwrap()
}

/// EC2's state-change events for `instances`, put on `region`'s default bus of the payer, as
/// EC2 would emit them (moto emits none itself).
pub async fn put_state_changes(moto: &Moto, region: &str, instances: &[String], state: &str) {
    let eb = aws_sdk_eventbridge::Client::new(&moto.sdk(region).await);
    for chunk in instances.chunks(10) {
        let mut req = eb.put_events();
        for id in chunk {
            req = req.entries(
                PutEventsRequestEntry::builder()
                    .source("aws.ec2")
                    .detail_type(DETAIL_TYPES[0])
                    .resources(format!(
                        "arn:aws:ec2:{region}:{}:instance/{id}",
                        super::PAYER
                    ))
                    .detail(serde_json::json!({"instance-id": id, "state": state}).to_string())
                    .build(),
            );
        }
        let out = req.send().await.unwrap();
        assert_eq!(out.failed_entry_count, 0);
    }
}

/// An event in EventBridge's documented envelope, as it lands on the queue.
pub fn envelope(
    id: &str,
    account: &str,
    region: &str,
    detail_type: &str,
    detail: serde_json::Value,
) -> String {
    let source = match detail_type {
        "GuardDuty Finding" => "aws.guardduty",
        _ => "aws.ec2",
    };
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": region,
        "resources": [],
        "detail": detail,
    })
    .to_string()
}

impl EventPipe {
    /// Sends a body to the queue, as EventBridge delivers an event.
    pub async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// Messages on a queue, visible and in flight.
    pub async fn depth(&self, url: &str) -> u64 {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .map(|k| attrs[k].parse::<u64>().unwrap())
        .sum()
    }
}

/// GuardDuty's sample finding `name` (`tests/fixtures/guardduty/`), about `instance` (or the
/// key's user `user`), with `severity` and `count`.
pub fn sample_finding(name: &str, severity: f64, count: u64) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/guardduty/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f["severity"] = severity.into();
    f["service"]["count"] = count.into();
    f
}

/// A finding put on `region`'s default bus of the payer as GuardDuty sends it (moto has no
/// GuardDuty: the test puts the event GuardDuty would).
pub async fn put_finding(moto: &Moto, region: &str, finding: &serde_json::Value) {
    let eb = aws_sdk_eventbridge::Client::new(&moto.sdk(region).await);
    let out = eb
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .source("aws.guardduty")
                .detail_type(DETAIL_TYPES[2])
                .detail(finding.to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count, 0);
}

/// Puts records on `region`'s default bus as CloudTrail's events arrive there (EventBridge's
/// `source` is the service's, `aws.<service>`).
pub async fn put_cloudtrail(moto: &Moto, region: &str, records: &[serde_json::Value]) {
    let eb = aws_sdk_eventbridge::Client::new(&moto.sdk(region).await);
    for chunk in records.chunks(10) {
        let mut req = eb.put_events();
        for r in chunk {
            let service = r["eventSource"]
                .as_str()
                .unwrap()
                .trim_end_matches(".amazonaws.com");
            req = req.entries(
                PutEventsRequestEntry::builder()
                    .source(format!("aws.{service}"))
                    .detail_type("AWS API Call via CloudTrail")
                    .detail(r.to_string())
                    .build(),
            );
        }
        assert_eq!(req.send().await.unwrap().failed_entry_count, 0);
    }
}

/// Event steps until `n` events are journaled (or ten turns): their `(outcome, note)`.
pub async fn journaled(
    h: &super::bot::BotHarness,
    n: usize,
) -> Vec<(runawaytrain::core::events::Outcome, String)> {
    use chrono::{Duration, Utc};
    for _ in 0..10 {
        h.bot.events_step(Utc::now()).await;
        if h.bot
            .journal
            .events_since(Utc::now() - Duration::hours(1))
            .unwrap()
            .len()
            >= n
        {
            break;
        }
    }
    h.bot
        .journal
        .events_since(Utc::now() - Duration::hours(1))
        .unwrap()
        .iter()
        .map(|e| (e.outcome, e.note.clone().unwrap_or_default()))
        .collect()
}
