//! The bot's counters for `/metrics`, and the loops' signs of life for `/healthz`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::app::check::CheckReport;
use crate::core::rules::State;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub checks: AtomicU64,
    pub last_check_ms: AtomicU64,
    /// The last periodic check step as a whole: the check, its journaling, and the decisions
    /// it led to (journal reads and writes included; Slack and SNS, in tasks of their own, not).
    pub last_step_ms: AtomicU64,
    /// Unix seconds of the last finished check; 0 before the first.
    pub last_check_at: AtomicI64,
    pub incidents_opened: AtomicU64,
    pub incidents_executed: AtomicU64,
    pub instances_stopped: AtomicU64,
    pub slack_failures: AtomicU64,
    pub sns_failures: AtomicU64,
    pub refused_presses: AtomicU64,
    /// The last check: its state (0 none yet, 1 ok, 2 error, 3 fail), accounts checked, and
    /// accounts it could not read at all.
    pub last_check_state: std::sync::atomic::AtomicU8,
    pub last_check_accounts: AtomicU64,
    pub last_check_unreadable: AtomicU64,
    pub check_loop: LoopBeat,
    pub deadline_loop: LoopBeat,
    /// The event path: its loop, checks it asked for, what it received.
    pub events_loop: LoopBeat,
    pub event_checks: AtomicU64,
    pub events_received: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub event_problems: AtomicU64,
    pub event_receive_failures: AtomicU64,
    /// Unix milliseconds of the last successful receive (an empty long poll counts); 0 before.
    pub last_receive: AtomicI64,
    /// Inline-policy writes by the guard's role that its journal does not account for: when,
    /// and what (`policy_writes.rs`).
    unexpected_writes: std::sync::Mutex<Vec<(DateTime<Utc>, String)>>,
}

/// A loop's signs of life, for `/healthz`.
#[derive(Debug, Default)]
pub struct LoopBeat {
    running: std::sync::atomic::AtomicBool,
    /// Unix milliseconds of the last completed turn; 0 before the first.
    last: AtomicI64,
}

impl LoopBeat {
    /// Marks the loop running until the returned guard drops (the loop returns or panics).
    pub fn enter(&self) -> impl Drop + '_ {
        self.running.store(true, Ordering::SeqCst);
        struct Leave<'a>(&'a LoopBeat);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.running.store(false, Ordering::SeqCst);
            }
        }
        Leave(self)
    }

    pub fn beat(&self, at: DateTime<Utc>) {
        self.last.store(at.timestamp_millis(), Ordering::Relaxed);
    }

    pub fn state(&self) -> crate::core::health::LoopState {
        let last = self.last.load(Ordering::Relaxed);
        crate::core::health::LoopState {
            running: self.running.load(Ordering::SeqCst),
            last_beat: (last > 0)
                .then(|| DateTime::from_timestamp_millis(last))
                .flatten(),
        }
    }
}

impl Metrics {
    pub(super) fn record_outcome(&self, report: &CheckReport) {
        let state = match report.state {
            State::Ok => 1,
            State::Error => 2,
            State::Fail => 3,
        };
        // An account is unreadable when nothing of it could be read: it errs and shows no
        // region counted.
        let unreadable = report
            .accounts
            .iter()
            .filter(|a| a.state == State::Error && a.regions.is_empty())
            .count();
        self.last_check_state.store(state, Ordering::Relaxed);
        self.last_check_accounts
            .store(report.accounts.len() as u64, Ordering::Relaxed);
        self.last_check_unreadable
            .store(unreadable as u64, Ordering::Relaxed);
    }

    pub(super) fn mark_receive(&self, at: DateTime<Utc>) {
        self.last_receive
            .store(at.timestamp_millis(), Ordering::Relaxed);
    }

    pub(super) fn mark_receive_failure(&self) {
        self.event_receive_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_events(&self, outcomes: &[crate::core::events::Outcome]) {
        use crate::core::events::Outcome;
        for o in outcomes {
            let counter = match o {
                Outcome::Problem => &self.event_problems,
                Outcome::Duplicate => &self.events_duplicate,
                _ => &self.events_received,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn unexpected_write(&self, at: DateTime<Utc>, what: &str) {
        let mut list = self
            .unexpected_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !list.iter().any(|(_, w)| w == what) {
            list.push((at, what.to_owned()));
        }
    }

    /// The unexpected writes of the last [`super::policy_writes::KEEP_UNEXPECTED`] before `now`.
    pub fn unexpected_writes(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut list = self
            .unexpected_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        list.retain(|(at, _)| now - *at <= super::policy_writes::KEEP_UNEXPECTED);
        list.iter().map(|(_, w)| w.clone()).collect()
    }

    /// When the event path last received (an empty long poll counts).
    pub fn last_receive(&self) -> Option<DateTime<Utc>> {
        let ms = self.last_receive.load(Ordering::Relaxed);
        (ms > 0)
            .then(|| DateTime::from_timestamp_millis(ms))
            .flatten()
    }

    pub fn last_check_state(&self) -> Option<&'static str> {
        match self.last_check_state.load(Ordering::Relaxed) {
            1 => Some("ok"),
            2 => Some("error"),
            3 => Some("fail"),
            _ => None,
        }
    }
}
