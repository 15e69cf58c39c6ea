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
                for statement in block
                    .body()
                    .blocks()
                    .filter(|b| b.identifier() == "statement")
                {
                    let effect = statement
                        .body()
                        .attributes()
                        .find(|a| a.key() == "effect")
                        .map(|a| strings(a.expr()).remove(0))
                        .unwrap_or_else(|| "Allow".into());
                    if effect == "Deny" {
                        continue;
                    }
                    let list = statement
                        .body()
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

#[track_caller]
fn check_parity(dir: &Path, document: &str, scope: Scope) {
    let granted = allowed_actions(dir, document);
    let needed: BTreeSet<String> = iam_actions(scope).into_iter().map(str::to_owned).collect();
    let missing: Vec<&String> = needed.difference(&granted).collect();
    let extra: Vec<&String> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} {document}: lacks {missing:?} that the code uses; grants {extra:?} that it does not use",
        dir.display()
    );
}

#[test]
fn the_guards_policy_grants_exactly_what_the_code_calls() {
    check_parity(&terraform(), "guard_permissions", Scope::Guard);
}

#[test]
fn the_member_accounts_policy_grants_exactly_what_the_code_calls_there() {
    check_parity(
        &terraform().join("modules/member-account"),
        "member_permissions",
        Scope::Member,
    );
}

#[test]
fn the_parity_check_catches_a_missing_and_an_extra_action() {
    // The same parser over a doctored copy: one action dropped, one added.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(terraform().join("main.tf"))
        .unwrap()
        .replace("\"ec2:StopInstances\", ", "")
        .replace(
            "\"sns:Publish\"]",
            "\"sns:Publish\", \"ec2:TerminateInstances\"]",
        );
    std::fs::write(dir.path().join("main.tf"), text).unwrap();
    let granted = allowed_actions(dir.path(), "guard_permissions");
    assert!(!granted.contains("ec2:StopInstances"));
    assert!(granted.contains("ec2:TerminateInstances"));
    let result =
        std::panic::catch_unwind(|| check_parity(dir.path(), "guard_permissions", Scope::Guard));
    assert!(result.is_err());
}

#[test]
fn never_terminate() {
    for dir in [terraform(), terraform().join("modules/member-account")] {
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
