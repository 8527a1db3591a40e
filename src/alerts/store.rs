//! The alert records operators review: one row per alert (not per message) in the outbox
//! database, kept in step with the messages, plus the JPEG each alert was raised on.
//!
//! [`Outbox::enqueue`] upserts the alert's row **in the same transaction** that stores the
//! message, so the API never shows an alert whose message is not durable, nor the reverse. The
//! row holds the latest phase, `seq`, times and count, and the evidence of the message the
//! snapshot was taken with, so the boxes always belong to the stored picture. Acknowledging is
//! local to this instance: it records who and when, and is not sent to the sinks (the consumers'
//! own workflow acknowledges there).
//!
//! Snapshots are files `<data_dir>/snapshots/<alert_id>.jpg`, written (temp file + rename) before
//! the message that references them is enqueued; retention deletes them with their rows.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{Row, params};
use serde::Serialize;
use serde_json::Value;

use crate::alerts::event::{AlertCamera, AlertEvent, Evidence, Phase};
use crate::clock::Time;

/// The alerts table (created with the outbox schema).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    alert_id     TEXT PRIMARY KEY NOT NULL,
    camera_id    TEXT NOT NULL,
    camera       TEXT NOT NULL,
    rule         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    phase        TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    started_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    ended_ms     INTEGER,
    last_count   INTEGER NOT NULL,
    evidence     TEXT NOT NULL,
    has_snapshot INTEGER NOT NULL,
    acked_ms     INTEGER,
    acked_by     TEXT,
    ack_note     TEXT
);
CREATE INDEX IF NOT EXISTS alerts_started ON alerts(started_ms);
CREATE INDEX IF NOT EXISTS alerts_camera ON alerts(camera_id, started_ms);
";

/// One alert as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    /// The stable alert id.
    pub id: String,
    /// The camera and its groups.
    pub camera: AlertCamera,
    /// The rule that raised it.
    pub rule: String,
    /// `crowding`, `uncovered_truck`, `video_loss`, `video_abnormal`.
    pub kind: String,
    /// `info`, `warning`, `critical`.
    pub severity: String,
    /// `open` until its `end` message, then `ended`.
    pub state: &'static str,
    /// Phase of its latest message.
    pub phase: String,
    /// `seq` of its latest message.
    pub seq: u32,
    /// When it started.
    pub started_at: Time,
    /// Its latest message's observation time.
    pub updated_at: Time,
    /// When it ended.
    pub ended_at: Option<Time>,
    /// The figure of its latest message (people in the zone, ...).
    pub last_count: u32,
    /// The evidence of the message the snapshot was taken with (else the first message's).
    pub evidence: Evidence,
    /// `/api/alerts/{id}/snapshot.jpg` when a picture was stored.
    pub snapshot_url: Option<String>,
    /// When an operator acknowledged it.
    pub acked_at: Option<Time>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// The operator's note.
    pub ack_note: Option<String>,
    /// GB/T 28181 alarm method and type.
    pub gb28181: Value,
}

/// Filters of [`Outbox::alerts`]; `None` = any.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Camera id.
    pub camera: Option<String>,
    /// Alert kind.
    pub kind: Option<String>,
    /// `true`: open alerts only; `false`: ended only.
    pub open: Option<bool>,
    /// Acknowledged or not.
    pub acked: Option<bool>,
    /// Started at or after.
    pub since: Option<Time>,
    /// Started before.
    pub until: Option<Time>,
    /// Most rows (newest first); default 500.
    pub limit: Option<usize>,
}

/// Where alert snapshots live under the data dir.
pub fn snapshot_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("snapshots")
}

/// The file of `alert_id`'s snapshot in `dir` (ids are hex: safe as file names).
pub fn snapshot_path(dir: &Path, alert_id: &str) -> PathBuf {
    dir.join(format!("{alert_id}.jpg"))
}

/// Writes a snapshot atomically (temp file, fsync, rename).
pub fn write_snapshot(dir: &Path, alert_id: &str, jpeg: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = snapshot_path(dir, alert_id);
    let tmp = path.with_extension("jpg.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(jpeg)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

pub(crate) fn ms(t: Time) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> Time {
    chrono::DateTime::from_timestamp_millis(v).unwrap_or_default()
}

/// Upserts the row of `event`'s alert inside the enqueue transaction.
pub(crate) fn upsert(tx: &rusqlite::Transaction<'_>, event: &AlertEvent) -> anyhow::Result<()> {
    let camera = serde_json::to_string(&event.camera)?;
    let evidence = serde_json::to_string(&event.evidence)?;
    let has_snapshot = event.snapshot_url.is_some();
    tx.execute(
        "INSERT INTO alerts (alert_id, camera_id, camera, rule, kind, severity, phase, seq,
             started_ms, updated_ms, ended_ms, last_count, evidence, has_snapshot)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (alert_id) DO UPDATE SET
             phase = excluded.phase,
             seq = excluded.seq,
             severity = excluded.severity,
             updated_ms = excluded.updated_ms,
             ended_ms = excluded.ended_ms,
             last_count = excluded.last_count,
             evidence = CASE WHEN alerts.has_snapshot = 0 AND excluded.has_snapshot = 1
                             THEN excluded.evidence ELSE alerts.evidence END,
             has_snapshot = MAX(alerts.has_snapshot, excluded.has_snapshot)
         WHERE excluded.seq >= alerts.seq",
        params![
            event.alert_id,
            event.camera.id,
            camera,
            event.rule,
            event.kind.as_str(),
            event.severity.as_str(),
            event.phase.as_str(),
            event.seq,
            ms(event.started_at),
            ms(event.updated_at),
            event.ended_at.map(ms),
            event.evidence.count,
            evidence,
            has_snapshot,
        ],
    )?;
    Ok(())
}

pub(crate) const COLUMNS: &str =
    "alert_id, camera, rule, kind, severity, phase, seq, started_ms, updated_ms,
    ended_ms, last_count, evidence, has_snapshot, acked_ms, acked_by, ack_note";

pub(crate) fn record(r: &Row<'_>) -> rusqlite::Result<AlertRecord> {
    let id: String = r.get(0)?;
    let camera: String = r.get(1)?;
    let kind: String = r.get(3)?;
    let phase: String = r.get(5)?;
    let evidence: String = r.get(11)?;
    let has_snapshot: bool = r.get(12)?;
    let gb = crate::alerts::event::AlertKind::parse(&kind).map(|k| k.gb28181());
    Ok(AlertRecord {
        camera: serde_json::from_str(&camera).unwrap_or_default(),
        rule: r.get(2)?,
        severity: r.get(4)?,
        state: if phase == Phase::End.as_str() {
            "ended"
        } else {
            "open"
        },
        phase,
        seq: r.get(6)?,
        started_at: from_ms(r.get(7)?),
        updated_at: from_ms(r.get(8)?),
        ended_at: r.get::<_, Option<i64>>(9)?.map(from_ms),
        last_count: r.get(10)?,
        evidence: serde_json::from_str(&evidence).unwrap_or_default(),
        snapshot_url: has_snapshot.then(|| format!("/api/alerts/{id}/snapshot.jpg")),
        acked_at: r.get::<_, Option<i64>>(13)?.map(from_ms),
        acked_by: r.get(14)?,
        ack_note: r.get(15)?,
        gb28181: match gb {
            Some((method, typ)) => serde_json::json!({"alarm_method": method, "alarm_type": typ}),
            None => Value::Null,
        },
        kind,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::event::{AlertKind, EvidenceObject, Severity};
    use crate::alerts::outbox::Outbox;

    fn ev(alert: &str, seq: u32, phase: Phase, count: u32, snapshot: bool) -> AlertEvent {
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        AlertEvent {
            alert_id: alert.into(),
            seq,
            phase,
            kind: AlertKind::Crowding,
            severity: Severity::Warning,
            rule: "crowd".into(),
            camera: AlertCamera {
                id: "cam-1".into(),
                name: "东门".into(),
                region: "r".into(),
                unit: "u".into(),
                class: "1".into(),
                maintainer: "m".into(),
            },
            started_at: t0,
            updated_at: t0 + chrono::Duration::seconds(seq as i64),
            ended_at: (phase == Phase::End).then(|| t0 + chrono::Duration::seconds(seq as i64)),
            evidence: Evidence {
                count,
                frame_width: 100,
                frame_height: 50,
                objects: vec![EvidenceObject {
                    class: "person".into(),
                    score: 0.5,
                    bbox: [seq as f32, 0.0, 10.0, 10.0],
                    uncovered: None,
                }],
            },
            snapshot_url: snapshot.then(|| "http://x/snap".into()),
        }
    }

    #[test]
    fn lifecycle_keeps_the_snapshot_evidence_and_latest_phase() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.enqueue(&ev("a1", 0, Phase::New, 5, true)).unwrap();
        ob.enqueue(&ev("a1", 1, Phase::Update, 7, false)).unwrap();
        let r = ob.alert("a1").unwrap().unwrap();
        assert_eq!(
            (r.state, r.phase.as_str(), r.seq, r.last_count),
            ("open", "update", 1, 7)
        );
        assert_eq!(r.evidence.count, 5, "evidence of the snapshot's message");
        assert_eq!(r.evidence.objects[0].bbox[0], 0.0);
        assert_eq!(
            r.snapshot_url.as_deref(),
            Some("/api/alerts/a1/snapshot.jpg")
        );
        assert_eq!(r.gb28181["alarm_method"], 5);
        ob.enqueue(&ev("a1", 2, Phase::End, 1, false)).unwrap();
        // A stale message (lower seq) does not roll the record back.
        ob.enqueue_payload("a1-x", "a1", "warning", "{}", chrono::Utc::now())
            .unwrap();
        let r = ob.alert("a1").unwrap().unwrap();
        assert_eq!((r.state, r.seq), ("ended", 2));
        assert!(r.ended_at.is_some());
    }

    #[test]
    fn filters_ack_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.enqueue(&ev("a1", 0, Phase::New, 5, false)).unwrap();
        ob.enqueue(&ev("a2", 0, Phase::New, 5, false)).unwrap();
        ob.enqueue(&ev("a2", 1, Phase::End, 0, false)).unwrap();
        let q = |open, acked| AlertQuery {
            open,
            acked,
            ..AlertQuery::default()
        };
        assert_eq!(ob.alerts(&q(None, None)).unwrap().len(), 2);
        assert_eq!(ob.alerts(&q(Some(true), None)).unwrap()[0].id, "a1");
        assert_eq!(ob.alerts(&q(Some(false), None)).unwrap()[0].id, "a2");
        let cam = AlertQuery {
            camera: Some("nope".into()),
            ..AlertQuery::default()
        };
        assert!(ob.alerts(&cam).unwrap().is_empty());
        let now = chrono::Utc::now();
        let r = ob
            .acknowledge("a1", "op", Some("sent a team"), now)
            .unwrap()
            .unwrap();
        assert_eq!(r.acked_by.as_deref(), Some("op"));
        // The first acknowledgement stands.
        let r = ob.acknowledge("a1", "other", None, now).unwrap().unwrap();
        assert_eq!(r.acked_by.as_deref(), Some("op"));
        assert_eq!(r.ack_note.as_deref(), Some("sent a team"));
        assert!(ob.acknowledge("zz", "op", None, now).unwrap().is_none());
        assert_eq!(ob.alerts(&q(None, Some(false))).unwrap()[0].id, "a2");
        // Retention: a2 ended long ago and goes with its snapshot; open a1 stays.
        let snaps = dir.path().join("snapshots");
        write_snapshot(&snaps, "a2", b"jpeg").unwrap();
        let (alerts, _) = ob.purge_alerts_before(now, Some(&snaps)).unwrap();
        assert_eq!(alerts, 1);
        assert!(!snapshot_path(&snaps, "a2").exists());
        assert!(ob.alert("a2").unwrap().is_none());
        assert!(ob.alert("a1").unwrap().is_some());
    }
}
