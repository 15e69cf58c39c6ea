//! `[[tamper]]`, `watch_stops`, `expected_principals`, `tag_admins` and `[events] guard_rules`.

use super::{MINIMAL, check_err, parse};
use crate::core::guardduty::Response;

#[test]
fn tamper_settings_default_to_alerting_on_the_guards_senses_only() {
    let c = parse(MINIMAL).unwrap();
    assert!(c.tamper.is_empty());
    let p = &c.accounts[0].policy;
    assert!(!p.watch_stops && p.expected_principals.is_empty() && p.tag_admins.is_empty());
    let c = parse(&format!(
        "{MINIMAL}\n[events]\nqueue_url = \"https://sqs.eu-west-1.amazonaws.com/111111111111/guard-events\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.events.unwrap().guard_rules,
        [
            "guard-events",
            "guard-tamper",
            "guard-bedrock",
            "guard-forward",
            "guard-forward-tamper",
            "guard-forward-bedrock"
        ],
        "the module's names for name_prefix = \"guard\""
    );
}

#[test]
fn watch_stops_and_principal_lists_are_inherited_and_overridden_per_account() {
    let text = MINIMAL
        .replace(
            "[guard]\n",
            "[guard]\nwatch_stops = true\nexpected_principals = [\"arn:aws:iam::*:role/nightly-stop\"]\ntag_admins = [\"platform\"]\n",
        )
        .replace(
            "exempt_tag = \"keep\"",
            "exempt_tag = \"keep\"\nwatch_stops = false\ntag_admins = []",
        );
    let c = parse(&text).unwrap();
    let (payer, research) = (&c.accounts[0].policy, &c.accounts[1].policy);
    assert!(payer.watch_stops && !research.watch_stops);
    assert_eq!(
        payer.expected_principals,
        ["arn:aws:iam::*:role/nightly-stop"]
    );
    assert_eq!(research.expected_principals, payer.expected_principals);
    assert_eq!(payer.tag_admins, ["platform"]);
    assert!(research.tag_admins.is_empty());
    check_err(
        &MINIMAL.replace(
            "[guard]\n",
            "[guard]\nexpected_principals = [\"ok\", \" \"]\n",
        ),
        "guard.expected_principals[1]",
        "expected an IAM user or role name, ARN or glob",
    );
    check_err(
        &MINIMAL.replace("exempt_tag = \"keep\"", "tag_admins = [\"two words\"]"),
        "accounts[1].tag_admins[0]",
        "found \"two words\"",
    );
    check_err(
        &MINIMAL.replace("[guard]\n", "[guard]\nwatch_stops = \"yes\"\n"),
        "guard.watch_stops",
        "",
    );
}

#[test]
fn tamper_rules_are_read_in_order_and_checked() {
    let c = parse(&format!(
        "{MINIMAL}\n[[tamper]]\ncall = \"StopLogging\"\nresponse = \"lockout\"\ngrace_period = \"0s\"\n\n[[tamper]]\ncall = \"*\"\nresponse = \"alert\"\n"
    ))
    .unwrap();
    assert_eq!(c.tamper.len(), 2);
    assert_eq!(
        (c.tamper[0].response, c.tamper[0].grace_period),
        (Response::Lockout, Some(std::time::Duration::ZERO))
    );
    assert_eq!(
        (c.tamper[1].response, c.tamper[1].grace_period),
        (Response::Alert, None)
    );
    let rule = |body: &str| format!("{MINIMAL}\n[[tamper]]\n{body}\n");
    check_err(
        &rule("call = \"*\"\nresponse = \"stop\""),
        "tamper[0].response",
        "expected \"alert\" or \"lockout\"",
    );
    check_err(
        &rule("call = \"RunInstances\"\nresponse = \"alert\""),
        "tamper[0].call",
        "at least one watched call",
    );
    check_err(
        &rule("call = \"*\"\nresponse = \"alert\"\ngrace_period = \"later\""),
        "tamper[0].grace_period",
        "duration",
    );
    check_err(
        &rule("call = \"*\"\nresponse = \"alert\"\nseverity = 3"),
        "tamper[0].severity",
        "unknown field",
    );
    let events = |rules: &str| {
        format!(
            "{MINIMAL}\n[events]\nqueue_url = \"https://sqs.eu-west-1.amazonaws.com/111111111111/x\"\nguard_rules = {rules}\n"
        )
    };
    assert_eq!(
        parse(&events("[\"mine\"]"))
            .unwrap()
            .events
            .unwrap()
            .guard_rules,
        ["mine"]
    );
    check_err(
        &events("[\"a b\"]"),
        "events.guard_rules[0]",
        "EventBridge rule name",
    );
}

#[test]
fn guardduty_rules_may_lock_out_an_access_keys_user() {
    let c = parse(&format!(
        "{MINIMAL}\n[[guardduty]]\nfinding = \"UnauthorizedAccess:IAMUser/*\"\nresponse = \"lockout\"\n"
    ))
    .unwrap();
    assert_eq!(c.guardduty[0].response, Response::Lockout);
}
