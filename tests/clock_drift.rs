//! 时钟偏差 end to end: two simulated cameras whose clocks are skewed with libfaketime (+90 s
//! and −5 s: the simulator's gst-rtsp-server dates its RTCP sender reports by the faked wall
//! clock), held by the real daemon. The drift figure reaches the API and `/metrics`; the camera
//! off by more than `max_clock_offset` (60 s) gets the `clock_drift` fault; the one 5 s off does
//! not. The fault counts against 完好率 only where configured (`[quality] clock_drift_counts`):
//! a second daemon on the same cameras with it set calls the +90 s camera not 完好, and its
//! ledger counts the drift as fault time, while the default daemon's counts none.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, Sim, free_port, merge_inventories, report_json, wait_for};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

fn skewed(dir: &Path, name: &str, offset: &str) -> Sim {
    Sim::start_env(
        dir,
        name,
        1,
        free_port(),
        &[],
        &[
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME", offset),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    )
}

#[test]
fn camera_clock_drift_from_sender_reports() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} missing: scripts/setup.sh installs Debian's libfaketime"
    );
    let dir = tempfile::tempdir().unwrap();
    let ahead = skewed(dir.path(), "ahead", "+90");
    let behind = skewed(dir.path(), "behind", "-5");
    let inv = dir.path().join("all.csv");
    merge_inventories(&inv, &[&ahead.inventory, &behind.inventory]);
    let d = Daemon::start(dir.path(), &inv, &["--sample-interval", "2"]);
    let strict_dir = dir.path().join("strict");
    std::fs::create_dir_all(&strict_dir).unwrap();
    let config = strict_dir.join("sharpeyes.toml");
    std::fs::write(&config, "[quality]\nclock_drift_counts = true\n").unwrap();
    let strict = Daemon::start(
        &strict_dir,
        &inv,
        &[
            "--sample-interval",
            "2",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let offset = |id: &str| d.cameras()[id]["counters"]["clock_offset_seconds"].as_f64();
    let faults = |id: &str| -> Vec<String> {
        d.cameras()[id]["quality"]["faults"]
            .as_array()
            .map(|a| a.iter().map(|f| f.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    // Sender reports come every few seconds; the verdict after the first one carries the fault.
    wait_for(Duration::from_secs(45), "ahead0001 drift and fault", || {
        let o = offset("ahead0001")?;
        (faults("ahead0001").contains(&"clock_drift".to_string())).then_some(o)
    });
    let a = offset("ahead0001").unwrap();
    assert!((a - 90.0).abs() < 1.0, "ahead0001 offset {a}");
    let b = wait_for(Duration::from_secs(30), "behind0001 drift", || {
        offset("behind0001")
    });
    assert!((b + 5.0).abs() < 1.0, "behind0001 offset {b}");
    wait_for(Duration::from_secs(20), "behind0001 diagnosed", || {
        d.cameras()["behind0001"]["quality"]["at"]
            .as_str()
            .map(|_| ())
    });
    assert!(!faults("behind0001").contains(&"clock_drift".to_string()));
    // By default the drift is shown but the usable picture still counts as 完好.
    let cams = d.cameras();
    assert_eq!(cams["ahead0001"]["state"], "online");
    assert_eq!(cams["ahead0001"]["intact"], true, "{}", cams["ahead0001"]);
    let ok_line = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("sharpeyes_camera_quality_ok{camera=\"ahead0001\"}"))
            .map(str::to_string)
    };
    assert_eq!(
        ok_line(&d.metrics()).as_deref(),
        Some("sharpeyes_camera_quality_ok{camera=\"ahead0001\"} 1")
    );
    // Configured to count: not 完好, in the API, the metrics and the ledger's fault time.
    let strict_cam = wait_for(
        Duration::from_secs(45),
        "the strict daemon's verdict",
        || {
            let c = strict.cameras()["ahead0001"].clone();
            let drift = c["quality"]["faults"]
                .as_array()?
                .iter()
                .any(|f| f == "clock_drift");
            drift.then_some(c)
        },
    );
    assert_eq!(strict_cam["intact"], false, "{strict_cam}");
    assert_eq!(
        ok_line(&strict.metrics()).as_deref(),
        Some("sharpeyes_camera_quality_ok{camera=\"ahead0001\"} 0")
    );
    let fault_s = |data: &Path| {
        report_json(data, &[])["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "ahead0001")
            .and_then(|c| c["picture_fault_s"].as_f64())
    };
    let counted = wait_for(
        Duration::from_secs(30),
        "drift counted as fault time",
        || fault_s(&strict_dir.join("data")).filter(|s| *s > 0.0),
    );
    assert_eq!(
        fault_s(&dir.path().join("data")),
        Some(0.0),
        "default counted the drift"
    );
    println!("clock_drift_counts = true: {counted:.1} s of fault time; default: 0");

    let metrics = d.metrics();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("sharpeyes_camera_clock_offset_seconds{camera=\"ahead0001\"}"))
        .unwrap_or_else(|| panic!("no clock offset series:\n{metrics}"));
    let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((v - 90.0).abs() < 3.0, "{line}");
    drop((ahead, behind));
}
