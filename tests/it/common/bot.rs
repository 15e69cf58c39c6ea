//! The bot's steps driven directly, against a moto server (with an SNS notify topic) and a
//! Slack stand-in, with a configuration chosen by the test.

use std::sync::Arc;

use chrono::Utc;
use runawaytrain::adapters::aws::{Aws, SnsNotifier, SqsQueue};
use runawaytrain::adapters::journal::SqliteJournal;
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
    ) -> Result<runawaytrain::app::check::CheckReport, runawaytrain::ports::journal::JournalError>
    {
        let r = self.0.check_step(now).await;
        self.0.idle().await;
        r
    }

    pub async fn deadline_step(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<String>, runawaytrain::ports::journal::JournalError> {
        let r = self.0.deadline_step(now).await;
        self.0.idle().await;
        r
    }
}

impl Stepped {
    /// One turn of the event path (a long poll of at most a second), and the checks and
    /// deliveries it started, to their end.
    pub async fn events_step(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Vec<runawaytrain::core::events::Outcome> {
        let queue = self.0.events.clone().expect("a bot with an event queue");
        let settings = queue.settings().await.expect("the queue's settings");
        let r = self
            .0
            .events_step(
                queue.as_ref(),
                &settings,
                std::time::Duration::from_secs(1),
                now,
            )
            .await
            .expect("an event step");
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
    /// Where the bot (and `restore`) reach AWS: the emulator, or a stand-in in front of it.
    aws: String,
}

impl BotHarness {
    /// `runaway restore INCIDENT` (instances left stopped) as the command runs it, with the
    /// payer's credentials on the emulator and the bot's configuration and journal.
    pub async fn restore(&self, incident: &str) -> runawaytrain::app::restore::RestoreReport {
        runawaytrain::app::restore::run(
            &runawaytrain::adapters::aws::Aws::new(
                super::sdk_at(&self.aws, "us-east-1").await,
                &runawaytrain::config::RegionName::parse("us-east-1").unwrap(),
            ),
            &self.bot.config,
            self.bot.journal.as_ref(),
            incident,
            false,
            std::time::Duration::from_secs(5),
            &chrono::Utc::now,
        )
        .await
        .unwrap()
    }

    /// `config(topic)` is the configuration's text, given the notify topic's ARN.
    pub async fn start(config: impl FnOnce(&str) -> String) -> BotHarness {
        let moto = Moto::start();
        let topic = topic(&moto).await;
        let text = config(&topic);
        Self::build(moto, &text).await
    }

    /// With the event path: the pipe is built on the emulator first (`max_receive`, `visibility`
    /// as [`super::events::event_pipe`] takes them); `config(topic, queue_url)`.
    pub async fn with_events(
        max_receive: u32,
        visibility: u32,
        config: impl FnOnce(&str, &str) -> String,
    ) -> (BotHarness, super::events::EventPipe) {
        Self::with_patterns(
            max_receive,
            visibility,
            super::events::Patterns::DetailTypes,
            config,
        )
        .await
    }

    /// As `with_events`, with the module's own event patterns on the rules
    /// (`events::Patterns::Module`).
    pub async fn with_module_events(
        max_receive: u32,
        visibility: u32,
        config: impl FnOnce(&str, &str) -> String,
    ) -> (BotHarness, super::events::EventPipe) {
        Self::with_patterns(
            max_receive,
            visibility,
            super::events::Patterns::Module(&[]),
            config,
        )
        .await
    }

    async fn with_patterns(
        max_receive: u32,
        visibility: u32,
        patterns: super::events::Patterns,
        config: impl FnOnce(&str, &str) -> String,
    ) -> (BotHarness, super::events::EventPipe) {
        let moto = Moto::start();
        let topic = topic(&moto).await;
        let pipe = super::events::event_pipe_of(&moto, max_receive, visibility, patterns).await;
        let text = config(&topic, &pipe.queue_url);
        (Self::build(moto, &text).await, pipe)
    }

    /// A second bot over the same journal and emulator: the guard after a restart.
    pub async fn restarted(&self) -> Stepped {
        let path = self.dir.path().join("runaway.toml");
        let config = Config::load(&path).unwrap();
        Self::bot(&self.aws, &self.slack, config).await
    }

    /// The bot and `restore` reach AWS through `endpoint` from now on (a stand-in in front of
    /// the emulator, for what moto does not serve): a new bot over the same journal.
    pub async fn reach_aws_through(&mut self, endpoint: &str) {
        self.aws = endpoint.to_owned();
        self.bot = self.restarted().await;
    }

    async fn build(moto: Moto, text: &str) -> BotHarness {
        let slack = SlackStandIn::start().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runaway.toml");
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        let bot = Self::bot(&moto.url, &slack, config).await;
        BotHarness {
            aws: moto.url.clone(),
            moto,
            slack,
            bot,
            dir,
        }
    }

    async fn bot(aws: &str, slack: &SlackStandIn, config: Config) -> Stepped {
        let journal = Arc::new(SqliteJournal::open(&config.guard.state_path).unwrap());
        let aws = Aws::new(
            super::sdk_at(aws, "us-east-1").await,
            &RegionName::parse("us-east-1").unwrap(),
        );
        let notifier = Arc::new(SnsNotifier::new(&aws));
        // A short budget for Slack calls: the tests that make Slack fail need not wait 20 s.
        let chat = Arc::new(SlackClient::with_budget(
            &slack.api,
            Secret::new("xoxb-test-token".into()),
            std::time::Duration::from_secs(4),
        ));
        let queue = config
            .events
            .as_ref()
            .map(|e| Arc::new(SqsQueue::new(&aws, e)));
        let mut bot = Bot::new(config, Arc::new(aws), chat, notifier, journal, None);
        if let Some(queue) = queue {
            bot = bot.with_events(queue);
        }
        Stepped(Arc::new(bot))
    }
}
