//! `runaway serve`: its secrets and, where it is deployed, its configuration, read at start
//! from the environment or from SSM Parameter Store / Secrets Manager; then the bot.

use super::{Exit, exit, usage};
use crate::adapters::aws::{Aws, Settings};
use crate::config::Config;

/// The configuration held in an SSM parameter (`RUNAWAY_CONFIG_SSM`); a relative `state_path`
/// is then under the working directory.
pub(super) async fn config_from_parameter(
    name: &str,
    settings: &mut Option<Settings>,
) -> Result<Config, Exit> {
    let text = store(settings).await.parameter(name).await.map_err(|e| {
        Exit(
            exit::USAGE,
            format!("RUNAWAY_CONFIG_SSM: cannot read the parameter {name}: {e}"),
        )
    })?;
    Config::parse_in(
        std::path::Path::new(&format!("ssm:{name}")),
        std::path::Path::new("."),
        &text,
    )
    .map_err(usage)
}

/// The SSM / Secrets Manager client, made once at the first need (the standard credentials
/// and region chain: on an instance, its role and region).
async fn store(slot: &mut Option<Settings>) -> &Settings {
    if slot.is_none() {
        *slot = Some(Settings::from_env().await);
    }
    slot.as_ref().expect("settings just made")
}

/// A secret from the environment (or ./.env), else from the SSM parameter named by
/// `NAME_SSM` (a SecureString, decrypted) or the Secrets Manager secret of `NAME_SECRET_ARN`;
/// never echoed, never written anywhere.
async fn secret(
    name: &str,
    settings: &mut Option<Settings>,
) -> Result<crate::adapters::slack::Secret, Exit> {
    let var = |suffix: &str| {
        std::env::var(format!("{name}{suffix}"))
            .ok()
            .filter(|v| !v.trim().is_empty())
    };
    if let Some(v) = var("") {
        return Ok(crate::adapters::slack::Secret::from(v));
    }
    let (from, source, read) = match (var("_SSM"), var("_SECRET_ARN")) {
        (Some(p), _) => (format!("{name}_SSM"), p, true),
        (None, Some(s)) => (format!("{name}_SECRET_ARN"), s, false),
        (None, None) => {
            return Err(Exit(
                exit::USAGE,
                format!(
                    "{name} is not set (environment or ./.env, or {name}_SSM / {name}_SECRET_ARN): runaway serve needs it"
                ),
            ));
        }
    };
    let store = store(settings).await;
    let value = if read {
        store.parameter(&source).await
    } else {
        store.secret(&source).await
    }
    .map_err(|e| Exit(exit::USAGE, format!("{from}: cannot read {source}: {e}")))?;
    if value.trim().is_empty() {
        return Err(Exit(exit::USAGE, format!("{from}: {source} is empty")));
    }
    Ok(crate::adapters::slack::Secret::from(value))
}

pub(super) async fn cmd_serve(config: Config, mut settings: Option<Settings>) -> Result<i32, Exit> {
    use std::sync::Arc;
    let token = secret("SLACK_BOT_TOKEN", &mut settings).await?;
    // Socket Mode needs the app-level token and no signing secret (nothing is posted to the
    // guard); HTTP mode the signing secret.
    let socket_mode = config.slack.mode == crate::config::SlackMode::Socket;
    let (signing_secret, app_token) = if socket_mode {
        let app_token = secret("SLACK_APP_TOKEN", &mut settings).await?;
        if !secrecy::ExposeSecret::expose_secret(&app_token).starts_with("xapp-") {
            return Err(Exit(
                exit::USAGE,
                "SLACK_APP_TOKEN: expected an app-level token (xapp-...) with connections:write, as [slack] mode = \"socket\" needs".into(),
            ));
        }
        (None, Some(app_token))
    } else {
        (
            Some(secret("SLACK_SIGNING_SECRET", &mut settings).await?),
            None,
        )
    };
    let listen_text = std::env::var("RUNAWAY_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listen: std::net::SocketAddr = listen_text.parse().map_err(|_| {
        Exit(
            exit::USAGE,
            format!(
                "RUNAWAY_LISTEN: expected an address like 127.0.0.1:3000, found {listen_text:?}"
            ),
        )
    })?;
    let api =
        std::env::var("RUNAWAY_SLACK_API_URL").unwrap_or_else(|_| "https://slack.com/api/".into());
    let journal: Arc<dyn crate::ports::journal::Journal> =
        Arc::from(crate::cli::open_journal(&config).map_err(usage)?);
    let aws = Aws::from_env(&config.guard.home_region).await;
    let notifier = Arc::new(crate::adapters::aws::SnsNotifier::new(&aws));
    let chat = Arc::new(crate::adapters::slack::SlackClient::new(&api, token));
    let socket = app_token.map(|t| crate::adapters::slack::socket::SocketMode::new(&api, t));
    let own = crate::adapters::aws::own_instance_id().await;
    let queue = config
        .events
        .as_ref()
        .map(|e| Arc::new(crate::adapters::aws::SqsQueue::new(&aws, e)));
    let own_compute = crate::adapters::aws::own_compute().await;
    let mut bot = crate::app::bot::Bot::new(config, Arc::new(aws), chat, notifier, journal, own)
        .with_own_compute(own_compute);
    // Replicas sharing a DynamoDB journal: each names itself (the lease's holder when it
    // leads); RUNAWAY_LEASE_TTL_SECS shortens the lease (tests, the failover benchmark).
    let holder = std::env::var("RUNAWAY_REPLICA")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(crate::adapters::process::this_process);
    let ttl = match std::env::var("RUNAWAY_LEASE_TTL_SECS") {
        Err(_) => crate::app::bot::LEASE_TTL,
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(secs) if (3..=300).contains(&secs) => std::time::Duration::from_secs(secs),
            _ => {
                return Err(Exit(
                    exit::USAGE,
                    format!(
                        "RUNAWAY_LEASE_TTL_SECS: expected whole seconds from 3 to 300, found {text:?}"
                    ),
                ));
            }
        },
    };
    bot = bot.with_lease(holder, ttl);
    if let Some(queue) = queue {
        bot = bot.with_events(queue);
    }
    // An unexpected policy write of the last days stays a problem of /healthz across a restart.
    if let Err(e) = bot.recall_unexpected_writes(chrono::Utc::now()) {
        tracing::warn!(error = %e, "unexpected policy writes of the last days not read back");
    }
    let bot = Arc::new(bot);
    let app = Arc::new(crate::adapters::http::App {
        bot,
        signing_secret,
        tasks: tokio_util::task::TaskTracker::new(),
        started: chrono::Utc::now(),
        replays: Default::default(),
        socket: socket.as_ref().map(|s| s.status.clone()),
    });
    crate::adapters::http::serve(app, listen, socket)
        .await
        .map_err(|e| Exit(exit::USAGE, format!("cannot serve on {listen}: {e}")))?;
    Ok(exit::OK)
}
