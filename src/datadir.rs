//! The data directory: one daemon at a time, and databases that heal instead of stopping
//! monitoring.
//!
//! - [`lock`] takes an exclusive `flock` on `<data-dir>/sharpeyes.lock` for the life of the
//!   process: a second daemon on the same directory stops at once, naming the first one's pid,
//!   instead of interleaving writes into the ledger the online rate is assessed on.
//! - [`heal`] runs SQLite's `quick_check` on a database before it is opened. A damaged file
//!   (or one SQLite cannot open at all) is moved aside as `<name>.damaged-<unix time>` (with
//!   its `-wal` and `-shm`), the move is logged and counted
//!   (`sharpeyes_storage_damaged_total{file}`), and the daemon starts with a fresh file:
//!   monitoring goes on, and the damaged history stays on disk for a person to rescue.

use std::fs::File;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::clock::{Clock, SystemClock};

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};

/// The lock file's name under the data directory.
pub const LOCK_FILE: &str = "sharpeyes.lock";

/// Held for the life of the daemon; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Creates `dir` if needed and locks it for this process (see the module docs).
pub fn lock(dir: &Path) -> anyhow::Result<DataDirLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        bail!(
            "data dir {} is in use by another sharpeyes (pid {}): two daemons must not share a \
             history; give each its own --data-dir",
            dir.display(),
            holder.trim()
        );
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(DataDirLock { _file: file })
}

/// Checks the SQLite database at `path` (if it exists) and moves it aside when damaged.
/// Returns where it went.
pub fn heal(path: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !path.exists() {
        return Ok(None);
    }
    let verdict = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE) {
        Ok(conn) => conn
            .query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match verdict {
        Ok(ok) if ok == "ok" => Ok(None),
        Ok(problem) | Err(problem) => {
            let stamp = SystemClock.now().timestamp();
            let moved = sibling(path, &format!(".damaged-{stamp}"));
            std::fs::rename(path, &moved).with_context(|| {
                format!(
                    "{} is damaged ({problem}) and cannot be moved aside",
                    path.display()
                )
            })?;
            for ext in ["-wal", "-shm"] {
                let side = sibling(path, ext);
                if side.exists() {
                    let _ = std::fs::rename(&side, sibling(&moved, ext));
                }
            }
            tracing::error!(
                file = %path.display(),
                moved_to = %moved.display(),
                "damaged database moved aside ({problem}); starting a fresh one, monitoring \
                 continues. The old file is kept for recovery (sqlite3 .recover)."
            );
            Ok(Some(moved))
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        // flock locks belong to the open file description: a second open conflicts, as a
        // second process would.
        let err = lock(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another sharpeyes"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        lock(dir.path()).unwrap();
    }

    #[test]
    fn damaged_databases_are_moved_aside_and_good_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.db");
        Connection::open(&good)
            .unwrap()
            .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        assert_eq!(heal(&good).unwrap(), None);
        assert!(good.exists());

        let bad = dir.path().join("bad.db");
        let mut bytes = std::fs::read(&good).unwrap();
        for b in bytes.iter_mut().skip(100) {
            *b = 0xA5;
        }
        std::fs::write(&bad, bytes).unwrap();
        let moved = heal(&bad).unwrap().expect("moved aside");
        assert!(!bad.exists());
        assert!(moved.to_string_lossy().contains("bad.db.damaged-"));

        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"not a database at all, just text").unwrap();
        assert!(heal(&garbage).unwrap().is_some());
        assert_eq!(heal(&dir.path().join("missing.db")).unwrap(), None);
    }
}
