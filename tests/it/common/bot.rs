//! The bot's steps driven directly, against a moto server (with an SNS notify topic) and a
//! Slack stand-in, with a configuration chosen by the test.

use std::sync::Arc;

use chrono::Utc;
use runawaytrain::adapters::aws::{Aws, SnsNotifier};
use runawaytrain::adapters::journal::Journal;
use runawaytrain::adapters::slack::{Secret, SlackClient};
use runawaytrain::app::bot::Bot;
use runawaytrain::config::{Config, RegionName};

use super::Moto;
use super::slack::SlackStandIn;

pub async fn topic(moto: &Moto) -> String {
    aws_sdk_sns::Client::new(&moto.sdk("us-east-1").await)
        .create_topic()
        .name("runawaytrain")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap()
}

/// E-mails published to the topic: (subject, message).
pub fn emails(moto: &Moto) -> Vec<(String, String)> {
    let data = moto.data();
    data["sns"]["Topic"][0]["sent_notifications"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|n| {
                    (
                        n[2].as_str().unwrap_or("").to_owned(),
                        n[1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The bot, its steps awaited to the end of the work they start in the background (deliveries,
/// actions), so that a test sees their effects.
pub struct Stepped(pub Arc<Bot>);

impl Stepped {
    pub async fn check_step(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<runawaytrain::app::check::CheckReport, runawaytrain::adapters::journal::JournalError>
    {
        let r = self.0.check_step(now).await;
        self.0.idle().await;
        r
    }

    pub async fn deadline_step(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<String>, runawaytrain::adapters::journal::JournalError> {
        let r = self.0.deadline_step(now).await;
        self.0.idle().await;
        r
    }
}

impl std::ops::Deref for Stepped {
    type Target = Bot;
    fn deref(&self) -> &Bot {
        &self.0
    }
}

pub struct BotHarness {
    pub moto: Moto,
    pub slack: SlackStandIn,
    pub bot: Stepped,
    pub dir: tempfile::TempDir,
}

impl BotHarness {
    /// `config(topic)` is the configuration's text, given the notify topic's ARN.
    pub async fn start(config: impl FnOnce(&str) -> String) -> BotHarness {
        let moto = Moto::start();
        let slack = SlackStandIn::start().await;
        let topic = topic(&moto).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runaway.toml");
        std::fs::write(&path, config(&topic)).unwrap();
        let config = Config::load(&path).unwrap();
        let journal = Arc::new(Journal::open(&config.guard.state_path).unwrap());
        let aws = Aws::new(
            moto.sdk("us-east-1").await,
            &RegionName::parse("us-east-1").unwrap(),
        );
        let notifier = Arc::new(SnsNotifier::new(&aws));
        // A short budget for Slack calls: the tests that make Slack fail need not wait 20 s.
        let chat = Arc::new(SlackClient::with_budget(
            &slack.api,
            Secret::new("xoxb-test-token".into()),
            std::time::Duration::from_secs(4),
        ));
        let bot = Stepped(Arc::new(Bot::new(
            config,
            Arc::new(aws),
            chat,
            notifier,
            journal,
            None,
        )));
        BotHarness {
            moto,
            slack,
            bot,
            dir,
        }
    }
}
