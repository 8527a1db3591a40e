//! A damaged history does not stop monitoring, and two daemons cannot share one.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn damaged_databases_are_moved_aside_and_a_second_daemon_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "sh", 2, free_port(), &[]);
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A ledger and an outbox overwritten by garbage (a bad disk, a half-restored backup).
    std::fs::write(data.join("sharpeyes.db"), vec![0xA5u8; 64 * 1024]).unwrap();
    std::fs::write(
        data.join("alerts.db"),
        b"SQLite format 3\0 and then nonsense",
    )
    .unwrap();
    // The maintenance windows and the repair tickets heal the same way.
    std::fs::write(data.join("maintenance.db"), vec![0x5Au8; 8 * 1024]).unwrap();
    std::fs::write(data.join("tickets.db"), b"SQLite format 3\0 torn").unwrap();
    let rules = write_file(dir.path(), "rules.toml", LOST_AFTER_30S);
    let d = Daemon::start(
        dir.path(),
        &sim.inventory,
        &["--rules", rules.to_str().unwrap()],
    );
    d.wait_state("sh0001", "online", None, Duration::from_secs(30));
    let m = d.metrics();
    for file in ["sharpeyes.db", "alerts.db", "maintenance.db", "tickets.db"] {
        assert!(
            m.contains(&format!(
                "sharpeyes_storage_damaged_total{{file=\"{file}\"}} 1"
            )),
            "{file} counted"
        );
        let moved = std::fs::read_dir(&data)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{file}.damaged-"))
            });
        assert!(moved, "{file} kept aside for recovery");
    }
    // The fresh history records: the day's report has the cameras.
    let report = report_json(&data, &[]);
    assert_eq!(report["cameras"].as_array().unwrap().len(), 2, "{report}");

    // A second daemon on the same data dir stops at once with a clear message.
    let second = Command::new(bin())
        .args(["run", "--inventory"])
        .arg(&sim.inventory)
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another sharpeyes"), "{err}");
    assert!(
        err.contains(&d.proc.child.id().to_string()),
        "names the holder: {err}"
    );
}
