//! Checks that events ask for, one account at a time: at most one check of an account per
//! second, and every event that arrives while one is due or running joins the next one rather
//! than starting its own. A burst of a hundred launch events in one account is one check now
//! and, if more came during it, one more a second later.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Bot, StepClock};

/// The least time between the starts of two event-driven checks of one account.
pub const MIN_SPACING: Duration = Duration::from_secs(1);

/// One account's trigger: a check is wanted, a worker is running.
#[derive(Default)]
pub(super) struct Trigger {
    wanted: AtomicBool,
    working: AtomicBool,
    last_start: std::sync::Mutex<Option<Instant>>,
}

pub(super) type Triggers = std::sync::Mutex<HashMap<String, Arc<Trigger>>>;

/// Whether an event started a check or joined one already due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Started,
    Joined,
}

impl Bot {
    /// Asks for a check of the account; `clock` is the time of the event step asking.
    pub(super) fn request_check(self: &Arc<Self>, account_id: &str, clock: StepClock) -> Requested {
        let trigger = self
            .triggers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(account_id.to_owned())
            .or_default()
            .clone();
        if trigger.wanted.swap(true, Ordering::SeqCst) {
            return Requested::Joined;
        }
        if !trigger.working.swap(true, Ordering::SeqCst) {
            let (bot, id) = (self.clone(), account_id.to_owned());
            self.tasks
                .spawn(async move { bot.work_checks(&id, &trigger, clock).await });
        }
        Requested::Started
    }

    /// Runs the checks wanted of one account until none is, spaced [`MIN_SPACING`] apart.
    async fn work_checks(self: &Arc<Self>, account_id: &str, trigger: &Trigger, clock: StepClock) {
        loop {
            let last = *trigger.last_start.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(wait) = last.and_then(|t| MIN_SPACING.checked_sub(t.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            if !trigger.wanted.swap(false, Ordering::SeqCst) {
                trigger.working.store(false, Ordering::SeqCst);
                // A request may have come between the two stores and seen us working.
                if trigger.wanted.load(Ordering::SeqCst)
                    && !trigger.working.swap(true, Ordering::SeqCst)
                {
                    continue;
                }
                return;
            }
            *trigger.last_start.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            if let Err(e) = self.check_account(account_id, clock.now()).await {
                tracing::error!(account.id = account_id, error = %e, "event check failed");
            }
        }
    }
}
