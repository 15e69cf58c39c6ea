//! The messages against Slack's limits, whatever the incident's size.

use super::*;

/// Checks a message against Slack's Block Kit limits (as its SDK enforces them).
fn assert_within_limits(m: &Value) {
    let blocks = m["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    assert!(m["text"].as_str().unwrap().chars().count() <= 3000);
    for b in blocks {
        let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
        match b["type"].as_str().unwrap() {
            "header" => assert!(len(&b["text"]["text"]) <= MAX_HEADER_TEXT),
            "section" => {
                assert!(
                    len(&b["text"]["text"]) <= MAX_SECTION_TEXT,
                    "section of {}",
                    len(&b["text"]["text"])
                );
                let fields = b["fields"].as_array().map_or(0, Vec::len);
                assert!(fields <= MAX_FIELDS);
            }
            "actions" => {
                let elements = b["elements"].as_array().unwrap();
                assert!(elements.len() <= 25);
                for e in elements {
                    assert!(
                        len(&e["text"]["text"]) <= 75
                            && len(&e["value"]) <= 2000
                            && len(&e["action_id"]) <= 255
                    );
                    assert!(matches!(
                        e["style"].as_str(),
                        None | Some("primary") | Some("danger")
                    ));
                    let c = &e["confirm"];
                    if !c.is_null() {
                        assert!(len(&c["title"]["text"]) <= 100 && len(&c["text"]["text"]) <= 300);
                        assert!(len(&c["confirm"]["text"]) <= 30 && len(&c["deny"]["text"]) <= 30);
                    }
                }
            }
            "context" => {}
            other => panic!("unexpected block {other}"),
        }
    }
}

/// Forty principals with long ARNs, many addresses and agents each.
fn huge_launchers() -> crate::core::launchers::Launchers {
    use crate::core::launchers::*;
    let launcher = |i: usize| Launcher {
        principal_arn: format!(
            "arn:aws:sts::111111111111:assumed-role/{}/{i}",
            "r".repeat(60)
        ),
        kind: "AssumedRole".into(),
        user_name: None,
        role_arn: None,
        access_key_id: Some("ASIAEXAMPLEEXAMPLE".into()),
        source_ips: (0..50).map(|j| format!("203.0.113.{j}")).collect(),
        user_agents: vec!["a".repeat(300)],
        instances: 1000,
        instance_ids: vec![],
        regions: (0..17).map(|j| (format!("region-{j}"), 50)).collect(),
        exempt: i.is_multiple_of(2),
    };
    Launchers {
        state: LaunchersState::Known,
        source: "events".into(),
        since: Utc::now(),
        looked_at: Utc::now(),
        attribution: Attribution {
            launchers: (0..40).map(launcher).collect(),
            ..Default::default()
        },
        unattributed: Some(12),
        error: None,
    }
}

#[test]
fn every_state_of_a_huge_incident_stays_within_slack_limits() {
    use crate::app::halt::{AccountHalt, Skipped};
    use crate::core::incident::{Observed, violation};
    use crate::core::model::Problem;
    use crate::core::rules::Quantity;
    use std::collections::BTreeMap;
    let regions: BTreeMap<String, u64> = (0..120)
        .map(|i| (format!("xx-region-{i}"), 1000 + i))
        .collect();
    let observed = Observed {
        running_instances: 999_999,
        regions: regions.clone(),
        estimated_charges_usd: Some(1e9),
        spend_rate_usd_per_hour: Some(1e6),
        burn_rate_usd_per_hour: Some(1e6),
        top_instance_types: (0..5)
            .map(|i| crate::core::money::TypeCost {
                instance_type: format!("p{i}.48xlarge-with-a-long-name"),
                instances: 99_999,
                usd_per_hour: 1e5,
                accelerated: true,
            })
            .collect(),
        bedrock_burn_rate_usd_per_hour: Some(1e6),
        bedrock_model_costs: (0..40)
            .map(|i| crate::core::tokens::ModelCost {
                model_id: format!("vendor.a-model-with-a-long-name-{i}-v1:0"),
                usd_per_hour: 1e5,
            })
            .collect(),
        violations: (0..14)
            .map(|i| violation(&format!("rule_{i}"), Quantity::Count(1), Quantity::Usd(2.5)))
            .collect(),
    };
    let outcome = AccountHalt {
        account_id: "123456789012".into(),
        name: "n".repeat(400),
        throttled: Default::default(),
        stopped: regions
            .keys()
            .map(|r| (r.clone(), (0..300).map(|i| format!("i-{i:017x}")).collect()))
            .collect(),
        suspended: Vec::new(),
        skipped: (0..500)
            .map(|i| Skipped {
                instance_id: format!("i-{i:017x}"),
                region: "us-east-1".into(),
                reason: "r".repeat(200),
                exempt: i % 2 == 0,
            })
            .collect(),
        errors: (0..80)
            .map(|i| Problem::region(&format!("xx-region-{i}"), "e".repeat(500)))
            .collect(),
        // Every service with 500 resources each: summarised, never listed.
        services: ["rds", "ecs", "lambda", "sagemaker", "batch"]
            .iter()
            .map(|s| {
                let arns: Vec<String> = (0..500)
                    .map(|i| format!("arn:aws:{s}:us-east-1:123456789012:thing/{i:040}"))
                    .collect();
                let halt = crate::core::reports::ServiceHalt {
                    stopped: arns.clone(),
                    skipped: arns
                        .iter()
                        .map(|a| crate::core::reports::SkippedResource {
                            arn: a.clone(),
                            region: "us-east-1".into(),
                            reason: "r".repeat(200),
                        })
                        .collect(),
                    errors: (0..50)
                        .map(|i| Problem::region(&format!("xx-region-{i}"), "e".repeat(500)))
                        .collect(),
                    not_restorable: arns,
                    nodes: (0..500)
                        .map(|i| crate::core::reports::StoppedNode {
                            instance_id: format!("i-{i:017x}"),
                            region: "us-east-1".into(),
                            cluster: format!("cluster-{}", i % 50),
                            node_group: "n".repeat(60),
                        })
                        .collect(),
                };
                (s.to_string(), halt)
            })
            .collect(),
    };
    for status in [
        Status::Open,
        Status::AwaitingConfirmation,
        Status::Expired,
        Status::Overridden,
        Status::Partial,
        Status::Unconfirmed,
    ] {
        let view = IncidentView {
            id: "inc-20261123-170000-abcd".into(),
            accounts: (0..60)
                .map(|i| (format!("{i:012}"), "x".repeat(100)))
                .collect(),
            observed: Some(observed.clone()),
            actions: vec![
                Action::StopInstances,
                Action::LockoutUsers,
                Action::BlockLaunches,
            ],
            deadline: Some(Utc::now()),
            grace_period: std::time::Duration::from_secs(600),
            status,
            decided_by: Some("deadline".into()),
            decided_at: Some(Utc::now()),
            exempt_tag: "runaway:exempt".into(),
            outcome: (status == Status::Partial).then(|| vec![outcome.clone(); 60]),
            lockout: None,
            launchers: Some(huge_launchers()),
            finding: None,
            target: None,
            isolation: None,
            error: None,
            waiting: Vec::new(),
            trend: None,
        };
        let m = incident_message(&view);
        assert_within_limits(&m);
        let last = m["blocks"].as_array().unwrap().last().unwrap().clone();
        assert!(
            last.to_string().contains("inc-20261123-170000-abcd"),
            "the incident id must survive"
        );
    }
}

#[test]
fn long_lists_are_summarised_within_slack_limits() {
    let regions: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
    let s = summarise(&regions, 3, ", ");
    assert_eq!(s, "r0, r1, r2, … and 97 more");
    assert_eq!(
        truncate(&"x".repeat(4000), MAX_SECTION_TEXT)
            .chars()
            .count(),
        MAX_SECTION_TEXT
    );
}

#[test]
fn a_tamper_incident_with_huge_fields_stays_within_slack_limits_in_every_state() {
    use crate::core::guardduty::{FindingIncident, Response};
    use crate::core::tamper::{Category, Tamper};
    let t = Tamper {
        category: Category::Evasion,
        event_name: "E".repeat(300),
        event_source: "s".repeat(300),
        event_id: Some("i".repeat(500)),
        time: Utc::now(),
        region: "r".repeat(300),
        principal_arn: format!("arn:aws:iam::123456789012:user/{}", "m".repeat(3000)),
        principal_type: "IAMUser".into(),
        user_name: Some("m".repeat(3000)),
        role_arn: None,
        access_key_id: Some("K".repeat(500)),
        source_ip: Some("9".repeat(500)),
        user_agent: Some("a".repeat(5000)),
        what: "w".repeat(20_000),
        earlier: (0..9).map(|_| "e".repeat(5000)).collect(),
    };
    for (response, status) in [
        (Response::Alert, Status::Open),
        (Response::Lockout, Status::Open),
        (Response::Lockout, Status::Executed),
        (Response::Alert, Status::Overridden),
    ] {
        let f = FindingIncident::of_tamper(
            t.clone(),
            "123456789012",
            response,
            &"*".repeat(300),
            std::time::Duration::from_secs(600),
            Utc::now(),
        );
        let view = IncidentView {
            id: "inc-20261206-170000-abcd".into(),
            accounts: vec![("123456789012".into(), "x".repeat(500))],
            observed: None,
            actions: Vec::new(),
            deadline: Some(Utc::now()),
            grace_period: std::time::Duration::from_secs(600),
            status,
            decided_by: Some("deadline".into()),
            decided_at: Some(Utc::now()),
            exempt_tag: "runaway:exempt".into(),
            outcome: None,
            lockout: None,
            launchers: Some(huge_launchers()),
            finding: Some(f),
            target: None,
            isolation: None,
            error: Some("x".repeat(5000)),
            waiting: Vec::new(),
            trend: None,
        };
        let m = incident_message(&view);
        assert_within_limits(&m);
        let text = m.to_string();
        assert!(text.contains("inc-20261206-170000-abcd"));
        assert!(text.contains("Tampering with the guard"), "{status:?}");
    }
}
