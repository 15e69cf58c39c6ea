//! What a release ships, proven rather than only built: `--version` names the version, the
//! commit and the target; the aarch64 (Graviton) binary runs under `qemu-aarch64` (natively on
//! an aarch64 host) against the emulator: `--version`, `check --json`, and a `halt --yes` that
//! stops instances; and so does the image FROM scratch, when scripts/release names it.
//!
//! The aarch64 binary is `RUNAWAY_AARCH64_BIN` (scripts/test points it at the one it builds
//! beside the suite in `target/cross/`; scripts/release at the packed one, with
//! `RUNAWAY_AARCH64_COMMIT`), else `target/aarch64-unknown-linux-gnu/debug/runaway` (a plain
//! `cargo build --target aarch64-unknown-linux-gnu`). Where no qemu-aarch64 can run, the test
//! fails saying so, unless `RUNAWAY_AARCH64=skip` says to skip it; then it says it skipped.

use std::path::PathBuf;
use std::process::Command;

use crate::common::config::Toml;
use crate::common::*;

const AARCH64: &str = "aarch64-unknown-linux-gnu";

/// The commit this checkout is at, as build.rs records it.
fn head() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_version_names_the_version_the_commit_and_the_target() {
    let out = Command::new(env!("CARGO_BIN_EXE_runaway"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let host = String::from_utf8(Command::new("rustc").arg("-vV").output().unwrap().stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!(
            "runaway {} (commit {}, {host})",
            env!("CARGO_PKG_VERSION"),
            head()
        )
    );
}

/// How to run an aarch64 binary here: natively, or through qemu-aarch64 with Debian's aarch64
/// libraries; `None` (said on stderr) where the test is told to skip.
fn aarch64_runner() -> Option<Vec<String>> {
    if std::env::consts::ARCH == "aarch64" {
        return Some(vec![]);
    }
    let qemu = ["qemu-aarch64", "qemu-aarch64-static"]
        .into_iter()
        .find(|q| {
            Command::new(q)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    match qemu {
        Some(q) => Some(vec![q.into(), "-L".into(), "/usr/aarch64-linux-gnu".into()]),
        None if std::env::var("RUNAWAY_AARCH64").as_deref() == Ok("skip") => {
            eprintln!(
                "SKIPPED: no qemu-aarch64 can run here (RUNAWAY_AARCH64=skip): the aarch64 binary is not proven"
            );
            None
        }
        None => panic!(
            "no qemu-aarch64 to run the aarch64 binary: install Debian's qemu-user (scripts/setup does), or set RUNAWAY_AARCH64=skip to skip this test"
        ),
    }
}

fn aarch64_binary() -> PathBuf {
    let path = std::env::var_os("RUNAWAY_AARCH64_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(format!("target/{AARCH64}/debug/runaway"))
        });
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --bin runaway --target {AARCH64}` (scripts/test does)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aarch64_binary_checks_and_halts_under_qemu() {
    let Some(runner) = aarch64_runner() else {
        return;
    };
    let binary = aarch64_binary();
    let program: Vec<String> = runner
        .into_iter()
        .chain([binary.display().to_string()])
        .collect();
    let commit = std::env::var("RUNAWAY_AARCH64_COMMIT").unwrap_or_else(|_| head());
    checks_and_halts(&program, &commit, AARCH64, &Workdir::new(&config())).await;
}

/// The image FROM scratch (Containerfile), as scripts/release builds it and names it in
/// `RUNAWAY_IMAGE`: the static binary, run by podman as user 65534 with the working directory
/// mounted, on the host's network to reach the emulator. podman runs it with runc, cgroupfs
/// and lowered limits: what a machine without all cgroup controllers or `CAP_SYS_RESOURCE`
/// (like these) needs, and harmless elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn the_image_checks_and_halts_from_scratch() {
    let Ok(image) = std::env::var("RUNAWAY_IMAGE") else {
        eprintln!(
            "SKIPPED: no image (RUNAWAY_IMAGE): scripts/release builds it from the Containerfile and runs this test against it"
        );
        return;
    };
    let w = Workdir::new(&config());
    // The container's user writes the journal here.
    std::fs::set_permissions(
        w.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let mount = format!("{}:/work", w.dir.path().display());
    let mut program: Vec<String> = [
        "podman",
        "--cgroup-manager=cgroupfs",
        "--runtime=runc",
        "run",
        "--rm",
        "--network=host",
        "--ulimit=nofile=1024:1024",
        "--ulimit=nproc=1024:1024",
        "--workdir=/work",
        "--volume",
        &mount,
    ]
    .map(str::to_owned)
    .to_vec();
    for pass in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_EC2_METADATA_DISABLED",
    ] {
        program.push(format!("--env={pass}"));
    }
    program.push(image);
    let commit = std::env::var("RUNAWAY_IMAGE_COMMIT").unwrap_or_else(|_| head());
    checks_and_halts(&program, &commit, "x86_64-unknown-linux-gnu", &w).await;
}

fn config() -> String {
    Toml::new()
        .payer(&["us-east-1", "eu-west-1"], "max_running_instances = 2")
        .into()
}

/// `PROGRAM --version` names this version, `commit` and `target`; `check --json` fails the rule
/// on three instances in two regions; `halt --yes` stops all three; the x86_64 build of this
/// checkout reads the journal it wrote.
async fn checks_and_halts(program: &[String], commit: &str, target: &str, w: &Workdir) {
    let program: Vec<&str> = program.iter().map(String::as_str).collect();
    let moto = Moto::start();
    let out = w
        .run_program(&program, &moto.url, &["--version"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        format!(
            "runaway {} (commit {commit}, {target})",
            env!("CARGO_PKG_VERSION")
        ),
        "{program:?} is not this checkout's build"
    );

    let us = moto.sdk("us-east-1").await;
    let eu = moto.sdk("eu-west-1").await;
    let ids = launch(&us, 2, &[], false).await;
    launch(&eu, 1, &[], false).await;
    let out = w
        .run_program(&program, &moto.url, &["check", "--json"], &[])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    let report = out.json();
    assert_eq!(report["state"], "fail");
    assert_eq!(report["accounts"][0]["running_instances"], 3);
    assert_eq!(
        report["accounts"][0]["violations"][0]["rule"],
        "max_running_instances"
    );

    let out = w
        .run_program(&program, &moto.url, &["halt", "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(count(&us, "running").await + count(&eu, "running").await, 0);
    assert_eq!(count(&us, "stopped").await, 2);
    assert_eq!(count(&eu, "stopped").await, 1);
    let halt = out.json();
    let stopped = halt.to_string();
    assert!(
        ids.iter().all(|i| stopped.contains(i.as_str())),
        "{stopped}"
    );
    // The journal it wrote, read by the x86_64 build: one format for both.
    let incident = halt["incident"].as_str().unwrap();
    let out = w.run(&moto.url, &["status", incident, "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["incident"]["id"], incident);
}
