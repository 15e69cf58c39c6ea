//! The invariants of ARCHITECTURE.md, held by reading the source: each is one rule over the
//! files of `src/` (their code, comments and `#[cfg(test)]` modules left out), and a change that
//! breaks one fails here with the file and line.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, with its path relative to the crate and its code lines
/// (numbered from 1): comments and the trailing `#[cfg(test)]` module left out.
fn sources() -> Vec<(String, Vec<(usize, String)>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let code: Vec<(usize, String)> = text
                .lines()
                .enumerate()
                .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
                .filter(|(_, l)| !l.trim_start().starts_with("//"))
                .map(|(i, l)| (i + 1, l.to_owned()))
                .collect();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            (name, code)
        })
        .collect()
}

/// The places outside `allowed` (path prefixes) whose code contains any of `needles`.
fn offenders(allowed: &[&str], needles: &[&str]) -> Vec<String> {
    scan(|file| !allowed.iter().any(|a| file.starts_with(a)), needles)
}

/// The places inside `within` (a path prefix) whose code contains any of `needles`.
fn offenders_in(within: &str, needles: &[&str]) -> Vec<String> {
    scan(|file| file.starts_with(within), needles)
}

fn scan(checked: impl Fn(&str) -> bool, needles: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (file, code) in sources() {
        // Test modules kept in a file of their own are tests, not code.
        if !checked(&file) || file.ends_with("/tests.rs") {
            continue;
        }
        for (line, text) in code {
            if let Some(n) = needles.iter().find(|n| text.contains(*n)) {
                out.push(format!("{file}:{line}: {n}: {}", text.trim()));
            }
        }
    }
    out
}

#[track_caller]
fn holds(rule: &str, offenders: Vec<String>) {
    assert!(offenders.is_empty(), "{rule}:\n{}", offenders.join("\n"));
}

#[test]
fn only_the_aws_adapter_imports_the_sdk() {
    holds(
        "only src/adapters/aws/ (and the DynamoDB journal) uses the AWS SDK",
        offenders(
            &["src/adapters/aws/", "src/adapters/journal/dynamodb/"],
            &[
                "aws_sdk_",
                "aws_config",
                "aws_smithy",
                "aws_types",
                "aws_credential_types",
            ],
        ),
    );
}

#[test]
fn only_the_journal_runs_sql() {
    holds(
        "only src/adapters/journal/ uses SQLite",
        offenders(
            &["src/adapters/journal/"],
            &["rusqlite", "execute_batch", "SELECT "],
        ),
    );
}

#[test]
fn the_application_reaches_the_journal_only_through_its_port() {
    holds(
        "src/app/ and src/ports/ use the journal port (ports::journal), never a store: only the composition root (src/cli/) opens one",
        offenders(
            &["src/adapters/journal/", "src/cli/"],
            &["adapters::journal", "SqliteJournal"],
        ),
    );
}

#[test]
fn the_core_touches_nothing_of_the_world() {
    holds(
        "src/core/ imports no tokio, no clock, no I/O, no adapter",
        offenders_in(
            "src/core/",
            &[
                "tokio",
                "Utc::now",
                "SystemTime",
                "Instant::now",
                "std::fs",
                "std::net",
                "reqwest",
                "axum",
                "hyper",
                "crate::adapters",
                "crate::app",
            ],
        ),
    );
}

#[test]
fn the_application_reads_time_only_from_its_clock() {
    holds(
        "src/app/ reads the wall clock only through Clock / the step's clock",
        offenders_in("src/app/", &["Utc::now", "SystemTime::now"]),
    );
}

#[test]
fn only_the_slack_adapter_knows_slacks_wire_format() {
    holds(
        "only src/adapters/slack/ speaks Slack's wire format",
        offenders(
            &["src/adapters/slack/"],
            &[
                "\"blocks\"",
                "\"action_id\"",
                "response_type",
                "\"chat.postMessage\"",
                "\"chat.update\"",
                "x-slack-",
                "runaway_approve",
                "runaway_override",
                "runaway_confirm_halt",
                "block_actions",
            ],
        ),
    );
}

#[test]
fn only_the_slack_adapter_opens_slacks_socket() {
    holds(
        "only src/adapters/slack/ speaks Socket Mode",
        offenders(
            &["src/adapters/slack/"],
            &["tokio_tungstenite", "envelope_id", "apps.connections.open"],
        ),
    );
}

#[test]
fn only_the_http_adapter_knows_routes() {
    holds(
        "only src/adapters/http/ serves HTTP",
        offenders(&["src/adapters/http/"], &["axum::", "hyper::", ".route(\""]),
    );
}

#[test]
fn nothing_ever_terminates_an_instance() {
    holds(
        "no code path terminates",
        offenders(&[], &["terminate_instances", "TerminateInstances"])
            .into_iter()
            // Tamper findings read CloudTrail's record of someone else's TerminateInstances: the
            // name, never the SDK call (which the first needle finds anywhere, here too).
            .filter(|o| !o.starts_with("src/core/tamper.rs:") || o.contains("terminate_instances"))
            .collect(),
    );
}

#[test]
fn the_rules_themselves_catch_an_offence() {
    // A rule that could not fail would prove nothing: the needles are found where they are.
    assert!(!offenders(&[], &["aws_sdk_ec2"]).is_empty());
    assert!(!offenders(&[], &["rusqlite"]).is_empty());
    assert!(!offenders(&[], &["\"chat.postMessage\""]).is_empty());
    assert!(!offenders_in("src/core/", &["pub fn"]).is_empty());
    assert!(offenders_in("src/core/", &["aws_sdk_ec2"]).is_empty());
}
