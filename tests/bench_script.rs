//! `scripts/bench-hold.sh` (the command behind `make bench`) runs as a user runs it, briefly: 3
//! held sessions with sharpeyes hold-only, sharpeyes defaults and ffmpeg `-c copy`, one round,
//! 3-second windows, then a short patrol, against the binary under test. Figures on a 3-camera
//! fleet mean nothing; this checks that the benchmark works end to end: every tool really
//! received every stream during its window, no window was voided, the JSON holds each row.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

#[test]
fn the_hold_benchmark_runs_and_every_tool_receives() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("hold.json");
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/bench-hold.sh"
    ))
    .args(["--bin", bin(), "--sizes", "3", "--tool-rounds", "1"])
    .args(["--seconds", "3", "--baseline-seconds", "3"])
    .args(["--defaults-seconds", "3", "--sampling-at", "none"])
    .args(["--tools", "sharpeyes,defaults,ffmpeg"])
    .args([
        "--settle",
        "1",
        "--patrol-cameras",
        "6",
        "--patrol-concurrency",
        "16",
    ])
    .args(["--patrol-warmup", "6", "--patrol-seconds", "4"])
    .args(["--min-free-gib", "1", "--timeout", "300", "--json"])
    .arg(&json)
    .output()
    .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench-hold.sh: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("HOLD") && stdout.contains("RATIOS"),
        "{stdout}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["voided"].as_array().unwrap().len(), 0, "{}", v["voided"]);
    let hold = v["hold"].as_array().unwrap();
    for tool in ["sharpeyes", "sharpeyes defaults", "ffmpeg"] {
        let row = hold
            .iter()
            .find(|r| r["tool"] == tool)
            .unwrap_or_else(|| panic!("no {tool} row: {hold:?}"));
        assert_eq!(row["streams"], 3, "{row}");
        assert_eq!(row["delivering"], 3, "{tool}: every stream received: {row}");
        assert!(row["rx_kbytes_per_s"].as_f64().unwrap() > 0.0, "{row}");
    }
    assert!(v["baseline"]["rss_kib"].as_f64().unwrap() > 0.0);
    let patrol = v["patrol"].as_array().unwrap();
    assert!(!patrol.is_empty(), "patrol measured");
    assert!(
        patrol
            .iter()
            .all(|p| p["probes_per_s"].as_f64().unwrap_or(0.0) > 0.0 && p["failures"] == 0),
        "{patrol:?}"
    );
}
