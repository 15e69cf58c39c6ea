use super::*;

pub(super) const MINIMAL: &str = r#"
[guard]
home_region = "us-east-1"
exempt_principals = ["breakglass"]
launch_deny_policy_arn = "arn:aws:iam::111111111111:policy/runawaytrain-launch-deny"

[[accounts]]
id = "111111111111"
name = "payer"
max_running_instances = 4
max_estimated_charges_usd = 500.0
actions = ["stop_instances", "lockout_users", "block_launches"]

[[accounts]]
id = "222222222222"
name = "research"
role_arn = "arn:aws:iam::222222222222:role/runawaytrain-member"
max_running_instances = 10
regions = ["eu-west-1", "us-east-1"]
exempt_tag = "keep"
"#;

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/runaway/runaway.toml"), text)
}

/// Parses `text` and expects an error naming `key` whose message contains `needle`.
pub(super) fn check_err(text: &str, key: &str, needle: &str) {
    let e = parse(text).expect_err("expected a configuration error");
    assert_eq!(e.key, key, "{e}");
    assert!(e.message.contains(needle), "{e}");
    assert!(
        e.to_string().starts_with("/etc/runaway/runaway.toml: "),
        "{e}"
    );
}

#[test]
fn minimal_file_with_defaults_and_overrides() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.guard.check_every, Duration::from_secs(300));
    assert_eq!(c.guard.state_path, Path::new("/etc/runaway/runaway.db"));
    assert_eq!(c.accounts[0].policy.exempt_tag, "runaway:exempt");
    assert_eq!(c.accounts[1].policy.exempt_tag, "keep");
    assert_eq!(c.accounts[1].policy.exempt_principals, vec!["breakglass"]);
    assert_eq!(c.accounts[1].actions, vec![Action::StopInstances]);
    assert_eq!(c.accounts[1].regions.as_ref().unwrap().len(), 2);
    assert_eq!(c.accounts[0].max_estimated_charges_usd, Some(500.0));
}

#[test]
fn errors_name_the_key_and_what_was_expected() {
    check_err(
        &MINIMAL.replace("name = \"payer\"", "name = \"payer\"\nmax_instances = 3"),
        "accounts[0].max_instances",
        "unknown field",
    );
    check_err(
        &MINIMAL.replace("home_region", "home_regoin"),
        "guard.home_regoin",
        "unknown field",
    );
    check_err(
        &MINIMAL.replace("max_running_instances = 4", "max_running_instances = \"4\""),
        "accounts[0].max_running_instances",
        "invalid type",
    );
    check_err(
        &MINIMAL.replace("max_running_instances = 4", "max_running_instances = -1"),
        "accounts[0].max_running_instances",
        "non-negative",
    );
    check_err(
        &MINIMAL.replace("500.0", "-3.5"),
        "accounts[0].max_estimated_charges_usd",
        "non-negative",
    );
    check_err(
        &MINIMAL.replace("\"111111111111\"\nname", "\"11111111111\"\nname"),
        "accounts[0].id",
        "12-digit",
    );
    check_err(
        &MINIMAL.replace("role/runawaytrain-member", "user/bob"),
        "accounts[1].role_arn",
        "role ARN",
    );
    check_err(
        &MINIMAL.replace("iam::222222222222:role", "iam::333333333333:role"),
        "accounts[1].role_arn",
        "account 222222222222",
    );
    check_err(
        &MINIMAL.replace("\"eu-west-1\"", "\"eu-west\""),
        "accounts[1].regions[0]",
        "region name",
    );
    check_err(
        &MINIMAL.replace("\"lockout_users\"", "\"nuke\""),
        "accounts[0].actions[1]",
        "unknown variant",
    );
    check_err(
        &format!("{MINIMAL}\n[[accounts]]\nid = \"333333333333\"\n"),
        "accounts[2].role_arn",
        "ambient",
    );
    check_err(
        &MINIMAL.replace("home_region = \"us-east-1\"", "check_every = \"soon\""),
        "guard.check_every",
        "duration",
    );
    check_err("[guard]\n", "accounts", "at least one");
    check_err("[guard\n", "(file)", "TOML");
}

#[test]
fn durations_are_bounded_and_never_become_zero() {
    // chrono::Duration::from_std overflows on this one; it must be refused, not read as 0 s.
    check_err(
        &MINIMAL.replace("home_region = \"us-east-1\"", "grace_period = \"1000000y\""),
        "guard.grace_period",
        "at most 30 days",
    );
    check_err(
        &MINIMAL.replace("exempt_tag = \"keep\"", "snooze = \"31days\""),
        "accounts[1].snooze",
        "at most 30 days",
    );
    check_err(
        &MINIMAL.replace("home_region = \"us-east-1\"", "check_every = \"40d\""),
        "guard.check_every",
        "at most 30 days",
    );
    check_err(
        &MINIMAL.replace("home_region = \"us-east-1\"", "grace_period = \"0s\""),
        "guard.grace_period",
        "positive",
    );
    let c = parse(&MINIMAL.replace("home_region = \"us-east-1\"", "grace_period = \"30days\""))
        .unwrap();
    assert_eq!(c.accounts[0].policy.grace_period, MAX_DURATION);
    let now = chrono::Utc::now();
    assert_eq!(
        checked_after(now, MAX_DURATION),
        Some(now + chrono::Duration::days(30))
    );
    assert_eq!(
        checked_after(chrono::DateTime::<chrono::Utc>::MAX_UTC, MAX_DURATION),
        None
    );
}

#[test]
fn an_id_always_means_that_account_and_names_are_unique() {
    // A name that looks like another account's id is refused...
    check_err(
        &MINIMAL.replace("name = \"payer\"", "name = \"222222222222\""),
        "accounts[0].name",
        "does not look like an account id",
    );
    // ...and so is a name given twice.
    check_err(
        &MINIMAL.replace("name = \"research\"", "name = \"payer\""),
        "accounts[1].name",
        "twice",
    );
    // Its own id as its name is what the default is anyway.
    let c = parse(&MINIMAL.replace("name = \"payer\"", "name = \"111111111111\"")).unwrap();
    let by_id = c.select_accounts(&["222222222222".into()]).unwrap();
    assert_eq!(by_id[0].name, "research");
    let by_name = c.select_accounts(&["research".into()]).unwrap();
    assert_eq!(by_name[0].id.as_str(), "222222222222");
    assert!(c.select_accounts(&["nobody".into()]).is_err());
}

#[test]
fn slack_channel_and_actions_are_checked() {
    check_err(
        &format!("{MINIMAL}\n[slack]\nchannel = \"#alerts\"\n"),
        "slack.channel",
        "channel id",
    );
    check_err(
        &MINIMAL.replace(
            "actions = [\"stop_instances\", \"lockout_users\", \"block_launches\"]",
            "actions = []",
        ),
        "accounts[0].actions",
        "at least one action",
    );
    check_err(
        &format!("{MINIMAL}\n[slack]\nmode = \"websocket\"\n"),
        "slack.mode",
        "expected \"http\" or \"socket\"",
    );
    let socket = parse(&format!("{MINIMAL}\n[slack]\nmode = \"socket\"\n")).unwrap();
    assert_eq!(socket.slack.mode, crate::config::SlackMode::Socket);
    assert_eq!(
        parse(MINIMAL).unwrap().slack.mode,
        crate::config::SlackMode::Http
    );
}

/// `revoke_sessions` writes inline policies: refused unless the module's opt-in is said to be
/// applied, and the refusal names the module input; the opt-in is taken from `[guard]` or the
/// account, off by default.
#[test]
fn revoke_sessions_needs_the_modules_opt_in() {
    let revoke = MINIMAL.replace(
        "actions = [\"stop_instances\", \"lockout_users\", \"block_launches\"]",
        "actions = [\"stop_instances\", \"revoke_sessions\"]",
    );
    check_err(
        &revoke,
        "accounts[0].actions",
        "Terraform module was applied with allow_session_revocation = true",
    );
    assert!(
        !parse(MINIMAL).unwrap().accounts[0]
            .policy
            .allow_session_revocation
    );
    let in_guard = revoke.replace("[guard]\n", "[guard]\nallow_session_revocation = true\n");
    let c = parse(&in_guard).unwrap();
    assert!(c.accounts.iter().all(|a| a.policy.allow_session_revocation));
    let on_account = revoke.replace(
        "name = \"payer\"\n",
        "name = \"payer\"\nallow_session_revocation = true\n",
    );
    let c = parse(&on_account).unwrap();
    assert!(c.accounts[0].policy.allow_session_revocation);
    assert!(!c.accounts[1].policy.allow_session_revocation);
    // An account may also turn it off where [guard] turns it on.
    let off = in_guard.replace(
        "name = \"payer\"\n",
        "name = \"payer\"\nallow_session_revocation = false\n",
    );
    check_err(&off, "accounts[0].actions", "allow_session_revocation");
}

#[test]
fn the_event_queue_is_an_sqs_url_and_its_region_comes_from_aws_hosts() {
    let with = |url: &str| format!("[events]\nqueue_url = {url:?}\n{MINIMAL}");
    assert_eq!(parse(MINIMAL).unwrap().events, None);
    let aws = parse(&with(
        "https://sqs.eu-west-1.amazonaws.com/111111111111/runawaytrain-events",
    ))
    .unwrap()
    .events
    .unwrap();
    assert_eq!(aws.region.as_str(), "eu-west-1");
    let legacy = parse(&with(
        "https://ap-south-1.queue.amazonaws.com/111111111111/q.fifo",
    ))
    .unwrap()
    .events
    .unwrap();
    assert_eq!(legacy.region.as_str(), "ap-south-1");
    let emulator = parse(&with("http://127.0.0.1:5000/123456789012/events"))
        .unwrap()
        .events
        .unwrap();
    assert_eq!(emulator.region.as_str(), "us-east-1");
    for bad in [
        "sqs.us-east-1.amazonaws.com/111111111111/q",
        "https://sqs.us-east-1.amazonaws.com/q",
        "https://sqs.us-east-1.amazonaws.com/1111/q",
        "https://sqs.us-east-1.amazonaws.com/111111111111/bad name",
        "https://sqs.us-east-1.amazonaws.com/111111111111/",
    ] {
        check_err(&with(bad), "events.queue_url", "expected an SQS queue URL");
    }
    check_err(
        &format!("[events]\n{MINIMAL}"),
        "events",
        "missing field `queue_url`",
    );
}

#[test]
fn a_cloudtrail_log_group_is_a_name_or_an_arn_in_another_account() {
    let with = |g: &str| {
        MINIMAL.replacen(
            "[guard]\n",
            &format!("[guard]\ncloudtrail_log_group = {g:?}\n"),
            1,
        )
    };
    let c = parse(&with("aws-cloudtrail-logs-111111111111")).unwrap();
    let g = c.accounts[1].policy.cloudtrail_log_group.clone().unwrap();
    assert_eq!(
        (g.name.as_str(), g.account, g.region),
        ("aws-cloudtrail-logs-111111111111", None, None)
    );
    let c = parse(&with(
        "arn:aws:logs:eu-west-1:111111111111:log-group:org/trail:*",
    ))
    .unwrap();
    let g = c.accounts[0].policy.cloudtrail_log_group.clone().unwrap();
    assert_eq!(g.name, "org/trail");
    assert_eq!(g.account.unwrap().as_str(), "111111111111");
    assert_eq!(g.region.unwrap().as_str(), "eu-west-1");
    for bad in [
        "",
        "has space",
        "arn:aws:logs:eu-west-1:1111:log-group:x",
        "arn:aws:s3:::bucket",
    ] {
        check_err(
            &with(bad),
            "guard.cloudtrail_log_group",
            "expected a CloudWatch Logs group",
        );
    }
}

#[test]
fn guardduty_rules_are_read_in_order_and_checked() {
    let c = parse(&format!(
        "{MINIMAL}\n[[guardduty]]\nfinding = \"Backdoor:EC2/*\"\nmin_severity = 7.0\nresponse = \"isolate\"\ngrace_period = \"0s\"\n\n[[guardduty]]\nfinding = \"*\"\nresponse = \"alert\"\n"
    ))
    .unwrap();
    assert_eq!(c.guardduty.len(), 2);
    assert_eq!(c.guardduty[0].grace_period, Some(std::time::Duration::ZERO));
    assert_eq!(c.guardduty[1].min_severity, 0.0);
    assert_eq!(c.guardduty[1].grace_period, None, "the account's");
    assert!(parse(MINIMAL).unwrap().guardduty.is_empty());
    let rule = |body: &str| format!("{MINIMAL}\n[[guardduty]]\n{body}\n");
    check_err(
        &rule("finding = \"*\"\nresponse = \"terminate\""),
        "guardduty[0].response",
        "never terminates",
    );
    check_err(
        &rule("finding = \"*\"\nresponse = \"stop\"\nmin_severity = 11"),
        "guardduty[0].min_severity",
        "0 to 10",
    );
    check_err(
        &rule("finding = \"\"\nresponse = \"stop\""),
        "guardduty[0].finding",
        "glob",
    );
    check_err(
        &rule("finding = \"*\"\nresponse = \"stop\"\ngrace_period = \"soon\""),
        "guardduty[0].grace_period",
        "duration",
    );
    check_err(
        &rule("finding = \"*\"\nresponse = \"stop\"\nseverity = 3"),
        "guardduty[0].severity",
        "unknown field",
    );
}

#[test]
fn an_organization_discovers_with_defaults_overrides_and_exclusions() {
    let text = r#"
[organization]
discover = true
exclude = ["333333333333"]
external_id = "ext-1"

[organization.defaults]
max_running_instances = 3
actions = ["stop_instances", "lockout_users"]
"#;
    // Discovery alone is enough: no [[accounts]] needed.
    let c = parse(text).unwrap();
    let org = c.organization.as_ref().unwrap();
    assert_eq!(org.member_role_name, "runawaytrain-member");
    let m = c.account("444444444444").unwrap();
    assert_eq!(
        m.role_arn.as_ref().unwrap().as_str(),
        "arn:aws:iam::444444444444:role/runawaytrain-member"
    );
    assert_eq!(m.external_id.as_deref(), Some("ext-1"));
    assert_eq!(m.max_running_instances, Some(3));
    assert!(c.account("333333333333").is_none(), "excluded");
    // A configured entry wins.
    let c = parse(&format!("{MINIMAL}{text}")).unwrap();
    assert_eq!(
        c.account("111111111111").unwrap().max_running_instances,
        Some(4)
    );
    // discover = false: nothing discovered.
    let off = parse(&format!("{MINIMAL}\n[organization]\ndiscover = false\n")).unwrap();
    assert!(off.organization.is_none() && off.account("444444444444").is_none());
    check_err(
        "[organization]\ndiscover = true\n[organization.defaults]\nrole_arn = \"x\"\n",
        "organization.defaults.role_arn",
        "not a default",
    );
    check_err(
        "[organization]\ndiscover = true\nexclude = [\"12\"]\n",
        "organization.exclude[0]",
        "12-digit",
    );
    check_err(
        "[organization]\ndiscover = true\n[organization.defaults]\nmax_running_instances = -1\n",
        "organization.defaults.max_running_instances",
        "non-negative",
    );
    check_err(
        "[organization]\ndiscover = true\nmember_role_name = \"bad role\"\n",
        "organization.member_role_name",
        "role name",
    );
    check_err("[organization]\ndiscover = false\n", "accounts", "discover");
}

#[test]
fn halt_services_max_running_and_exempt_resources_are_checked() {
    use crate::core::services::Service;
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.accounts[0].halt_services, [Service::Ec2], "the default");
    let with =
        |line: &str| MINIMAL.replace("name = \"payer\"\n", &format!("name = \"payer\"\n{line}\n"));
    let all = parse(&with("halt_services = [\"all\"]")).unwrap();
    assert_eq!(all.accounts[0].halt_services, Service::ALL);
    let some = parse(&with("halt_services = [\"lambda\", \"rds\", \"rds\"]")).unwrap();
    assert_eq!(
        some.accounts[0].halt_services,
        [Service::Rds, Service::Lambda]
    );
    check_err(
        &with("halt_services = [\"rds\", \"ec3\"]"),
        "accounts[0].halt_services[1]",
        "unknown service \"ec3\"",
    );
    check_err(
        &with("halt_services = []"),
        "accounts[0].halt_services",
        "at least one",
    );
    let counted = parse(&with("max_running = { rds = 2, eks_nodes = 10 }")).unwrap();
    assert_eq!(counted.accounts[0].max_running["rds"], 2);
    assert_eq!(
        counted.accounts[0].surveyed_services(),
        [Service::Rds, Service::Eks],
        "what is counted is read, though only EC2 is halted"
    );
    check_err(
        &with("max_running = { gpus = 2 }"),
        "accounts[0].max_running.gpus",
        "unknown count rule",
    );
    check_err(
        &with("max_running = { rds = -1 }"),
        "accounts[0].max_running.rds",
        "non-negative",
    );
    check_err(
        &with("exempt_resources = [\"db-prod\"]"),
        "accounts[0].exempt_resources[0]",
        "resource ARN",
    );
}

mod bedrock;
mod rates;
mod reference;
mod tamper;
