//! Which replica leads. With a journal several `runaway serve` processes share, one holds the
//! journal's lease: it runs the periodic checks, the deadlines and the event queue; every
//! replica answers Slack (a press is a claim in the journal, carried out once whichever replica
//! receives it). The lease is renewed every `ttl / 3` and expires after `ttl` (30 s); a
//! replica that cannot reach the journal steps down at once and says so in `/healthz`. With the
//! embedded journal there is one replica, and it always leads.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Bot;
use crate::core::health::LeaseFacts;
use crate::ports::journal::Lease;

/// How long a lease lasts unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// This replica's view of the lease.
pub struct LeaseState {
    /// Who this replica is: the lease's holder when it leads.
    pub holder: String,
    pub ttl: Duration,
    /// Whether the lease matters (a shared journal): shown in `/healthz` then.
    pub shared: bool,
    now: std::sync::Mutex<View>,
    /// Woken when this replica becomes the leader: it checks at once.
    pub became_leader: tokio::sync::Notify,
    /// The leader's work in progress: loop turns begun while leading ([`LeaseState::begin_work`]).
    work: std::sync::atomic::AtomicUsize,
}

/// A turn of leader's work in progress; ended when dropped.
pub struct Work<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Work<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[derive(Default, Clone)]
struct View {
    lease: Option<Lease>,
    error: Option<String>,
}

impl LeaseState {
    pub fn new(holder: String, ttl: Duration, shared: bool) -> LeaseState {
        LeaseState {
            holder,
            ttl,
            shared,
            now: std::sync::Mutex::new(View::default()),
            became_leader: tokio::sync::Notify::new(),
            work: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Begins a turn of the leader's work (a check, a deadline step, a read of the event
    /// queue) if this replica leads at `now`. Counted before leadership is read, so that a
    /// renewal finding another holder either sees the turn counted or the turn sees the
    /// renewal: never both missed.
    pub fn begin_work(&self, now: DateTime<Utc>) -> Option<Work<'_>> {
        self.work.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let work = Work(&self.work);
        self.leads(now).then_some(work)
    }

    fn working(&self) -> bool {
        self.work.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    fn view(&self) -> View {
        self.now.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether this replica leads at `now`: it holds a lease that has not expired.
    pub fn leads(&self, now: DateTime<Utc>) -> bool {
        self.leads_in(&self.view(), now)
    }

    fn leads_in(&self, v: &View, now: DateTime<Utc>) -> bool {
        v.error.is_none()
            && v.lease
                .as_ref()
                .is_some_and(|l| l.holder == self.holder && l.expires > now)
    }

    /// The lease as `/healthz` says it.
    pub fn seen(&self, now: DateTime<Utc>) -> LeaseFacts {
        let v = self.view();
        LeaseFacts {
            leader: self.leads_in(&v, now),
            holder: v.lease.as_ref().map(|l| l.holder.clone()),
            expires: v.lease.as_ref().map(|l| l.expires),
            error: v.error,
        }
    }
}

impl Bot {
    /// Takes or renews the lease once; whether this replica has just become the leader.
    pub fn renew_lease(&self, now: DateTime<Utc>) -> bool {
        let until = super::after(now, self.lease.ttl);
        let before = self.lease.leads(now);
        let got = self.journal.take_lease(&self.lease.holder, now, until);
        {
            let mut v = self.lease.now.lock().unwrap_or_else(|p| p.into_inner());
            match got {
                Ok(l) => {
                    let other = l.holder != self.lease.holder;
                    *v = View {
                        lease: Some(l),
                        error: None,
                    };
                    // Another replica leads, and nothing begun while this one led is still
                    // running: its own writes (a follower's presses) need no longer carry the
                    // token it held. Leader's work still running keeps it, and is refused.
                    let idle = !self.lease.working()
                        && self
                            .running
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .is_empty();
                    if other && idle {
                        self.journal.stand_down();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "the lease cannot be renewed: stepping down");
                    v.error = Some(e.to_string());
                }
            }
        }
        let leads = self.lease.leads(now);
        if leads && !before {
            tracing::info!(holder = %self.lease.holder, "leading: checks, deadlines and events run here");
        } else if before && !leads {
            tracing::warn!(holder = %self.lease.holder, "no longer leading");
        }
        leads && !before
    }
}

/// Renews the lease every `ttl / 3` until `stop`; then gives it up, so that another replica
/// takes over at once.
pub async fn run_lease(bot: Arc<Bot>, stop: CancellationToken, now: fn() -> DateTime<Utc>) {
    let every = bot.lease.ttl / 3;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {
                let b = bot.clone();
                // Taken over from another replica: check at once rather than at the next tick.
                if let Ok(true) = tokio::task::spawn_blocking(move || b.renew_lease(now())).await {
                    bot.lease.became_leader.notify_one();
                }
            }
        }
    }
    let b = bot.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = b.journal.release_lease(&b.lease.holder) {
            tracing::warn!(error = %e, "the lease was not given up: another replica takes it when it expires");
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, expires: DateTime<Utc>) -> View {
        View {
            lease: Some(Lease {
                holder: holder.into(),
                expires,
                token: 1,
            }),
            error: None,
        }
    }

    #[test]
    fn leader_work_is_counted_only_while_leading_and_until_it_ends() {
        let now: DateTime<Utc> = "2026-12-06T10:00:00Z".parse().unwrap();
        let state = LeaseState::new("me".into(), LEASE_TTL, true);
        // Not leading: no turn begins, and none stays counted.
        assert!(state.begin_work(now).is_none());
        assert!(!state.working());
        *state.now.lock().unwrap() = lease("me", now + chrono::Duration::seconds(30));
        let turn = state.begin_work(now).expect("leading");
        let other = state.begin_work(now).expect("leading");
        assert!(state.working());
        drop(turn);
        assert!(state.working(), "one turn still runs");
        drop(other);
        assert!(!state.working());
        // Expired, or another's: no turn.
        assert!(
            state
                .begin_work(now + chrono::Duration::seconds(31))
                .is_none()
        );
        *state.now.lock().unwrap() = lease("them", now + chrono::Duration::seconds(30));
        assert!(state.begin_work(now).is_none());
        assert!(!state.working());
    }
}
