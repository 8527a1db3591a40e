//! The durable alert outbox: every alert message is written to SQLite before any sink sees
//! it, and stays there, per sink, until that sink confirms delivery.
//!
//! ## Delivery guarantee: at-least-once, deduplicated by the CloudEvent id
//!
//! The path of a message is *write, then publish, then mark delivered*:
//!
//! 1. [`Outbox::enqueue`] renders the [`AlertEvent`] as its CloudEvent JSON and commits it
//!    (`synchronous=FULL`: on disk before it returns), with one *pending* row per registered
//!    sink.
//! 2. Each sink reads [`Outbox::pending`] in enqueue order and publishes.
//! 3. Only when the receiver has acknowledged a message (for MQTT: the broker's PUBACK for that
//!    very packet) does the sink call [`Outbox::mark_delivered`], which deletes that sink's
//!    pending row.
//!
//! A crash (even `kill -9`) or a broker outage anywhere in between leaves the row pending, so
//! the message is published again after the restart or reconnection: nothing acknowledged is
//! lost, and a message can arrive **twice but always with the same CloudEvent `id`**
//! (`{alert_id}-{seq}`, see [`event`](crate::alerts::event)). That id is the deduplication key
//! for consumers. It is also the outbox's primary key: enqueueing the same message again is a
//! no-op, so a rule engine that re-emits after a restart does not create a second message.
//!
//! ## Sinks
//!
//! A sink (`"mqtt"`, `"kafka"`, ...) is named with [`Outbox::register_sink`]; each has its own
//! delivery state. A message is pending for every sink registered *when it is enqueued*; a
//! sink registered later does not receive the backlog. [`Outbox::unregister_sink`] forgets a
//! sink that is no longer configured (otherwise its pending rows would hold the cap and block
//! retention forever). Sinks running in the process can wait on [`Outbox::notifier`] instead of
//! polling: every enqueue wakes them.
//!
//! ## Retention and the size cap
//!
//! [`Outbox::purge`] deletes messages older than a given age that every sink has delivered;
//! undelivered messages are never purged by age.
//!
//! The cap ([`OutboxOptions::max_pending`]) bounds the number of messages still pending for at
//! least one sink (a sink down for days must not fill the disk). When an enqueue would exceed
//! it, the **oldest** undelivered messages are dropped — for every sink — so the newest
//! alerts, the ones operators can still act on, get through. Each drop is logged at `error`
//! level with the event ids and counted in [`Outbox::dropped_total`]
//! (`sharpeyes_alerts_outbox_dropped_total` when exported). New messages are never refused.
//!
//! ## File
//!
//! `<data_dir>/alerts.db` (its own file, apart from the availability ledger), WAL mode,
//! `synchronous=FULL`. Tables: `meta` (`schema_version`), `events` (`seq`, `event_id` unique,
//! `alert_id`, `severity`, `payload` JSON, `created_ms`), `sinks` (`name`), `pending`
//! (`sink`, `seq`), `alerts` (one row per alert for review; see [`store`](crate::alerts::store)).
//!
//! ## Threads
//!
//! [`Outbox`] is a cheap [`Clone`] handle over one connection behind a mutex; every call is a
//! short blocking SQLite transaction. From async code, call it from `spawn_blocking` when
//! latency matters (the MQTT sink does).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tokio::sync::Notify;

use crate::alerts::event::AlertEvent;
use crate::clock::{Clock, SystemClock, Time};
use crate::sqlite::{self, Durability};

/// The database file inside the data dir.
pub const DB_FILE: &str = "alerts.db";

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Default for [`OutboxOptions::max_pending`].
pub const DEFAULT_MAX_PENDING: usize = 100_000;

/// Default CloudEvents `source` of the messages ([`OutboxOptions::source`]).
pub const DEFAULT_SOURCE: &str = "/sharpeyes";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    alert_id   TEXT NOT NULL,
    severity   TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_created ON events(created_ms);
CREATE TABLE IF NOT EXISTS sinks (
    name          TEXT PRIMARY KEY NOT NULL,
    registered_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    sink TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (sink, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_seq ON pending(seq);
";

/// The path of the outbox database in `data_dir`.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Settings of an [`Outbox`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxOptions {
    /// CloudEvents `source` written into every message (a URI-reference naming this instance,
    /// e.g. `/sharpeyes/node-1`).
    pub source: String,
    /// The most messages that may be pending (for at least one sink); see the module docs.
    pub max_pending: usize,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        Self {
            source: DEFAULT_SOURCE.to_string(),
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

/// A message waiting for a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Enqueue order (grows, never reused).
    pub seq: i64,
    /// The CloudEvent id: the deduplication key.
    pub event_id: String,
    /// The CloudEvent JSON, exactly as it is to be sent.
    pub payload: String,
}

/// Delivery state of one sink.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkStats {
    /// The sink's name.
    pub sink: String,
    /// Messages not yet delivered to it.
    pub pending: u64,
    /// Age of the oldest of them, seconds (0 when none).
    pub oldest_pending_age_seconds: f64,
}

/// Figures for metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxStats {
    /// Per registered sink, by name.
    pub sinks: Vec<SinkStats>,
    /// Messages pending for at least one sink (what the cap bounds).
    pub pending_events: u64,
    /// Messages stored, delivered or not.
    pub stored_events: u64,
    /// The cap.
    pub max_pending: u64,
    /// Messages dropped by the cap since this process opened the outbox.
    pub dropped_total: u64,
}

#[derive(Debug)]
struct Inner {
    conn: Mutex<Connection>,
    /// Dates messages and measures their ages.
    clock: Arc<dyn Clock>,
    path: PathBuf,
    options: OutboxOptions,
    /// Messages with at least one pending row (kept exact under the connection's mutex).
    pending_events: AtomicU64,
    dropped_total: AtomicU64,
    notifiers: Mutex<HashMap<String, Arc<Notify>>>,
}

/// The durable outbox. See the module docs.
#[derive(Debug, Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

impl Outbox {
    /// Opens (creating the directory and database when needed) the outbox in `data_dir` with
    /// default options.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Self::open_with(data_dir, OutboxOptions::default())
    }

    /// Opens the outbox in `data_dir`. Messages left pending by a previous run (even one that
    /// was killed) are pending again.
    pub fn open_with(data_dir: &Path, options: OutboxOptions) -> anyhow::Result<Self> {
        Self::open_on(data_dir, options, Arc::new(SystemClock))
    }

    /// [`Outbox::open_with`] on a given clock (the daemon's; a manual one in tests).
    pub fn open_on(
        data_dir: &Path,
        options: OutboxOptions,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        if options.max_pending == 0 {
            bail!("alert outbox: max_pending must be at least 1");
        }
        // FULL: a message is on disk when enqueue returns, even across a power cut.
        let (mut conn, path) =
            sqlite::open_for_writing(data_dir, DB_FILE, "alert outbox", Durability::Full)?;
        init(&mut conn).with_context(|| format!("cannot initialise {}", path.display()))?;
        let pending: i64 =
            conn.query_row("SELECT COUNT(DISTINCT seq) FROM pending", [], |r| r.get(0))?;
        if pending > 0 {
            tracing::info!(
                pending,
                path = %path.display(),
                "alert outbox: messages left pending by the previous run will be delivered"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                clock,
                path,
                options,
                pending_events: AtomicU64::new(pending as u64),
                dropped_total: AtomicU64::new(0),
                notifiers: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The current time on the outbox's clock.
    pub fn now(&self) -> Time {
        self.inner.clock.now()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &OutboxOptions {
        &self.inner.options
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.inner.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a sink (idempotent): messages enqueued from now on are pending for it.
    pub fn register_sink(&self, name: &str) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT OR IGNORE INTO sinks (name, registered_ms) VALUES (?1, ?2)",
            params![name, self.inner.clock.now().timestamp_millis()],
        )?;
        Ok(())
    }

    /// Forgets a sink and everything pending for it. Returns whether it was registered.
    pub fn unregister_sink(&self, name: &str) -> anyhow::Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM sinks WHERE name = ?1", params![name])?;
        tx.execute("DELETE FROM pending WHERE sink = ?1", params![name])?;
        let pending: i64 =
            tx.query_row("SELECT COUNT(DISTINCT seq) FROM pending", [], |r| r.get(0))?;
        tx.commit()?;
        self.inner
            .pending_events
            .store(pending as u64, Ordering::Relaxed);
        Ok(n > 0)
    }

    /// The registered sinks, by name.
    pub fn sinks(&self) -> anyhow::Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM sinks ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    /// A handle that is notified on every enqueue, for a sink that waits for work.
    pub fn notifier(&self, sink: &str) -> Arc<Notify> {
        let mut map = self
            .inner
            .notifiers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(sink.to_string()).or_default().clone()
    }

    fn notify_all(&self) {
        let map = self
            .inner
            .notifiers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for n in map.values() {
            n.notify_one();
        }
    }

    /// Stores `event` (as its CloudEvent with this outbox's source), pending for every
    /// registered sink; durable on disk when this returns. Enqueueing a message whose
    /// [`AlertEvent::event_id`] is already stored does nothing and returns `false`.
    pub fn enqueue(&self, event: &AlertEvent) -> anyhow::Result<bool> {
        let payload = event.to_cloudevent(&self.inner.options.source).to_string();
        self.enqueue_inner(
            &event.event_id(),
            &event.alert_id,
            event.severity.as_str(),
            &payload,
            self.inner.clock.now(),
            Some(event),
        )
    }

    /// Stores an already rendered message; see [`Outbox::enqueue`]. `created` dates it for
    /// retention and the pending-age figure.
    pub fn enqueue_payload(
        &self,
        event_id: &str,
        alert_id: &str,
        severity: &str,
        payload: &str,
        created: Time,
    ) -> anyhow::Result<bool> {
        self.enqueue_inner(event_id, alert_id, severity, payload, created, None)
    }

    /// Stores a message and, with `record`, upserts its alert's row in the same transaction.
    fn enqueue_inner(
        &self,
        event_id: &str,
        alert_id: &str,
        severity: &str,
        payload: &str,
        created: Time,
        record: Option<&AlertEvent>,
    ) -> anyhow::Result<bool> {
        let max = self.inner.options.max_pending as u64;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO events (event_id, alert_id, severity, payload, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                event_id,
                alert_id,
                severity,
                payload,
                created.timestamp_millis()
            ],
        )?;
        if inserted == 0 {
            tx.commit()?;
            tracing::debug!(
                event_id,
                "alert outbox: message already stored; not enqueued again"
            );
            return Ok(false);
        }
        let seq = tx.last_insert_rowid();
        if let Some(event) = record {
            crate::alerts::store::upsert(&tx, event)?;
        }
        let sinks = tx.execute(
            "INSERT INTO pending (sink, seq) SELECT name, ?1 FROM sinks",
            params![seq],
        )?;
        let mut pending = self.inner.pending_events.load(Ordering::Relaxed);
        if sinks > 0 {
            pending += 1;
        } else {
            tracing::warn!(
                event_id,
                "alert outbox: no sink registered; message stored only"
            );
        }
        let mut dropped = Vec::new();
        if pending > max {
            let excess = pending - max;
            {
                let mut stmt = tx.prepare(
                    "SELECT e.seq, e.event_id FROM events e
                     WHERE e.seq IN (SELECT DISTINCT seq FROM pending ORDER BY seq LIMIT ?1)
                     ORDER BY e.seq",
                )?;
                dropped = stmt
                    .query_map(params![excess as i64], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
            }
            for (s, _) in &dropped {
                tx.execute("DELETE FROM pending WHERE seq = ?1", params![s])?;
                tx.execute("DELETE FROM events WHERE seq = ?1", params![s])?;
            }
            pending -= dropped.len() as u64;
        }
        tx.commit()?;
        self.inner.pending_events.store(pending, Ordering::Relaxed);
        if !dropped.is_empty() {
            let total = self
                .inner
                .dropped_total
                .fetch_add(dropped.len() as u64, Ordering::Relaxed)
                + dropped.len() as u64;
            let ids: Vec<&str> = dropped.iter().map(|(_, id)| id.as_str()).collect();
            tracing::error!(
                dropped = dropped.len(),
                dropped_total = total,
                max_pending = max,
                event_ids = ?ids,
                "alert outbox FULL: oldest undelivered alert messages DROPPED for every sink \
                 (a sink has been failing; check its connection)"
            );
        }
        drop(conn);
        self.notify_all();
        Ok(true)
    }

    /// Up to `limit` messages pending for `sink`, oldest first.
    pub fn pending(&self, sink: &str, limit: usize) -> anyhow::Result<Vec<PendingEvent>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT e.seq, e.event_id, e.payload FROM pending p JOIN events e ON e.seq = p.seq
             WHERE p.sink = ?1 ORDER BY p.seq LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![sink, limit as i64], |r| {
                Ok(PendingEvent {
                    seq: r.get(0)?,
                    event_id: r.get(1)?,
                    payload: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records that `sink` has delivered `event_id`. Returns whether it was pending (a
    /// repeated or unknown mark is harmless and returns `false`).
    pub fn mark_delivered(&self, sink: &str, event_id: &str) -> anyhow::Result<bool> {
        Ok(self.mark_delivered_many(sink, &[event_id])? == 1)
    }

    /// [`Outbox::mark_delivered`] for several messages in one transaction; returns how many
    /// were pending.
    pub fn mark_delivered_many<S: AsRef<str>>(
        &self,
        sink: &str,
        event_ids: &[S],
    ) -> anyhow::Result<usize> {
        if event_ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut marked = 0;
        let mut finished = 0u64;
        for id in event_ids {
            let seq: Option<i64> = tx
                .query_row(
                    "SELECT seq FROM events WHERE event_id = ?1",
                    params![id.as_ref()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(seq) = seq else { continue };
            let n = tx.execute(
                "DELETE FROM pending WHERE sink = ?1 AND seq = ?2",
                params![sink, seq],
            )?;
            if n == 0 {
                continue;
            }
            marked += 1;
            let left: i64 = tx.query_row(
                "SELECT COUNT(*) FROM pending WHERE seq = ?1",
                params![seq],
                |r| r.get(0),
            )?;
            if left == 0 {
                finished += 1;
            }
        }
        tx.commit()?;
        if finished > 0 {
            self.inner
                .pending_events
                .fetch_sub(finished, Ordering::Relaxed);
        }
        Ok(marked)
    }

    /// Deletes messages enqueued more than `older_than` ago that every sink has delivered.
    /// Returns how many.
    pub fn purge(&self, older_than: Duration) -> anyhow::Result<usize> {
        let cutoff = chrono::Duration::from_std(older_than)
            .ok()
            .and_then(|d| self.inner.clock.now().checked_sub_signed(d))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        self.purge_before(cutoff)
    }

    /// Deletes delivered messages enqueued before `cutoff`. Returns how many.
    pub fn purge_before(&self, cutoff: Time) -> anyhow::Result<usize> {
        let n = self.conn().execute(
            "DELETE FROM events WHERE created_ms < ?1
             AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.seq = events.seq)",
            params![cutoff.timestamp_millis()],
        )?;
        if n > 0 {
            tracing::debug!(purged = n, "alert outbox: delivered messages purged");
        }
        Ok(n)
    }

    /// Messages dropped by the cap since this process opened the outbox.
    pub fn dropped_total(&self) -> u64 {
        self.inner.dropped_total.load(Ordering::Relaxed)
    }

    /// Messages pending for at least one sink.
    pub fn pending_events(&self) -> u64 {
        self.inner.pending_events.load(Ordering::Relaxed)
    }

    /// Figures for metrics, with ages measured from now.
    pub fn stats(&self) -> anyhow::Result<OutboxStats> {
        self.stats_at(self.inner.clock.now())
    }

    /// Figures for metrics, with ages measured from `now`.
    pub fn stats_at(&self, now: Time) -> anyhow::Result<OutboxStats> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT s.name, COUNT(e.seq), MIN(e.created_ms) FROM sinks s
             LEFT JOIN pending p ON p.sink = s.name
             LEFT JOIN events e ON e.seq = p.seq
             GROUP BY s.name ORDER BY s.name",
        )?;
        let now_ms = now.timestamp_millis();
        let sinks = stmt
            .query_map([], |r| {
                let oldest: Option<i64> = r.get(2)?;
                Ok(SinkStats {
                    sink: r.get(0)?,
                    pending: r.get::<_, i64>(1)? as u64,
                    oldest_pending_age_seconds: oldest
                        .map(|o| (now_ms - o).max(0) as f64 / 1000.0)
                        .unwrap_or(0.0),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let stored: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        Ok(OutboxStats {
            sinks,
            pending_events: self.pending_events(),
            stored_events: stored as u64,
            max_pending: self.inner.options.max_pending as u64,
            dropped_total: self.dropped_total(),
        })
    }
}

fn init(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(sqlite::META_TABLE)?;
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(crate::alerts::store::SCHEMA)?;
    let version: Option<i64> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            bail!("alert outbox schema version {v} is newer than this build's ({SCHEMA_VERSION})")
        }
        Some(v) if v == SCHEMA_VERSION => {}
        // Version 1 had no alerts table; it was created above and fills from new messages.
        Some(_) | None => {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                params![SCHEMA_VERSION],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::event::{AlertCamera, AlertKind, Evidence, Phase, Severity};

    fn event(alert: &str, seq: u32) -> AlertEvent {
        let t = chrono::Utc::now();
        AlertEvent {
            alert_id: alert.to_string(),
            seq,
            phase: if seq == 0 { Phase::New } else { Phase::Update },
            kind: AlertKind::VideoLoss,
            severity: Severity::Critical,
            rule: "video-loss".into(),
            camera: AlertCamera {
                id: "c1".into(),
                ..Default::default()
            },
            started_at: t,
            updated_at: t,
            ended_at: None,
            evidence: Evidence::default(),
            snapshot_url: None,
        }
    }

    fn ids(p: &[PendingEvent]) -> Vec<&str> {
        p.iter().map(|e| e.event_id.as_str()).collect()
    }

    #[test]
    fn per_sink_delivery_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.register_sink("mqtt").unwrap();
        ob.register_sink("kafka").unwrap();
        for i in 0..3 {
            assert!(ob.enqueue(&event("a", i)).unwrap());
        }
        assert_eq!(ids(&ob.pending("mqtt", 10).unwrap()), ["a-0", "a-1", "a-2"]);
        assert_eq!(ids(&ob.pending("mqtt", 2).unwrap()), ["a-0", "a-1"]);
        let p = &ob.pending("mqtt", 1).unwrap()[0];
        let v: serde_json::Value = serde_json::from_str(&p.payload).unwrap();
        assert_eq!(v["id"], "a-0");
        assert_eq!(v["source"], DEFAULT_SOURCE);

        assert!(ob.mark_delivered("mqtt", "a-1").unwrap());
        assert!(!ob.mark_delivered("mqtt", "a-1").unwrap(), "second mark");
        assert!(!ob.mark_delivered("mqtt", "nope").unwrap());
        assert_eq!(ids(&ob.pending("mqtt", 10).unwrap()), ["a-0", "a-2"]);
        assert_eq!(
            ids(&ob.pending("kafka", 10).unwrap()),
            ["a-0", "a-1", "a-2"]
        );
        // a-1 is still pending for kafka.
        assert_eq!(ob.pending_events(), 3);
        assert_eq!(ob.mark_delivered_many("kafka", &["a-1", "a-2"]).unwrap(), 2);
        assert_eq!(ob.pending_events(), 2);
        assert_eq!(ob.sinks().unwrap(), ["kafka", "mqtt"]);
    }

    #[test]
    fn enqueue_is_idempotent_on_the_event_id() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.register_sink("mqtt").unwrap();
        assert!(ob.enqueue(&event("a", 0)).unwrap());
        assert!(!ob.enqueue(&event("a", 0)).unwrap());
        assert_eq!(ob.pending("mqtt", 10).unwrap().len(), 1);
        assert_eq!(ob.pending_events(), 1);
    }

    #[test]
    fn reopen_keeps_pending() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ob = Outbox::open(dir.path()).unwrap();
            ob.register_sink("mqtt").unwrap();
            for i in 0..5 {
                ob.enqueue(&event("a", i)).unwrap();
            }
            ob.mark_delivered("mqtt", "a-0").unwrap();
            ob.mark_delivered("mqtt", "a-3").unwrap();
            // Dropped without any shutdown step, as a killed process would leave it.
        }
        let ob = Outbox::open(dir.path()).unwrap();
        assert_eq!(ob.sinks().unwrap(), ["mqtt"]);
        assert_eq!(ids(&ob.pending("mqtt", 10).unwrap()), ["a-1", "a-2", "a-4"]);
        assert_eq!(ob.pending_events(), 3);
        // Sequence numbers keep growing after a restart.
        ob.enqueue(&event("b", 0)).unwrap();
        let p = ob.pending("mqtt", 10).unwrap();
        assert_eq!(p.last().unwrap().event_id, "b-0");
        assert!(p.windows(2).all(|w| w[0].seq < w[1].seq));
    }

    #[test]
    fn cap_drops_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open_with(
            dir.path(),
            OutboxOptions {
                source: "/test".into(),
                max_pending: 3,
            },
        )
        .unwrap();
        ob.register_sink("mqtt").unwrap();
        for i in 0..3 {
            ob.enqueue(&event("a", i)).unwrap();
        }
        assert_eq!(ob.dropped_total(), 0);
        ob.enqueue(&event("a", 3)).unwrap();
        ob.enqueue(&event("a", 4)).unwrap();
        assert_eq!(ob.dropped_total(), 2);
        assert_eq!(ids(&ob.pending("mqtt", 10).unwrap()), ["a-2", "a-3", "a-4"]);
        let s = ob.stats().unwrap();
        assert_eq!(s.pending_events, 3);
        assert_eq!(s.dropped_total, 2);
        assert_eq!(s.max_pending, 3);
        // Delivered messages do not count against the cap.
        ob.mark_delivered("mqtt", "a-2").unwrap();
        ob.enqueue(&event("a", 5)).unwrap();
        assert_eq!(ob.dropped_total(), 2);
        assert_eq!(ids(&ob.pending("mqtt", 10).unwrap()), ["a-3", "a-4", "a-5"]);
        // Payload carries the configured source.
        let v: serde_json::Value =
            serde_json::from_str(&ob.pending("mqtt", 1).unwrap()[0].payload).unwrap();
        assert_eq!(v["source"], "/test");
    }

    #[test]
    fn purge_only_delivered_and_old() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.register_sink("mqtt").unwrap();
        let old = chrono::Utc::now() - chrono::Duration::days(10);
        for id in ["o1", "o2"] {
            ob.enqueue_payload(id, "o", "info", "{}", old).unwrap();
        }
        ob.enqueue(&event("n", 0)).unwrap();
        ob.mark_delivered("mqtt", "o1").unwrap();
        ob.mark_delivered("mqtt", "n-0").unwrap();
        // o1: old and delivered -> purged; o2: old but pending -> kept; n-0: recent -> kept.
        assert_eq!(ob.purge(Duration::MAX).unwrap(), 0, "nothing is that old");
        assert_eq!(ob.purge(Duration::from_secs(86400)).unwrap(), 1);
        let s = ob.stats().unwrap();
        assert_eq!(s.stored_events, 2);
        assert_eq!(ids(&ob.pending("mqtt", 10).unwrap()), ["o2"]);
        assert_eq!(s.sinks.len(), 1);
        assert_eq!(s.sinks[0].pending, 1);
        assert!(s.sinks[0].oldest_pending_age_seconds > 9.0 * 86400.0);
        // A purged id can be enqueued again (it is a new message then).
        assert!(ob.enqueue_payload("o1", "o", "info", "{}", old).unwrap());
    }

    #[test]
    fn unregister_releases_pending() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.register_sink("mqtt").unwrap();
        ob.register_sink("old").unwrap();
        ob.enqueue(&event("a", 0)).unwrap();
        ob.mark_delivered("mqtt", "a-0").unwrap();
        assert_eq!(ob.pending_events(), 1);
        assert!(ob.unregister_sink("old").unwrap());
        assert_eq!(ob.pending_events(), 0);
        assert_eq!(ob.sinks().unwrap(), ["mqtt"]);
        let s = ob.stats().unwrap();
        assert_eq!(s.sinks[0].pending, 0);
        assert_eq!(s.sinks[0].oldest_pending_age_seconds, 0.0);
    }

    #[test]
    fn late_sink_gets_no_backlog_and_notifier_fires() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.register_sink("mqtt").unwrap();
        ob.enqueue(&event("a", 0)).unwrap();
        ob.register_sink("late").unwrap();
        let n = ob.notifier("late");
        ob.enqueue(&event("a", 1)).unwrap();
        assert_eq!(ids(&ob.pending("late", 10).unwrap()), ["a-1"]);
        // A permit was stored by the enqueue: this completes at once.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), n.notified())
                .await
                .expect("notified");
        });
    }
}
