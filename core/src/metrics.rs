//! Counters the engine keeps about itself, rendered in the Prometheus text format by
//! [`SessionIo::metrics_text`](crate::SessionIo::metrics_text), and a store wrapper that
//! times every store call.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Refusal, Result};
use crate::store::{BoxFuture, Mutation, Record, SessionStore, Sweep, Touch, UserIndexSize};
use crate::SessionId;

/// Upper bounds (seconds) of the store latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05,
    0.25,
];

/// Live counters; see [`SessionIo::stats`](crate::SessionIo::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Sockets connected to this process, on every namespace.
    pub sockets: usize,
    /// Sessions that have at least one socket here (= running expiry timers).
    pub sessions_with_sockets: usize,
    /// Rooms with at least one socket of this process, on every namespace (each session
    /// with sockets is one, and so is each user with sockets; rooms joined by handlers
    /// add to it).
    pub rooms: usize,
    /// Engine.IO sessions that have not connected to a namespace yet (bounded by
    /// `max_pending_handshakes`).
    pub pending_handshakes: usize,
}

#[derive(Default)]
pub(crate) struct Metrics {
    handshakes_accepted: AtomicU64,
    refused: [AtomicU64; Refusal::ALL.len()],
    notify_calls: AtomicU64,
    notifications_sent: AtomicU64,
    notifications_dropped: AtomicU64,
    acks_dropped: AtomicU64,
    sessions_expired: AtomicU64,
    sessions_destroyed: AtomicU64,
    sockets_kicked: AtomicU64,
    store: Latency,
}

#[derive(Default)]
struct Latency {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    errors: AtomicU64,
}

impl Metrics {
    pub(crate) fn accepted(&self) {
        self.handshakes_accepted.fetch_add(1, Relaxed);
    }

    pub(crate) fn refused(&self, refusal: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == refusal).unwrap_or(0);
        self.refused[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn notified(&self, sockets: usize, dropped: usize) {
        self.notify_calls.fetch_add(1, Relaxed);
        self.notifications_sent.fetch_add(sockets as u64, Relaxed);
        self.notifications_dropped
            .fetch_add(dropped as u64, Relaxed);
    }

    pub(crate) fn ack_dropped(&self) {
        self.acks_dropped.fetch_add(1, Relaxed);
    }

    pub(crate) fn expired(&self, sockets: usize) {
        self.sessions_expired.fetch_add(1, Relaxed);
        self.sockets_kicked.fetch_add(sockets as u64, Relaxed);
    }

    pub(crate) fn destroyed(&self, sockets: usize) {
        self.sessions_destroyed.fetch_add(1, Relaxed);
        self.sockets_kicked.fetch_add(sockets as u64, Relaxed);
    }

    fn observe_store(&self, started: Instant, ok: bool) {
        let elapsed = started.elapsed();
        let secs = elapsed.as_secs_f64();
        let l = &self.store;
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            l.buckets[i].fetch_add(1, Relaxed);
        }
        l.count.fetch_add(1, Relaxed);
        l.sum_nanos
            .fetch_add(elapsed.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
        if !ok {
            l.errors.fetch_add(1, Relaxed);
        }
    }

    /// The Prometheus text exposition of every counter, plus the live gauges given.
    pub(crate) fn render(&self, stats: &Stats, users: Option<UserIndexSize>) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "sessionio_sockets_connected",
            "gauge",
            "Sockets connected to this node, on every namespace.",
            stats.sockets as u64,
        );
        metric(
            "sessionio_sessions_with_sockets",
            "gauge",
            "Sessions with at least one socket on this node (= expiry timers running).",
            stats.sessions_with_sockets as u64,
        );
        metric(
            "sessionio_rooms",
            "gauge",
            "Rooms with at least one socket on this node.",
            stats.rooms as u64,
        );
        metric(
            "sessionio_pending_handshakes",
            "gauge",
            "Engine.IO sessions on this node not yet connected to a namespace.",
            stats.pending_handshakes as u64,
        );
        if let Some(users) = users {
            metric(
                "sessionio_indexed_users",
                "gauge",
                "Users with at least one session in the store's user index.",
                users.users,
            );
            metric(
                "sessionio_indexed_user_sessions",
                "gauge",
                "Sessions logged in as a user, in the store's user index.",
                users.sessions,
            );
        }
        metric(
            "sessionio_handshakes_accepted_total",
            "counter",
            "Socket.IO connections admitted.",
            self.handshakes_accepted.load(Relaxed),
        );
        metric(
            "sessionio_notify_calls_total",
            "counter",
            "notify_session calls.",
            self.notify_calls.load(Relaxed),
        );
        metric(
            "sessionio_notifications_sent_total",
            "counter",
            "Messages sent to sockets by notify_session.",
            self.notifications_sent.load(Relaxed),
        );
        metric(
            "sessionio_notifications_dropped_total",
            "counter",
            "Messages notify_session could not queue for a socket of this node (its outgoing \
             queue stayed full for 1 s, or it was already behind); such a socket is \
             disconnected by the server so that its client resynchronises.",
            self.notifications_dropped.load(Relaxed),
        );
        metric(
            "sessionio_acks_dropped_total",
            "counter",
            "Acks that found their socket's outgoing queue full; such a socket is \
             disconnected by the server so that its client resynchronises.",
            self.acks_dropped.load(Relaxed),
        );
        metric(
            "sessionio_sessions_expired_total",
            "counter",
            "Sessions whose sockets were kicked at expiry.",
            self.sessions_expired.load(Relaxed),
        );
        metric(
            "sessionio_sessions_destroyed_total",
            "counter",
            "Sessions destroyed (logout).",
            self.sessions_destroyed.load(Relaxed),
        );
        metric(
            "sessionio_sockets_kicked_total",
            "counter",
            "Sockets disconnected by expiry or destroy.",
            self.sockets_kicked.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP sessionio_handshakes_refused_total Socket.IO connections refused, by reason.\n\
             # TYPE sessionio_handshakes_refused_total counter"
        );
        for (r, n) in Refusal::ALL.iter().zip(&self.refused) {
            let _ = writeln!(
                out,
                "sessionio_handshakes_refused_total{{reason=\"{}\"}} {}",
                r.message(),
                n.load(Relaxed)
            );
        }
        let l = &self.store;
        let _ = writeln!(
            out,
            "# HELP sessionio_store_seconds Latency of session store calls.\n\
             # TYPE sessionio_store_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&l.buckets) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(
                out,
                "sessionio_store_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = l.count.load(Relaxed);
        let _ = writeln!(out, "sessionio_store_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "sessionio_store_seconds_sum {}\nsessionio_store_seconds_count {count}",
            l.sum_nanos.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(
            out,
            "# HELP sessionio_store_errors_total Store calls that failed.\n\
             # TYPE sessionio_store_errors_total counter\nsessionio_store_errors_total {}",
            l.errors.load(Relaxed)
        );
        out
    }
}

/// Wraps a store to time every call into [`Metrics`].
pub(crate) struct TimedStore {
    pub(crate) inner: Arc<dyn SessionStore>,
    pub(crate) metrics: Arc<Metrics>,
}

impl TimedStore {
    fn timed<'a, T: Send + 'a>(
        &'a self,
        fut: BoxFuture<'a, Result<T>>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let started = Instant::now();
            let out = fut.await;
            self.metrics.observe_store(started, out.is_ok());
            out
        })
    }
}

impl SessionStore for TimedStore {
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
        self.timed(self.inner.create(record))
    }

    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        self.timed(self.inner.load(id))
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        self.timed(self.inner.replace(record, expected_version))
    }

    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>> {
        self.timed(self.inner.touch(id, expires_at, now_ms))
    }

    fn touch_and_read(
        &self,
        id: SessionId,
        expires_at: u64,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<(Touch, Option<Record>)>> {
        self.timed(self.inner.touch_and_read(id, expires_at, now_ms))
    }

    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        self.timed(self.inner.delete(id))
    }

    fn keeps_user_index(&self) -> bool {
        self.inner.keeps_user_index()
    }

    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        self.timed(self.inner.count())
    }

    fn user_sessions<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
        self.timed(self.inner.user_sessions(user_id))
    }

    fn user_index_size(&self) -> BoxFuture<'_, Result<UserIndexSize>> {
        self.timed(self.inner.user_index_size())
    }

    /// The inner store's sweeper, timed; none if it has none.
    fn sweeper(&self) -> Option<&dyn Sweep> {
        self.inner.sweeper().map(|_| self as &dyn Sweep)
    }

    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        self.timed(self.inner.update(id, mutation))
    }
}

/// Reached only through [`TimedStore::sweeper`], which offers it only when the inner
/// store has a sweeper of its own.
impl Sweep for TimedStore {
    fn delete_expired(&self, before_ms: u64) -> BoxFuture<'_, Result<usize>> {
        match self.inner.sweeper() {
            Some(inner) => self.timed(inner.delete_expired(before_ms)),
            None => Box::pin(std::future::ready(Ok(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_counters_refusals_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.accepted();
        m.accepted();
        m.refused(Refusal::InvalidSession);
        m.notified(3, 2);
        m.expired(2);
        m.destroyed(1);
        let t = Instant::now() - Duration::from_millis(3);
        m.observe_store(t, true);
        m.observe_store(Instant::now(), false);
        let text = m.render(
            &crate::Stats {
                sockets: 5,
                sessions_with_sockets: 4,
                rooms: 6,
                pending_handshakes: 3,
            },
            Some(UserIndexSize {
                users: 2,
                sessions: 7,
            }),
        );
        for line in [
            "sessionio_sockets_connected 5",
            "sessionio_sessions_with_sockets 4",
            "sessionio_rooms 6",
            "sessionio_pending_handshakes 3",
            "sessionio_indexed_users 2",
            "sessionio_indexed_user_sessions 7",
            "sessionio_handshakes_accepted_total 2",
            "sessionio_handshakes_refused_total{reason=\"invalid session\"} 1",
            "sessionio_handshakes_refused_total{reason=\"origin not allowed\"} 0",
            "sessionio_notifications_sent_total 3",
            "sessionio_notifications_dropped_total 2",
            "sessionio_sessions_expired_total 1",
            "sessionio_sessions_destroyed_total 1",
            "sessionio_sockets_kicked_total 3",
            "sessionio_store_seconds_bucket{le=\"0.0025\"} 1",
            "sessionio_store_seconds_bucket{le=\"0.005\"} 2",
            "sessionio_store_seconds_bucket{le=\"+Inf\"} 2",
            "sessionio_store_seconds_count 2",
            "sessionio_store_errors_total 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
