//! The outbox's queries of the alert records operators review (list, one, acknowledge,
//! counts, retention); the table itself and its rows are `alerts::store`.

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use crate::alerts::outbox::Outbox;
use crate::alerts::store::{AlertQuery, AlertRecord, COLUMNS, ms, record, snapshot_path};
use crate::clock::Time;

impl Outbox {
    /// Alert records matching `q`, newest first.
    pub fn alerts(&self, q: &AlertQuery) -> anyhow::Result<Vec<AlertRecord>> {
        let mut sql = format!("SELECT {COLUMNS} FROM alerts WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(c) = &q.camera {
            sql.push_str(" AND camera_id = ?");
            args.push(c.clone().into());
        }
        if let Some(k) = &q.kind {
            sql.push_str(" AND kind = ?");
            args.push(k.clone().into());
        }
        match q.open {
            Some(true) => sql.push_str(" AND phase != 'end'"),
            Some(false) => sql.push_str(" AND phase = 'end'"),
            None => {}
        }
        match q.acked {
            Some(true) => sql.push_str(" AND acked_ms IS NOT NULL"),
            Some(false) => sql.push_str(" AND acked_ms IS NULL"),
            None => {}
        }
        if let Some(t) = q.since {
            sql.push_str(" AND started_ms >= ?");
            args.push(ms(t).into());
        }
        if let Some(t) = q.until {
            sql.push_str(" AND started_ms < ?");
            args.push(ms(t).into());
        }
        sql.push_str(" ORDER BY started_ms DESC, alert_id LIMIT ?");
        args.push((q.limit.unwrap_or(500).min(100_000) as i64).into());
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), record)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One alert record.
    pub fn alert(&self, id: &str) -> anyhow::Result<Option<AlertRecord>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM alerts WHERE alert_id = ?1"),
                params![id],
                record,
            )
            .optional()?)
    }

    /// Records that `user` acknowledged alert `id` at `at`; the first acknowledgement stands
    /// (acknowledging again changes nothing). `None` if there is no such alert.
    pub fn acknowledge(
        &self,
        id: &str,
        user: &str,
        note: Option<&str>,
        at: Time,
    ) -> anyhow::Result<Option<AlertRecord>> {
        let n = self.conn().execute(
            "UPDATE alerts SET acked_ms = ?2, acked_by = ?3, ack_note = ?4
             WHERE alert_id = ?1 AND acked_ms IS NULL",
            params![id, ms(at), user, note],
        )?;
        if n > 0 {
            tracing::info!(alert = id, user, "alert acknowledged");
        }
        self.alert(id)
    }

    /// Open alerts and alerts in total, by kind, for metrics.
    pub fn alert_counts(&self) -> anyhow::Result<Vec<(String, u64, u64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT kind, SUM(phase != 'end'), SUM(acked_ms IS NULL AND phase != 'end')
             FROM alerts GROUP BY kind ORDER BY kind",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Deletes alerts that ended before `cutoff` (and their snapshots in `snapshots`), and
    /// delivered messages enqueued before it. Open alerts are kept whatever their age.
    /// Returns (alerts, messages) deleted.
    pub fn purge_alerts_before(
        &self,
        cutoff: Time,
        snapshots: Option<&Path>,
    ) -> anyhow::Result<(usize, usize)> {
        let ids: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(
                "SELECT alert_id FROM alerts WHERE ended_ms IS NOT NULL AND ended_ms < ?1",
            )?;
            stmt.query_map(params![ms(cutoff)], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        if !ids.is_empty() {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            for id in &ids {
                tx.execute("DELETE FROM alerts WHERE alert_id = ?1", params![id])?;
            }
            tx.commit()?;
        }
        if let Some(dir) = snapshots {
            for id in &ids {
                let p = snapshot_path(dir, id);
                if let Err(e) = std::fs::remove_file(&p)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!("cannot delete {}: {e}", p.display());
                }
            }
        }
        let messages = self.purge_before(cutoff)?;
        if !ids.is_empty() {
            tracing::info!(
                alerts = ids.len(),
                messages,
                "alert retention: old ended alerts purged"
            );
        }
        Ok((ids.len(), messages))
    }
}
