//! `scripts/soak_faults.py` (the reliability soak behind `make soak-faults`) runs as a user runs
//! it, briefly: a small fleet, flaps, one broker outage and one kill -9 of the daemon in under a
//! minute, against the binary under test. The script's own verdict (exit 0: no false offline,
//! no alert lost, flaps seen) and its summary's figures are checked.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

#[test]
fn the_fault_soak_runs_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("soak");
    let status = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/soak_faults.py"
        ))
        .args(["--bin", bin(), "--cameras", "8", "--minutes", "0.8"])
        .args([
            "--flap-every",
            "6",
            "--broker-every",
            "20",
            "--broker-down",
            "6",
        ])
        .args(["--kill-every", "30", "--timeout-grace", "200", "--out"])
        .arg(&out)
        .status()
        .expect("python3");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    println!("{summary:#}");
    assert!(status.success(), "soak verdict: {status}");
    assert!(summary["flaps"].as_u64().unwrap() >= 5, "flaps injected");
    assert!(
        summary["broker_outages"].as_u64().unwrap() >= 1,
        "a broker outage"
    );
    assert_eq!(summary["kill9"], 1, "one kill -9");
    assert_eq!(summary["false_offline"], 0);
    assert_eq!(summary["alerts_lost"], 0);
    assert!(
        summary["alert_messages_stored"].as_u64().unwrap() >= 2,
        "alerts were raised"
    );
}
