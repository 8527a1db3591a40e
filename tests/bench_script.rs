//! `scripts/bench-hold.sh` (the command behind `make bench`) runs as a user runs it, briefly: 3
//! held sessions with sharpeyes hold-only, sharpeyes defaults and ffmpeg `-c copy`, one round,
//! 3-second windows, then a short patrol, against the binary under test. Figures on a 3-camera
//! fleet mean nothing; this checks that the benchmark works end to end: every tool really
//! received every stream during its window, no window was voided, the JSON holds each row.
//! Each runs from a working directory outside the repository, as a user's shell may be.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// The benchmarks measure the machine: one at a time, never beside each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn the_hold_benchmark_runs_and_every_tool_receives() {
    let _serial = one_at_a_time();
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
    .current_dir(dir.path())
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

/// `scripts/bench_vision.py` (behind `make bench-vision`), all three parts, briefly: 3 cameras
/// sampled against GStreamer decode-all clients, the detector's timing through `sharpeyes
/// detect` and in the daemon, the capacity estimate and a 4-camera direct check. Every
/// run's cameras come online and are sampled, and the direct check passes.
#[test]
fn the_vision_benchmark_runs_every_part() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("vision.json");
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/bench_vision.py"
        ))
        .args(["--bin", bin(), "--cameras", "3", "--max-peer", "3"])
        .args(["--window", "4", "--settle", "2", "--clip-loops", "1"])
        .args([
            "--detect-frames",
            "5",
            "--detect-warmup",
            "1",
            "--detect-threads",
            "1",
        ])
        .args([
            "--detect-cameras",
            "2",
            "--direct",
            "4",
            "--direct-queues",
            "default",
        ])
        .args(["--direct-window", "8", "--direct-detect", ""])
        .args(["--min-free-gib", "1", "--timeout", "400", "--json"])
        .arg(&json)
        .current_dir(dir.path())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench_vision.py: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = v["runs"].as_object().unwrap();
    for (name, cameras) in [
        ("hold_s5", 3),
        ("hold_s5_detect", 3),
        ("daemon_detect_t1", 2),
    ] {
        let r = &runs[name];
        assert_eq!(r["online"], cameras, "{name}: {r}");
        assert!(r["processed_per_s"].as_f64().unwrap() > 0.0, "{name}: {r}");
    }
    assert_eq!(runs["detect_cli_t1"]["frames"], 5);
    assert_eq!(runs["direct_4_qdefault_w1"]["online"], 4);
    assert!(stdout.contains("PASS: no sample dropped"), "{stdout}");
    assert!(v["derived"]["cpu_ms_per_sample"].as_f64().unwrap() > 0.0);
}

/// `scripts/soak_vision.py` (behind `make soak`), half a minute: 3 cameras sampled every 2 s and
/// detected on; the summary's figures come from a daemon that sampled, diagnosed and detected
/// without dropping or reconnecting.
#[test]
fn the_memory_soak_runs_and_reports() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("soak");
    let status = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/soak_vision.py"
        ))
        .args(["--bin", bin(), "--cameras", "3", "--minutes", "0.5"])
        .args(["--warmup", "5", "--every", "10", "--poll", "1"])
        .args(["--sample-interval", "2", "--grace", "120", "--out"])
        .arg(&out)
        .current_dir(dir.path())
        .status()
        .expect("python3");
    assert!(status.success(), "soak_vision.py: {status}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let s = &v["summary"];
    println!("{s:#}");
    assert_eq!(s["online_end"], 3, "{s}");
    assert!(s["processed"].as_f64().unwrap() >= 5.0, "{s}");
    assert_eq!(s["dropped"].as_f64().unwrap(), 0.0, "{s}");
    assert!(s["detected_frames"].as_f64().unwrap() >= 3.0, "{s}");
    assert!(s["rss_start_kib"].as_f64().unwrap() > 0.0, "{s}");
    assert!(v["rows"].as_array().unwrap().len() >= 3, "{v}");
}
