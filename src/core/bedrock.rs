//! LLMjacking: Amazon Bedrock called with keys that should not call it. From the CloudTrail
//! records of Bedrock's management events (invocations are recorded by default), judged against
//! the account's `bedrock_principals`: an invocation by anyone else, and any model-access set-up
//! call by anyone not listed, is a `bedrock` incident of its principal, in the same form as
//! tampering (`core::tamper::Tamper`, category `Bedrock`): who, which key (or a Bedrock API
//! key's bearer token), from where, which models. Pure.

use serde_json::Value;

pub use super::tokens::ModelUsage;

use super::launchers::{is_guard, need_at, text_at};
use super::tamper::{Category, Tamper, Verdict, listed, when_and_who};

/// CloudTrail's `eventSource` of Bedrock's calls.
pub const EVENT_SOURCE: &str = "bedrock.amazonaws.com";

/// The calls that run a model and cost per token.
pub const INVOCATIONS: [&str; 4] = [
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "Converse",
    "ConverseStream",
];

/// The calls attackers make first: listing models, and opening access to them.
pub const SETUP_CALLS: [&str; 5] = [
    "ListFoundationModels",
    "GetFoundationModelAvailability",
    "PutUseCaseForModelAccess",
    "CreateFoundationModelAgreement",
    "PutFoundationModelEntitlement",
];

/// Whether the guard judges `event_name` as a Bedrock call.
pub fn is_bedrock_call(event_name: &str) -> bool {
    INVOCATIONS.contains(&event_name) || SETUP_CALLS.contains(&event_name)
}

/// Judges one CloudTrail record (an `AWS API Call via CloudTrail` event's `detail`) of a Bedrock
/// call. `guard`: the guard's identity in the account; `expected`: `bedrock_principals` (user or
/// role ARNs; a role's sessions are its own). The error names what the record lacks.
pub fn judge(record: &Value, guard: &str, expected: &[String]) -> Result<Verdict, String> {
    let text = |path: &str| text_at(record, path);
    let need = |path: &str| need_at(record, path);
    let event_name = need("/eventName")?;
    if !is_bedrock_call(&event_name) {
        return Err(format!(
            "{event_name} is not a Bedrock call this guard judges"
        ));
    }
    if let Some(source) = text("/eventSource").filter(|s| s != EVENT_SOURCE) {
        return Err(format!(
            "{event_name} recorded by {source} rather than {EVENT_SOURCE}"
        ));
    }
    let (time, mut principal) = when_and_who(record)?;
    if is_guard(guard, &principal) {
        return Ok(Verdict::Not("the guard's own call".into()));
    }
    if principal.kind == "AWSService" {
        return Ok(Verdict::Not("an AWS service acting for the account".into()));
    }
    if listed(expected, &principal) {
        return Ok(Verdict::Not(
            "a principal listed in bedrock_principals".into(),
        ));
    }
    // A Bedrock API key (a service-specific credential) signs with a bearer token: there is no
    // access key to set Inactive, and the record says so.
    let bearer = record
        .pointer("/additionalEventData/callWithBearerToken")
        .is_some_and(|v| v == true || v == "true");
    principal.access_key_id = principal.access_key_id.filter(|_| !bearer);
    let model = text("/requestParameters/modelId");
    let failed = text("/errorCode");
    let what = format!(
        "called {event_name}{}{}{}",
        model.map(|m| format!(" on {m}")).unwrap_or_default(),
        if bearer {
            " with a Bedrock API key (callWithBearerToken)"
        } else {
            ""
        },
        failed
            .map(|e| format!(" (refused: {e})"))
            .unwrap_or_default()
    );
    Ok(Verdict::Tamper(Box::new(Tamper::of_record(
        record,
        Category::Bedrock,
        event_name,
        EVENT_SOURCE,
        time,
        principal,
        what,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(name: &str, identity: Value, extra: Value) -> Value {
        let mut r = json!({
            "eventVersion": "1.09", "eventTime": "2026-12-06T10:00:00Z",
            "eventSource": "bedrock.amazonaws.com", "eventName": name,
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
            "userAgent": "python-requests/2.31", "userIdentity": identity,
            "requestParameters": {"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"},
            "eventID": "e-1", "eventType": "AwsApiCall", "managementEvent": true
        });
        if let (Value::Object(r), Value::Object(more)) = (&mut r, extra) {
            r.extend(more);
        }
        r
    }

    fn user(name: &str, key: &str) -> Value {
        json!({"type": "IAMUser", "arn": format!("arn:aws:iam::111111111111:user/{name}"),
               "userName": name, "accessKeyId": key, "accountId": "111111111111"})
    }

    fn role_session(role: &str) -> Value {
        json!({"type": "AssumedRole",
               "arn": format!("arn:aws:sts::111111111111:assumed-role/{role}/s-1"),
               "accessKeyId": "ASIAEXAMPLE",
               "sessionContext": {"sessionIssuer": {"type": "Role",
                   "arn": format!("arn:aws:iam::111111111111:role/{role}")}}})
    }

    const GUARD: &str =
        "arn:aws:sts::111111111111:assumed-role/runawaytrain-guard/runawaytrain-check";

    #[test]
    fn an_unexpected_invocation_names_principal_key_ip_and_model() {
        let expected = vec!["arn:aws:iam::111111111111:role/chatbot".to_owned()];
        let Verdict::Tamper(t) = judge(
            &record("InvokeModel", user("ci", "AKIALEAKED"), json!({})),
            GUARD,
            &expected,
        )
        .unwrap() else {
            panic!("an incident")
        };
        assert_eq!(t.category, Category::Bedrock);
        assert_eq!(t.access_key_id.as_deref(), Some("AKIALEAKED"));
        assert_eq!(t.source_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(
            t.what,
            "called InvokeModel on anthropic.claude-3-5-sonnet-20240620-v1:0"
        );
        assert_eq!(t.who(), "arn:aws:iam::111111111111:user/ci");
    }

    #[test]
    fn expected_principals_the_guard_and_services_are_not_incidents() {
        let expected = vec!["arn:aws:iam::111111111111:role/chatbot".to_owned()];
        for (identity, why) in [
            (role_session("chatbot"), "bedrock_principals"),
            (role_session("runawaytrain-guard"), "the guard's own call"),
            (
                json!({"type": "AWSService", "invokedBy": "bedrock.amazonaws.com"}),
                "AWS service",
            ),
        ] {
            match judge(&record("Converse", identity, json!({})), GUARD, &expected).unwrap() {
                Verdict::Not(w) => assert!(w.contains(why), "{w}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn setup_calls_alone_are_enough_and_api_keys_and_refusals_are_said() {
        let rec = record(
            "PutUseCaseForModelAccess",
            user("BedrockAPIKey-x1", "ABSKEXAMPLE"),
            json!({"additionalEventData": {"callWithBearerToken": true},
                   "errorCode": "AccessDeniedException", "requestParameters": {}}),
        );
        let Verdict::Tamper(t) = judge(&rec, GUARD, &[]).unwrap() else {
            panic!("an incident")
        };
        assert_eq!(t.access_key_id, None, "no access key to set Inactive");
        assert_eq!(
            t.what,
            "called PutUseCaseForModelAccess with a Bedrock API key (callWithBearerToken) (refused: AccessDeniedException)"
        );
        assert!(
            judge(
                &record("RunInstances", user("a", "k"), json!({})),
                GUARD,
                &[]
            )
            .is_err()
        );
        let mut wrong = record("InvokeModel", user("a", "k"), json!({}));
        wrong["eventSource"] = json!("ec2.amazonaws.com");
        assert!(
            judge(&wrong, GUARD, &[])
                .unwrap_err()
                .contains("rather than bedrock")
        );
    }
}
