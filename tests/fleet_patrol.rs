//! Patrol mode against a real RTSP server: rounds of connect → first keyframe → TEARDOWN.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn patrol_rounds_find_online_and_faulty_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(
        dir.path(),
        "p",
        4,
        free_port(),
        &["--fault", "p0004=not_found"],
    );
    let d = Daemon::start(
        dir.path(),
        &sim.inventory,
        &[
            "--mode",
            "patrol",
            "--patrol-interval",
            "2",
            "--recovery-hold",
            "1",
        ],
    );
    let t = Duration::from_secs(20);
    for id in ["p0001", "p0002", "p0003"] {
        d.wait_state(id, "online", None, t);
    }
    d.wait_state("p0004", "offline", Some("not_found"), t);
    // A probe stops at the first keyframe and tears the session down: at most one GOP (20
    // frames at 2 s) per probe, never a held stream.
    std::thread::sleep(Duration::from_secs(5));
    let c = &d.cameras()["p0001"];
    assert!(c["mode"] == "patrol", "{c}");
    let frames = c["counters"]["frames"].as_u64().unwrap();
    let probes = c["counters"]["attempts"].as_u64().unwrap();
    assert!(
        frames <= probes * 21,
        "patrol must not hold the stream: {frames} frames in {probes} probes"
    );
    assert!(c["counters"]["attempts"].as_u64().unwrap() >= 2, "{c}");
    assert!(c["counters"]["keyframes"].as_u64().unwrap() >= 1, "{c}");

    // A fault found on the next round, and the recovery on the one after.
    assert_eq!(sim.fault("p0002", "auth"), 200);
    d.wait_state("p0002", "offline", Some("auth"), Duration::from_secs(6));
    assert_eq!(sim.fault("p0002", "none"), 200);
    d.wait_state("p0002", "online", None, Duration::from_secs(6));
    assert_eq!(sim.fault("p0003", "stall"), 200);
    d.wait_state("p0003", "offline", Some("stalled"), Duration::from_secs(20));

    let m = d.metrics();
    assert!(
        m.lines()
            .any(|l| l.starts_with("sharpeyes_session_setup_seconds_count{mode=\"patrol\"}")),
        "{m}"
    );
}

#[test]
fn udp_transport_holds_sessions_too() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "u", 2, free_port(), &[]);
    let d = Daemon::start(dir.path(), &sim.inventory, &["--transport", "udp"]);
    for id in ["u0001", "u0002"] {
        d.wait_state(id, "online", None, Duration::from_secs(20));
    }
    wait_for(Duration::from_secs(10), "frames over UDP", || {
        let c = &d.cameras()["u0001"];
        (c["counters"]["keyframes"].as_u64()? >= 2 && c["counters"]["gop_frames"] == 20)
            .then_some(())
    });
}
