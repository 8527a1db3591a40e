//! The seam every outbox-driven alert sink plugs into, and the one delivery loop that drives
//! them (webhook, Kafka, the JSON-lines log; MQTT has its own loop for its packet-id
//! bookkeeping).
//!
//! A [`Sink`] only knows how to hand a batch of messages to its receiver and to say which of
//! them the receiver acknowledged. [`spawn`] does the rest, the same way for every sink:
//!
//! 1. read up to [`DriverOptions::batch`] messages pending for the sink, oldest first
//!    ([`Outbox::pending`]);
//! 2. [`Sink::deliver`] them;
//! 3. mark the acknowledged ones (and the ones the receiver rejected for good, see
//!    [`Attempt::rejected`]) delivered in the outbox — only then are they gone;
//! 4. after a failure, wait an exponential backoff with jitter (the crate's one
//!    [`Backoff`], [`Jitter::Equal`]: [`DriverOptions::backoff_min`] doubling up to
//!    [`DriverOptions::backoff_max`], each wait drawn uniformly from its upper half) and read the pending messages again;
//! 5. with nothing pending, wait for the outbox's [`notifier`](Outbox::notifier) or
//!    [`DriverOptions::poll_interval`], whichever comes first;
//! 6. stop when the shutdown signal turns `true` (a delivery in progress is abandoned: its
//!    messages stay pending and go out after the next start).
//!
//! Delivery is therefore at-least-once with the CloudEvent `id` as deduplication key, like
//! the MQTT sink. Each sink keeps its own [`SinkMetrics`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerts::outbox::{Outbox, PendingEvent};
use crate::backoff::{Backoff, Jitter};

/// What one [`Sink::deliver`] call achieved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Event ids the receiver acknowledged.
    pub acked: Vec<String>,
    /// Event ids the receiver refused for good (e.g. an HTTP 400): not retried, counted as
    /// dead-lettered, logged by the sink.
    pub rejected: Vec<String>,
    /// Why the rest of the batch was not delivered (a transient failure: retried after a
    /// backoff). `None` with every message acked or rejected is a full success.
    pub error: Option<String>,
}

impl Attempt {
    /// Every message of the batch acknowledged.
    pub fn all_acked(batch: &[PendingEvent]) -> Self {
        Self {
            acked: batch.iter().map(|e| e.event_id.clone()).collect(),
            ..Self::default()
        }
    }

    /// Nothing delivered, for this reason.
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::default()
        }
    }
}

/// A receiver of alert messages. See the module docs.
pub trait Sink: Send + Sync + 'static {
    /// The outbox sink name (`"webhook"`, `"kafka"`, ...): its delivery state and its metrics
    /// label.
    fn name(&self) -> &str;

    /// Hands `batch` (oldest first) to the receiver and reports what it acknowledged. Must not
    /// panic; a transient failure is [`Attempt::error`].
    fn deliver(&self, batch: &[PendingEvent]) -> impl Future<Output = Attempt> + Send;
}

/// Settings of the delivery loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverOptions {
    /// Messages read and delivered per attempt.
    pub batch: usize,
    /// How often the outbox is read even without a wake-up (messages enqueued by another
    /// process).
    pub poll_interval: Duration,
    /// First wait after a failure.
    pub backoff_min: Duration,
    /// Longest wait after failures in a row.
    pub backoff_max: Duration,
}

impl Default for DriverOptions {
    fn default() -> Self {
        Self {
            batch: 64,
            poll_interval: Duration::from_secs(1),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Counters and state of one sink, shared between its loop and whoever exports them.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    up: AtomicBool,
    delivered_total: AtomicU64,
    dead_lettered_total: AtomicU64,
    failures_total: AtomicU64,
    retries_total: AtomicU64,
    consecutive_failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A copy of [`SinkMetrics`] at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SinkMetricsSnapshot {
    /// Whether the last attempt reached the receiver (true after a success, false after a
    /// failure; false before the first attempt).
    pub up: bool,
    /// Messages acknowledged and marked delivered (redeliveries of one id count again only if
    /// the outbox still had them pending).
    pub delivered_total: u64,
    /// Messages the receiver refused for good, removed from the outbox without delivery.
    pub dead_lettered_total: u64,
    /// Failed attempts.
    pub failures_total: u64,
    /// Attempts made after a failure (each retry of a pending batch).
    pub retries_total: u64,
    /// Failed attempts since the last success.
    pub consecutive_failures: u64,
    /// The last failure's reason, kept after a success (credentials never in it).
    pub last_error: Option<String>,
}

impl SinkMetrics {
    /// A copy of every figure.
    pub fn snapshot(&self) -> SinkMetricsSnapshot {
        SinkMetricsSnapshot {
            up: self.up.load(Ordering::Relaxed),
            delivered_total: self.delivered_total.load(Ordering::Relaxed),
            dead_lettered_total: self.dead_lettered_total.load(Ordering::Relaxed),
            failures_total: self.failures_total.load(Ordering::Relaxed),
            retries_total: self.retries_total.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    fn failed(&self, error: &str) {
        self.up.store(false, Ordering::Relaxed);
        self.failures_total.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }

    fn succeeded(&self) {
        self.up.store(true, Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }
}

/// A running sink loop.
#[derive(Debug)]
pub struct SinkHandle {
    name: String,
    metrics: Arc<SinkMetrics>,
    task: JoinHandle<()>,
}

impl SinkHandle {
    /// The sink's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its live metrics.
    pub fn metrics(&self) -> &Arc<SinkMetrics> {
        &self.metrics
    }

    /// Waits (at most `timeout`) for the loop to end after the shutdown signal was sent;
    /// aborts it beyond.
    pub async fn join(self, timeout: Duration) {
        let abort = self.task.abort_handle();
        if tokio::time::timeout(timeout, self.task).await.is_err() {
            abort.abort();
        }
    }
}

/// Starts the delivery loop of `sink` over `outbox` in a tokio task (call from within a tokio
/// runtime). The sink must already be registered in the outbox. The loop ends when
/// `shutdown` turns `true` or its sender is dropped.
pub fn spawn<S: Sink>(
    sink: S,
    outbox: Outbox,
    options: DriverOptions,
    shutdown: watch::Receiver<bool>,
) -> SinkHandle {
    let metrics = Arc::new(SinkMetrics::default());
    let name = sink.name().to_string();
    let task = tokio::spawn(drive(sink, outbox, options, metrics.clone(), shutdown));
    SinkHandle {
        name,
        metrics,
        task,
    }
}

/// Resolves when the shutdown signal is on (or can never change again).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn drive<S: Sink>(
    sink: S,
    outbox: Outbox,
    options: DriverOptions,
    metrics: Arc<SinkMetrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = sink.name().to_string();
    let notify = outbox.notifier(&name);
    let mut backoff =
        Backoff::new(options.backoff_min, options.backoff_max).with_jitter(Jitter::Equal);
    let batch_size = options.batch.max(1);
    let mut retrying = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let ob = outbox.clone();
        let n = name.clone();
        let batch = match tokio::task::spawn_blocking(move || ob.pending(&n, batch_size)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::error!(sink = %name, "alert sink: cannot read the outbox: {e:#}");
                tokio::select! {
                    _ = tokio::time::sleep(options.poll_interval) => {}
                    _ = stopped(&mut shutdown) => break,
                }
                continue;
            }
            Err(e) => {
                tracing::error!(sink = %name, "alert sink: outbox read panicked: {e}");
                break;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(options.poll_interval) => {}
                _ = stopped(&mut shutdown) => break,
            }
            continue;
        }
        if retrying {
            metrics.retries_total.fetch_add(1, Ordering::Relaxed);
        }
        let attempt = tokio::select! {
            a = sink.deliver(&batch) => a,
            _ = stopped(&mut shutdown) => break,
        };
        let done: Vec<String> = attempt
            .acked
            .iter()
            .chain(attempt.rejected.iter())
            .cloned()
            .collect();
        if !done.is_empty() {
            let ob = outbox.clone();
            let n = name.clone();
            match tokio::task::spawn_blocking(move || ob.mark_delivered_many(&n, &done)).await {
                Ok(Ok(_)) => {
                    metrics
                        .delivered_total
                        .fetch_add(attempt.acked.len() as u64, Ordering::Relaxed);
                    metrics
                        .dead_lettered_total
                        .fetch_add(attempt.rejected.len() as u64, Ordering::Relaxed);
                }
                Ok(Err(e)) => {
                    tracing::error!(sink = %name, "alert sink: cannot mark messages delivered (they will be sent again): {e:#}");
                }
                Err(e) => tracing::error!(sink = %name, "alert sink: mark delivered panicked: {e}"),
            }
        }
        let settled = attempt.acked.len() + attempt.rejected.len();
        let error = attempt.error.or_else(|| {
            (settled < batch.len()).then(|| {
                format!(
                    "{} of {} messages not acknowledged",
                    batch.len() - settled,
                    batch.len()
                )
            })
        });
        match error {
            None => {
                metrics.succeeded();
                backoff.reset();
                retrying = false;
            }
            Some(e) => {
                metrics.failed(&e);
                let wait = backoff.next_delay(&mut rand::thread_rng());
                let failures = metrics.consecutive_failures.load(Ordering::Relaxed);
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(sink = %name, failures, retry_in = ?wait, "alert sink: delivery failed: {e}");
                } else {
                    tracing::debug!(sink = %name, failures, retry_in = ?wait, "alert sink: delivery failed: {e}");
                }
                retrying = true;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped(&mut shutdown) => break,
                }
            }
        }
    }
    tracing::debug!(sink = %name, "alert sink stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Fails the first `fail_first` attempts, then acks everything except ids in `reject`
    /// (rejected) and records what it saw.
    struct Flaky {
        fail_first: usize,
        reject: Vec<String>,
        calls: AtomicUsize,
        seen: Mutex<Vec<String>>,
    }

    impl Sink for Arc<Flaky> {
        fn name(&self) -> &str {
            "flaky"
        }
        async fn deliver(&self, batch: &[PendingEvent]) -> Attempt {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_first {
                // Half a batch gets through on failing attempts: partial progress is kept.
                let first = batch[0].event_id.clone();
                self.seen.lock().unwrap().push(first.clone());
                return Attempt {
                    acked: vec![first],
                    rejected: vec![],
                    error: Some(format!("boom {n}")),
                };
            }
            let mut a = Attempt::default();
            for e in batch {
                self.seen.lock().unwrap().push(e.event_id.clone());
                if self.reject.contains(&e.event_id) {
                    a.rejected.push(e.event_id.clone());
                } else {
                    a.acked.push(e.event_id.clone());
                }
            }
            a
        }
    }

    fn enqueue(ob: &Outbox, id: &str) {
        ob.enqueue_payload(id, "a", "info", "{}", chrono::Utc::now())
            .unwrap();
    }

    fn fast() -> DriverOptions {
        DriverOptions {
            batch: 3,
            poll_interval: Duration::from_millis(50),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
        }
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        let t0 = std::time::Instant::now();
        while !f() {
            assert!(t0.elapsed() < Duration::from_secs(10), "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flaky_sink_delivers_everything_with_retries() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.register_sink("flaky").unwrap();
        for i in 0..7 {
            enqueue(&ob, &format!("e{i}"));
        }
        let sink = Arc::new(Flaky {
            fail_first: 3,
            reject: vec!["e5".into()],
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        });
        let (stop, rx) = watch::channel(false);
        let h = spawn(sink.clone(), ob.clone(), fast(), rx);
        until("all delivered", || {
            ob.pending("flaky", 10).unwrap().is_empty()
        })
        .await;
        let m = h.metrics().snapshot();
        assert_eq!(m.delivered_total, 6, "{m:?}");
        assert_eq!(m.dead_lettered_total, 1);
        assert_eq!(m.failures_total, 3);
        assert_eq!(m.retries_total, 3);
        assert_eq!(m.consecutive_failures, 0);
        assert!(m.up);
        assert_eq!(m.last_error.as_deref(), Some("boom 2"));
        // Order kept: every message first seen in enqueue order.
        let seen = sink.seen.lock().unwrap().clone();
        let mut first = Vec::new();
        for s in &seen {
            if !first.contains(s) {
                first.push(s.clone());
            }
        }
        assert_eq!(first, ["e0", "e1", "e2", "e3", "e4", "e5", "e6"]);

        // A later enqueue wakes it at once (well before the 50 ms poll would matter here it
        // is the notifier either way; what counts is that it arrives).
        enqueue(&ob, "late");
        until("late delivered", || {
            ob.pending("flaky", 10).unwrap().is_empty()
        })
        .await;
        assert_eq!(h.metrics().snapshot().delivered_total, 7);

        stop.send(true).unwrap();
        h.join(Duration::from_secs(2)).await;
    }

    /// Never succeeds: the backoff grows, metrics say down, nothing is lost, shutdown is
    /// prompt even in the middle of a backoff.
    struct Down;
    impl Sink for Down {
        fn name(&self) -> &str {
            "down"
        }
        async fn deliver(&self, _batch: &[PendingEvent]) -> Attempt {
            Attempt::failed("connection refused")
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn down_sink_keeps_messages_and_stops_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.register_sink("down").unwrap();
        enqueue(&ob, "x");
        let (stop, rx) = watch::channel(false);
        let opts = DriverOptions {
            backoff_max: Duration::from_secs(60),
            ..fast()
        };
        let h = spawn(Down, ob.clone(), opts, rx);
        let m = h.metrics().clone();
        until("failing", || m.snapshot().failures_total >= 4).await;
        let s = m.snapshot();
        assert!(!s.up);
        assert_eq!(s.last_error.as_deref(), Some("connection refused"));
        assert_eq!(s.delivered_total, 0);
        assert!(s.consecutive_failures >= 4);
        assert_eq!(ob.pending("down", 10).unwrap().len(), 1);
        let t0 = std::time::Instant::now();
        stop.send(true).unwrap();
        h.join(Duration::from_secs(5)).await;
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    }
}
