//! Maintenance windows (报备): planned work declared for cameras or a group, so that the
//! outage it causes does not count against the office in the assessed rates.
//!
//! ## Storage and audit
//!
//! `<data-dir>/maintenance.db` (SQLite, WAL, `synchronous=FULL`: a declaration is a record
//! someone will be asked about), two tables:
//!
//! - `maintenance_windows`: one row per window, its scope (camera ids, or one group value of a
//!   dimension), `[start, end)`, reason, who declared it and when, and whether it was declared
//!   late. A window is never removed: deletion sets `deleted_at`/`deleted_by` and the window
//!   stops excusing.
//! - `maintenance_audit`: append-only (triggers refuse `UPDATE` and `DELETE`): one row per
//!   declaration, edit and deletion with the actor, the time and the window before and after
//!   as JSON. The past is never silently rewritten: an edit shows what it changed.
//!
//! ## Late declarations
//!
//! A declaration is *late* when it covers time more than `late_grace` (default 15 min) before
//! the moment it is made: a window declared after the fact. Each window keeps
//! `on_time_from`, the first instant it excuses when late windows do not count: for a new
//! window `max(start, declared_at − grace)`; an edit that reaches further into the past
//! (an earlier start, an end moved out of an already-ended window, another scope for time
//! already passed) marks the window late and moves `on_time_from` to `max(start, edit − grace)`;
//! any other edit keeps it. Whether late windows excuse in full is the reader's policy
//! (`[maintenance] count_late`, `report --count-late`; default: no, only the on-time part).
//!
//! Several processes may write the file at once (the daemon's API and `sharpeyes windows`);
//! SQLite serialises them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::config::inventory::{GroupBy, Groups};
use crate::sqlite::{self, Durability};

/// The database file's name under the data directory.
pub const DB_FILE: &str = "maintenance.db";

/// How long after its start a window may still be declared on time.
pub const DEFAULT_LATE_GRACE: Duration = Duration::from_secs(15 * 60);

/// The longest window one declaration may cover (a quarter): longer planned work is declared
/// again, so that someone looks at it.
pub const MAX_WINDOW: Duration = Duration::from_secs(92 * 86_400);

/// Reasons longer than this are refused.
pub const MAX_REASON_CHARS: usize = 500;

/// Camera ids one window may name.
pub const MAX_CAMERAS: usize = 10_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS maintenance_windows (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    scope           TEXT    NOT NULL,
    start_ms        INTEGER NOT NULL,
    end_ms          INTEGER NOT NULL,
    reason          TEXT    NOT NULL,
    declared_by     TEXT    NOT NULL,
    declared_at_ms  INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    late            INTEGER NOT NULL,
    on_time_from_ms INTEGER NOT NULL,
    deleted_at_ms   INTEGER,
    deleted_by      TEXT
);
CREATE INDEX IF NOT EXISTS maintenance_windows_end ON maintenance_windows (end_ms);
CREATE TABLE IF NOT EXISTS maintenance_audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    window_id INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    before    TEXT,
    after     TEXT
);
CREATE TRIGGER IF NOT EXISTS maintenance_audit_no_update BEFORE UPDATE ON maintenance_audit
BEGIN SELECT RAISE(ABORT, 'the maintenance audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS maintenance_audit_no_delete BEFORE DELETE ON maintenance_audit
BEGIN SELECT RAISE(ABORT, 'the maintenance audit trail is append-only'); END;
";

/// The path of the database under `data_dir`.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// One group value of one dimension, e.g. `region = 城关镇`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRef {
    /// The dimension.
    pub by: GroupBy,
    /// The value.
    pub value: String,
}

/// What a declaration says: which cameras (ids, or a group), when, why. The body of
/// `POST /api/maintenance` and `PUT /api/maintenance/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Camera ids (exactly one of `cameras` and `group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cameras: Option<Vec<String>>,
    /// A group (exactly one of `cameras` and `group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    /// First instant of the work (RFC 3339, any offset).
    pub start: Time,
    /// First instant after the work.
    pub end: Time,
    /// Why (road works, power cut, pole replaced…).
    pub reason: String,
}

impl WindowSpec {
    /// Checks the declaration; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.cameras, &self.group) {
            (Some(_), Some(_)) | (None, None) => {
                return Err("name either cameras (a list of ids) or a group, not both".into());
            }
            (Some(c), None) if c.is_empty() => return Err("cameras is empty".into()),
            (Some(c), None) if c.len() > MAX_CAMERAS => {
                return Err(format!("more than {MAX_CAMERAS} cameras in one window"));
            }
            (Some(c), None) if c.iter().any(|id| id.trim().is_empty()) => {
                return Err("an empty camera id".into());
            }
            (None, Some(g)) if g.value.trim().is_empty() => {
                return Err("the group value is empty".into());
            }
            _ => {}
        }
        if self.end <= self.start {
            return Err("end must be after start".into());
        }
        if (self.end - self.start).to_std().unwrap_or(Duration::MAX) > MAX_WINDOW {
            return Err(format!(
                "a window may cover at most {} days; declare longer work again",
                MAX_WINDOW.as_secs() / 86_400
            ));
        }
        let reason = self.reason.trim();
        if reason.is_empty() {
            return Err("a reason is required (报备事由)".into());
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(format!("reason longer than {MAX_REASON_CHARS} characters"));
        }
        Ok(())
    }

    /// Whether the window names this camera (by id, or by its group value).
    pub fn covers(&self, camera_id: &str, groups: Option<&Groups>) -> bool {
        if let Some(ids) = &self.cameras {
            return ids.iter().any(|c| c == camera_id);
        }
        match (&self.group, groups) {
            (Some(g), Some(groups)) => groups.get(g.by) == g.value,
            _ => false,
        }
    }
}

/// A stored window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// Its id.
    pub id: i64,
    /// What was declared (the latest edit).
    #[serde(flatten)]
    pub spec: WindowSpec,
    /// Who declared it.
    pub declared_by: String,
    /// When it was first declared.
    pub declared_at: Time,
    /// When it was last changed (declared, edited or deleted).
    pub updated_at: Time,
    /// Declared (or extended) after the fact: see the module docs.
    pub late: bool,
    /// The first instant the window excuses when late windows do not count.
    pub on_time_from: Time,
    /// When it was deleted (it then excuses nothing).
    pub deleted_at: Option<Time>,
    /// Who deleted it.
    pub deleted_by: Option<String>,
}

impl Window {
    /// The span this window excuses: `None` when deleted or when nothing of it is on time
    /// and late windows do not count.
    pub fn excused_span(&self, count_late: bool) -> Option<(Time, Time)> {
        if self.deleted_at.is_some() {
            return None;
        }
        let start = if count_late {
            self.spec.start
        } else {
            self.on_time_from.max(self.spec.start)
        };
        (start < self.spec.end).then_some((start, self.spec.end))
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Its id (in order of writing).
    pub id: i64,
    /// The window.
    pub window_id: i64,
    /// When.
    pub at: Time,
    /// Who.
    pub actor: String,
    /// `declare`, `edit` or `delete`.
    pub action: String,
    /// The window before (none for `declare`).
    pub before: Option<serde_json::Value>,
    /// The window after.
    pub after: Option<serde_json::Value>,
}

/// Why a change was refused.
#[derive(Debug)]
pub enum WindowError {
    /// The declaration is invalid (the message says why).
    Invalid(String),
    /// No window with this id.
    NotFound(i64),
    /// The window was deleted; deleted windows are kept as they were.
    Deleted(i64),
    /// The database failed.
    Storage(anyhow::Error),
}

impl std::fmt::Display for WindowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(m) => write!(f, "{m}"),
            Self::NotFound(id) => write!(f, "no maintenance window {id}"),
            Self::Deleted(id) => write!(f, "maintenance window {id} was deleted"),
            Self::Storage(e) => write!(f, "maintenance store: {e:#}"),
        }
    }
}

impl std::error::Error for WindowError {}

impl From<rusqlite::Error> for WindowError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.into())
    }
}

impl From<serde_json::Error> for WindowError {
    fn from(e: serde_json::Error) -> Self {
        Self::Storage(e.into())
    }
}

/// The maintenance-window database.
pub struct WindowStore {
    conn: Connection,
    late_grace: chrono::Duration,
}

impl std::fmt::Debug for WindowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowStore")
            .field("late_grace", &self.late_grace)
            .finish_non_exhaustive()
    }
}

impl WindowStore {
    /// Opens (creating it when needed) the store in `data_dir` for reading and writing;
    /// `late_grace` decides which new declarations and edits are late.
    pub fn open(data_dir: &Path, late_grace: Duration) -> anyhow::Result<Self> {
        let (conn, path) =
            sqlite::open_for_writing(data_dir, DB_FILE, "maintenance store", Durability::Full)?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("cannot initialise {}", path.display()))?;
        Ok(Self {
            conn,
            late_grace: chrono::Duration::from_std(late_grace)
                .context("late_grace out of range")?,
        })
    }

    /// Opens the store read-only; `None` when no window was ever declared (no file).
    pub fn open_read_only(data_dir: &Path) -> anyhow::Result<Option<Self>> {
        Ok(
            sqlite::open_read_only(&db_path(data_dir), "maintenance store")?.map(|conn| Self {
                conn,
                late_grace: chrono::Duration::zero(),
            }),
        )
    }

    /// Declares a window at `now` by `actor`.
    pub fn declare(
        &mut self,
        spec: WindowSpec,
        actor: &str,
        now: Time,
    ) -> Result<Window, WindowError> {
        spec.validate().map_err(WindowError::Invalid)?;
        let cutoff = now - self.late_grace;
        let window = Window {
            id: 0,
            declared_by: actor.to_string(),
            declared_at: now,
            updated_at: now,
            late: spec.start < cutoff,
            on_time_from: spec.start.max(cutoff),
            deleted_at: None,
            deleted_by: None,
            spec,
        };
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO maintenance_windows (scope, start_ms, end_ms, reason, declared_by,
                 declared_at_ms, updated_at_ms, late, on_time_from_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
            params![
                scope_json(&window.spec)?,
                window.spec.start.timestamp_millis(),
                window.spec.end.timestamp_millis(),
                window.spec.reason.trim(),
                actor,
                now.timestamp_millis(),
                window.late,
                window.on_time_from.timestamp_millis(),
            ],
        )?;
        let id = tx.last_insert_rowid();
        let window = Window {
            id,
            spec: WindowSpec {
                reason: window.spec.reason.trim().to_string(),
                ..window.spec
            },
            ..window
        };
        audit(&tx, id, now, actor, "declare", None, Some(&window))?;
        tx.commit()?;
        Ok(window)
    }

    /// Replaces a window's declaration (scope, times, reason) at `now` by `actor`; the audit
    /// keeps the old one.
    pub fn edit(
        &mut self,
        id: i64,
        spec: WindowSpec,
        actor: &str,
        now: Time,
    ) -> Result<Window, WindowError> {
        spec.validate().map_err(WindowError::Invalid)?;
        let tx = self.conn.transaction()?;
        let before = get(&tx, id)?.ok_or(WindowError::NotFound(id))?;
        if before.deleted_at.is_some() {
            return Err(WindowError::Deleted(id));
        }
        let cutoff = now - self.late_grace;
        let old = &before.spec;
        let reaches_back = (spec.start < old.start && spec.start < cutoff)
            || (spec.end > old.end && old.end < cutoff)
            || ((spec.cameras != old.cameras || spec.group != old.group) && spec.start < cutoff);
        let (late, on_time_from) = if reaches_back {
            (true, spec.start.max(cutoff))
        } else {
            (before.late, spec.start.max(before.on_time_from))
        };
        let after = Window {
            spec: WindowSpec {
                reason: spec.reason.trim().to_string(),
                ..spec
            },
            updated_at: now,
            late,
            on_time_from,
            ..before.clone()
        };
        tx.execute(
            "UPDATE maintenance_windows SET scope = ?2, start_ms = ?3, end_ms = ?4, reason = ?5,
                 updated_at_ms = ?6, late = ?7, on_time_from_ms = ?8 WHERE id = ?1",
            params![
                id,
                scope_json(&after.spec)?,
                after.spec.start.timestamp_millis(),
                after.spec.end.timestamp_millis(),
                after.spec.reason,
                now.timestamp_millis(),
                after.late,
                after.on_time_from.timestamp_millis(),
            ],
        )?;
        audit(&tx, id, now, actor, "edit", Some(&before), Some(&after))?;
        tx.commit()?;
        Ok(after)
    }

    /// Deletes a window (it stops excusing; the row and its audit stay).
    pub fn delete(&mut self, id: i64, actor: &str, now: Time) -> Result<Window, WindowError> {
        let tx = self.conn.transaction()?;
        let before = get(&tx, id)?.ok_or(WindowError::NotFound(id))?;
        if before.deleted_at.is_some() {
            return Err(WindowError::Deleted(id));
        }
        let after = Window {
            updated_at: now,
            deleted_at: Some(now),
            deleted_by: Some(actor.to_string()),
            ..before.clone()
        };
        tx.execute(
            "UPDATE maintenance_windows SET updated_at_ms = ?2, deleted_at_ms = ?2, deleted_by = ?3
             WHERE id = ?1",
            params![id, now.timestamp_millis(), actor],
        )?;
        audit(&tx, id, now, actor, "delete", Some(&before), Some(&after))?;
        tx.commit()?;
        Ok(after)
    }

    /// One window, deleted or not.
    pub fn get(&self, id: i64) -> Result<Option<Window>, WindowError> {
        get(&self.conn, id)
    }

    /// Windows overlapping `[from, to)` (either bound open), oldest start first; deleted ones
    /// only when `include_deleted`.
    pub fn list(
        &self,
        from: Option<Time>,
        to: Option<Time>,
        include_deleted: bool,
    ) -> Result<Vec<Window>, WindowError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM maintenance_windows
             WHERE end_ms > ?1 AND start_ms < ?2 AND (?3 OR deleted_at_ms IS NULL)
             ORDER BY start_ms, id"
        ))?;
        let rows = stmt.query_map(
            params![
                from.map_or(i64::MIN, |t| t.timestamp_millis()),
                to.map_or(i64::MAX, |t| t.timestamp_millis()),
                include_deleted
            ],
            row_to_window,
        )?;
        rows.map(|r| r?.map_err(WindowError::Storage)).collect()
    }

    /// The audit trail, oldest first: of one window, or of all.
    pub fn audit(&self, window_id: Option<i64>) -> Result<Vec<AuditEntry>, WindowError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, window_id, at_ms, actor, action, before, after FROM maintenance_audit
             WHERE ?1 IS NULL OR window_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![window_id], |r| {
            let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
            Ok(AuditEntry {
                id: r.get(0)?,
                window_id: r.get(1)?,
                at: from_ms(r.get(2)?),
                actor: r.get(3)?,
                action: r.get(4)?,
                before: json(r.get(5)?),
                after: json(r.get(6)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The excused spans of each camera in `cameras` (id → current groups) under `windows`:
/// what [`availability::per_camera_assessed`](crate::health::availability::per_camera_assessed)
/// takes. Cameras no window covers are absent.
pub fn excused_by_camera(
    windows: &[Window],
    cameras: &HashMap<String, Groups>,
    count_late: bool,
) -> HashMap<String, Vec<(Time, Time)>> {
    let mut out: HashMap<String, Vec<(Time, Time)>> = HashMap::new();
    for w in windows {
        let Some(span) = w.excused_span(count_late) else {
            continue;
        };
        match &w.spec.cameras {
            // Ids name cameras even when the ledger has not seen them yet.
            Some(ids) => {
                for id in ids {
                    out.entry(id.clone()).or_default().push(span);
                }
            }
            None => {
                for (id, groups) in cameras {
                    if w.spec.covers(id, Some(groups)) {
                        out.entry(id.clone()).or_default().push(span);
                    }
                }
            }
        }
    }
    out
}

const COLUMNS: &str = "id, scope, start_ms, end_ms, reason, declared_by, declared_at_ms, \
                       updated_at_ms, late, on_time_from_ms, deleted_at_ms, deleted_by";

/// The scope part of a spec, as stored.
#[derive(Serialize, Deserialize)]
struct Scope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cameras: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<GroupRef>,
}

fn scope_json(spec: &WindowSpec) -> Result<String, WindowError> {
    Ok(serde_json::to_string(&Scope {
        cameras: spec.cameras.clone(),
        group: spec.group.clone(),
    })?)
}

fn from_ms(ms: i64) -> Time {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn row_to_window(r: &rusqlite::Row<'_>) -> rusqlite::Result<anyhow::Result<Window>> {
    let scope: String = r.get(1)?;
    let scope: Scope = match serde_json::from_str(&scope) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Err(anyhow::anyhow!(
                "window {}: bad scope: {e}",
                r.get::<_, i64>(0)?
            )));
        }
    };
    Ok(Ok(Window {
        id: r.get(0)?,
        spec: WindowSpec {
            cameras: scope.cameras,
            group: scope.group,
            start: from_ms(r.get(2)?),
            end: from_ms(r.get(3)?),
            reason: r.get(4)?,
        },
        declared_by: r.get(5)?,
        declared_at: from_ms(r.get(6)?),
        updated_at: from_ms(r.get(7)?),
        late: r.get(8)?,
        on_time_from: from_ms(r.get(9)?),
        deleted_at: r.get::<_, Option<i64>>(10)?.map(from_ms),
        deleted_by: r.get(11)?,
    }))
}

fn get(conn: &Connection, id: i64) -> Result<Option<Window>, WindowError> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM maintenance_windows WHERE id = ?1"),
            params![id],
            row_to_window,
        )
        .optional()?;
    row.transpose().map_err(WindowError::Storage)
}

fn audit(
    conn: &Connection,
    window_id: i64,
    at: Time,
    actor: &str,
    action: &str,
    before: Option<&Window>,
    after: Option<&Window>,
) -> Result<(), WindowError> {
    let json = |w: Option<&Window>| w.map(serde_json::to_string).transpose();
    conn.execute(
        "INSERT INTO maintenance_audit (window_id, at_ms, actor, action, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            window_id,
            at.timestamp_millis(),
            actor,
            action,
            json(before)?,
            json(after)?
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_time;

    fn t(s: &str) -> Time {
        parse_time(&format!("2026-11-10T{s}+08:00"))
    }

    fn spec(cameras: &[&str], start: Time, end: Time) -> WindowSpec {
        WindowSpec {
            cameras: Some(cameras.iter().map(|c| c.to_string()).collect()),
            group: None,
            start,
            end,
            reason: " 道路施工停电 ".into(),
        }
    }

    fn store() -> (tempfile::TempDir, WindowStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = WindowStore::open(dir.path(), DEFAULT_LATE_GRACE).unwrap();
        (dir, s)
    }

    /// Declares a window for one camera over `span` (local times of the test day).
    fn declare(
        s: &mut WindowStore,
        camera: &str,
        span: (&str, &str),
        by: &str,
        at: &str,
    ) -> Window {
        s.declare(spec(&[camera], t(span.0), t(span.1)), by, t(at))
            .unwrap()
    }

    /// Edits window `id` to cover camera c1 over `span`.
    fn edit(s: &mut WindowStore, id: i64, span: (&str, &str), by: &str, at: &str) -> Window {
        s.edit(id, spec(&["c1"], t(span.0), t(span.1)), by, t(at))
            .unwrap()
    }

    #[test]
    fn declare_in_advance_is_on_time_and_excuses_in_full() {
        let (_d, mut s) = store();
        let w = declare(&mut s, "c1", ("09:00:00", "12:00:00"), "张三", "08:00:00");
        assert!(!w.late);
        assert_eq!(w.spec.reason, "道路施工停电");
        assert_eq!(w.excused_span(false), Some((t("09:00:00"), t("12:00:00"))));
        assert_eq!(s.get(w.id).unwrap().unwrap(), w);
        let audit = s.audit(Some(w.id)).unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(
            (audit[0].action.as_str(), audit[0].actor.as_str()),
            ("declare", "张三")
        );
        assert!(audit[0].before.is_none());
    }

    #[test]
    fn a_window_declared_after_the_fact_is_late_and_excuses_only_from_declaration() {
        let (_d, mut s) = store();
        // Declared at 10:00 for work since 08:00: late; within the 15 min grace is on time.
        let w = declare(&mut s, "c1", ("08:00:00", "12:00:00"), "李四", "10:00:00");
        assert!(w.late);
        assert_eq!(w.excused_span(false), Some((t("09:45:00"), t("12:00:00"))));
        assert_eq!(w.excused_span(true), Some((t("08:00:00"), t("12:00:00"))));
        let ok = declare(&mut s, "c2", ("09:50:00", "12:00:00"), "李四", "10:00:00");
        assert!(!ok.late);
        // Entirely in the past: nothing on time.
        let past = declare(&mut s, "c3", ("06:00:00", "07:00:00"), "李四", "10:00:00");
        assert!(past.late);
        assert_eq!(past.excused_span(false), None);
    }

    #[test]
    fn edits_that_reach_back_are_late_and_audited_with_before_and_after() {
        let (_d, mut s) = store();
        let w = declare(&mut s, "c1", ("09:00:00", "10:00:00"), "a", "08:00:00");
        // Extending the end while the window runs is on time.
        let e1 = edit(&mut s, w.id, ("09:00:00", "11:00:00"), "b", "09:30:00");
        assert!(!e1.late);
        assert_eq!(e1.on_time_from, t("09:00:00"));
        // Moving the start back to 07:00 at 12:00: late, on time only from 11:45.
        let e2 = edit(&mut s, w.id, ("07:00:00", "13:00:00"), "c", "12:00:00");
        assert!(e2.late);
        assert_eq!(e2.excused_span(false), Some((t("11:45:00"), t("13:00:00"))));
        assert_eq!(e2.declared_by, "a");
        let audit = s.audit(Some(w.id)).unwrap();
        let actions: Vec<_> = audit.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["declare", "edit", "edit"]);
        assert_eq!(
            audit[2].before.as_ref().unwrap()["end"],
            "2026-11-10T03:00:00Z"
        );
        assert_eq!(
            audit[2].after.as_ref().unwrap()["start"],
            "2026-11-09T23:00:00Z"
        );
    }

    #[test]
    fn delete_is_soft_audited_and_final() {
        let (_d, mut s) = store();
        let w = declare(&mut s, "c1", ("09:00:00", "10:00:00"), "a", "08:00:00");
        let d = s.delete(w.id, "b", t("08:30:00")).unwrap();
        assert_eq!(d.deleted_by.as_deref(), Some("b"));
        assert_eq!(d.excused_span(true), None);
        assert!(s.list(None, None, false).unwrap().is_empty());
        assert_eq!(s.list(None, None, true).unwrap().len(), 1);
        assert!(matches!(
            s.delete(w.id, "b", t("08:31:00")),
            Err(WindowError::Deleted(_))
        ));
        assert!(matches!(
            s.edit(
                w.id,
                spec(&["c1"], t("09:00:00"), t("10:00:00")),
                "b",
                t("08:31:00")
            ),
            Err(WindowError::Deleted(_))
        ));
        assert!(matches!(
            s.delete(99, "b", t("08:31:00")),
            Err(WindowError::NotFound(99))
        ));
        // The trail cannot be rewritten, even with SQL.
        let err = s
            .conn
            .execute("DELETE FROM maintenance_audit", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        assert_eq!(s.audit(None).unwrap().len(), 2);
    }

    #[test]
    fn invalid_declarations_are_refused_with_a_reason() {
        let (_d, mut s) = store();
        let now = t("08:00:00");
        let mut bad = spec(&["c1"], t("10:00:00"), t("09:00:00"));
        let msg = |s: &mut WindowStore, w: WindowSpec| match s.declare(w, "a", now) {
            Err(WindowError::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(msg(&mut s, bad.clone()).contains("after start"));
        bad.end = t("11:00:00");
        bad.reason = "  ".into();
        assert!(msg(&mut s, bad.clone()).contains("reason"));
        bad.reason = "x".into();
        bad.group = Some(GroupRef {
            by: GroupBy::Region,
            value: "城关镇".into(),
        });
        assert!(msg(&mut s, bad.clone()).contains("not both"));
        bad.cameras = None;
        bad.end = bad.start + chrono::Duration::days(100);
        assert!(msg(&mut s, bad).contains("at most 92 days"));
        assert!(s.list(None, None, true).unwrap().is_empty());
    }

    #[test]
    fn group_windows_excuse_the_group_members_and_ids_name_cameras() {
        let (_d, mut s) = store();
        let g = |region: &str| Groups {
            region: region.into(),
            unit: "u".into(),
            class: "1".into(),
            maintainer: "m".into(),
        };
        let cams: HashMap<String, Groups> = [
            ("a".to_string(), g("城关镇")),
            ("b".to_string(), g("城关镇")),
            ("c".to_string(), g("河西乡")),
        ]
        .into();
        let mut by_group = spec(&[], t("09:00:00"), t("10:00:00"));
        by_group.cameras = None;
        by_group.group = Some(GroupRef {
            by: GroupBy::Region,
            value: "城关镇".into(),
        });
        s.declare(by_group, "a", t("08:00:00")).unwrap();
        s.declare(
            spec(&["c", "z"], t("11:00:00"), t("12:00:00")),
            "a",
            t("08:00:00"),
        )
        .unwrap();
        let windows = s
            .list(Some(t("00:00:00")), Some(t("23:00:00")), false)
            .unwrap();
        let ex = excused_by_camera(&windows, &cams, false);
        assert_eq!(ex["a"], [(t("09:00:00"), t("10:00:00"))]);
        assert_eq!(ex["b"], [(t("09:00:00"), t("10:00:00"))]);
        assert_eq!(ex["c"], [(t("11:00:00"), t("12:00:00"))]);
        assert!(ex.contains_key("z"));
        // The list is bounded by time.
        assert_eq!(s.list(Some(t("10:30:00")), None, false).unwrap().len(), 1);
        // Read-only access sees the same windows; no file means no windows.
        let ro = WindowStore::open_read_only(_d.path()).unwrap().unwrap();
        assert_eq!(ro.list(None, None, false).unwrap().len(), 2);
        let empty = tempfile::tempdir().unwrap();
        assert!(WindowStore::open_read_only(empty.path()).unwrap().is_none());
    }
}
