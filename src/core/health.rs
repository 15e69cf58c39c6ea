//! What `/healthz` says, decided from plain facts (pure): whether the guard's two loops are
//! alive, and whether its last check could read anything. A guard whose checks all fail (wrong
//! credentials, AWS unreachable) or whose deadline loop died is not healthy, even though its
//! HTTP server still answers.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// The deadline loop ticks every second; this long without a tick means it is stuck.
pub const DEADLINE_LOOP_STALL_SECS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopState {
    /// The loop's task is running (it has not returned or panicked).
    pub running: bool,
    /// When it last completed a turn.
    pub last_beat: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub now: DateTime<Utc>,
    /// When `serve` started: before the first check, staleness counts from here.
    pub started: DateTime<Utc>,
    pub check_every: Duration,
    pub last_check: Option<DateTime<Utc>>,
    /// `ok`, `fail` or `error`.
    pub last_check_state: Option<&'static str>,
    pub accounts_checked: u64,
    /// Accounts the last check could not read at all.
    pub accounts_unreadable: u64,
    pub check_loop: LoopState,
    pub deadline_loop: LoopState,
    /// The event path, when one is configured.
    pub events: Option<EventPath>,
    /// The Socket Mode connection, in `[slack] mode = "socket"`.
    pub socket: Option<SocketLink>,
    /// Inline-policy writes by the guard's own role that its journal does not account for.
    pub unexpected_writes: Vec<String>,
    /// The lease, when replicas share the journal.
    pub lease: Option<LeaseFacts>,
}

/// The lease of a shared journal, as this replica sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseFacts {
    pub leader: bool,
    pub holder: Option<String>,
    pub expires: Option<DateTime<Utc>>,
    /// Why the lease could not be read or renewed: this replica stepped down.
    pub error: Option<String>,
}

/// The Socket Mode connection to Slack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SocketLink {
    /// A connection is open and Slack said hello on it.
    pub connected: bool,
    /// Since when it has been connected, or not (from `started` until the first hello).
    pub since: Option<DateTime<Utc>>,
    /// Connections opened since `serve` started (a reconnection opens one more).
    pub connections: u64,
}

/// Without a Socket Mode connection for this long, slash commands and presses cannot reach the
/// guard: unhealthy. Long enough for a reconnection with backoff.
pub const SOCKET_DOWN_SECS: i64 = 90;

/// The event path's signs of life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventPath {
    pub event_loop: LoopState,
    /// The last successful receive (an empty long poll counts).
    pub last_receive: Option<DateTime<Utc>>,
}

/// The event path has failed when nothing was received for two check periods, and at least
/// this long: three of SQS's 20-second long polls, so that one slow poll is not a failure.
pub const EVENT_PATH_FLOOR_SECS: i64 = 60;

/// Healthy or not, and the body of `/healthz`.
pub fn assess(f: &Facts) -> (bool, Value) {
    let mut problems: Vec<String> = Vec::new();
    // A follower does not check, fire deadlines or read the queue: the leader does.
    let follower = f.lease.as_ref().is_some_and(|l| !l.leader);
    let stale = !follower && f.now - f.last_check.unwrap_or(f.started) > f.check_every * 2;
    if !f.check_loop.running {
        problems.push("the check loop has stopped".into());
    } else if stale {
        problems.push(match f.last_check {
            Some(t) => format!("no check since {}", rfc3339(t)),
            None => "no check yet".into(),
        });
    }
    let deadline_stuck = f
        .deadline_loop
        .last_beat
        .is_none_or(|t| f.now - t > Duration::seconds(DEADLINE_LOOP_STALL_SECS))
        && f.now - f.started > Duration::seconds(DEADLINE_LOOP_STALL_SECS);
    if !f.deadline_loop.running {
        problems.push("the deadline loop has stopped: no deadline would fire".into());
    } else if deadline_stuck {
        problems.push("the deadline loop is stuck: no deadline would fire".into());
    }
    if f.accounts_checked > 0 && f.accounts_unreadable == f.accounts_checked {
        problems.push(format!(
            "the last check could not read any of the {} accounts",
            f.accounts_checked
        ));
    }
    if let Some(e) = &f.events {
        let allowed = (f.check_every * 2).max(Duration::seconds(EVENT_PATH_FLOOR_SECS));
        if !e.event_loop.running {
            problems.push(
                "the event loop has stopped: launches are seen at the next check only".into(),
            );
        } else if !follower && f.now - e.last_receive.unwrap_or(f.started) > allowed {
            problems.push(match e.last_receive {
                Some(t) => format!(
                    "the event queue has not been read since {}: launches are seen at the next check only",
                    rfc3339(t)
                ),
                None => "the event queue has not been read yet: launches are seen at the next check only".into(),
            });
        }
    }
    if let Some(e) = f.lease.as_ref().and_then(|l| l.error.as_ref()) {
        problems.push(format!(
            "the journal's lease cannot be renewed, so this replica does not lead (it neither checks nor acts): {e}"
        ));
    }
    for w in &f.unexpected_writes {
        problems.push(format!(
            "the guard's role wrote an inline policy it did not journal (its credentials may be stolen): {w}"
        ));
    }
    if let Some(link) = &f.socket {
        let down_since = link.since.unwrap_or(f.started);
        if !link.connected && f.now - down_since > Duration::seconds(SOCKET_DOWN_SECS) {
            problems.push(format!(
                "no Socket Mode connection to Slack since {}: commands and buttons cannot reach the guard",
                rfc3339(down_since)
            ));
        }
    }
    // "stale" only when stale checks are the one problem; anything else is "unhealthy".
    let status = match problems.len() {
        0 => "ok",
        1 if stale && f.check_loop.running => "stale",
        _ => "unhealthy",
    };
    let loop_json =
        |l: &LoopState| json!({"running": l.running, "last_beat": l.last_beat.map(rfc3339)});
    let mut body = json!({
        "status": status,
        "last_check": f.last_check.map(rfc3339),
        "last_check_state": f.last_check_state,
        "accounts_unreadable": f.accounts_unreadable,
        "loops": {"check": loop_json(&f.check_loop), "deadline": loop_json(&f.deadline_loop)},
        "problems": problems,
    });
    if let Some(e) = &f.events {
        body["events"] = json!({
            "last_receive": e.last_receive.map(rfc3339),
            "loop": loop_json(&e.event_loop),
        });
    }
    if let Some(l) = &f.lease {
        body["lease"] = json!({
            "role": if l.leader { "leader" } else { "follower" },
            "holder": l.holder,
            "expires": l.expires.map(rfc3339),
        });
    }
    if let Some(link) = &f.socket {
        body["slack_socket"] = json!({
            "connected": link.connected,
            "since": link.since.map(rfc3339),
            "connections": link.connections,
        });
    }
    (status == "ok", body)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy(now: DateTime<Utc>) -> Facts {
        let alive = LoopState {
            running: true,
            last_beat: Some(now - Duration::seconds(1)),
        };
        Facts {
            now,
            started: now - Duration::hours(1),
            check_every: Duration::minutes(5),
            last_check: Some(now - Duration::minutes(2)),
            last_check_state: Some("ok"),
            accounts_checked: 3,
            accounts_unreadable: 0,
            check_loop: alive,
            deadline_loop: alive,
            events: None,
            socket: None,
            unexpected_writes: Vec::new(),
            lease: None,
        }
    }

    #[track_caller]
    fn says(f: &Facts, ok: bool, status: &str, problem: &str) {
        let (healthy, body) = assess(f);
        assert_eq!(healthy, ok, "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert!(body["problems"].to_string().contains(problem), "{body}");
    }

    #[test]
    fn each_way_of_being_unhealthy() {
        let now = Utc::now();
        says(&healthy(now), true, "ok", "");
        // The guard's role wrote what it did not journal: its credentials may be in other hands.
        let mut f = healthy(now);
        f.unexpected_writes = vec!["PutRolePolicy by x of policy \"admin\" on role ci".into()];
        says(&f, false, "unhealthy", "did not journal");
        // A failing rule is the guard working, not a health problem.
        let mut f = healthy(now);
        f.last_check_state = Some("fail");
        f.accounts_unreadable = 2;
        says(&f, true, "ok", "");
        // Nothing readable: wrong credentials, AWS unreachable.
        f.accounts_unreadable = 3;
        says(&f, false, "unhealthy", "could not read any");
        let mut f = healthy(now);
        f.last_check = Some(now - Duration::minutes(11));
        says(&f, false, "stale", "no check since");
        let mut f = healthy(now);
        f.deadline_loop.running = false;
        says(&f, false, "unhealthy", "deadline loop has stopped");
        let mut f = healthy(now);
        f.deadline_loop.last_beat = Some(now - Duration::minutes(1));
        says(&f, false, "unhealthy", "deadline loop is stuck");
        let mut f = healthy(now);
        f.check_loop.running = false;
        says(&f, false, "unhealthy", "check loop has stopped");
        // Just started: no check and no beat yet is fine for a moment.
        let mut f = healthy(now);
        f.started = now - Duration::seconds(2);
        f.last_check = None;
        f.deadline_loop.last_beat = None;
        says(&f, true, "ok", "");
    }

    #[test]
    fn a_failed_event_path_for_two_check_periods_is_unhealthy() {
        let now = Utc::now();
        let mut f = healthy(now);
        f.events = Some(EventPath {
            event_loop: f.check_loop,
            last_receive: Some(now - Duration::seconds(20)),
        });
        says(&f, true, "ok", "");
        assert_eq!(
            assess(&f).1["events"]["last_receive"],
            rfc3339(now - Duration::seconds(20))
        );
        // Within two check periods of the last receive: still healthy.
        f.events.as_mut().unwrap().last_receive = Some(now - Duration::minutes(9));
        says(&f, true, "ok", "");
        f.events.as_mut().unwrap().last_receive = Some(now - Duration::minutes(11));
        says(
            &f,
            false,
            "unhealthy",
            "event queue has not been read since",
        );
        // Short check periods: never less than a minute.
        f.check_every = Duration::seconds(10);
        f.last_check = Some(now - Duration::seconds(5));
        f.events.as_mut().unwrap().last_receive = Some(now - Duration::seconds(45));
        says(&f, true, "ok", "");
        f.events.as_mut().unwrap().event_loop.running = false;
        says(&f, false, "unhealthy", "event loop has stopped");
        // Never received, and started long ago.
        let mut f = healthy(now);
        f.events = Some(EventPath {
            event_loop: f.check_loop,
            last_receive: None,
        });
        says(&f, false, "unhealthy", "not been read yet");
    }

    #[test]
    fn a_socket_mode_connection_down_for_long_is_unhealthy() {
        let now = Utc::now();
        let mut f = healthy(now);
        f.socket = Some(SocketLink {
            connected: true,
            since: Some(now - Duration::minutes(30)),
            connections: 2,
        });
        says(&f, true, "ok", "");
        assert_eq!(assess(&f).1["slack_socket"]["connections"], 2);
        // Dropped a moment ago: reconnecting, still healthy.
        f.socket = Some(SocketLink {
            connected: false,
            since: Some(now - Duration::seconds(20)),
            connections: 2,
        });
        says(&f, true, "ok", "");
        f.socket.as_mut().unwrap().since = Some(now - Duration::minutes(5));
        says(
            &f,
            false,
            "unhealthy",
            "no Socket Mode connection to Slack since",
        );
        // Never connected since a start long ago.
        f.socket = Some(SocketLink {
            connected: false,
            since: None,
            connections: 0,
        });
        says(&f, false, "unhealthy", "no Socket Mode connection");
    }

    #[test]
    fn a_follower_is_healthy_without_checks_and_a_replica_without_its_lease_is_not() {
        let now = Utc::now();
        let mut f = healthy(now);
        f.last_check = Some(now - Duration::hours(2));
        f.lease = Some(LeaseFacts {
            leader: false,
            holder: Some("replica-a".into()),
            expires: Some(now + Duration::seconds(20)),
            error: None,
        });
        let (ok, body) = assess(&f);
        assert!(ok, "{body}");
        assert_eq!(body["lease"]["role"], "follower");
        assert_eq!(body["lease"]["holder"], "replica-a");
        f.lease = Some(LeaseFacts {
            leader: false,
            holder: None,
            expires: None,
            error: Some("dynamodb:runawaytrain-journal: cannot take the lease: timeout".into()),
        });
        let (ok, body) = assess(&f);
        assert!(!ok);
        assert!(
            body["problems"].to_string().contains("does not lead"),
            "{body}"
        );
        // A leader is held to its checks as ever.
        f.lease = Some(LeaseFacts {
            leader: true,
            holder: Some("replica-b".into()),
            expires: Some(now + Duration::seconds(20)),
            error: None,
        });
        assert!(!assess(&f).0, "a leader that does not check is unhealthy");
    }
}
