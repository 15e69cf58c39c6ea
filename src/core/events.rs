//! Events from the event path (EventBridge → SQS), in the guard's words: an EventBridge envelope
//! read strictly, what kind of event it is, and what it should make the guard do. Pure: the SQS
//! loop (`app/bot/events.rs`) receives and journals, this module only reads and decides.
//!
//! The envelope is EventBridge's documented one: `version`, `id`, `detail-type`, `source`,
//! `account`, `time`, `region`, `resources`, `detail`. The three kinds the module's rules forward
//! are read further; any other `detail-type` is a bad message (the rules never send one).

use chrono::{DateTime, Utc};
use serde_json::Value;

/// `detail-type` of EC2's instance state-change events.
pub const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
/// `detail-type` of CloudTrail management events delivered through EventBridge.
pub const API_CALL: &str = "AWS API Call via CloudTrail";
/// `detail-type` of GuardDuty findings.
pub const FINDING: &str = "GuardDuty Finding";

/// The EC2 calls that launch (or start) instances: the CloudTrail events the module forwards,
/// and the ones that trigger a check. The Terraform rules' `eventName` lists are held to this by
/// a test.
pub const LAUNCH_CALLS: [&str; 5] = [
    "RunInstances",
    "RequestSpotInstances",
    "RequestSpotFleet",
    "CreateFleet",
    "StartInstances",
];

/// The calls of the other services this build halts that start paying for compute, as
/// CloudTrail names them: `(source, eventSource, eventNames)`. Each triggers a check of its
/// account, as an EC2 launch does. The Terraform pattern is held to this by a test.
pub const SERVICE_LAUNCH_CALLS: [(&str, &str, &[&str]); 6] = [
    (
        "aws.rds",
        "rds.amazonaws.com",
        &[
            "CreateDBInstance",
            "CreateDBCluster",
            "StartDBInstance",
            "StartDBCluster",
            "RestoreDBInstanceFromDBSnapshot",
            "RestoreDBClusterFromSnapshot",
        ],
    ),
    (
        "aws.ecs",
        "ecs.amazonaws.com",
        &["RunTask", "StartTask", "CreateService", "UpdateService"],
    ),
    (
        "aws.lambda",
        "lambda.amazonaws.com",
        &["CreateFunction20150331", "DeleteFunctionConcurrency"],
    ),
    (
        "aws.sagemaker",
        "sagemaker.amazonaws.com",
        &[
            "CreateNotebookInstance",
            "StartNotebookInstance",
            "CreateTrainingJob",
            "CreateProcessingJob",
            "CreateTransformJob",
            "CreateHyperParameterTuningJob",
            "CreateEndpoint",
        ],
    ),
    (
        "aws.eks",
        "eks.amazonaws.com",
        &["CreateNodegroup", "UpdateNodegroupConfig"],
    ),
    (
        "aws.batch",
        "batch.amazonaws.com",
        &[
            "CreateComputeEnvironment",
            "UpdateComputeEnvironment",
            "CreateJobQueue",
            "UpdateJobQueue",
            "SubmitJob",
        ],
    ),
];

/// Whether an API call starts paying for compute: an EC2 launch, or one of another service.
pub fn is_launch_call(event_name: &str) -> bool {
    LAUNCH_CALLS.contains(&event_name)
        || SERVICE_LAUNCH_CALLS
            .iter()
            .any(|(_, _, names)| names.contains(&event_name))
}

/// The instance states whose events the module forwards: an instance about to cost money.
pub const LAUNCH_STATES: [&str; 2] = ["pending", "running"];

/// One event, read from its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// EventBridge's event id: the same for every delivery of one event.
    pub id: String,
    pub account: String,
    pub region: String,
    pub time: DateTime<Utc>,
    pub detail_type: String,
    pub source: String,
    /// The `detail` object as sent.
    pub detail: Value,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// An instance changed state.
    StateChange { instance_id: String, state: String },
    /// An API call recorded by CloudTrail; `error_code` when the call failed.
    ApiCall {
        event_name: String,
        error_code: Option<String>,
    },
    /// A GuardDuty finding.
    Finding {
        finding_id: String,
        finding_type: String,
        severity: f64,
    },
}

/// What an event led to: `runaway events`' `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It started a check of its account.
    Check,
    /// A check of its account was already due; it joined that one.
    Coalesced,
    /// Kept in the journal for later work (a failed launch call, a GuardDuty finding), no check.
    Kept,
    /// Nothing to do: an account that is not watched, a state that costs nothing.
    Ignored,
    /// Delivered before: at-least-once delivery, journaled once.
    Duplicate,
    /// Not an event the guard can read; left on the queue for its dead-letter queue.
    Problem,
    /// A GuardDuty finding a `[[guardduty]]` rule takes: it opened or updated an incident.
    Incident,
    /// An inline-policy write by the guard's own role that it did not journal: the notify list
    /// was told and `/healthz` says so.
    Alerted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::Coalesced => "coalesced",
            Self::Kept => "kept",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
            Self::Problem => "problem",
            Self::Incident => "incident",
            Self::Alerted => "alerted",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Self::Check,
            Self::Coalesced,
            Self::Kept,
            Self::Ignored,
            Self::Duplicate,
            Self::Problem,
            Self::Incident,
            Self::Alerted,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// What an event asks of the guard, before coalescing.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Check the account now.
    CheckAccount,
    /// Keep it (no check), with why.
    Keep(&'static str),
    /// Nothing to do, with why.
    Ignore(&'static str),
    /// A GuardDuty finding of a watched account: the `[[guardduty]]` rules decide.
    Finding,
    /// An inline-policy write in a watched account: held to the journal if the guard's role
    /// made it (`core::policy_writes`), judged as tampering if someone else made it to the
    /// guard's role.
    PolicyWrite,
    /// A call that may be tampering with the guard or stopping things behind its back
    /// (`core::tamper` judges).
    Tamper,
    /// An Amazon Bedrock call, failed or not (`core::bedrock` judges against
    /// `bedrock_principals`): a refused invocation is a leaked key probing.
    Bedrock,
}

/// What `event` should make the guard do; `watched`: its account is one the guard watches.
pub fn decide(event: &Event, watched: bool) -> Decision {
    if !watched {
        return Decision::Ignore("account not watched");
    }
    match &event.kind {
        Kind::StateChange { state, .. } if LAUNCH_STATES.contains(&state.as_str()) => {
            Decision::CheckAccount
        }
        Kind::StateChange { .. } => Decision::Ignore("a state that costs nothing"),
        Kind::ApiCall { event_name, .. } if crate::core::bedrock::is_bedrock_call(event_name) => {
            Decision::Bedrock
        }
        Kind::ApiCall {
            error_code: Some(_),
            ..
        } => Decision::Keep("the call failed: nothing launched"),
        Kind::ApiCall { event_name, .. } if is_launch_call(event_name) => Decision::CheckAccount,
        Kind::ApiCall { event_name, .. }
            if crate::core::policy_writes::POLICY_WRITES.contains(&event_name.as_str()) =>
        {
            Decision::PolicyWrite
        }
        Kind::ApiCall { event_name, .. } if crate::core::tamper::is_tamper_call(event_name) => {
            Decision::Tamper
        }
        Kind::ApiCall { .. } => Decision::Ignore("not a launch call"),
        Kind::Finding { .. } => Decision::Finding,
    }
}

/// Reads one SQS message body as an EventBridge event. The error names what was wrong.
pub fn parse(body: &str) -> Result<Event, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(envelope) = &v else {
        return Err("not an EventBridge event: expected a JSON object".into());
    };
    let text = |key: &str| -> Result<String, String> {
        match envelope.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(format!("`{key}` is not a non-empty string")),
            None => Err(format!(
                "not an EventBridge event: the field `{key}` is missing"
            )),
        }
    };
    let id = text("id")?;
    let detail_type = text("detail-type")?;
    let source = text("source")?;
    let account = text("account")?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`account` is not a 12-digit account id: {account:?}"
        ));
    }
    let region = text("region")?;
    if !region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("`region` is not a region name: {region:?}"));
    }
    let time = text("time")?;
    let time = DateTime::parse_from_rfc3339(&time)
        .map_err(|e| format!("`time` is not an RFC 3339 time ({time:?}): {e}"))?
        .with_timezone(&Utc);
    let detail = match envelope.get("detail") {
        Some(d @ Value::Object(_)) => d.clone(),
        Some(_) => return Err("`detail` is not an object".into()),
        None => return Err("not an EventBridge event: the field `detail` is missing".into()),
    };
    let field = |path: &str| -> Result<&Value, String> {
        detail
            .pointer(&format!("/{}", path.replace('.', "/")))
            .filter(|v| !v.is_null())
            .ok_or_else(|| format!("{detail_type}: the field `detail.{path}` is missing"))
    };
    let string = |path: &str| -> Result<String, String> {
        match field(path)? {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(format!(
                "{detail_type}: `detail.{path}` is not a non-empty string"
            )),
        }
    };
    let kind = match detail_type.as_str() {
        STATE_CHANGE => Kind::StateChange {
            instance_id: string("instance-id")?,
            state: string("state")?,
        },
        API_CALL => Kind::ApiCall {
            event_name: string("eventName")?,
            error_code: detail
                .get("errorCode")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        FINDING => Kind::Finding {
            finding_id: string("id")?,
            finding_type: string("type")?,
            severity: match field("severity")? {
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                // GuardDuty's EventBridge events carry a number; its API once sent strings.
                Value::String(s) => s.parse().unwrap_or(f64::NAN),
                _ => f64::NAN,
            },
        },
        other => {
            return Err(format!(
                "unknown detail-type {other:?}: expected one of {STATE_CHANGE:?}, {API_CALL:?}, {FINDING:?}"
            ));
        }
    };
    if let Kind::Finding { severity, .. } = &kind
        && !(0.0..=10.0).contains(severity)
    {
        return Err(format!(
            "{detail_type}: `detail.severity` is not a number from 0 to 10"
        ));
    }
    Ok(Event {
        id,
        account,
        region,
        time,
        detail_type,
        source,
        detail,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(detail_type: &str, detail: Value) -> String {
        serde_json::json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": detail_type,
            "source": "aws.ec2",
            "account": "111111111111",
            "time": "2026-11-25T10:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": detail,
        })
        .to_string()
    }

    #[test]
    fn a_launch_of_another_halted_service_checks_the_account() {
        for name in ["RunTask", "CreateDBInstance", "CreateFunction20150331"] {
            let e = parse(&envelope(
                API_CALL,
                serde_json::json!({"eventName": name, "eventSource": "x.amazonaws.com"}),
            ))
            .unwrap();
            assert_eq!(decide(&e, true), Decision::CheckAccount, "{name}");
        }
        let e = parse(&envelope(
            API_CALL,
            serde_json::json!({"eventName": "DescribeDBInstances"}),
        ))
        .unwrap();
        assert_eq!(decide(&e, true), Decision::Ignore("not a launch call"));
        for name in [
            "StopInstances",
            "StopLogging",
            "DeleteQueue",
            "AttachRolePolicy",
        ] {
            let e = parse(&envelope(API_CALL, serde_json::json!({"eventName": name}))).unwrap();
            assert_eq!(decide(&e, true), Decision::Tamper, "{name}");
            assert!(matches!(decide(&e, false), Decision::Ignore(_)));
        }
        let e = parse(&envelope(
            API_CALL,
            serde_json::json!({"eventName": "PutRolePolicy"}),
        ))
        .unwrap();
        assert_eq!(decide(&e, true), Decision::PolicyWrite);
    }

    #[test]
    fn a_state_change_to_running_checks_and_to_stopped_is_ignored() {
        let e = parse(&envelope(
            STATE_CHANGE,
            serde_json::json!({"instance-id": "i-0abc", "state": "running"}),
        ))
        .unwrap();
        assert_eq!(e.account, "111111111111");
        assert_eq!(e.region, "eu-west-1");
        assert_eq!(e.time.to_rfc3339(), "2026-11-25T10:00:00+00:00");
        assert_eq!(decide(&e, true), Decision::CheckAccount);
        assert_eq!(decide(&e, false), Decision::Ignore("account not watched"));
        let stopped = parse(&envelope(
            STATE_CHANGE,
            serde_json::json!({"instance-id": "i-0abc", "state": "stopped"}),
        ))
        .unwrap();
        assert!(matches!(decide(&stopped, true), Decision::Ignore(_)));
    }

    #[test]
    fn launch_calls_check_failed_calls_are_kept_and_findings_go_to_the_rules() {
        let call = |name: &str, error: Option<&str>| {
            let mut d = serde_json::json!({"eventName": name, "userIdentity": {"type": "IAMUser"}});
            if let Some(code) = error {
                d["errorCode"] = code.into();
            }
            parse(&envelope(API_CALL, d)).unwrap()
        };
        for name in LAUNCH_CALLS {
            assert_eq!(
                decide(&call(name, None), true),
                Decision::CheckAccount,
                "{name}"
            );
        }
        assert!(matches!(
            decide(
                &call("RunInstances", Some("Client.UnauthorizedOperation")),
                true
            ),
            Decision::Keep(_)
        ));
        assert!(matches!(
            decide(&call("DescribeInstances", None), true),
            Decision::Ignore(_)
        ));
        let finding = parse(&envelope(
            FINDING,
            serde_json::json!({"id": "f1", "type": "Backdoor:EC2/C&CActivity.B!DNS", "severity": 8}),
        ))
        .unwrap();
        assert_eq!(
            finding.kind,
            Kind::Finding {
                finding_id: "f1".into(),
                finding_type: "Backdoor:EC2/C&CActivity.B!DNS".into(),
                severity: 8.0
            }
        );
        assert_eq!(decide(&finding, true), Decision::Finding);
        assert!(matches!(decide(&finding, false), Decision::Ignore(_)));
    }

    #[test]
    fn bad_messages_are_errors_that_name_what_is_wrong() {
        let cases: [(&str, &str); 9] = [
            ("not json", "not JSON"),
            ("[1, 2]", "expected a JSON object"),
            (r#"{"id": "x"}"#, "the field `detail-type` is missing"),
            (
                &envelope("Some Other Event", serde_json::json!({})),
                "unknown detail-type \"Some Other Event\"",
            ),
            (
                &envelope(STATE_CHANGE, serde_json::json!({"state": "running"})),
                "`detail.instance-id` is missing",
            ),
            (
                &envelope(API_CALL, serde_json::json!({"eventName": 3})),
                "`detail.eventName` is not a non-empty string",
            ),
            (
                &envelope(
                    FINDING,
                    serde_json::json!({"id": "f", "type": "t", "severity": 11}),
                ),
                "severity",
            ),
            (
                &envelope(STATE_CHANGE, serde_json::json!([])),
                "`detail` is not an object",
            ),
            (
                &envelope(STATE_CHANGE, serde_json::json!({}))
                    .replace("2026-11-25T10:00:00Z", "yesterday"),
                "`time` is not an RFC 3339 time",
            ),
        ];
        for (body, expected) in cases {
            let err = parse(body).unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
        }
        let bad_account =
            envelope(STATE_CHANGE, serde_json::json!({})).replace("111111111111", "1111");
        assert!(parse(&bad_account).unwrap_err().contains("12-digit"));
    }

    #[test]
    fn outcomes_read_back() {
        for o in [
            Outcome::Check,
            Outcome::Coalesced,
            Outcome::Kept,
            Outcome::Ignored,
            Outcome::Duplicate,
            Outcome::Problem,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("other"), None);
    }
}
