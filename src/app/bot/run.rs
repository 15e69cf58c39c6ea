//! The bot's loops, as `runaway serve` runs them: the lease (`lease.rs`), a check every
//! `check_every` (the first at start, missed ticks skipped), a deadline step every second, and
//! with `[events]` the event path (`events.rs`); the last three do their work only while this
//! replica leads. Each marks itself running
//! for `/healthz` and beats after every turn.
//!
//! A plain `tokio::time::interval` schedules the checks rather than a cron crate: one fixed
//! period needs no cron syntax, and the loop is a dozen lines that cannot silently stop firing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Bot;

/// Starts both loops; they stop when `stop` is cancelled (a check in progress is dropped: it
/// changes nothing). `now` is the clock the steps are called with.
pub fn run_loops(
    bot: Arc<Bot>,
    stop: CancellationToken,
    now: fn() -> DateTime<Utc>,
) -> TaskTracker {
    let loops = TaskTracker::new();
    // The lease first: a replica that leads checks at once.
    bot.renew_lease(now());
    loops.spawn(super::run_lease(bot.clone(), stop.clone(), now));

    let (checker, token) = (bot.clone(), stop.clone());
    loops.spawn(async move {
        let bot = checker;
        let _alive = bot.metrics.check_loop.enter();
        let mut every = tokio::time::interval(bot.config.guard.check_every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = every.tick() => {}
                // A replica that has just taken over checks at once.
                _ = bot.lease.became_leader.notified() => {}
            }
            if let Some(_work) = bot.lease.begin_work(now()) {
                tokio::select! {
                    // A check in progress changes nothing: it can be dropped at shutdown.
                    _ = token.cancelled() => break,
                    result = bot.check_step(now()) => {
                        if let Err(e) = result {
                            tracing::error!(error = %e, "check step failed");
                        }
                    }
                }
            }
            bot.metrics.check_loop.beat(now());
        }
    });
    if let Some(queue) = bot.events.clone() {
        loops.spawn(super::run_events(bot.clone(), queue, stop.clone(), now));
    }
    let token = stop.clone();
    loops.spawn(async move {
        let _alive = bot.metrics.deadline_loop.enter();
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = every.tick() => {
                    if let Some(_work) = bot.lease.begin_work(now())
                        && let Err(e) = bot.deadline_step(now()).await
                    {
                        tracing::error!(error = %e, "deadline step failed");
                    }
                    bot.metrics.deadline_loop.beat(now());
                }
            }
        }
    });

    loops
}
