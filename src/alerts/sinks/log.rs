//! The log sink: every alert message appended as one JSON line (the CloudEvent exactly as
//! stored in the outbox) to a file, `<data_dir>/alerts.jsonl` by default.
//!
//! A file rather than the tracing log: a line there is *delivered* only once it is written and
//! `fsync`ed, so the file is a complete at-least-once record whatever the log filter says,
//! and `tail -F alerts.jsonl | jq` or any log shipper (Filebeat, Vector, Fluent Bit) reads it
//! as plain JSON Lines. A crash between the write and the outbox mark can repeat a line (same
//! CloudEvent `id`). The file is opened in append mode for every batch, so rotating it
//! (`logrotate` with `create` or `copytruncate`) needs no signal.

use std::io::Write;
use std::path::PathBuf;

use crate::alerts::outbox::PendingEvent;
use crate::alerts::sinks::driver::{Attempt, Sink};

/// The outbox sink name of the log sink.
pub const SINK_NAME: &str = "log";

/// The file name used in the data dir unless a path is configured.
pub const DEFAULT_FILE: &str = "alerts.jsonl";

/// Appends messages to a JSON Lines file. See the module docs.
#[derive(Debug, Clone)]
pub struct LogSink {
    path: PathBuf,
}

impl LogSink {
    /// A sink appending to `path` (its directory is created on the first write).
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

fn append(path: &std::path::Path, batch: &[PendingEvent]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = String::new();
    for e in batch {
        // The payload is compact JSON already; a stray newline would break the format.
        text.push_str(&e.payload.replace('\n', " "));
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()
}

impl Sink for LogSink {
    fn name(&self) -> &str {
        SINK_NAME
    }

    async fn deliver(&self, batch: &[PendingEvent]) -> Attempt {
        let path = self.path.clone();
        let owned = batch.to_vec();
        match tokio::task::spawn_blocking(move || append(&path, &owned)).await {
            Ok(Ok(())) => Attempt::all_acked(batch),
            Ok(Err(e)) => Attempt::failed(format!("cannot write {}: {e}", self.path.display())),
            Err(e) => Attempt::failed(format!("write task failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_one_line_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogSink::new(dir.path().join("sub/alerts.jsonl"));
        let ev = |i: i64| PendingEvent {
            seq: i,
            event_id: format!("a-{i}"),
            payload: format!("{{\"id\":\"a-{i}\"}}"),
        };
        let a = sink.deliver(&[ev(0), ev(1)]).await;
        assert_eq!(a.acked, ["a-0", "a-1"]);
        assert!(a.error.is_none());
        sink.deliver(&[ev(2)]).await;
        let text = std::fs::read_to_string(sink.path()).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
            .collect();
        assert_eq!(ids, ["\"a-0\"", "\"a-1\"", "\"a-2\""]);

        // An unwritable path is a failure, not a delivery.
        let bad = LogSink::new(dir.path().join("sub/alerts.jsonl/x"));
        let a = bad.deliver(&[ev(3)]).await;
        assert!(a.acked.is_empty() && a.error.is_some());
    }
}
