//! History survives a crash and a restart: the daemon's intervals in SQLite feed
//! `sharpeyes report`, and the time the daemon was down counts as unmonitored, not online.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn daily_report_from_a_crashed_and_restarted_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(
        dir.path(),
        "h",
        3,
        free_port(),
        &["--fault", "h0003=not_found", "--fault", "h0002=black"],
    );
    let flags = [
        "--stall-timeout",
        "2",
        "--recovery-hold",
        "1",
        "--sample-interval",
        "1",
    ];

    let d = Daemon::start(dir.path(), &sim.inventory, &flags);
    d.wait_state("h0001", "online", None, Duration::from_secs(20));
    d.wait_state(
        "h0003",
        "offline",
        Some("not_found"),
        Duration::from_secs(20),
    );
    wait_for(Duration::from_secs(20), "h0002 diagnosed black", || {
        let c = get_json(&format!("{}/api/cameras/h0002", d.base));
        (c["quality"]["faults"][0] == "too_dark").then_some(())
    });
    std::thread::sleep(Duration::from_secs(6)); // past one heartbeat
    d.proc.signal(libc::SIGKILL); // a crash: no clean close
    drop(d);
    std::thread::sleep(Duration::from_secs(2));

    let d = Daemon::start(dir.path(), &sim.inventory, &flags);
    d.wait_state("h0001", "online", None, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    d.proc.signal(libc::SIGTERM); // graceful: intervals closed
    let mut d = d;
    let status = d.proc.child.wait().unwrap();
    assert!(status.success(), "daemon exit: {status}");

    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string();
    let data = dir.path().join("data");
    let r = report_json(&data, &["--date", &today, "--by", "region"]);
    let cam = |id: &str| report_camera(&r, id);
    let up = cam("h0001");
    let down = cam("h0003");
    println!("h0001: {up}\nh0003: {down}");
    assert!(up["uptime_pct"].as_f64().unwrap() > 95.0, "{up}");
    // ~5 s up to the last heartbeat before the crash, ~3 s after the restart.
    assert!(up["online_s"].as_f64().unwrap() >= 6.0, "{up}");
    // The crash gap (kill -9 .. restart) is not counted as online.
    assert!(up["unmonitored_s"].as_f64().unwrap() >= 1.0, "{up}");
    assert_eq!(down["uptime_pct"].as_f64(), Some(0.0), "{down}");
    // Online all along but black: up, not 完好. Only the seconds before each run's first verdict
    // (a random phase of the 1 s sampling interval, then the next keyframe, every 2 s) count as
    // intact, out of ~8 s online.
    let black = cam("h0002");
    println!("h0002: {black}");
    assert!(black["uptime_pct"].as_f64().unwrap() > 95.0, "{black}");
    assert!(black["intact_pct"].as_f64().unwrap() < 65.0, "{black}");
    assert!(black["picture_fault_s"].as_f64().unwrap() >= 3.0, "{black}");
    assert_eq!(black["main_fault"], "too_dark", "{black}");
    assert!(up["intact_pct"].as_f64().unwrap() > 95.0, "{up}");
    assert_eq!(down["main_reason"], "not_found");
    assert!(down["outage_count"].as_u64().unwrap() >= 1);
    let fleet = r["fleet"]["online_rate_pct"].as_f64().unwrap();
    assert!((55.0..70.0).contains(&fleet), "fleet {fleet} (2 of 3 up)");
    let intact = r["fleet"]["intact_rate_pct"].as_f64().unwrap();
    assert!(
        (25.0..50.0).contains(&intact),
        "fleet 完好率 {intact} (1 of 3 intact)"
    );

    let csv = Command::new(bin())
        .args(["report", "--data-dir"])
        .arg(&data)
        .args(["--date", &today, "--format", "csv"])
        .output()
        .unwrap();
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(text.starts_with("kind,date,by,group,camera_id"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("camera,")).count(), 3);
    assert_eq!(text.lines().filter(|l| l.starts_with("fleet,")).count(), 1);
}
