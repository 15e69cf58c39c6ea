//! The Terraform policies against the code: parses the module's HCL (hcl-rs) and fails when a
//! policy lacks an IAM action the code uses, or grants one it does not use
//! (`runawaytrain::core::permissions`). Also checks the module's conventions that a parser can see.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hcl::{Body, Expression};
use runawaytrain::core::permissions::{Scope, iam_actions};

fn terraform() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform")
}

/// Every `.tf` file of a module directory, parsed.
fn module(dir: &Path) -> Vec<(PathBuf, Body)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let body = hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, body)
        })
        .collect()
}

fn strings(e: &Expression) -> Vec<String> {
    match e {
        Expression::Array(items) => items.iter().flat_map(strings).collect(),
        Expression::String(s) => vec![s.clone()],
        other => panic!("expected literal strings, found {other:?}"),
    }
}

/// The actions Allowed by the `data "aws_iam_policy_document" NAME` of a module.
fn allowed_actions(dir: &Path, name: &str) -> BTreeSet<String> {
    let mut found = None;
    for (_, body) in module(dir) {
        for block in body.blocks() {
            let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
            if block.identifier() == "data" && labels == ["aws_iam_policy_document", name] {
                let mut actions = BTreeSet::new();
                // A statement block, or the content of a `dynamic "statement"` block.
                let statements = block.body().blocks().filter_map(|b| match b.identifier() {
                    "statement" => Some(b.body()),
                    "dynamic" if b.labels().iter().any(|l| l.as_str() == "statement") => b
                        .body()
                        .blocks()
                        .find(|c| c.identifier() == "content")
                        .map(|c| c.body()),
                    _ => None,
                });
                for statement in statements {
                    let effect = statement
                        .attributes()
                        .find(|a| a.key() == "effect")
                        .map(|a| strings(a.expr()).remove(0))
                        .unwrap_or_else(|| "Allow".into());
                    if effect == "Deny" {
                        continue;
                    }
                    let list = statement
                        .attributes()
                        .find(|a| a.key() == "actions")
                        .expect("a statement without actions");
                    actions.extend(strings(list.expr()));
                }
                assert!(found.is_none(), "two policy documents named {name}");
                found = Some(actions);
            }
        }
    }
    found.unwrap_or_else(|| {
        panic!(
            "no data \"aws_iam_policy_document\" \"{name}\" in {}",
            dir.display()
        )
    })
}

/// The guard's permissions in every account, shared by its own role and the member role.
fn account_permissions() -> (PathBuf, &'static str) {
    (
        terraform().join("modules/account-permissions"),
        "account_permissions",
    )
}

/// The union of the Allowed actions of policy documents (a document and those it sources).
#[track_caller]
fn check_parity(documents: &[(PathBuf, &str)], scope: Scope) {
    let granted: BTreeSet<String> = documents
        .iter()
        .flat_map(|(dir, name)| allowed_actions(dir, name))
        .collect();
    let needed: BTreeSet<String> = iam_actions(scope).into_iter().map(str::to_owned).collect();
    let missing: Vec<&String> = needed.difference(&granted).collect();
    let extra: Vec<&String> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{documents:?}: lacks {missing:?} that the code uses; grants {extra:?} that it does not use"
    );
}

/// The opt-in actions (`permissions::OPT_IN`) are granted only by a `dynamic "statement"` whose
/// `for_each` is the module input that opts in, off by default wherever it is an input: without
/// it the guard's policy can write no inline policy at all.
#[test]
fn inline_policy_writes_are_granted_only_when_opted_in() {
    use runawaytrain::core::permissions::OPT_IN;
    let mut seen = BTreeSet::new();
    let documents = [account_permissions(), (terraform(), "guard_permissions")];
    let blocks = documents.iter().flat_map(|(dir, name)| {
        block(dir, "data", &["aws_iam_policy_document", name])
            .body()
            .blocks()
            .cloned()
            .collect::<Vec<_>>()
    });
    for b in blocks {
        let (body, gate) = match b.identifier() {
            "statement" => (b.body().clone(), None),
            _ => {
                let for_each = format!("{:?}", value(b.body(), "for_each"));
                let content = b
                    .body()
                    .blocks()
                    .find(|c| c.identifier() == "content")
                    .unwrap()
                    .body()
                    .clone();
                (content, Some(for_each))
            }
        };
        let effect = body
            .attributes()
            .find(|a| a.key() == "effect")
            .map(|a| strings(a.expr()).remove(0));
        if effect.as_deref() == Some("Deny") {
            continue;
        }
        let actions = strings(
            body.attributes()
                .find(|a| a.key() == "actions")
                .unwrap()
                .expr(),
        );
        for action in actions {
            if let Some((_, input)) = OPT_IN.iter().find(|(a, _)| *a == action) {
                assert!(
                    gate.as_deref()
                        .is_some_and(|g| g.contains(&format!("var.{input}"))),
                    "{action} is granted without {input}: {gate:?}"
                );
                seen.insert(action);
            }
        }
    }
    assert_eq!(seen.len(), OPT_IN.len(), "{seen:?}");
    for dir in [
        terraform(),
        terraform().join("modules/member-account"),
        terraform().join("modules/account-permissions"),
    ] {
        let v = block(&dir, "variable", &["allow_session_revocation"]);
        assert_eq!(
            value(v.body(), "default"),
            serde_json::json!(false),
            "{}",
            dir.display()
        );
    }
    // The journal's table is the guard's only with a DynamoDB journal, off by default.
    let v = block(&terraform(), "variable", &["journal_backend"]);
    assert_eq!(value(v.body(), "default"), serde_json::json!("sqlite"));
}

#[test]
fn the_guards_policy_grants_exactly_what_the_code_calls() {
    check_parity(
        &[(terraform(), "guard_permissions"), account_permissions()],
        Scope::Guard,
    );
    // The root document is built on the shared one.
    let guard = block(
        &terraform(),
        "data",
        &["aws_iam_policy_document", "guard_permissions"],
    );
    assert_eq!(
        format!("{:?}", value(guard.body(), "source_policy_documents")),
        "Array [String(\"${module.permissions.json}\")]"
    );
}

#[test]
fn the_member_accounts_policy_grants_exactly_what_the_code_calls_there() {
    check_parity(&[account_permissions()], Scope::Member);
    let member = block(
        &terraform().join("modules/member-account"),
        "resource",
        &["aws_iam_policy", "member"],
    );
    assert_eq!(value(member.body(), "policy"), "${module.permissions.json}");
}

#[test]
fn the_parity_check_catches_a_missing_and_an_extra_action() {
    // The same parser over doctored copies: one action dropped, one added.
    let dir = tempfile::tempdir().unwrap();
    let (shared, _) = account_permissions();
    let root = dir.path().join("root");
    let copy = dir.path().join("shared");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&copy).unwrap();
    let text = std::fs::read_to_string(shared.join("main.tf"))
        .unwrap()
        .replace("\"ec2:StopInstances\", ", "");
    std::fs::write(copy.join("main.tf"), text).unwrap();
    let text = std::fs::read_to_string(terraform().join("main.tf"))
        .unwrap()
        .replace(
            "[\"pricing:GetProducts\"]",
            "[\"pricing:GetProducts\", \"ec2:TerminateInstances\"]",
        );
    std::fs::write(root.join("main.tf"), text).unwrap();
    let granted = allowed_actions(&copy, "account_permissions");
    assert!(!granted.contains("ec2:StopInstances"));
    let granted = allowed_actions(&root, "guard_permissions");
    assert!(granted.contains("ec2:TerminateInstances"));
    let docs = [
        (root.clone(), "guard_permissions"),
        (copy.clone(), "account_permissions"),
    ];
    let result = std::panic::catch_unwind(|| check_parity(&docs, Scope::Guard));
    assert!(result.is_err());
}

#[test]
fn never_terminate() {
    for dir in [
        terraform(),
        terraform().join("modules/member-account"),
        terraform().join("modules/account-permissions"),
        terraform().join("modules/guard-policies"),
    ] {
        for (path, _) in module(&dir) {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains("TerminateInstances"),
                "{} grants TerminateInstances",
                path.display()
            );
        }
    }
}

#[test]
fn every_variable_and_output_is_described_and_typed() {
    for dir in [
        terraform(),
        terraform().join("modules/member-account"),
        terraform().join("modules/guard-policies"),
        terraform().join("modules/tag-protection-scp"),
        terraform().join("modules/bot"),
    ] {
        let mut variables = 0;
        for (path, body) in module(&dir) {
            for block in body.blocks() {
                let has = |key: &str| block.body().attributes().any(|a| a.key() == key);
                match block.identifier() {
                    "variable" => {
                        variables += 1;
                        assert!(
                            has("description") && has("type"),
                            "{}: variable {:?}",
                            path.display(),
                            block.labels()
                        );
                    }
                    "output" => assert!(
                        has("description"),
                        "{}: output {:?}",
                        path.display(),
                        block.labels()
                    ),
                    _ => {}
                }
            }
        }
        assert!(variables > 0, "{}", dir.display());
        let tags_everywhere = module(&dir).iter().any(|(_, b)| {
            b.blocks().any(|blk| {
                blk.identifier() == "variable" && blk.labels().iter().any(|l| l.as_str() == "tags")
            })
        });
        assert!(tags_everywhere, "{} has no tags variable", dir.display());
    }
}

/// A block of a module by its identifier and labels, with the file it is in.
fn block(dir: &Path, identifier: &str, labels: &[&str]) -> hcl::Block {
    module(dir)
        .into_iter()
        .flat_map(|(_, body)| body.into_blocks())
        .find(|b| {
            b.identifier() == identifier
                && b.labels()
                    .iter()
                    .map(|l| l.as_str())
                    .eq(labels.iter().copied())
        })
        .unwrap_or_else(|| panic!("no {identifier} {labels:?} in {}", dir.display()))
}

/// An attribute of a block as a JSON value (references and calls become their text).
fn value(b: &hcl::Body, key: &str) -> serde_json::Value {
    let v = hcl::Value::from(
        b.attributes()
            .find(|a| a.key() == key)
            .unwrap_or_else(|| panic!("no attribute {key}"))
            .expr()
            .clone(),
    );
    serde_json::to_value(v).unwrap()
}

fn texts(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list, found {v:?}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_event_pattern_forwards_exactly_what_the_guard_reads() {
    use runawaytrain::core::events::{
        API_CALL, FINDING, LAUNCH_CALLS, LAUNCH_STATES, STATE_CHANGE,
    };
    let locals = block(&terraform().join("modules/event-pattern"), "locals", &[]);
    let pattern = value(locals.body(), "pattern");
    let alternatives = pattern["$or"].as_array().expect("an $or pattern");
    let detail_types: Vec<String> = alternatives
        .iter()
        .flat_map(|a| texts(&a["detail-type"]))
        .collect();
    assert_eq!(
        detail_types,
        [
            STATE_CHANGE,
            API_CALL,
            API_CALL,
            API_CALL,
            API_CALL,
            API_CALL,
            API_CALL,
            API_CALL,
            FINDING,
            API_CALL
        ]
    );
    // The other services' launch calls, one alternative each, in core's order.
    for (i, (source, event_source, names)) in runawaytrain::core::events::SERVICE_LAUNCH_CALLS
        .iter()
        .enumerate()
    {
        let a = &alternatives[2 + i];
        assert_eq!(texts(&a["source"]), [*source]);
        assert_eq!(texts(&a["detail"]["eventSource"]), [*event_source]);
        assert_eq!(texts(&a["detail"]["eventName"]), *names);
    }
    let alternatives: Vec<&serde_json::Value> = alternatives
        .iter()
        .enumerate()
        .filter(|(i, _)| !(2..8).contains(i))
        .map(|(_, a)| a)
        .collect();
    assert_eq!(texts(&alternatives[0]["source"]), ["aws.ec2"]);
    assert_eq!(texts(&alternatives[0]["detail"]["state"]), LAUNCH_STATES);
    assert_eq!(texts(&alternatives[1]["detail"]["eventName"]), LAUNCH_CALLS);
    assert_eq!(
        texts(&alternatives[1]["detail"]["eventSource"]),
        ["ec2.amazonaws.com"]
    );
    assert_eq!(texts(&alternatives[2]["source"]), ["aws.guardduty"]);
    assert_eq!(texts(&alternatives[3]["source"]), ["aws.iam"]);
    assert_eq!(
        texts(&alternatives[3]["detail"]["eventName"]),
        runawaytrain::core::policy_writes::POLICY_WRITES
    );
    assert_eq!(
        texts(&alternatives[3]["detail"]["eventSource"]),
        ["iam.amazonaws.com"]
    );
    // The tamper pattern: every call core::tamper judges, one alternative per source, in
    // core's order, then every Bedrock call core::bedrock judges, and nothing else; within
    // EventBridge's 2048 characters.
    let rendered = crate::common::events::module_patterns(&[]);
    for p in [&rendered.pattern, &rendered.tamper, &rendered.bedrock] {
        assert!(
            p.len() <= 2048,
            "EventBridge refuses a pattern over 2048 characters: {p}"
        );
    }
    // With expected Bedrock principals: a dozen users and roles still fit in Bedrock's own.
    let principals: Vec<String> = (0..12)
        .map(|i| match i % 3 {
            0 => format!(
                "arn:aws:iam::11111111111{}:user/ml-batch-runner-{i}",
                i % 10
            ),
            _ => format!(
                "arn:aws:iam::11111111111{}:role/service-role/chatbot-{i}",
                i % 10
            ),
        })
        .collect();
    let principals: Vec<&str> = principals.iter().map(String::as_str).collect();
    let filtered = crate::common::events::module_patterns(&principals).bedrock;
    assert!(filtered.len() <= 2048, "{} characters", filtered.len());
    let tamper: serde_json::Value = serde_json::from_str(&rendered.tamper).unwrap();
    let alternatives = tamper["$or"].as_array().expect("an $or pattern");
    assert_eq!(
        alternatives.len(),
        runawaytrain::core::tamper::TAMPER_CALLS.len(),
        "every tamper call's source"
    );
    let bedrock: Vec<&str> = runawaytrain::core::bedrock::INVOCATIONS
        .iter()
        .chain(runawaytrain::core::bedrock::SETUP_CALLS.iter())
        .copied()
        .collect();
    let bedrock_pattern: serde_json::Value = serde_json::from_str(&rendered.bedrock).unwrap();
    let judged = runawaytrain::core::tamper::TAMPER_CALLS
        .iter()
        .copied()
        .chain([(
            "aws.bedrock",
            runawaytrain::core::bedrock::EVENT_SOURCE,
            &bedrock[..],
        )]);
    let patterns = alternatives.iter().chain([&bedrock_pattern]);
    for (a, (source, event_source, names)) in patterns.zip(judged) {
        assert_eq!(texts(&a["source"]), [source]);
        assert_eq!(texts(&a["detail-type"]), [API_CALL]);
        assert_eq!(texts(&a["detail"]["eventSource"]), [event_source]);
        assert_eq!(texts(&a["detail"]["eventName"]), *names);
    }
    // The central rules and every forwarding rule use these three patterns.
    for (dir, rule, output) in [
        (terraform(), "events", "${module.event_pattern.json}"),
        (terraform(), "tamper", "${module.event_pattern.tamper_json}"),
        (
            terraform(),
            "bedrock",
            "${module.event_pattern.bedrock_json}",
        ),
        (
            terraform().join("modules/event-forwarding"),
            "bedrock",
            "${module.pattern.bedrock_json}",
        ),
        (
            terraform().join("modules/event-forwarding"),
            "forward",
            "${module.pattern.json}",
        ),
        (
            terraform().join("modules/event-forwarding"),
            "tamper",
            "${module.pattern.tamper_json}",
        ),
    ] {
        let r = block(&dir, "resource", &["aws_cloudwatch_event_rule", rule]);
        let pattern = value(r.body(), "event_pattern");
        assert_eq!(
            pattern.as_str().unwrap(),
            output,
            "{} {rule}",
            dir.display()
        );
    }
}

#[test]
fn the_event_queue_is_encrypted_has_a_dead_letter_queue_and_admits_only_the_guards_rule() {
    let dir = terraform();
    let queue = block(&dir, "resource", &["aws_sqs_queue", "events"]);
    assert_eq!(
        value(queue.body(), "sqs_managed_sse_enabled"),
        serde_json::json!(true)
    );
    let redrive = value(queue.body(), "redrive_policy");
    let redrive = redrive.as_str().unwrap();
    assert!(
        redrive.contains("events_dead_letters") && redrive.contains("events_max_receive_count"),
        "{redrive}"
    );
    let dead = block(&dir, "resource", &["aws_sqs_queue", "events_dead_letters"]);
    assert_eq!(
        value(dead.body(), "sqs_managed_sse_enabled"),
        serde_json::json!(true)
    );

    let policy = block(&dir, "data", &["aws_iam_policy_document", "events_queue"]);
    let allows: Vec<&hcl::Block> = policy
        .body()
        .blocks()
        .filter(|b| b.identifier() == "statement")
        .filter(|s| s.body().attributes().all(|a| a.key() != "effect"))
        .collect();
    assert_eq!(allows.len(), 1, "one Allow: EventBridge's SendMessage");
    let allow = allows[0].body();
    assert_eq!(texts(&value(allow, "actions")), ["sqs:SendMessage"]);
    let principals = allow
        .blocks()
        .find(|b| b.identifier() == "principals")
        .unwrap();
    assert_eq!(value(principals.body(), "type"), "Service");
    assert_eq!(
        texts(&value(principals.body(), "identifiers")),
        ["events.amazonaws.com"]
    );
    let condition = allow
        .blocks()
        .find(|b| b.identifier() == "condition")
        .expect("a condition on the source rule");
    assert_eq!(value(condition.body(), "test"), "ArnEquals");
    assert_eq!(value(condition.body(), "variable"), "aws:SourceArn");
    let values = format!("{:?}", value(condition.body(), "values"));
    assert!(
        values.contains("aws_cloudwatch_event_rule.events"),
        "{values}"
    );

    // The bus admits the organisation (by aws:PrincipalOrgID) or the listed accounts only.
    let bus = block(&dir, "data", &["aws_iam_policy_document", "central_bus"]);
    let statement = bus
        .body()
        .blocks()
        .find(|b| b.identifier() == "statement")
        .unwrap();
    assert_eq!(
        texts(&value(statement.body(), "actions")),
        ["events:PutEvents"]
    );
    let text = std::fs::read_to_string(dir.join("events.tf")).unwrap();
    assert!(text.contains("\"aws:PrincipalOrgID\""));

    // The guard reads that queue only.
    let guard = block(
        &dir,
        "data",
        &["aws_iam_policy_document", "guard_permissions"],
    );
    let read = guard
        .body()
        .blocks()
        .find(|s| {
            s.body().attributes().any(|a| {
                a.key() == "sid"
                    && hcl::Value::from(a.expr().clone()).as_str() == Some("ReadTheEventQueue")
            })
        })
        .expect("the ReadTheEventQueue statement");
    let resources = format!("{:?}", value(read.body(), "resources"));
    assert!(
        resources.contains("local.events_queue_arn") && !resources.contains("\"*\""),
        "{resources}"
    );
}

/// The README's table of a module's inputs or outputs, made from its `.tf` files.
fn table(dir: &Path, kind: &str) -> String {
    let mut rows = Vec::new();
    for (_, body) in module(dir) {
        for b in body.blocks().filter(|b| b.identifier() == kind) {
            let attr = |key: &str| {
                b.body()
                    .attributes()
                    .find(|a| a.key() == key)
                    .map(|a| a.expr().clone())
            };
            let description = match attr("description") {
                Some(Expression::String(s)) => s.replace('|', "\\|"),
                other => panic!("{kind} {:?}: description {other:?}", b.labels()),
            };
            let code = |e: Option<Expression>| match e {
                Some(e) => format!("`{}`", hcl::format::to_string(&e).unwrap()),
                None => "required".into(),
            };
            let name = b.labels()[0].as_str().to_owned();
            rows.push(if kind == "variable" {
                format!(
                    "| `{name}` | {} | {} | {description} |",
                    code(attr("type")),
                    code(attr("default"))
                )
            } else {
                format!("| `{name}` | {description} |")
            });
        }
    }
    let header = if kind == "variable" {
        "| name | type | default | description |\n|---|---|---|---|"
    } else {
        "| name | description |\n|---|---|"
    };
    format!("{header}\n{}\n", rows.join("\n"))
}

#[test]
fn the_readme_tables_match_the_variables_and_outputs() {
    // Between `<!-- variable: DIR -->` (or `output`) and `<!-- end -->`, the table made from the
    // module in DIR. UPDATE_README=1 rewrites them.
    let path = terraform().join("README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut rest = text.as_str();
    let mut tables = 0;
    while let Some(start) = rest.find("<!-- ") {
        let marker_end = rest[start..].find(" -->").unwrap() + start + 4;
        let marker = &rest[start + 5..marker_end - 4];
        out.push_str(&rest[..marker_end]);
        rest = &rest[marker_end..];
        let Some((kind, dir)) = marker.split_once(": ") else {
            continue;
        };
        let end = rest.find("<!-- end -->").expect("a table's end marker");
        let expected = table(&terraform().join(dir), kind);
        if std::env::var_os("UPDATE_README").is_none() {
            assert_eq!(
                rest[..end].trim(),
                expected.trim(),
                "terraform/README.md, the {kind}s of {dir}: run with UPDATE_README=1"
            );
        }
        out.push('\n');
        out.push_str(&expected);
        rest = &rest[end..];
        tables += 1;
    }
    out.push_str(rest);
    assert_eq!(
        tables, 8,
        "inputs and outputs of the root, member-account, tag-protection-scp and bot"
    );
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&path, out).unwrap();
    }
}
