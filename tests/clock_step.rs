//! An NTP step of the wall clock, +60 s and then -60 s, while media flows: no camera goes
//! offline and the ledger the online rate is assessed on records no outage.
//!
//! The daemon runs under libfaketime with `FAKETIME_DONT_FAKE_MONOTONIC=1`: its wall clock
//! (`CLOCK_REALTIME`) follows an offset file the test rewrites, its monotonic clock is the real
//! one — exactly what an NTP step does to a process. The test checks that the step reached the
//! daemon (its frame timestamps move by the step) so it cannot pass vacuously.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

fn last_frame_skew_s(d: &Daemon, id: &str) -> f64 {
    let c = &d.cameras()[id];
    let at = chrono::DateTime::parse_from_rfc3339(c["counters"]["last_frame_at"].as_str().unwrap())
        .unwrap();
    (at.timestamp_millis() - chrono::Utc::now().timestamp_millis()) as f64 / 1000.0
}

fn state_changes(d: &Daemon) -> String {
    d.metrics()
        .lines()
        .filter(|l| l.starts_with("sharpeyes_state_changes_total{"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn wall_clock_steps_mark_no_camera_offline_and_write_no_outage() {
    if !Path::new(LIBFAKETIME).exists() {
        panic!("{LIBFAKETIME} missing: scripts/setup.sh installs Debian's libfaketime");
    }
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "ck", 4, free_port(), &[]);
    let offset = dir.path().join("faketime");
    std::fs::write(&offset, "+0\n").unwrap();
    let d = Daemon::start_env(
        dir.path(),
        &sim.inventory,
        &[
            "--stall-timeout",
            "3",
            "--recovery-hold",
            "1",
            "--sample-interval",
            "0",
        ],
        &[
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME_TIMESTAMP_FILE", offset.to_str().unwrap()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ("FAKETIME_NO_CACHE", "1"),
        ],
    );
    let ids = ["ck0001", "ck0002", "ck0003", "ck0004"];
    for id in ids {
        d.wait_state(id, "online", None, Duration::from_secs(30));
    }
    let before = state_changes(&d);

    for (step, want) in [("+60", 60.0), ("-60", -60.0), ("+0", 0.0)] {
        std::fs::write(&offset, format!("{step}\n")).unwrap();
        // The step reached the daemon: its frames are dated by the stepped clock.
        wait_for(
            Duration::from_secs(10),
            &format!("the {step} s step"),
            || ((last_frame_skew_s(&d, "ck0001") - want).abs() < 5.0).then_some(()),
        );
        // Longer than the stall timeout with the step in force.
        std::thread::sleep(Duration::from_secs(5));
        for id in ids {
            assert_eq!(d.state(id).0, "online", "{id} after the {step} s step");
        }
        assert_eq!(
            state_changes(&d),
            before,
            "a transition after the {step} s step"
        );
    }

    // The ledger: no outage, no offline time for any camera.
    let report = report_json(&dir.path().join("data"), &[]);
    let cameras = report["cameras"].as_array().expect("cameras in the report");
    assert_eq!(cameras.len(), ids.len(), "{report}");
    for c in cameras {
        assert_eq!(c["outage_count"], 0, "{c}");
        assert_eq!(c["offline_s"].as_f64(), Some(0.0), "{c}");
    }
}
