//! How every store of the daemon opens its SQLite database: the ledger, the alert outbox, the
//! maintenance windows and the repair tickets share one journal mode, one lock timeout and one
//! read-only mode, so a report or a CLI command reading next to a running daemon behaves the
//! same whichever store it reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags};

/// How long a connection waits for a lock held by another process before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The key-value table a store keeps its schema version and markers in (the ledger's
/// heartbeat, the outbox's counters).
pub const META_TABLE: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value
);
";

/// How durable a commit is when it returns (SQLite's `synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk even across a power cut (`FULL`): alerts, declarations, tickets.
    Full,
    /// Survives a crash of the process, not of the machine (`NORMAL`): the ledger, written
    /// every heartbeat and recovered from the last one.
    Normal,
}

/// Opens (creating the data directory and the file when needed) `file` in `data_dir` for
/// writing: WAL journal (warned about where the file system refuses it), [`BUSY_TIMEOUT`],
/// `durability`. `what` names the store in errors and warnings, e.g. `"ledger"`.
pub fn open_for_writing(
    data_dir: &Path,
    file: &str,
    what: &str,
    durability: Durability,
) -> anyhow::Result<(Connection, PathBuf)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let path = data_dir.join(file);
    let conn = Connection::open(&path)
        .with_context(|| format!("cannot open {what} {}", path.display()))?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    let mode = (|| -> rusqlite::Result<String> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        Ok(mode)
    })()
    .with_context(|| format!("cannot initialise {what} {}", path.display()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "{what}: WAL journal mode not available");
    }
    Ok((conn, path))
}

/// Opens an existing database read-only (safe while a daemon writes it), with
/// [`BUSY_TIMEOUT`]; `None` when the file does not exist.
pub fn open_read_only(path: &Path, what: &str) -> anyhow::Result<Option<Connection>> {
    if !path.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {what} {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(Some(conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_opened_for_writing_is_wal_and_read_only_opens_see_it_but_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let (conn, path) = open_for_writing(&data, "t.db", "test store", Durability::Full).unwrap();
        assert_eq!(path, data.join("t.db"));
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let ro = open_read_only(&path, "test store").unwrap().unwrap();
        let x: i64 = ro.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 1);
        assert!(ro.execute("INSERT INTO t VALUES (2)", []).is_err());
        assert!(
            open_read_only(&data.join("absent.db"), "test store")
                .unwrap()
                .is_none()
        );
        let (normal, _) =
            open_for_writing(&data, "n.db", "test store", Durability::Normal).unwrap();
        let sync: i64 = normal
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
    }
}
