//! The event path: the queue the EventBridge rules fill is long-polled; each message is read
//! (`core::events`), decided on, journaled, and only then deleted. An event from a watched
//! account that says something launched asks for a check of that account (`triggers.rs`), so
//! the alert follows a launch within seconds; the periodic check stays the safety net.
//!
//! Delivery is at least once: an event journaled before (by its EventBridge id) is a duplicate
//! and asks for nothing. A message that is not an event the guard reads is journaled as a
//! problem and left on the queue, so that SQS moves it to the dead-letter queue after its
//! receive limit; with a dead-letter queue it is made visible again at once, to get there soon.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::triggers::Requested;
use super::{Bot, StepClock};
use crate::core::backoff;
use crate::core::events::{self, Decision, Outcome};
use crate::ports::journal::{EventRecord, JournalError};
use crate::ports::{CloudError, EventQueue, QueueMessage, QueueSettings};

/// SQS's longest long poll, and its largest receive.
pub const RECEIVE_WAIT: Duration = Duration::from_secs(20);
pub const RECEIVE_MAX: u32 = 10;
/// Events are kept this long in the journal.
pub const KEEP_EVENTS: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error(transparent)]
    Queue(#[from] CloudError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl Bot {
    /// One turn of the event path: one receive (waiting up to `wait`), and what its messages
    /// lead to. Returns the outcome of each message as journaled.
    pub async fn events_step(
        self: &Arc<Self>,
        queue: &dyn EventQueue,
        settings: &QueueSettings,
        wait: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, EventsError> {
        let messages = queue.receive(RECEIVE_MAX, wait).await?;
        self.metrics.mark_receive(now);
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.take_messages(queue, settings, messages, now).await?)
    }

    /// Reads, decides on, journals and deletes one receive's messages. Nothing is deleted
    /// unless the journal has it.
    async fn take_messages(
        self: &Arc<Self>,
        queue: &dyn EventQueue,
        settings: &QueueSettings,
        messages: Vec<QueueMessage>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, JournalError> {
        let clock = StepClock::new(now);
        // Many events about one incident (a burst of Bedrock calls, a finding repeated) make one
        // rewrite of its message, once the receive is taken.
        let _rewrites = super::delivery::RefreshBatch::begin(self);
        let mut records = Vec::with_capacity(messages.len());
        let mut in_batch = std::collections::HashSet::new();
        let mut asked = std::collections::HashSet::new();
        for m in &messages {
            let record = match events::parse(&m.body) {
                Err(problem) => {
                    tracing::warn!(message.id = %m.message_id, receives = m.receive_count, problem = %problem, "not an event the guard reads");
                    EventRecord {
                        event_id: None,
                        message_id: m.message_id.clone(),
                        account_id: None,
                        region: None,
                        detail_type: None,
                        source: None,
                        time: None,
                        received_at: clock.now(),
                        outcome: Outcome::Problem,
                        note: Some(problem),
                        detail: None,
                    }
                }
                Ok(e) => {
                    let duplicate =
                        !in_batch.insert(e.id.clone()) || self.journal.has_event(&e.id)?;
                    let (outcome, note) = if duplicate {
                        (Outcome::Duplicate, None)
                    } else {
                        match events::decide(&e, self.account(&e.account).is_some()) {
                            // One request per account and receive: the rest of a burst joins it.
                            Decision::CheckAccount if !asked.insert(e.account.clone()) => {
                                (Outcome::Coalesced, None)
                            }
                            Decision::CheckAccount => match self.request_check(&e.account, clock) {
                                Requested::Started => (Outcome::Check, None),
                                Requested::Joined => (Outcome::Coalesced, None),
                            },
                            Decision::Keep(why) => (Outcome::Kept, Some(why.to_owned())),
                            Decision::Finding => match self.account(&e.account) {
                                Some(account) => self.on_finding(&account, &e.detail, clock)?,
                                None => (Outcome::Ignored, Some("account not watched".into())),
                            },
                            Decision::PolicyWrite => match self.account(&e.account) {
                                Some(account) => {
                                    self.on_policy_write(&account, &e.detail, clock).await?
                                }
                                None => (Outcome::Ignored, Some("account not watched".into())),
                            },
                            Decision::Tamper => match self.account(&e.account) {
                                Some(account) => self.on_tamper(&account, &e.detail, clock).await?,
                                None => (Outcome::Ignored, Some("account not watched".into())),
                            },
                            Decision::Bedrock => match self.account(&e.account) {
                                Some(account) => {
                                    self.on_bedrock(&account, &e.detail, clock).await?
                                }
                                None => (Outcome::Ignored, Some("account not watched".into())),
                            },
                            Decision::Ignore(why) => (Outcome::Ignored, Some(why.to_owned())),
                        }
                    };
                    tracing::info!(event.id = %e.id, account.id = %e.account, region = %e.region, detail_type = %e.detail_type, outcome = outcome.as_str(), "event");
                    EventRecord {
                        event_id: Some(e.id),
                        message_id: m.message_id.clone(),
                        account_id: Some(e.account),
                        region: Some(e.region),
                        detail_type: Some(e.detail_type),
                        source: Some(e.source),
                        time: Some(e.time),
                        received_at: clock.now(),
                        outcome,
                        note,
                        detail: Some(e.detail),
                    }
                }
            };
            records.push(record);
        }
        let outcomes = self.journal.record_events(&records)?;
        self.metrics.count_events(&outcomes);

        // The journal has them: delete the events, leave the problems to the dead-letter queue.
        let (problems, done): (Vec<_>, Vec<_>) = messages
            .iter()
            .zip(&outcomes)
            .partition(|(_, o)| **o == Outcome::Problem);
        let receipts: Vec<String> = done.iter().map(|(m, _)| m.receipt.clone()).collect();
        if !receipts.is_empty() {
            match queue.delete(&receipts).await {
                Ok(failed) => {
                    for (_, why) in failed {
                        tracing::warn!(error = %why, "event journaled but not deleted: it will come back as a duplicate");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "events journaled but not deleted: they will come back as duplicates");
                }
            }
        }
        if settings.max_receive_count.is_some() {
            for (m, _) in problems {
                if let Err(e) = queue.release(&m.receipt, Duration::ZERO).await {
                    tracing::warn!(message.id = %m.message_id, error = %e, "bad message not released: it comes back after its visibility timeout");
                }
            }
        }
        Ok(outcomes)
    }
}

/// The event loop of `runaway serve`: receive, take, repeat; on a failing queue, back off (1 s
/// doubling to a minute, with jitter) and go on. Stops when `stop` is cancelled; a receive in
/// progress is dropped (its messages come back after their visibility timeout), messages being
/// taken are finished.
pub async fn run_events(
    bot: Arc<Bot>,
    queue: Arc<dyn EventQueue>,
    stop: CancellationToken,
    now: fn() -> DateTime<Utc>,
) {
    let _alive = bot.metrics.events_loop.enter();
    let mut settings: Option<QueueSettings> = None;
    let mut failures: u32 = 0;
    let mut pruned: Option<DateTime<Utc>> = None;
    loop {
        // Only the leading replica reads the queue.
        let Some(_work) = bot.lease.begin_work(now()) else {
            bot.metrics.events_loop.beat(now());
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        };
        let turn = async {
            let s = match &settings {
                Some(s) => s.clone(),
                None => {
                    let s = queue.settings().await?;
                    if s.max_receive_count.is_none() {
                        tracing::warn!(
                            "the event queue has no dead-letter queue: a bad message comes back until it expires"
                        );
                    }
                    settings = Some(s.clone());
                    s
                }
            };
            bot.events_step(queue.as_ref(), &s, RECEIVE_WAIT, now())
                .await
        };
        let result = tokio::select! {
            _ = stop.cancelled() => break,
            r = turn => r,
        };
        match result {
            Ok(_) => failures = 0,
            Err(EventsError::Journal(e)) => {
                tracing::error!(error = %e, "events not journaled: they stay on the queue");
            }
            Err(EventsError::Queue(e)) => {
                failures = failures.saturating_add(1);
                bot.metrics.mark_receive_failure();
                let wait = backoff::delay(
                    failures,
                    Duration::from_secs(1),
                    Duration::from_secs(60),
                    rand::random::<f64>(),
                );
                tracing::warn!(error = %e, failures, retry_in_ms = wait.as_millis() as u64, "event queue not read; checks go on");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        let t = now();
        if pruned.is_none_or(|p| t - p > chrono::Duration::hours(1)) {
            pruned = Some(t);
            let before = super::before(t, KEEP_EVENTS);
            match bot.journal.prune_events(before) {
                Ok(n) if n > 0 => tracing::info!(events = n, "old events forgotten"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "old events not pruned"),
            }
        }
        bot.metrics.events_loop.beat(t);
    }
}
