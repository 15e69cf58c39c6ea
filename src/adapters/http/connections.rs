//! The HTTP server's accept loop, built to face the internet: the Slack endpoint is public, so
//! nothing a client does may reach the guard's own work.
//!
//! - **Bounded connections.** At most [`Limits::max_connections`] are open at once (a quarter
//!   of the process's open-file limit, at most 256), so sockets can never take the descriptors
//!   that AWS calls, Slack calls and the journal need. When full, a new connection evicts the
//!   oldest one that has no request in progress (a half-open or idle keep-alive connection); if
//!   every one is busy, the new one is closed at once.
//! - **Timeouts.** Request headers must arrive within [`Limits::header_timeout`]; a connection
//!   lives at most [`Limits::max_lifetime`]. Bodies are read with their own timeout by the
//!   handlers (`server.rs`), after the signature headers were checked.
//! - **Shutdown.** On the stop signal the listener closes at once; each connection is asked to
//!   finish its request and given [`Limits::shutdown_grace`], then dropped.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub max_lifetime: Duration,
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The limits for this process: connections bounded by its open-file limit.
    pub fn for_this_process() -> Limits {
        let max_connections = open_file_limit().map_or(256, |n| (n / 4).clamp(16, 256) as usize);
        Limits {
            max_connections,
            header_timeout: Duration::from_secs(5),
            max_lifetime: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(3),
        }
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

struct Conn {
    /// Requests in progress on it; `0`: idle or still sending its headers.
    busy: Arc<AtomicUsize>,
    evict: CancellationToken,
}

#[derive(Default)]
struct Table {
    next: u64,
    /// By age: the oldest first.
    open: BTreeMap<u64, Conn>,
}

/// Counts a request in progress for as long as it lives.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `router` on `listener` until `stop` is cancelled; returns once every connection is
/// closed (within the shutdown grace).
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, stop: CancellationToken) {
    let table = Arc::new(Mutex::new(Table::default()));
    let conns = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    let http = Arc::new(http);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or memory: wait a moment rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some((id, busy, evict)) = admit(&table, limits.max_connections) else {
            tracing::warn!("every connection is busy: refused one");
            drop(stream);
            continue;
        };
        let (router, http, table, stop) =
            (router.clone(), http.clone(), table.clone(), stop.clone());
        conns.spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let mut router = router.clone();
                    let busy = Busy::new(&busy);
                    async move {
                        let _busy = busy;
                        let response = router
                            .call(request.map(axum::body::Body::new))
                            .await
                            .unwrap_or_else(|e: Infallible| match e {});
                        Ok::<_, Infallible>(response)
                    }
                },
            );
            let conn = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let finish = tokio::select! {
                _ = &mut conn => false,
                _ = evict.cancelled() => false,
                _ = stop.cancelled() => true,
                _ = tokio::time::sleep(limits.max_lifetime) => true,
            };
            if finish {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(limits.shutdown_grace, conn).await;
            }
            table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open
                .remove(&id);
        });
    }
    drop(listener);
    conns.close();
    conns.wait().await;
}

/// Registers a new connection, evicting the oldest idle one when full; `None` when every open
/// connection has a request in progress.
fn admit(table: &Mutex<Table>, max: usize) -> Option<(u64, Arc<AtomicUsize>, CancellationToken)> {
    let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
    if t.open.len() >= max {
        let idle = t
            .open
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
            .map(|(id, _)| *id)?;
        if let Some(c) = t.open.remove(&idle) {
            c.evict.cancel();
        }
    }
    t.next += 1;
    let id = t.next;
    let conn = Conn {
        busy: Arc::new(AtomicUsize::new(0)),
        evict: CancellationToken::new(),
    };
    let out = (id, conn.busy.clone(), conn.evict.clone());
    t.open.insert(id, conn);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_evicts_the_oldest_idle_connection_never_a_busy_one() {
        let table = Mutex::new(Table::default());
        let (first, busy1, evict1) = admit(&table, 2).unwrap();
        let (_, _, evict2) = admit(&table, 2).unwrap();
        // The first has a request in progress: the second, idle, goes.
        busy1.fetch_add(1, Ordering::SeqCst);
        let (_, busy3, _) = admit(&table, 2).unwrap();
        assert!(evict2.is_cancelled() && !evict1.is_cancelled());
        assert!(table.lock().unwrap().open.contains_key(&first));
        // Both busy: the newcomer is refused.
        busy3.fetch_add(1, Ordering::SeqCst);
        assert!(admit(&table, 2).is_none());
        assert_eq!(table.lock().unwrap().open.len(), 2);
    }

    #[test]
    fn the_connection_limit_leaves_most_descriptors_to_the_guard() {
        let l = Limits::for_this_process();
        assert!((16..=256).contains(&l.max_connections));
        if let Some(n) = open_file_limit() {
            assert!(l.max_connections as u64 <= n.max(64) / 4 || l.max_connections == 16);
        }
    }
}
