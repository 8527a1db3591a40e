//! The availability ledger: status and picture-quality intervals persisted in SQLite, so
//! history survives a restart.
//!
//! One row per camera and state: `[start, end)`, with the reason and detail of an outage. Each
//! camera has at most one *open* interval (no end yet): its current state. Times are integer
//! unix milliseconds (UTC).
//!
//! Beside them, one row per camera and picture verdict (`quality_intervals`): whether the
//! sampled picture was ok and, if not, which faults the vision workers found (see
//! [`Ledger::quality`]). They feed the daily 完好率 (intact rate) of
//! [`availability`](crate::health::availability). They follow the same rules as status
//! intervals: at most one open per camera, closed at the next verdict change, at
//! [`Ledger::stop`], at [`Ledger::close_all`] and, after a crash, at the last heartbeat.
//!
//! ## Files and schema
//!
//! `<data_dir>/sharpeyes.db`, in WAL mode with `synchronous=NORMAL` (a power cut may lose the
//! last transactions, never corrupt the file). Tables: `meta` (`schema_version`,
//! `last_heartbeat_ms`), `cameras` (the latest name and groups per id, for reports),
//! `intervals` (status) and `quality_intervals` (picture verdicts).
//!
//! ## Schema versions
//!
//! - **1**: `meta`, `cameras`, `intervals`.
//! - **2**: adds `quality_intervals(id, camera_id, ok, faults, start_ms, end_ms)`; `faults` is
//!   the comma-separated snake_case fault names (`too_dark,frozen`), empty when `ok`.
//! - **3**: adds `cameras.maintainer` (the 运维单位; `unassigned` for rows written before).
//!
//! [`Ledger::open`] migrates an older database in place, in one transaction (from 1 to 2 it
//! only creates the new table: no existing row changes). A database newer than the build is
//! refused. [`Ledger::open_read_only`] never migrates: on a version-1 database it reads no
//! quality intervals (every picture unknown, which counts as intact).
//!
//! ## Heartbeat and crash recovery
//!
//! The daemon calls [`Ledger::heartbeat`] every few seconds; every write also moves the
//! heartbeat forward (it never moves back). The heartbeat is the last instant the daemon is
//! known to have been watching. So:
//!
//! - an open interval is read as ending at the last heartbeat (or the end of the window asked
//!   for, whichever is first), not "now";
//! - [`Ledger::open`] **recovers**: intervals left open by a process that crashed or was
//!   killed are closed at the last heartbeat. The time until monitoring starts again is
//!   covered by no interval and counts as *unmonitored*, never as online (see
//!   [`availability`](crate::health::availability)).
//!
//! Readers that must not disturb a running daemon (the `report` subcommand, an API) use
//! [`Ledger::open_read_only`], which skips recovery.
//!
//! ## Writing from async code
//!
//! [`LedgerWriter`] owns the ledger on a dedicated thread fed by a bounded channel and commits
//! whatever is queued in one transaction, so the daemon's tasks never wait on the disk. Get
//! cheap, cloneable [`LedgerSender`]s from it for the fleet's tasks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Context, bail};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::Time;
use crate::config::inventory::{Camera, Groups};
use crate::health::availability::{Interval, QualityInterval, fault_rank};
use crate::health::status::{Reason, State, Transition};
use crate::sqlite::{self, Durability};

/// The database file inside the data dir.
pub const DB_FILE: &str = "sharpeyes.db";

/// The schema version this build writes (it reads this one and every older one).
pub const SCHEMA_VERSION: i64 = 3;

/// Version 1: what every ledger has.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS cameras (
    id     TEXT PRIMARY KEY NOT NULL,
    name   TEXT NOT NULL,
    region TEXT NOT NULL,
    unit   TEXT NOT NULL,
    class  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intervals (
    id        INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL,
    state     TEXT NOT NULL,
    reason    TEXT,
    detail    TEXT,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS intervals_open ON intervals(camera_id) WHERE end_ms IS NULL;
CREATE INDEX IF NOT EXISTS intervals_end ON intervals(end_ms);
";

/// From version 1 to 2: picture-quality intervals.
const MIGRATE_V2: &str = "
CREATE TABLE IF NOT EXISTS quality_intervals (
    id        INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL,
    ok        INTEGER NOT NULL,
    faults    TEXT NOT NULL DEFAULT '',
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS quality_open ON quality_intervals(camera_id)
    WHERE end_ms IS NULL;
CREATE INDEX IF NOT EXISTS quality_end ON quality_intervals(end_ms);
";

/// From version 2 to 3: the camera's maintainer (运维单位).
const MIGRATE_V3: &str = "
ALTER TABLE cameras ADD COLUMN maintainer TEXT NOT NULL DEFAULT 'unassigned';
";

/// `MIGRATIONS[i]` takes a database from version `i + 1` to `i + 2`.
const MIGRATIONS: [&str; (SCHEMA_VERSION - 1) as usize] = [MIGRATE_V2, MIGRATE_V3];

/// The first schema version with `cameras.maintainer`.
const MAINTAINER_VERSION: i64 = 3;

/// The first schema version with `quality_intervals`.
const QUALITY_VERSION: i64 = 2;

const KEY_VERSION: &str = "schema_version";
const KEY_HEARTBEAT: &str = "last_heartbeat_ms";

/// The path of the database in `data_dir`.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// A camera as the reports name and group it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraRow {
    /// Inventory id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Region / unit / class.
    pub groups: Groups,
}

impl From<&Camera> for CameraRow {
    fn from(c: &Camera) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            groups: c.groups.clone(),
        }
    }
}

/// One write to the ledger; [`Ledger::apply`] runs a batch of them in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Insert or update cameras' names and groups.
    Cameras(Vec<CameraRow>),
    /// Monitoring of a camera starts in `state` at `at`.
    Begin {
        /// The camera.
        camera_id: String,
        /// The first state (normally `connecting`).
        state: State,
        /// When.
        at: Time,
    },
    /// A camera changed state.
    Record {
        /// The camera.
        camera_id: String,
        /// The change.
        transition: Transition,
    },
    /// A camera's picture verdict changed (see [`Ledger::quality`]).
    Quality {
        /// The camera.
        camera_id: String,
        /// When (the time of the sample diagnosed).
        at: Time,
        /// Whether the picture has no fault.
        ok: bool,
        /// The faults found, as snake_case names (`too_dark`, `frozen`…); empty when `ok`.
        faults: Vec<String>,
    },
    /// The daemon is alive and watching at this time.
    Heartbeat(Time),
    /// Monitoring of a camera ends (removed from the inventory, disabled).
    Stop {
        /// The camera.
        camera_id: String,
        /// When.
        at: Time,
    },
    /// Monitoring of every camera ends (graceful shutdown).
    CloseAll(Time),
    /// Retention: closed status intervals that ended before `status_before`, and closed
    /// quality intervals that ended before `quality_before`, are deleted.
    Purge {
        /// Status intervals ending earlier go.
        status_before: Time,
        /// Quality intervals ending earlier go.
        quality_before: Time,
    },
}

/// What [`Ledger::open`] found and repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Status intervals that were left open and have been closed.
    pub closed: usize,
    /// Picture-quality intervals that were left open and have been closed.
    pub quality_closed: usize,
    /// The heartbeat they were closed at (`None`: there was none; closed at their start).
    pub at: Option<Time>,
}

/// The SQLite ledger. See the module docs.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    recovery: Recovery,
    /// The schema version of the open database (older than [`SCHEMA_VERSION`] only when
    /// opened read-only).
    version: i64,
}

impl Ledger {
    /// Opens (creating the directory and the database when needed) the ledger in `data_dir`
    /// for writing, and recovers from an unclean stop: see the module docs.
    ///
    /// Only one daemon may write a data dir at a time.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        // NORMAL: a commit survives a crash of the daemon; a power cut loses at most the last
        // heartbeat's changes, which recovery closes as it would after any unclean stop.
        let (conn, path) =
            sqlite::open_for_writing(data_dir, DB_FILE, "ledger", Durability::Normal)?;
        let mut ledger = Self {
            conn,
            path,
            recovery: Recovery::default(),
            version: SCHEMA_VERSION,
        };
        ledger
            .init()
            .with_context(|| format!("cannot initialise ledger {}", ledger.path.display()))?;
        ledger.recovery = ledger
            .recover()
            .with_context(|| format!("cannot recover ledger {}", ledger.path.display()))?;
        if ledger.recovery.closed + ledger.recovery.quality_closed > 0 {
            tracing::info!(
                closed = ledger.recovery.closed,
                quality_closed = ledger.recovery.quality_closed,
                at = ?ledger.recovery.at,
                "ledger: closed intervals left open by the previous run at its last heartbeat"
            );
        }
        Ok(ledger)
    }

    /// Opens an existing ledger for reading only, without recovery or migration (safe while
    /// a daemon writes it). Fails with a clear message when `data_dir` holds no ledger.
    pub fn open_read_only(data_dir: &Path) -> anyhow::Result<Self> {
        let path = db_path(data_dir);
        let Some(conn) = sqlite::open_read_only(&path, "ledger")? else {
            bail!(
                "no ledger database at {} (is {} the daemon's data_dir?)",
                path.display(),
                data_dir.display()
            );
        };
        let mut ledger = Self {
            conn,
            path,
            recovery: Recovery::default(),
            version: SCHEMA_VERSION,
        };
        let version = ledger
            .schema_version()
            .with_context(|| format!("{} is not a sharpeyes ledger", ledger.path.display()))?;
        check_version(version, &ledger.path)?;
        ledger.version = version;
        Ok(ledger)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What [`Ledger::open`] repaired (all zero for a clean start or a read-only open).
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    fn init(&mut self) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(sqlite::META_TABLE)?;
        tx.execute_batch(SCHEMA_V1)?;
        let version: Option<i64> = meta_get(&tx, KEY_VERSION)?;
        if let Some(v) = version {
            check_version(v, &self.path)?;
        }
        // A new database starts as version 1 and takes every migration.
        let from = version.unwrap_or(1);
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            if from < i as i64 + 2 {
                tx.execute_batch(migration)?;
            }
        }
        // One camera's history is read by camera (the page's camera detail).
        tx.execute_batch(
            "CREATE INDEX IF NOT EXISTS intervals_camera ON intervals(camera_id, end_ms);
             CREATE INDEX IF NOT EXISTS quality_camera ON quality_intervals(camera_id, end_ms);",
        )?;
        if version != Some(SCHEMA_VERSION) {
            meta_set(&tx, KEY_VERSION, SCHEMA_VERSION)?;
        }
        tx.commit()?;
        if let Some(v) = version.filter(|v| *v < SCHEMA_VERSION) {
            tracing::info!(
                from = v,
                to = SCHEMA_VERSION,
                path = %self.path.display(),
                "ledger: schema migrated"
            );
        }
        self.version = SCHEMA_VERSION;
        Ok(())
    }

    fn schema_version(&self) -> anyhow::Result<i64> {
        meta_get(&self.conn, KEY_VERSION)?.context("no schema_version")
    }

    fn recover(&mut self) -> anyhow::Result<Recovery> {
        let tx = self.conn.transaction()?;
        let hb: Option<i64> = meta_get(&tx, KEY_HEARTBEAT)?;
        let closed = tx.execute(
            "UPDATE intervals SET end_ms = MAX(start_ms, COALESCE(?1, start_ms))
             WHERE end_ms IS NULL",
            params![hb],
        )?;
        let quality_closed = tx.execute(
            "UPDATE quality_intervals SET end_ms = MAX(start_ms, COALESCE(?1, start_ms))
             WHERE end_ms IS NULL",
            params![hb],
        )?;
        // Empty intervals carry no time; drop them (including those just closed at their start).
        tx.execute(
            "DELETE FROM intervals WHERE end_ms IS NOT NULL AND end_ms <= start_ms",
            [],
        )?;
        tx.execute(
            "DELETE FROM quality_intervals WHERE end_ms IS NOT NULL AND end_ms <= start_ms",
            [],
        )?;
        tx.commit()?;
        Ok(Recovery {
            closed,
            quality_closed,
            at: if closed + quality_closed > 0 {
                hb.map(to_time).transpose()?
            } else {
                None
            },
        })
    }

    /// Runs `ops` in order, in one transaction: all or nothing.
    pub fn apply(&mut self, ops: &[Op]) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        for op in ops {
            apply_op(&tx, op)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Inserts or updates cameras' names and groups (the latest wins).
    pub fn upsert_cameras(&mut self, rows: &[CameraRow]) -> anyhow::Result<()> {
        self.apply(&[Op::Cameras(rows.to_vec())])
    }

    /// Starts monitoring a camera: opens its first interval in `state` (normally
    /// `connecting`) at `at`. An interval still open for it is closed at `at`.
    pub fn begin(&mut self, camera_id: &str, state: State, at: Time) -> anyhow::Result<()> {
        self.apply(&[Op::Begin {
            camera_id: camera_id.to_string(),
            state,
            at,
        }])
    }

    /// Records a batch of transitions in one transaction: for each, the camera's open interval
    /// is closed at `transition.at` and one in `transition.to` is opened.
    ///
    /// Robust to odd input: a transition dated before the open interval's start is clamped to
    /// it (the open interval is then replaced); one into the state the camera is already in
    /// is ignored; one for a camera with no open interval opens one.
    pub fn record(&mut self, batch: &[(String, Transition)]) -> anyhow::Result<()> {
        let ops: Vec<Op> = batch
            .iter()
            .map(|(camera_id, transition)| Op::Record {
                camera_id: camera_id.clone(),
                transition: transition.clone(),
            })
            .collect();
        self.apply(&ops)
    }

    /// Records a camera's picture verdict from `at` on: `ok` (no fault), or the `faults`
    /// found (snake_case names such as `too_dark` or `frozen`, see
    /// [`Fault::as_str`](crate::vision::quality::Fault::as_str)). Call it when the verdict
    /// changes (ok ↔ faulty, or the set of faults); the camera's open quality interval is
    /// closed at `at` and one with the new verdict opened.
    ///
    /// Fault names are trimmed, emptied ones dropped, commas replaced by `_`, duplicates
    /// removed, and listed in [`Fault::ALL`](crate::vision::quality::Fault::ALL) order
    /// (unknown names after, alphabetically), so a set of faults has one spelling. `ok` is
    /// what counts for the 完好率; `ok = false` without a fault name counts under
    /// [`UNSPECIFIED_FAULT`](crate::health::availability::UNSPECIFIED_FAULT).
    ///
    /// Robust like [`Ledger::record`]: the same verdict as the open one is ignored; a verdict
    /// dated at or before the open interval's start replaces it.
    pub fn quality(
        &mut self,
        camera_id: &str,
        at: Time,
        ok: bool,
        faults: &[String],
    ) -> anyhow::Result<()> {
        self.apply(&[Op::Quality {
            camera_id: camera_id.to_string(),
            at,
            ok,
            faults: faults.to_vec(),
        }])
    }

    /// Notes that the daemon is alive and watching at `now`.
    pub fn heartbeat(&mut self, now: Time) -> anyhow::Result<()> {
        self.apply(&[Op::Heartbeat(now)])
    }

    /// Ends monitoring of one camera at `at` (closes its open status and quality intervals,
    /// if any).
    pub fn stop(&mut self, camera_id: &str, at: Time) -> anyhow::Result<()> {
        self.apply(&[Op::Stop {
            camera_id: camera_id.to_string(),
            at,
        }])
    }

    /// Ends monitoring of every camera at `now` (graceful shutdown): closes every open status
    /// and quality interval.
    pub fn close_all(&mut self, now: Time) -> anyhow::Result<()> {
        self.apply(&[Op::CloseAll(now)])
    }

    /// The last heartbeat (the last instant the daemon is known to have been watching).
    pub fn last_heartbeat(&self) -> anyhow::Result<Option<Time>> {
        meta_get::<i64>(&self.conn, KEY_HEARTBEAT)?
            .map(to_time)
            .transpose()
    }

    /// The intervals overlapping `[from, to)`, clipped to it, sorted by camera and start.
    /// An open interval ends at the earlier of `to` and the last heartbeat.
    pub fn intervals(&self, from: Time, to: Time) -> anyhow::Result<Vec<Interval>> {
        self.intervals_of(None, from, to)
    }

    /// [`Ledger::intervals`] of one camera only (`None`: every camera): the camera history
    /// endpoint reads what it shows, not the whole fleet's month.
    pub fn intervals_of(
        &self,
        camera: Option<&str>,
        from: Time,
        to: Time,
    ) -> anyhow::Result<Vec<Interval>> {
        self.clipped(
            "intervals",
            "state, reason",
            camera,
            from,
            to,
            |row, start, end| {
                let (camera_id, state, reason): (String, String, Option<String>) = row;
                let state = State::parse(&state).with_context(|| {
                    format!("ledger: unknown state {state:?} for camera {camera_id:?}")
                })?;
                let reason = match reason {
                    None => None,
                    Some(r) => Some(Reason::parse(&r).with_context(|| {
                        format!("ledger: unknown reason {r:?} for camera {camera_id:?}")
                    })?),
                };
                Ok(Interval {
                    camera_id,
                    state,
                    reason,
                    start,
                    end,
                })
            },
        )
    }

    /// The picture-quality intervals overlapping `[from, to)`, clipped to it, sorted by camera
    /// and start. An open interval ends at the earlier of `to` and the last heartbeat. Empty
    /// on a version-1 database opened read-only (no verdict was ever stored).
    pub fn quality_intervals(&self, from: Time, to: Time) -> anyhow::Result<Vec<QualityInterval>> {
        self.quality_intervals_of(None, from, to)
    }

    /// [`Ledger::quality_intervals`] of one camera only (`None`: every camera).
    pub fn quality_intervals_of(
        &self,
        camera: Option<&str>,
        from: Time,
        to: Time,
    ) -> anyhow::Result<Vec<QualityInterval>> {
        if self.version < QUALITY_VERSION {
            return Ok(Vec::new());
        }
        self.clipped(
            "quality_intervals",
            "ok, faults",
            camera,
            from,
            to,
            |row, start, end| {
                let (camera_id, ok, faults): (String, bool, String) = row;
                Ok(QualityInterval {
                    camera_id,
                    ok,
                    faults: decode_faults(&faults),
                    start,
                    end,
                })
            },
        )
    }

    /// The rows of an interval `table` overlapping `[from, to)` (of one camera, or all), sorted
    /// by camera and start, each clipped to the range and handed to `build` with its camera id
    /// and two `columns` (an open interval ends at the last heartbeat).
    fn clipped<A, B, T>(
        &self,
        table: &str,
        columns: &str,
        camera: Option<&str>,
        from: Time,
        to: Time,
        build: impl Fn((String, A, B), Time, Time) -> anyhow::Result<T>,
    ) -> anyhow::Result<Vec<T>>
    where
        A: rusqlite::types::FromSql,
        B: rusqlite::types::FromSql,
    {
        let (from_ms, to_ms) = (ms(from), ms(to));
        if to_ms <= from_ms {
            return Ok(Vec::new());
        }
        let hb = meta_get::<i64>(&self.conn, KEY_HEARTBEAT)?;
        let one = if camera.is_some() {
            " AND camera_id = ?3"
        } else {
            " AND ?3 IS NULL"
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT camera_id, {columns}, start_ms, end_ms FROM {table}
              WHERE end_ms > ?1 AND start_ms < ?2{one}
             UNION ALL
             SELECT camera_id, {columns}, start_ms, end_ms FROM {table}
              WHERE end_ms IS NULL AND start_ms < ?2{one}
             ORDER BY camera_id, start_ms"
        ))?;
        let rows = stmt.query_map(params![from_ms, to_ms, camera], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, A>(1)?, r.get::<_, B>(2)?),
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (fields, start_ms, end_ms) = row?;
            let end_ms = end_ms.unwrap_or_else(|| hb.unwrap_or(start_ms));
            let (start_ms, end_ms) = (start_ms.max(from_ms), end_ms.min(to_ms));
            if end_ms > start_ms {
                out.push(build(fields, to_time(start_ms)?, to_time(end_ms)?)?);
            }
        }
        Ok(out)
    }

    /// Every camera ever upserted, with its latest name and groups, sorted by id.
    pub fn cameras(&self) -> anyhow::Result<Vec<CameraRow>> {
        // A read-only open of an older ledger has no maintainer column.
        let sql = if self.version >= MAINTAINER_VERSION {
            "SELECT id, name, region, unit, class, maintainer FROM cameras ORDER BY id"
        } else {
            "SELECT id, name, region, unit, class, 'unassigned' FROM cameras ORDER BY id"
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(CameraRow {
                id: r.get(0)?,
                name: r.get(1)?,
                groups: Groups {
                    region: r.get(2)?,
                    unit: r.get(3)?,
                    class: r.get(4)?,
                    maintainer: r.get(5)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn check_version(version: i64, path: &Path) -> anyhow::Result<()> {
    if version > SCHEMA_VERSION {
        bail!(
            "ledger {} has schema version {version}, newer than this build's {SCHEMA_VERSION}: \
             upgrade sharpeyes",
            path.display()
        );
    }
    if version < 1 {
        bail!(
            "ledger {} has an invalid schema version {version}",
            path.display()
        );
    }
    Ok(())
}

fn meta_get<T: rusqlite::types::FromSql>(
    conn: &Connection,
    key: &str,
) -> rusqlite::Result<Option<T>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

fn meta_set(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Moves the heartbeat forward to `at_ms` (never back).
fn bump_heartbeat(conn: &Connection, at_ms: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
    )?
    .execute(params![KEY_HEARTBEAT, at_ms])?;
    Ok(())
}

/// One of the ledger's two interval tables: its name, the columns that hold an interval's
/// value, and how many of them (from the first) decide whether a value starts a new interval
/// (a status interval is one state whatever its reason; a quality interval one verdict).
struct Track {
    table: &'static str,
    columns: &'static [&'static str],
    key: usize,
}

/// Camera status intervals: state, and why and what the camera said when offline.
const STATUS: Track = Track {
    table: "intervals",
    columns: &["state", "reason", "detail"],
    key: 1,
};

/// Picture-quality intervals: the verdict and its faults.
const QUALITY: Track = Track {
    table: "quality_intervals",
    columns: &["ok", "faults"],
    key: 2,
};

/// A camera's open interval in a [`Track`]: its row, start and key columns.
struct Open {
    id: i64,
    start_ms: i64,
    key: Vec<Value>,
}

impl Track {
    fn open(&self, conn: &Connection, camera_id: &str) -> rusqlite::Result<Option<Open>> {
        let key = self.columns[..self.key].join(", ");
        conn.prepare_cached(&format!(
            "SELECT id, start_ms, {key} FROM {} WHERE camera_id = ?1 AND end_ms IS NULL",
            self.table
        ))?
        .query_row([camera_id], |r| {
            Ok(Open {
                id: r.get(0)?,
                start_ms: r.get(1)?,
                key: (0..self.key)
                    .map(|i| r.get(2 + i))
                    .collect::<rusqlite::Result<_>>()?,
            })
        })
        .optional()
    }

    /// Closes the camera's open interval at `at_ms` (never before its start), if it has one.
    fn stop(&self, conn: &Connection, camera_id: &str, at_ms: i64) -> rusqlite::Result<()> {
        if let Some(open) = self.open(conn, camera_id)? {
            self.close(conn, open.id, at_ms.max(open.start_ms))?;
        }
        Ok(())
    }

    fn close(&self, conn: &Connection, id: i64, end_ms: i64) -> rusqlite::Result<()> {
        conn.prepare_cached(&format!(
            "UPDATE {} SET end_ms = ?2 WHERE id = ?1",
            self.table
        ))?
        .execute(params![id, end_ms])?;
        Ok(())
    }

    /// Makes `value` (one per column) the camera's open interval from `at_ms`: closes the
    /// current one there, or overwrites it when `at_ms` is not after its start (clamping).
    /// With `if_changed`, nothing happens while the open interval's key columns hold the value.
    fn set(
        &self,
        conn: &Connection,
        camera_id: &str,
        value: &[Value],
        at_ms: i64,
        if_changed: bool,
    ) -> rusqlite::Result<()> {
        let open = self.open(conn, camera_id)?;
        match open {
            Some(open) if if_changed && open.key[..] == value[..self.key] => return Ok(()),
            Some(open) if at_ms <= open.start_ms => {
                let set: Vec<String> = (self.columns.iter().enumerate())
                    .map(|(i, c)| format!("{c} = ?{}", i + 2))
                    .collect();
                let sql = format!("UPDATE {} SET {} WHERE id = ?1", self.table, set.join(", "));
                let id = Value::Integer(open.id);
                let args = std::iter::once(&id).chain(value);
                conn.prepare_cached(&sql)?
                    .execute(rusqlite::params_from_iter(args))?;
                return Ok(());
            }
            Some(open) => self.close(conn, open.id, at_ms)?,
            None if if_changed => {
                tracing::debug!(camera = %camera_id, table = self.table, "ledger: change without an open interval; opening one");
            }
            None => {}
        }
        let marks: Vec<String> = (0..self.columns.len() + 2)
            .map(|i| format!("?{}", i + 1))
            .collect();
        let sql = format!(
            "INSERT INTO {}(camera_id, {}, start_ms) VALUES ({})",
            self.table,
            self.columns.join(", "),
            marks.join(", ")
        );
        let (camera, at) = (Value::Text(camera_id.to_owned()), Value::Integer(at_ms));
        let args = std::iter::once(&camera).chain(value).chain([&at]);
        conn.prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(args))?;
        Ok(())
    }
}

/// A status interval's column values.
fn status_value(state: State, reason: Option<Reason>, detail: Option<&str>) -> [Value; 3] {
    let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::Text(s.to_owned()));
    [
        Value::Text(state.as_str().to_owned()),
        text(reason.map(Reason::as_str)),
        text(detail),
    ]
}

/// The stored spelling of a set of fault names: see [`Ledger::quality`].
fn encode_faults(faults: &[String]) -> String {
    let mut names: Vec<String> = faults
        .iter()
        .map(|f| f.trim().replace(',', "_"))
        .filter(|f| !f.is_empty())
        .collect();
    names.sort_by(|a, b| (fault_rank(a), a).cmp(&(fault_rank(b), b)));
    names.dedup();
    names.join(",")
}

fn decode_faults(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

fn apply_op(conn: &Connection, op: &Op) -> anyhow::Result<()> {
    match op {
        Op::Cameras(rows) => {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO cameras(id, name, region, unit, class, maintainer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, region = excluded.region,
                     unit = excluded.unit, class = excluded.class,
                     maintainer = excluded.maintainer",
            )?;
            for c in rows {
                stmt.execute(params![
                    c.id,
                    c.name,
                    c.groups.region,
                    c.groups.unit,
                    c.groups.class,
                    c.groups.maintainer
                ])?;
            }
        }
        Op::Begin {
            camera_id,
            state,
            at,
        } => {
            let at_ms = ms(*at);
            STATUS.set(
                conn,
                camera_id,
                &status_value(*state, None, None),
                at_ms,
                false,
            )?;
            bump_heartbeat(conn, at_ms)?;
        }
        Op::Record {
            camera_id,
            transition: t,
        } => {
            let at_ms = ms(t.at);
            let value = status_value(t.to, t.reason, t.detail.as_deref());
            STATUS.set(conn, camera_id, &value, at_ms, true)?;
            bump_heartbeat(conn, at_ms)?;
        }
        Op::Quality {
            camera_id,
            at,
            ok,
            faults,
        } => {
            let at_ms = ms(*at);
            let value = [
                Value::Integer((*ok).into()),
                Value::Text(encode_faults(faults)),
            ];
            QUALITY.set(conn, camera_id, &value, at_ms, true)?;
            bump_heartbeat(conn, at_ms)?;
        }
        Op::Heartbeat(now) => bump_heartbeat(conn, ms(*now))?,
        Op::Stop { camera_id, at } => {
            let at_ms = ms(*at);
            STATUS.stop(conn, camera_id, at_ms)?;
            QUALITY.stop(conn, camera_id, at_ms)?;
            bump_heartbeat(conn, at_ms)?;
        }
        Op::Purge {
            status_before,
            quality_before,
        } => {
            let status = conn
                .prepare_cached("DELETE FROM intervals WHERE end_ms IS NOT NULL AND end_ms < ?1")?
                .execute(params![ms(*status_before)])?;
            let quality = conn
                .prepare_cached(
                    "DELETE FROM quality_intervals WHERE end_ms IS NOT NULL AND end_ms < ?1",
                )?
                .execute(params![ms(*quality_before)])?;
            if status + quality > 0 {
                tracing::info!(status, quality, "ledger: intervals past retention deleted");
            }
        }
        Op::CloseAll(now) => {
            let now_ms = ms(*now);
            conn.prepare_cached(
                "UPDATE intervals SET end_ms = MAX(start_ms, ?1) WHERE end_ms IS NULL",
            )?
            .execute([now_ms])?;
            conn.prepare_cached(
                "UPDATE quality_intervals SET end_ms = MAX(start_ms, ?1) WHERE end_ms IS NULL",
            )?
            .execute([now_ms])?;
            bump_heartbeat(conn, now_ms)?;
        }
    }
    Ok(())
}

fn ms(t: Time) -> i64 {
    t.timestamp_millis()
}

fn to_time(ms: i64) -> anyhow::Result<Time> {
    chrono::DateTime::from_timestamp_millis(ms)
        .with_context(|| format!("ledger: timestamp {ms} ms out of range"))
}

// ---------------------------------------------------------------------------------------------
// The writer thread.

/// Most ops committed in one transaction.
const MAX_BATCH: usize = 4096;

enum Msg {
    Op(Op),
    Flush(SyncSender<()>),
    Shutdown,
}

/// A cheap, cloneable handle that queues writes for a [`LedgerWriter`]. Its methods never
/// touch SQLite.
///
/// They do not block while the queue has room. When it is full (the disk cannot keep up), a
/// warning is logged and the caller waits for room rather than lose history; heartbeats are
/// dropped instead. When the writer is gone, the write is lost with an error in the log.
#[derive(Clone, Debug)]
pub struct LedgerSender {
    tx: SyncSender<Msg>,
    full_warned: Arc<AtomicBool>,
}

impl LedgerSender {
    fn send(&self, msg: Msg, what: &str) {
        match self.tx.try_send(msg) {
            Ok(()) => {
                self.full_warned.store(false, Ordering::Relaxed);
            }
            Err(TrySendError::Full(Msg::Op(Op::Heartbeat(_)))) => {}
            Err(TrySendError::Full(msg)) => {
                if !self.full_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!("ledger: write queue full, the disk is not keeping up; waiting");
                }
                if self.tx.send(msg).is_err() {
                    tracing::error!(what, "ledger: writer stopped; write lost");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!(what, "ledger: writer stopped; write lost");
            }
        }
    }

    /// Queues [`Ledger::upsert_cameras`].
    pub fn upsert_cameras(&self, rows: Vec<CameraRow>) {
        self.send(Msg::Op(Op::Cameras(rows)), "cameras");
    }

    /// Queues [`Ledger::begin`].
    pub fn begin(&self, camera_id: impl Into<String>, state: State, at: Time) {
        let camera_id = camera_id.into();
        self.send(
            Msg::Op(Op::Begin {
                camera_id,
                state,
                at,
            }),
            "begin",
        );
    }

    /// Queues one transition (see [`Ledger::record`]).
    pub fn record(&self, camera_id: impl Into<String>, transition: Transition) {
        self.send(
            Msg::Op(Op::Record {
                camera_id: camera_id.into(),
                transition,
            }),
            "transition",
        );
    }

    /// Queues a picture verdict change (see [`Ledger::quality`]): `ok` when the picture has
    /// no fault, else the `faults` found as snake_case names.
    pub fn quality(&self, camera_id: impl Into<String>, at: Time, ok: bool, faults: Vec<String>) {
        self.send(
            Msg::Op(Op::Quality {
                camera_id: camera_id.into(),
                at,
                ok,
                faults,
            }),
            "quality",
        );
    }

    /// Queues [`Ledger::heartbeat`].
    pub fn heartbeat(&self, now: Time) {
        self.send(Msg::Op(Op::Heartbeat(now)), "heartbeat");
    }

    /// Queues [`Ledger::stop`].
    pub fn stop(&self, camera_id: impl Into<String>, at: Time) {
        self.send(
            Msg::Op(Op::Stop {
                camera_id: camera_id.into(),
                at,
            }),
            "stop",
        );
    }

    /// Queues a retention purge ([`Op::Purge`]).
    pub fn purge(&self, status_before: Time, quality_before: Time) {
        self.send(
            Msg::Op(Op::Purge {
                status_before,
                quality_before,
            }),
            "purge",
        );
    }

    /// Queues [`Ledger::close_all`].
    pub fn close_all(&self, now: Time) {
        self.send(Msg::Op(Op::CloseAll(now)), "close_all");
    }

    /// Blocks until everything queued before this call is committed (or failed and logged).
    /// Returns `false` when the writer is gone. Not for async contexts (use
    /// `spawn_blocking`).
    pub fn flush(&self) -> bool {
        let (ack_tx, ack_rx) = sync_channel(1);
        if self.tx.send(Msg::Flush(ack_tx)).is_err() {
            return false;
        }
        ack_rx.recv().is_ok()
    }
}

/// Owns a [`Ledger`] on a dedicated thread and commits queued writes in batches.
///
/// Dropping it (or [`LedgerWriter::shutdown`]) commits everything queued and joins the thread.
/// It does **not** close the open intervals: call [`LedgerSender::close_all`] first on a
/// graceful shutdown, or use [`LedgerWriter::shutdown`]. Write errors are logged, never
/// raised: a failed batch is retried one op at a time so one bad op loses only itself.
#[derive(Debug)]
pub struct LedgerWriter {
    sender: LedgerSender,
    thread: Option<JoinHandle<()>>,
}

impl LedgerWriter {
    /// Default queue capacity (messages).
    pub const DEFAULT_CAPACITY: usize = 65_536;

    /// Starts the writer thread with the default queue capacity.
    pub fn spawn(ledger: Ledger) -> anyhow::Result<Self> {
        Self::with_capacity(ledger, Self::DEFAULT_CAPACITY)
    }

    /// Starts the writer thread with a queue of `capacity` messages (at least 1).
    pub fn with_capacity(ledger: Ledger, capacity: usize) -> anyhow::Result<Self> {
        let (tx, rx) = sync_channel(capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer_loop(ledger, rx))
            .context("cannot start the ledger writer thread")?;
        Ok(Self {
            sender: LedgerSender {
                tx,
                full_warned: Arc::new(AtomicBool::new(false)),
            },
            thread: Some(thread),
        })
    }

    /// The handle for queueing writes; clone it freely.
    pub fn sender(&self) -> &LedgerSender {
        &self.sender
    }

    /// Graceful shutdown: closes every open interval at `now`, commits everything queued and
    /// joins the thread. Senders still held elsewhere fail (logged) afterwards. Blocks until
    /// the queue is written: from async code, call it after the tasks stop, in
    /// `spawn_blocking` or once the runtime is done.
    pub fn shutdown(mut self, now: Time) {
        self.sender.close_all(now);
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        if let Some(thread) = self.thread.take() {
            // Shutdown is queued behind everything already sent, so that gets committed.
            let _ = self.sender.tx.send(Msg::Shutdown);
            if thread.join().is_err() {
                tracing::error!("ledger: writer thread panicked");
            }
        }
    }
}

impl std::ops::Deref for LedgerWriter {
    type Target = LedgerSender;

    fn deref(&self) -> &LedgerSender {
        &self.sender
    }
}

impl Drop for LedgerWriter {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn writer_loop(mut ledger: Ledger, rx: Receiver<Msg>) {
    let mut batch: Vec<Op> = Vec::new();
    let mut acks: Vec<SyncSender<()>> = Vec::new();
    let mut shutdown = false;
    while !shutdown {
        let Ok(first) = rx.recv() else { break };
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Op(op) => batch.push(op),
                Msg::Flush(ack) => acks.push(ack),
                Msg::Shutdown => {
                    shutdown = true;
                    break;
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            // Empty or disconnected: commit what we have.
            next = rx.try_recv().ok();
        }
        commit(&mut ledger, &mut batch);
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    tracing::debug!("ledger: writer stopped");
}

fn commit(ledger: &mut Ledger, batch: &mut Vec<Op>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = ledger.apply(batch) {
        tracing::warn!(error = %format!("{e:#}"), ops = batch.len(), "ledger: batch failed; retrying one by one");
        for op in batch.iter() {
            if let Err(e) = ledger.apply(std::slice::from_ref(op)) {
                tracing::error!(error = %format!("{e:#}"), ?op, "ledger: write lost");
            }
        }
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_time;

    fn t(hms: &str) -> Time {
        parse_time(&format!("2024-05-01T{hms}Z"))
    }

    fn day() -> (Time, Time) {
        (t("00:00:00"), parse_time("2024-05-02T00:00:00Z"))
    }

    fn tr(at: Time, from: State, to: State, reason: Option<Reason>) -> Transition {
        Transition {
            at,
            from,
            to,
            reason,
            detail: reason.map(|r| format!("detail {r}")),
        }
    }

    fn iv(cam: &str, state: State, reason: Option<Reason>, start: &str, end: &str) -> Interval {
        Interval {
            camera_id: cam.into(),
            state,
            reason,
            start: t(start),
            end: t(end),
        }
    }

    fn row(id: &str, region: &str) -> CameraRow {
        CameraRow {
            id: id.into(),
            name: format!("name {id}"),
            groups: Groups {
                region: region.into(),
                unit: "u".into(),
                class: "1".into(),
                maintainer: "运维甲".into(),
            },
        }
    }

    #[test]
    fn creates_the_database_with_wal_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let l = Ledger::open(&data).unwrap();
        assert_eq!(l.path(), data.join(DB_FILE));
        assert!(l.path().is_file());
        let mode: String = l
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = l
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(l.recovery(), Recovery::default());
        assert_eq!(l.last_heartbeat().unwrap(), None);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let l = Ledger::open(dir.path()).unwrap();
            meta_set(&l.conn, KEY_VERSION, SCHEMA_VERSION + 1).unwrap();
        }
        let err = format!("{:#}", Ledger::open(dir.path()).unwrap_err());
        assert!(err.contains("newer"), "{err}");
        let err = format!("{:#}", Ledger::open_read_only(dir.path()).unwrap_err());
        assert!(err.contains("newer"), "{err}");
    }

    #[test]
    fn read_only_open_needs_an_existing_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let err = format!("{:#}", Ledger::open_read_only(dir.path()).unwrap_err());
        assert!(err.contains("no ledger database"), "{err}");
        std::fs::write(
            dir.path().join(DB_FILE),
            b"not sqlite at all, just text......",
        )
        .unwrap();
        assert!(Ledger::open_read_only(dir.path()).is_err());
    }

    #[test]
    fn transitions_become_intervals() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.begin("a", State::Connecting, t("00:00:00")).unwrap();
        l.begin("b", State::Connecting, t("00:00:00")).unwrap();
        l.record(&[
            (
                "a".into(),
                tr(t("00:00:05"), State::Connecting, State::Online, None),
            ),
            (
                "b".into(),
                tr(
                    t("00:00:10"),
                    State::Connecting,
                    State::Offline,
                    Some(Reason::Auth),
                ),
            ),
            (
                "a".into(),
                tr(
                    t("06:00:00"),
                    State::Online,
                    State::Offline,
                    Some(Reason::Refused),
                ),
            ),
        ])
        .unwrap();
        l.heartbeat(t("08:00:00")).unwrap();
        let (from, to) = day();
        let got = l.intervals(from, to).unwrap();
        assert_eq!(
            got,
            [
                iv("a", State::Connecting, None, "00:00:00", "00:00:05"),
                iv("a", State::Online, None, "00:00:05", "06:00:00"),
                iv(
                    "a",
                    State::Offline,
                    Some(Reason::Refused),
                    "06:00:00",
                    "08:00:00"
                ),
                iv("b", State::Connecting, None, "00:00:00", "00:00:10"),
                iv(
                    "b",
                    State::Offline,
                    Some(Reason::Auth),
                    "00:00:10",
                    "08:00:00"
                ),
            ]
        );
        let detail: Option<String> = l
            .conn
            .query_row(
                "SELECT detail FROM intervals WHERE camera_id='b' AND end_ms IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(detail.as_deref(), Some("detail auth"));
        // A window ending before the heartbeat clips the open interval to the window.
        let got = l.intervals(t("07:00:00"), t("07:30:00")).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|i| i.end == t("07:30:00")));
        // A window before everything is empty, and so is an inverted one.
        assert!(
            l.intervals(parse_time("2024-04-30T00:00:00Z"), from)
                .unwrap()
                .is_empty()
        );
        assert!(l.intervals(to, from).unwrap().is_empty());
    }

    #[test]
    fn odd_transitions_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.begin("a", State::Connecting, t("01:00:00")).unwrap();
        // Dated before the open interval: clamped, the connecting interval is replaced.
        l.record(&[(
            "a".into(),
            tr(t("00:59:00"), State::Connecting, State::Online, None),
        )])
        .unwrap();
        // Into the state it is already in: ignored.
        l.record(&[(
            "a".into(),
            tr(t("02:00:00"), State::Connecting, State::Online, None),
        )])
        .unwrap();
        // For a camera never begun: opens one.
        l.record(&[(
            "z".into(),
            tr(
                t("03:00:00"),
                State::Online,
                State::Offline,
                Some(Reason::Stalled),
            ),
        )])
        .unwrap();
        l.heartbeat(t("04:00:00")).unwrap();
        // The heartbeat never moves back.
        l.heartbeat(t("03:30:00")).unwrap();
        assert_eq!(l.last_heartbeat().unwrap(), Some(t("04:00:00")));
        let (from, to) = day();
        assert_eq!(
            l.intervals(from, to).unwrap(),
            [
                iv("a", State::Online, None, "01:00:00", "04:00:00"),
                iv(
                    "z",
                    State::Offline,
                    Some(Reason::Stalled),
                    "03:00:00",
                    "04:00:00"
                ),
            ]
        );
    }

    #[test]
    fn crash_recovery_closes_open_intervals_at_the_last_heartbeat() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut l = Ledger::open(dir.path()).unwrap();
            l.begin("a", State::Connecting, t("00:00:00")).unwrap();
            l.record(&[(
                "a".into(),
                tr(t("00:00:01"), State::Connecting, State::Online, None),
            )])
            .unwrap();
            l.heartbeat(t("10:00:00")).unwrap();
            // Crash: dropped without close_all.
        }
        let mut l = Ledger::open(dir.path()).unwrap();
        assert_eq!(
            l.recovery(),
            Recovery {
                closed: 1,
                quality_closed: 0,
                at: Some(t("10:00:00"))
            }
        );
        l.begin("a", State::Connecting, t("12:00:00")).unwrap();
        l.record(&[(
            "a".into(),
            tr(t("12:00:02"), State::Connecting, State::Online, None),
        )])
        .unwrap();
        l.close_all(t("13:00:00")).unwrap();
        drop(l);
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.recovery().closed, 0, "graceful close leaves nothing open");
        let (from, to) = day();
        assert_eq!(
            l.intervals(from, to).unwrap(),
            [
                iv("a", State::Connecting, None, "00:00:00", "00:00:01"),
                iv("a", State::Online, None, "00:00:01", "10:00:00"),
                iv("a", State::Connecting, None, "12:00:00", "12:00:02"),
                iv("a", State::Online, None, "12:00:02", "13:00:00"),
            ]
        );
    }

    #[test]
    fn recovery_without_heartbeat_drops_the_empty_interval() {
        let dir = tempfile::tempdir().unwrap();
        {
            let l = Ledger::open(dir.path()).unwrap();
            // Simulate an open interval written without any heartbeat.
            l.conn
                .execute(
                    "INSERT INTO intervals(camera_id, state, start_ms) VALUES ('a', 'online', 1000)",
                    [],
                )
                .unwrap();
        }
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(
            l.recovery(),
            Recovery {
                closed: 1,
                quality_closed: 0,
                at: None
            }
        );
        let n: i64 = l
            .conn
            .query_row("SELECT COUNT(*) FROM intervals", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn purge_deletes_closed_intervals_past_retention_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.begin("a", State::Online, t("00:00:00")).unwrap();
        l.stop("a", t("02:00:00")).unwrap();
        l.begin("a", State::Online, t("03:00:00")).unwrap();
        l.quality("a", t("00:00:00"), true, &[]).unwrap();
        l.quality("a", t("01:00:00"), false, &["blur".to_string()])
            .unwrap();
        l.heartbeat(t("06:00:00")).unwrap();
        l.apply(&[Op::Purge {
            status_before: t("02:30:00"),
            quality_before: t("01:30:00"),
        }])
        .unwrap();
        let (from, to) = day();
        // The closed 00-02 interval is gone; the open one (03-) stays.
        assert_eq!(
            l.intervals(from, to).unwrap(),
            [iv("a", State::Online, None, "03:00:00", "06:00:00")]
        );
        let q = l.quality_intervals(from, to).unwrap();
        assert_eq!(q.len(), 1, "{q:?}");
        assert!(!q[0].ok);
    }

    #[test]
    fn stop_closes_one_camera() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.begin("a", State::Online, t("00:00:00")).unwrap();
        l.begin("b", State::Online, t("00:00:00")).unwrap();
        l.stop("a", t("05:00:00")).unwrap();
        l.stop("nobody", t("05:00:00")).unwrap();
        l.heartbeat(t("06:00:00")).unwrap();
        let (from, to) = day();
        assert_eq!(
            l.intervals(from, to).unwrap(),
            [
                iv("a", State::Online, None, "00:00:00", "05:00:00"),
                iv("b", State::Online, None, "00:00:00", "06:00:00"),
            ]
        );
        // One camera's intervals only.
        assert_eq!(
            l.intervals_of(Some("b"), from, to).unwrap(),
            [iv("b", State::Online, None, "00:00:00", "06:00:00")]
        );
        assert!(l.intervals_of(Some("nobody"), from, to).unwrap().is_empty());
        // Begin again while open closes the open one.
        l.begin("b", State::Connecting, t("07:00:00")).unwrap();
        l.heartbeat(t("07:30:00")).unwrap();
        let got = l.intervals(from, to).unwrap();
        assert_eq!(got[1], iv("b", State::Online, None, "00:00:00", "07:00:00"));
        assert_eq!(
            got[2],
            iv("b", State::Connecting, None, "07:00:00", "07:30:00")
        );
    }

    #[test]
    fn cameras_keep_the_latest_name_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.upsert_cameras(&[row("b", "r1"), row("a", "r1")]).unwrap();
        let mut moved = row("b", "r2");
        moved.name = "renamed".into();
        l.upsert_cameras(&[moved.clone()]).unwrap();
        assert_eq!(l.cameras().unwrap(), [row("a", "r1"), moved]);
    }

    #[test]
    fn read_only_reader_sees_a_live_writer_without_recovering() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Ledger::open(dir.path()).unwrap();
        w.begin("a", State::Online, t("00:00:00")).unwrap();
        w.heartbeat(t("01:00:00")).unwrap();
        let r = Ledger::open_read_only(dir.path()).unwrap();
        let (from, to) = day();
        assert_eq!(r.intervals(from, to).unwrap()[0].end, t("01:00:00"));
        w.heartbeat(t("02:00:00")).unwrap();
        assert_eq!(r.intervals(from, to).unwrap()[0].end, t("02:00:00"));
        assert!(r.last_heartbeat().unwrap().is_some());
    }

    #[test]
    fn writer_thread_batches_and_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let w = LedgerWriter::with_capacity(Ledger::open(dir.path()).unwrap(), 4).unwrap();
        let s = w.sender().clone();
        s.upsert_cameras(vec![row("a", "r")]);
        s.begin("a", State::Connecting, t("00:00:00"));
        for i in 0..50 {
            let at = t("00:00:00") + chrono::Duration::seconds(2 * i + 1);
            s.record("a", tr(at, State::Connecting, State::Online, None));
            s.record(
                "a",
                tr(
                    at + chrono::Duration::seconds(1),
                    State::Online,
                    State::Offline,
                    Some(Reason::Stalled),
                ),
            );
        }
        // A heartbeat finding the queue full is dropped (the next one will do): flush first.
        assert!(s.flush());
        s.heartbeat(t("01:00:00"));
        assert!(s.flush());
        let r = Ledger::open_read_only(dir.path()).unwrap();
        let (from, to) = day();
        let got = r.intervals(from, to).unwrap();
        assert_eq!(got.len(), 101);
        assert_eq!(got.last().unwrap().end, t("01:00:00"));
        w.shutdown(t("02:00:00"));
        // The writer is gone: sending logs an error and does not panic or block.
        s.heartbeat(t("03:00:00"));
        s.record("a", tr(t("03:00:00"), State::Offline, State::Online, None));
        assert!(!s.flush());
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.recovery().closed, 0);
        assert_eq!(l.last_heartbeat().unwrap(), Some(t("02:00:00")));
    }

    #[test]
    fn dropping_the_writer_commits_what_was_queued() {
        let dir = tempfile::tempdir().unwrap();
        {
            let w = LedgerWriter::spawn(Ledger::open(dir.path()).unwrap()).unwrap();
            w.begin("a", State::Online, t("00:00:00"));
            w.heartbeat(t("05:00:00"));
        }
        let l = Ledger::open(dir.path()).unwrap();
        // Not closed gracefully: recovery closes at the last heartbeat.
        assert_eq!(l.recovery().closed, 1);
        let (from, to) = day();
        assert_eq!(
            l.intervals(from, to).unwrap(),
            [iv("a", State::Online, None, "00:00:00", "05:00:00")]
        );
    }

    #[test]
    fn a_bad_op_in_a_batch_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        // Make every write for camera "bad" fail.
        l.conn
            .execute_batch(
                "CREATE TRIGGER no_bad BEFORE INSERT ON intervals WHEN NEW.camera_id = 'bad'
                 BEGIN SELECT RAISE(ABORT, 'bad camera'); END;",
            )
            .unwrap();
        let mut batch = vec![
            Op::Begin {
                camera_id: "a".into(),
                state: State::Online,
                at: t("00:00:00"),
            },
            Op::Begin {
                camera_id: "bad".into(),
                state: State::Online,
                at: t("00:00:00"),
            },
            Op::Heartbeat(t("01:00:00")),
        ];
        assert!(l.apply(&batch).is_err());
        assert!(
            l.intervals(day().0, day().1).unwrap().is_empty(),
            "all or nothing"
        );
        commit(&mut l, &mut batch);
        assert!(batch.is_empty());
        let got = l.intervals(day().0, day().1).unwrap();
        assert_eq!(got, [iv("a", State::Online, None, "00:00:00", "01:00:00")]);
    }

    // -----------------------------------------------------------------------------------------
    // Picture-quality intervals.

    fn faults(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn qv(cam: &str, ok: bool, names: &[&str], start: &str, end: &str) -> QualityInterval {
        QualityInterval {
            camera_id: cam.into(),
            ok,
            faults: faults(names),
            start: t(start),
            end: t(end),
        }
    }

    #[test]
    fn quality_changes_become_intervals() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.begin("a", State::Online, t("00:00:00")).unwrap();
        l.quality("a", t("00:00:05"), true, &[]).unwrap();
        // The same verdict again: ignored.
        l.quality("a", t("00:30:00"), true, &[]).unwrap();
        l.quality("a", t("01:00:00"), false, &faults(&["too_dark"]))
            .unwrap();
        // The same set of faults in another spelling: ignored.
        l.quality(
            "a",
            t("01:30:00"),
            false,
            &faults(&[" too_dark", "too_dark", ""]),
        )
        .unwrap();
        // Another set: listed in Fault::ALL order, unknown names after.
        l.quality(
            "a",
            t("02:00:00"),
            false,
            &faults(&["zebra", "frozen", "too_dark", "odd,name"]),
        )
        .unwrap();
        l.quality("a", t("03:00:00"), true, &[]).unwrap();
        // A camera whose first verdict is faulty, without a status interval.
        l.quality("b", t("04:00:00"), false, &faults(&["blur"]))
            .unwrap();
        assert_eq!(l.last_heartbeat().unwrap(), Some(t("04:00:00")));
        l.heartbeat(t("05:00:00")).unwrap();
        let (from, to) = day();
        let want = [
            qv("a", true, &[], "00:00:05", "01:00:00"),
            qv("a", false, &["too_dark"], "01:00:00", "02:00:00"),
            qv(
                "a",
                false,
                &["too_dark", "frozen", "odd_name", "zebra"],
                "02:00:00",
                "03:00:00",
            ),
            qv("a", true, &[], "03:00:00", "05:00:00"),
            qv("b", false, &["blur"], "04:00:00", "05:00:00"),
        ];
        assert_eq!(l.quality_intervals(from, to).unwrap(), want);
        let stored: String = l
            .conn
            .query_row(
                "SELECT faults FROM quality_intervals WHERE start_ms = ?1",
                [ms(t("02:00:00"))],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, "too_dark,frozen,odd_name,zebra");
        // Clipped to a window; open intervals end at the window's end.
        assert_eq!(
            l.quality_intervals(t("01:30:00"), t("04:30:00")).unwrap(),
            [
                qv("a", false, &["too_dark"], "01:30:00", "02:00:00"),
                want[2].clone(),
                qv("a", true, &[], "03:00:00", "04:30:00"),
                qv("b", false, &["blur"], "04:00:00", "04:30:00"),
            ]
        );
        assert!(l.quality_intervals(to, from).unwrap().is_empty());
        // Status intervals are untouched by verdicts.
        assert_eq!(
            l.intervals(from, to).unwrap(),
            [iv("a", State::Online, None, "00:00:00", "05:00:00")]
        );

        // They survive a graceful close and a reopen.
        l.close_all(t("06:00:00")).unwrap();
        drop(l);
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.recovery(), Recovery::default());
        let got = l.quality_intervals(from, to).unwrap();
        assert_eq!(got[..3], want[..3]);
        assert_eq!(got[3], qv("a", true, &[], "03:00:00", "06:00:00"));
        assert_eq!(got[4], qv("b", false, &["blur"], "04:00:00", "06:00:00"));
        let r = Ledger::open_read_only(dir.path()).unwrap();
        assert_eq!(r.quality_intervals(from, to).unwrap(), got);
    }

    #[test]
    fn odd_quality_changes_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.quality("a", t("01:00:00"), true, &[]).unwrap();
        // Dated before the open interval: clamped, the open one is replaced.
        l.quality("a", t("00:59:00"), false, &faults(&["frozen"]))
            .unwrap();
        // Faulty without a name is kept as faulty.
        l.quality("a", t("02:00:00"), false, &[]).unwrap();
        l.heartbeat(t("03:00:00")).unwrap();
        assert_eq!(
            l.quality_intervals(day().0, day().1).unwrap(),
            [
                qv("a", false, &["frozen"], "01:00:00", "02:00:00"),
                qv("a", false, &[], "02:00:00", "03:00:00"),
            ]
        );
    }

    #[test]
    fn stop_closes_the_quality_interval_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.begin("a", State::Online, t("00:00:00")).unwrap();
        l.begin("b", State::Online, t("00:00:00")).unwrap();
        l.quality("a", t("00:00:01"), false, &faults(&["blur"]))
            .unwrap();
        l.quality("b", t("00:00:01"), false, &faults(&["blur"]))
            .unwrap();
        l.stop("a", t("02:00:00")).unwrap();
        l.heartbeat(t("03:00:00")).unwrap();
        assert_eq!(
            l.quality_intervals(day().0, day().1).unwrap(),
            [
                qv("a", false, &["blur"], "00:00:01", "02:00:00"),
                qv("b", false, &["blur"], "00:00:01", "03:00:00"),
            ]
        );
        let open: i64 = l
            .conn
            .query_row(
                "SELECT COUNT(*) FROM quality_intervals WHERE end_ms IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(open, 1, "only b is still open");
    }

    #[test]
    fn crash_recovery_closes_quality_intervals_at_the_last_heartbeat() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut l = Ledger::open(dir.path()).unwrap();
            l.begin("a", State::Online, t("00:00:00")).unwrap();
            l.quality("a", t("01:00:00"), false, &faults(&["too_dark"]))
                .unwrap();
            l.quality("b", t("02:00:00"), true, &[]).unwrap();
            l.heartbeat(t("10:00:00")).unwrap();
            // Crash: dropped without close_all.
        }
        let mut l = Ledger::open(dir.path()).unwrap();
        assert_eq!(
            l.recovery(),
            Recovery {
                closed: 1,
                quality_closed: 2,
                at: Some(t("10:00:00"))
            }
        );
        let (from, to) = day();
        // Monitoring again later: a new verdict opens a new interval after the gap.
        l.begin("a", State::Online, t("12:00:00")).unwrap();
        l.quality("a", t("12:00:05"), false, &faults(&["too_dark"]))
            .unwrap();
        l.heartbeat(t("13:00:00")).unwrap();
        assert_eq!(
            l.quality_intervals(from, to).unwrap(),
            [
                qv("a", false, &["too_dark"], "01:00:00", "10:00:00"),
                qv("a", false, &["too_dark"], "12:00:05", "13:00:00"),
                qv("b", true, &[], "02:00:00", "10:00:00"),
            ]
        );
        // A verdict left open without any heartbeat is dropped, not stretched.
        drop(l);
        let dir2 = tempfile::tempdir().unwrap();
        {
            let l = Ledger::open(dir2.path()).unwrap();
            l.conn
                .execute(
                    "INSERT INTO quality_intervals(camera_id, ok, faults, start_ms)
                     VALUES ('a', 0, 'blur', 1000)",
                    [],
                )
                .unwrap();
        }
        let l = Ledger::open(dir2.path()).unwrap();
        assert_eq!(
            l.recovery(),
            Recovery {
                closed: 0,
                quality_closed: 1,
                at: None
            }
        );
        let n: i64 = l
            .conn
            .query_row("SELECT COUNT(*) FROM quality_intervals", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    /// Writes a version-1 ledger as the previous build did: its schema, its version, one
    /// camera online from 00:00 with a heartbeat at 01:00, left open (a crash).
    fn write_v1(dir: &Path) {
        let conn = Connection::open(db_path(dir)).unwrap();
        conn.execute_batch(sqlite::META_TABLE).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        meta_set(&conn, KEY_VERSION, 1).unwrap();
        meta_set(&conn, KEY_HEARTBEAT, ms(t("01:00:00"))).unwrap();
        conn.execute(
            "INSERT INTO intervals(camera_id, state, start_ms) VALUES ('a', 'online', ?1)",
            [ms(t("00:00:00"))],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO cameras(id, name, region, unit, class) VALUES ('a', 'A', 'r', 'u', '1')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_version_1_ledger_is_read_as_is_and_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        write_v1(dir.path());
        let (from, to) = day();

        // Read-only: no migration, no quality intervals, status intervals as before.
        let r = Ledger::open_read_only(dir.path()).unwrap();
        assert_eq!(r.schema_version().unwrap(), 1);
        assert!(r.quality_intervals(from, to).unwrap().is_empty());
        assert_eq!(
            r.intervals(from, to).unwrap(),
            [iv("a", State::Online, None, "00:00:00", "01:00:00")]
        );
        // No maintainer column before version 3: read as unassigned.
        assert_eq!(r.cameras().unwrap()[0].groups.maintainer, "unassigned");
        drop(r);

        // Open for writing: migrated to 3, then recovered as usual.
        let mut l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 3);
        assert_eq!(l.cameras().unwrap()[0].groups.maintainer, "unassigned");
        let mut moved = l.cameras().unwrap()[0].clone();
        moved.groups.maintainer = "运维甲".into();
        l.upsert_cameras(&[moved]).unwrap();
        assert_eq!(l.cameras().unwrap()[0].groups.maintainer, "运维甲");
        assert_eq!(
            l.recovery(),
            Recovery {
                closed: 1,
                quality_closed: 0,
                at: Some(t("01:00:00"))
            }
        );
        assert_eq!(
            l.intervals(from, to).unwrap(),
            [iv("a", State::Online, None, "00:00:00", "01:00:00")]
        );
        assert!(l.quality_intervals(from, to).unwrap().is_empty());
        l.begin("a", State::Online, t("02:00:00")).unwrap();
        l.quality("a", t("02:00:00"), false, &faults(&["stripes"]))
            .unwrap();
        l.close_all(t("03:00:00")).unwrap();
        drop(l);

        // Opening again migrates nothing more and keeps everything.
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.recovery(), Recovery::default());
        assert_eq!(
            l.quality_intervals(from, to).unwrap(),
            [qv("a", false, &["stripes"], "02:00:00", "03:00:00")]
        );
        assert_eq!(l.intervals(from, to).unwrap().len(), 2);
        let r = Ledger::open_read_only(dir.path()).unwrap();
        assert_eq!(r.schema_version().unwrap(), 3);
        assert_eq!(r.quality_intervals(from, to).unwrap().len(), 1);
        assert_eq!(r.cameras().unwrap()[0].groups.maintainer, "运维甲");
    }

    #[test]
    fn writer_thread_queues_quality() {
        let dir = tempfile::tempdir().unwrap();
        let w = LedgerWriter::spawn(Ledger::open(dir.path()).unwrap()).unwrap();
        let s = w.sender().clone();
        s.begin("a", State::Online, t("00:00:00"));
        s.quality("a", t("00:00:02"), true, vec![]);
        s.quality("a", t("01:00:00"), false, faults(&["occlusion"]));
        s.quality(String::from("a"), t("02:00:00"), true, Vec::new());
        s.heartbeat(t("02:30:00"));
        assert!(s.flush());
        let r = Ledger::open_read_only(dir.path()).unwrap();
        assert_eq!(
            r.quality_intervals(day().0, day().1).unwrap(),
            [
                qv("a", true, &[], "00:00:02", "01:00:00"),
                qv("a", false, &["occlusion"], "01:00:00", "02:00:00"),
                qv("a", true, &[], "02:00:00", "02:30:00"),
            ]
        );
        w.shutdown(t("03:00:00"));
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(
            l.recovery(),
            Recovery::default(),
            "shutdown closes verdicts"
        );
        assert_eq!(
            l.quality_intervals(day().0, day().1).unwrap()[2].end,
            t("03:00:00")
        );
    }
}
