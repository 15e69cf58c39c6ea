//! `runaway serve` in Socket Mode (`[slack] mode = "socket"`), against moto, the Web API
//! stand-in and a Socket Mode stand-in that speaks Slack's protocol: the alert, slash commands
//! answered in their acks, Halt now pressed over the socket, a dropped socket that loses no
//! press, a press delivered twice and handled once, Slack's refresh, and `/healthz`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::bot::topic;
use crate::common::config::{APPROVER, Toml};
use crate::common::slack::{SlackStandIn, approve_value, button_value, command_body};
use crate::common::socket::SocketStandIn;
use crate::common::*;

const STRANGER: &str = "USTRANGER1";

fn config(topic: &str) -> String {
    Toml::new()
        .guard("check_every = \"10s\"\ngrace_period = \"10m\"\nsnooze = \"1h\"")
        .slack(&[APPROVER])
        .slack_line("mode = \"socket\"")
        .notify(topic)
        .payer(
            &["us-east-1"],
            "max_running_instances = 2\nactions = [\"stop_instances\"]",
        )
        .into()
}

async fn health(serve: &Serve) -> Value {
    reqwest::get(format!("{}/healthz", serve.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn text(ack: &Value) -> String {
    ack["payload"].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_loop_runs_over_socket_mode_and_a_dropped_socket_loses_no_press() {
    let moto = Moto::start();
    let slack = SlackStandIn::start().await;
    let socket = SocketStandIn::start().await;
    slack.with_socket(&socket.url);
    let topic = topic(&moto).await;
    let use1 = moto.sdk("us-east-1").await;
    launch(&use1, 3, &[], false).await;
    let w = Workdir::new(&config(&topic));
    let serve =
        Serve::start_with_env(&w, &moto.url, &slack, &[("SLACK_APP_TOKEN", "xapp-1-test")]).await;
    socket.wait_connections(1, 20).await;
    let open = &slack.calls_to("apps.connections.open")[0];
    assert_eq!(open.authorization.as_deref(), Some("Bearer xapp-1-test"));
    // Nothing is served for Slack to post to: the guard's own socket is the only way in.
    let r = serve
        .signed("/slack/commands", &command_body("status", APPROVER, None))
        .await;
    assert_eq!(r.status(), 404);

    // The alert goes out through the Web API as in HTTP mode.
    let alert = slack.wait_for("chat.postMessage", 30, |_| true).await;
    let incident = approve_value(&alert);
    let h = health(&serve).await;
    assert_eq!(h["slack_socket"]["connected"], true, "{h}");
    assert_eq!(h["slack_socket"]["connections"], 1, "{h}");

    // Slash commands: answered in the envelope's ack.
    let help = socket.slash("", STRANGER);
    assert!(text(&socket.ack(&help, 5).await).contains("/runaway halt"));
    let status = socket.slash("status", STRANGER);
    assert!(text(&socket.ack(&status, 5).await).contains(&incident));
    let refused = socket.slash("halt", STRANGER);
    assert!(text(&socket.ack(&refused, 5).await).contains("Only the guard's approvers"));
    let halt = socket.slash("halt payer", APPROVER);
    let confirm = socket.ack(&halt, 5).await;
    assert!(
        button_value(&confirm["payload"], "runaway_confirm_halt").is_some(),
        "{confirm}"
    );
    assert_eq!(
        count(&use1, "running").await,
        3,
        "a halt waits for its confirmation"
    );

    // The socket drops; Halt now is pressed meanwhile and arrives on the next connection.
    socket.drop_connection();
    let press = socket.press("runaway_approve", &incident, APPROVER);
    socket.wait_connections(2, 20).await;
    socket.ack(&press, 10).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&use1, "stopped").await < 3 {
        assert!(Instant::now() < deadline, "the instances were not stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Slack sends the press again (as when an ack is lost): acknowledged, handled once.
    socket.redeliver(&press);
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket.acks_of(&press) < 2 {
        assert!(
            Instant::now() < deadline,
            "the redelivered press was not acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let db = rusqlite::Connection::open(w.path("journal.db")).unwrap();
    let presses: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM presses WHERE incident_id = ?1",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(presses, 1, "one press, though delivered twice");
    let stops: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM changes WHERE incident_id = ?1 AND action = 'stop_instance'",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stops, 3, "each instance stopped once");

    // Slack refreshes the connection: the guard opens a new one at once, and keeps the old
    // one until the new one has said hello (make before break): a command sent meanwhile is
    // answered on the old one.
    assert_eq!(socket.max_open(), 1);
    socket.disconnect("refresh_requested");
    let meanwhile = socket.slash("status", STRANGER);
    assert!(text(&socket.ack(&meanwhile, 5).await).contains(&incident));
    socket.wait_connections(3, 10).await;
    assert_eq!(
        socket.max_open(),
        2,
        "the new connection opened before the old one closed"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket.open_now() > 1 {
        assert!(
            Instant::now() < deadline,
            "the renewed connection was never closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = socket.slash("status", STRANGER);
    assert!(text(&socket.ack(&after, 5).await).contains(&incident));
    let h = health(&serve).await;
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["slack_socket"]["connections"], 3, "{h}");
    let status = serve.stop("-TERM").await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn override_pressed_over_the_socket_closes_the_alert_and_stops_nothing() {
    let moto = Moto::start();
    let slack = SlackStandIn::start().await;
    let socket = SocketStandIn::start().await;
    slack.with_socket(&socket.url);
    let use1 = moto.sdk("us-east-1").await;
    launch(&use1, 3, &[], false).await;
    let w = Workdir::new(&config(&topic(&moto).await));
    let serve =
        Serve::start_with_env(&w, &moto.url, &slack, &[("SLACK_APP_TOKEN", "xapp-1-test")]).await;
    socket.wait_connections(1, 20).await;
    let alert = slack.wait_for("chat.postMessage", 30, |_| true).await;
    let incident = approve_value(&alert);
    // A stranger's press is refused; the approver's closes the alert.
    let stranger = socket.press("runaway_override", &incident, STRANGER);
    socket.ack(&stranger, 5).await;
    let press = socket.press("runaway_override", &incident, APPROVER);
    socket.ack(&press, 5).await;
    let closed = slack
        .wait_for("chat.update", 10, |b| {
            crate::common::slack::text_of(b).contains("Overridden")
        })
        .await;
    assert!(
        button_value(&closed, "runaway_approve").is_none(),
        "{closed}"
    );
    let db = rusqlite::Connection::open(w.path("journal.db")).unwrap();
    let status: String = db
        .query_row(
            "SELECT status FROM incidents WHERE id = ?1",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "overridden");
    assert_eq!(count(&use1, "running").await, 3, "nothing stopped");
    assert!(serve.stop("-TERM").await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_mode_without_an_app_level_token_is_a_usage_error_that_names_it_not_its_value() {
    let moto = Moto::start();
    let w = Workdir::new(&config(&topic(&moto).await));
    for (env, said) in [
        (vec![], "SLACK_APP_TOKEN is not set"),
        (
            vec![("SLACK_APP_TOKEN", "xoxb-secret-bot-token-value")],
            "expected an app-level token (xapp-...)",
        ),
    ] {
        let mut env = env;
        env.push(("SLACK_BOT_TOKEN", "xoxb-test-token"));
        let out = w.run(&moto.url, &["serve"], &env).await;
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains(said), "{out:?}");
        assert!(!out.stderr.contains("secret-bot-token-value"), "{out:?}");
    }
}

#[test]
fn the_socket_mode_manifest_is_the_http_one_less_its_request_urls() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("slack");
    // The manifest's lines, without the header comment.
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(root.join(name))
            .unwrap()
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let http = lines("manifest.yml");
    let socket = lines("manifest-socket.yml");
    let expected: Vec<String> = http
        .iter()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("url: ") && !t.starts_with("request_url: ")
        })
        .map(|l| l.replace("socket_mode_enabled: false", "socket_mode_enabled: true"))
        .collect();
    assert_eq!(socket, expected);
    assert!(
        http.iter()
            .any(|l| l.trim() == "socket_mode_enabled: false")
    );
    assert!(
        http.iter()
            .any(|l| l.trim_start().starts_with("request_url: https://"))
    );
    // The slash command's hint lists every command the guard answers.
    let hint = socket.iter().find(|l| l.contains("usage_hint")).unwrap();
    for command in ["status", "halt", "restore", "isolate", "help"] {
        assert!(
            hint.contains(command)
                && runawaytrain::adapters::slack::inbound::HELP
                    .contains(&format!("/runaway {command}")),
            "{command}"
        );
    }
}

/// Deployed, the bot reads its configuration from SSM Parameter Store and its Slack tokens from
/// a SecureString parameter and a Secrets Manager secret, all in moto; no token is written in
/// its directory.
#[tokio::test(flavor = "multi_thread")]
async fn deployed_the_configuration_and_tokens_come_from_ssm_and_secrets_manager() {
    let moto = Moto::start();
    let slack = SlackStandIn::start().await;
    let socket = SocketStandIn::start().await;
    slack.with_socket(&socket.url);
    let sdk = moto.sdk("us-east-1").await;
    launch(&sdk, 3, &[], false).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let text = config(&topic(&moto).await);
    ssm.put_parameter()
        .name("/runawaytrain/config")
        .value(&text)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/runawaytrain/slack-bot-token")
        .value("xoxb-from-parameter-store")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("runawaytrain/slack-app-token")
        .secret_string("xapp-from-secrets-manager")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    // The file is not read: it is not even valid.
    let w = Workdir::new("not = [valid");
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("RUNAWAY_CONFIG_SSM", "/runawaytrain/config"),
        ("SLACK_BOT_TOKEN_SSM", "/runawaytrain/slack-bot-token"),
        ("SLACK_APP_TOKEN_SECRET_ARN", secret.as_str()),
    ];
    let serve = Serve::start_with_env(&w, &moto.url, &slack, &env).await;
    socket.wait_connections(1, 20).await;
    assert_eq!(
        slack.calls_to("apps.connections.open")[0]
            .authorization
            .as_deref(),
        Some("Bearer xapp-from-secrets-manager")
    );
    slack.wait_for("chat.postMessage", 30, |_| true).await;
    assert_eq!(
        slack.calls_to("chat.postMessage")[0]
            .authorization
            .as_deref(),
        Some("Bearer xoxb-from-parameter-store")
    );
    let pid = serve.pid();
    let status = serve.stop("-TERM").await;
    assert!(status.success(), "{pid}: {status:?}");
    for file in std::fs::read_dir(w.dir.path()).unwrap() {
        let path = file.unwrap().path();
        if path.is_file() && !path.to_string_lossy().contains("journal") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !text.contains("from-parameter-store") && !text.contains("from-secrets-manager")
            );
        }
    }

    // A parameter that is not there: exit 2 naming the variable and the parameter.
    let out = w
        .run(
            &moto.url,
            &["serve"],
            &[
                ("AWS_REGION", "us-east-1"),
                ("RUNAWAY_CONFIG_SSM", "/runawaytrain/config"),
                ("SLACK_BOT_TOKEN_SSM", "/runawaytrain/nothing-here"),
                ("SLACK_APP_TOKEN_SECRET_ARN", secret.as_str()),
            ],
        )
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("SLACK_BOT_TOKEN_SSM: cannot read /runawaytrain/nothing-here"),
        "{out:?}"
    );
}
