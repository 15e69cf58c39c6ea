use super::*;
use serde_json::json;

/// The documented CloudTrail records the integration tests send too.
fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/cloudtrail/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const GUARD: &str = "arn:aws:sts::123456789012:assumed-role/runawaytrain-guard/runaway-check";
const LOCKOUT: &str = "arn:aws:iam::123456789012:policy/runawaytrain-lockout";
const LAUNCH_DENY: &str = "arn:aws:iam::123456789012:policy/runawaytrain-launch-deny";

struct Setup {
    watch_stops: bool,
    expected: Vec<String>,
    tag_admins: Vec<String>,
    rules: Vec<String>,
}

impl Setup {
    fn new() -> Self {
        Setup {
            watch_stops: true,
            expected: Vec::new(),
            tag_admins: Vec::new(),
            rules: vec!["runawaytrain-events".into(), "runawaytrain-forward".into()],
        }
    }

    fn judge(&self, record: &Value) -> Result<Verdict, String> {
        let policies = [LOCKOUT, LAUNCH_DENY];
        judge(
            record,
            &Watch {
                guard: GUARD,
                watch_stops: self.watch_stops,
                expected_principals: &self.expected,
                tag_admins: &self.tag_admins,
                exempt_tag: "runaway:exempt",
                rules: &self.rules,
                queue: Some("runawaytrain-events"),
                policies: &policies,
            },
        )
    }
}

fn tamper(v: Result<Verdict, String>) -> Tamper {
    match v {
        Ok(Verdict::Tamper(t)) => *t,
        other => panic!("expected tampering, got {other:?}"),
    }
}

fn not(v: Result<Verdict, String>) -> String {
    match v {
        Ok(Verdict::Not(why)) => why,
        other => panic!("expected no tampering, got {other:?}"),
    }
}

#[test]
fn every_documented_record_is_judged_tampering_naming_who_with_which_key_from_where() {
    let cases = [
        (
            "stop-instances",
            Category::Stops,
            "stopped i-0a1b2c3d4e5f60718",
        ),
        (
            "terminate-instances",
            Category::Stops,
            "terminated i-0a1b2c3d4e5f60718",
        ),
        (
            "modify-instance-attribute",
            Category::Stops,
            "termination protection off on i-0a1b2c3d4e5f60718",
        ),
        (
            "create-tags",
            Category::ExemptTag,
            "put the exemption tag runaway:exempt on i-0a1b2c3d4e5f60718",
        ),
        (
            "delete-tags",
            Category::ExemptTag,
            "took the exemption tag runaway:exempt off i-0a1b2c3d4e5f60718",
        ),
        (
            "stop-logging",
            Category::Evasion,
            "stopped CloudTrail logging of trail arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events",
        ),
        (
            "delete-trail",
            Category::Evasion,
            "deleted CloudTrail trail management-events",
        ),
        (
            "update-trail",
            Category::Evasion,
            "changed CloudTrail trail management-events",
        ),
        ("put-event-selectors", Category::Evasion, "event selectors"),
        (
            "delete-detector",
            Category::Evasion,
            "deleted GuardDuty detector 12abc34d567e8fa901bc2d34e56789f0",
        ),
        (
            "update-detector",
            Category::Evasion,
            "disabled GuardDuty detector",
        ),
        (
            "disassociate-from-administrator-account",
            Category::Evasion,
            "left the GuardDuty administrator account",
        ),
        (
            "disable-rule",
            Category::Evasion,
            "disabled the guard's EventBridge rule runawaytrain-events",
        ),
        (
            "delete-rule",
            Category::Evasion,
            "deleted the guard's EventBridge rule",
        ),
        (
            "remove-targets",
            Category::Evasion,
            "removed the targets of the guard's EventBridge rule",
        ),
        (
            "put-rule",
            Category::Evasion,
            "rewrote the guard's EventBridge rule",
        ),
        (
            "set-queue-attributes",
            Category::Evasion,
            "changed the attributes of the guard's queue runawaytrain-events",
        ),
        (
            "delete-queue",
            Category::Evasion,
            "deleted the guard's queue",
        ),
        (
            "attach-role-policy",
            Category::Evasion,
            "AttachRolePolicy on the guard's role runawaytrain-guard",
        ),
        (
            "update-assume-role-policy",
            Category::Evasion,
            "UpdateAssumeRolePolicy on the guard's role",
        ),
        (
            "detach-user-policy",
            Category::Evasion,
            "detached the guard's policy arn:aws:iam::123456789012:policy/runawaytrain-lockout from mallory",
        ),
        (
            "create-policy-version",
            Category::Evasion,
            "rewrote the guard's policy arn:aws:iam::123456789012:policy/runawaytrain-launch-deny",
        ),
    ];
    let setup = Setup::new();
    for (name, category, what) in cases {
        let record = fixture(name);
        assert!(
            is_tamper_call(record["eventName"].as_str().unwrap()),
            "{name}"
        );
        let t = tamper(setup.judge(&record));
        assert_eq!(t.category, category, "{name}");
        assert!(t.what.contains(what), "{name}: {}", t.what);
        assert_eq!(t.principal_arn, "arn:aws:iam::123456789012:user/mallory");
        assert_eq!(t.access_key_id.as_deref(), Some("AKIAMALLORYEXAMPLE"));
        assert_eq!(t.source_ip.as_deref(), Some("203.0.113.66"));
        assert_eq!(
            t.resource(),
            "principal:arn:aws:iam::123456789012:user/mallory"
        );
        let line = t.describe();
        assert!(
            line.contains("mallory")
                && line.contains("AKIAMALLORYEXAMPLE")
                && line.contains("203.0.113.66"),
            "{line}"
        );
    }
}

#[test]
fn the_guards_own_calls_and_aws_services_are_not_tampering() {
    let setup = Setup::new();
    let mut own = fixture("stop-instances");
    own["userIdentity"] = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/runawaytrain-guard/runaway-inc-1",
        "accessKeyId": "ASIAGUARD", "sessionContext": {"sessionIssuer": {"type": "Role",
        "arn": "arn:aws:iam::123456789012:role/runawaytrain-guard", "userName": "runawaytrain-guard"}}});
    assert_eq!(not(setup.judge(&own)), "the guard's own call");
    let mut scaling = fixture("terminate-instances");
    scaling["userIdentity"] = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
        "sessionContext": {"sessionIssuer": {"type": "Role",
        "arn": "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"}}});
    assert!(not(setup.judge(&scaling)).contains("service-linked"));
    scaling["userIdentity"] =
        json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"});
    assert!(not(setup.judge(&scaling)).contains("AWS service"));
}

#[test]
fn stops_are_watched_only_with_watch_stops_and_expected_principals_may_stop() {
    let mut setup = Setup::new();
    setup.watch_stops = false;
    for name in [
        "stop-instances",
        "terminate-instances",
        "modify-instance-attribute",
    ] {
        assert!(
            not(setup.judge(&fixture(name))).contains("watch_stops"),
            "{name}"
        );
    }
    // The defence evasion is watched regardless.
    tamper(setup.judge(&fixture("stop-logging")));
    setup.watch_stops = true;
    // By name, by ARN glob, by the role of a session.
    for entry in ["mallory", "arn:aws:iam::123456789012:user/*"] {
        setup.expected = vec![entry.into()];
        assert!(
            not(setup.judge(&fixture("stop-instances"))).contains("expected_principals"),
            "{entry}"
        );
    }
    setup.expected = vec!["arn:aws:iam::123456789012:role/nightly-stop".into()];
    let mut nightly = fixture("stop-instances");
    nightly["userIdentity"] = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/nightly-stop/lambda",
        "accessKeyId": "ASIANIGHTLY", "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/nightly-stop"}}});
    assert!(not(setup.judge(&nightly)).contains("expected_principals"));
    // An expected principal may stop, not blind the guard.
    let mut blinding = fixture("stop-logging");
    blinding["userIdentity"] = nightly["userIdentity"].clone();
    let t = tamper(setup.judge(&blinding));
    assert_eq!(t.who(), "arn:aws:iam::123456789012:role/nightly-stop");
    assert_eq!(
        t.resource(),
        "principal:arn:aws:iam::123456789012:role/nightly-stop"
    );
}

#[test]
fn only_the_guards_own_rules_queue_role_policies_and_exemption_tag_count() {
    let mut setup = Setup::new();
    let mut other = fixture("disable-rule");
    other["requestParameters"]["name"] = json!("nightly-report");
    assert!(not(setup.judge(&other)).contains("not one of the guard's"));
    let mut other = fixture("delete-queue");
    other["requestParameters"]["queueUrl"] =
        json!("https://sqs.us-east-1.amazonaws.com/123456789012/orders");
    assert!(not(setup.judge(&other)).contains("not the guard's"));
    let mut dead_letters = fixture("delete-queue");
    dead_letters["requestParameters"]["queueUrl"] =
        json!("https://sqs.us-east-1.amazonaws.com/123456789012/runawaytrain-events-dead-letters");
    tamper(setup.judge(&dead_letters));
    let mut other = fixture("attach-role-policy");
    other["requestParameters"]["roleName"] = json!("ci");
    assert!(not(setup.judge(&other)).contains("role ci is not the guard's"));
    let mut other = fixture("detach-user-policy");
    other["requestParameters"]["policyArn"] = json!("arn:aws:iam::aws:policy/ReadOnlyAccess");
    assert!(not(setup.judge(&other)).contains("not one the guard attaches"));
    let mut other = fixture("create-policy-version");
    other["requestParameters"]["policyArn"] = json!("arn:aws:iam::123456789012:policy/team");
    assert!(not(setup.judge(&other)).contains("not one the guard attaches"));
    let mut other = fixture("create-tags");
    other["requestParameters"]["tagSet"]["items"] = json!([{"key": "team", "value": "ml"}]);
    assert!(not(setup.judge(&other)).contains("other than the exemption tag"));
    setup.tag_admins = vec!["mallory".into()];
    assert!(not(setup.judge(&fixture("create-tags"))).contains("tag_admins"));
    let mut enabled = fixture("update-detector");
    enabled["requestParameters"]["enable"] = json!(true);
    assert!(not(setup.judge(&enabled)).contains("leaves it enabled"));
    let mut attribute = fixture("modify-instance-attribute");
    attribute["requestParameters"] =
        json!({"instanceId": "i-1", "instanceType": {"value": "m5.large"}});
    assert!(not(setup.judge(&attribute)).contains("other than its termination"));
}

#[test]
fn a_record_without_what_it_needs_is_an_error_naming_the_field() {
    let setup = Setup::new();
    let mut r = fixture("stop-instances");
    r["requestParameters"] = json!({});
    assert!(setup.judge(&r).unwrap_err().contains("instancesSet"));
    let mut r = fixture("stop-logging");
    r["requestParameters"] = Value::Null;
    assert!(
        setup
            .judge(&r)
            .unwrap_err()
            .contains("requestParameters.name")
    );
    let mut r = fixture("stop-logging");
    r.as_object_mut().unwrap().remove("userIdentity");
    assert!(setup.judge(&r).unwrap_err().contains("userIdentity/type"));
    let mut r = fixture("stop-logging");
    r["eventName"] = json!("DescribeTrails");
    assert!(setup.judge(&r).unwrap_err().contains("not a call"));
    let mut r = fixture("stop-logging");
    r["eventSource"] = json!("ec2.amazonaws.com");
    assert!(
        setup
            .judge(&r)
            .unwrap_err()
            .contains("rather than cloudtrail.amazonaws.com")
    );
}

#[test]
fn principals_are_listed_by_arn_name_role_or_glob() {
    let p = Principal {
        kind: "AssumedRole".into(),
        arn: "arn:aws:sts::1:assumed-role/deploy/ci-42".into(),
        user_name: None,
        access_key_id: None,
        issuer_arn: Some("arn:aws:iam::1:role/deploy".into()),
    };
    assert!(listed(&["deploy".into()], &p));
    assert!(listed(&["arn:aws:iam::1:role/deploy".into()], &p));
    assert!(listed(&["arn:aws:sts::1:assumed-role/deploy/*".into()], &p));
    assert!(!listed(&["deployer".into(), "ci-42".into()], &p));
    assert!(!listed(&[], &p));
    assert_eq!(guard_role(GUARD), Some("runawaytrain-guard"));
    assert_eq!(guard_role("arn:aws:iam::1:user/moto"), None);
}

#[test]
fn the_same_principal_again_keeps_what_it_did_before_and_rules_match_by_glob() {
    let setup = Setup::new();
    let mut t = tamper(setup.judge(&fixture("stop-logging")));
    for name in ["delete-trail", "update-detector"]
        .into_iter()
        .cycle()
        .take(12)
    {
        t = t.followed_by(tamper(setup.judge(&fixture(name))));
    }
    assert_eq!(
        t.earlier.len(),
        EARLIER_KEPT,
        "the last {EARLIER_KEPT} kept"
    );
    assert!(t.earlier.last().unwrap().contains("DeleteTrail"));
    let f = t.as_finding("123456789012");
    assert_eq!(f.finding_type, "Tamper:evasion/UpdateDetector");
    assert_eq!((f.severity, f.instance_id.clone()), (8.0, None));
    assert!(
        f.title.starts_with("mallory disabled GuardDuty detector"),
        "{}",
        f.title
    );
    use crate::core::guardduty::Response;
    let rules = [
        Rule {
            call: "Stop*".into(),
            response: Response::Lockout,
            grace_period: None,
        },
        Rule {
            call: "*".into(),
            response: Response::Alert,
            grace_period: None,
        },
    ];
    assert_eq!(
        rule_for(&rules, "StopLogging").unwrap().response,
        Response::Lockout
    );
    assert_eq!(
        rule_for(&rules, "DeleteTrail").unwrap().response,
        Response::Alert
    );
    assert!(rule_for(&rules[..1], "DeleteTrail").is_none());
}
