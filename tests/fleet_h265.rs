//! H.265 cameras end to end: the daemon holds a real H.265 RTSP stream (`sharpeyes sim --h265`),
//! measures its GOP, samples and decodes its keyframes (diagnosis and snapshot), and reports its
//! faults like any H.264 camera's.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn camera(d: &Daemon, id: &str) -> Value {
    get_json(&format!("{}/api/cameras/{id}", d.base))
}

/// Waits until camera `id` shows what `test` wants; returns its JSON.
fn wait_camera(d: &Daemon, id: &str, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(Duration::from_secs(30), &format!("{id}: {what}"), || {
            last = camera(d, id);
            test(&last).then(|| last.clone())
        })
    }));
    found.unwrap_or_else(|_| panic!("{id}: no {what}; last seen {last}"))
}

fn faults(c: &Value) -> Option<Vec<&str>> {
    c.get("quality")?.get("faults")?.as_array().map(|f| {
        f.iter()
            .map(|v| v.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
    })
}

#[test]
fn h265_cameras_are_held_sampled_and_diagnosed() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(
        dir.path(),
        "x",
        3,
        free_port(),
        &[
            "--h265",
            "x0002",
            "--h265",
            "x0003",
            "--fault",
            "x0003=black",
        ],
    );
    let listed = get_json(&format!("{}/cameras", sim.control));
    assert_eq!(listed[1]["codec"], "h265", "{listed}");
    let d = Daemon::start_fast_auth(
        dir.path(),
        &sim.inventory,
        &[
            "--sample-interval",
            "1",
            "--stall-timeout",
            "2",
            "--recovery-hold",
            "1",
        ],
    );
    let t = Duration::from_secs(30);
    for id in ["x0001", "x0002", "x0003"] {
        d.wait_state(id, "online", None, t);
    }

    // The H.265 camera: its codec, the clip's GOP measured on the wire, and a sampled keyframe
    // decoded and diagnosed without faults.
    let c = wait_camera(&d, "x0002", "gop and a clean verdict", |c| {
        c["counters"]["gop_frames"] == 20 && faults(c).is_some_and(|f| f.is_empty())
    });
    assert_eq!(c["codec"], "h265", "{c}");
    assert_eq!(c["counters"]["gop_frames"], 20, "{c}");
    let interval = c["counters"]["keyframe_interval_seconds"].as_f64().unwrap();
    assert!((1.5..2.5).contains(&interval), "an IDR every 2 s: {c}");
    assert_eq!(c["intact"], true, "{c}");
    assert_eq!(camera(&d, "x0001")["codec"], "h264");

    // A black H.265 picture is decoded and found too dark.
    let black = wait_camera(&d, "x0003", "too_dark", |c| {
        faults(c).is_some_and(|f| f == ["too_dark"])
    });
    assert_eq!(black["codec"], "h265");

    // The snapshot of the H.265 camera is a JPEG of the picture.
    let jpeg = d.snapshot("x0002");
    assert!(jpeg.ends_with(&[0xff, 0xd9]), "{} bytes", jpeg.len());

    // Held like any camera: a stall and an auth fault are reported, and it comes back.
    assert_eq!(sim.fault("x0002", "stall"), 200);
    d.wait_state("x0002", "offline", Some("stalled"), Duration::from_secs(6));
    assert_eq!(sim.fault("x0002", "auth"), 200);
    d.wait_state("x0002", "offline", Some("auth"), t);
    assert_eq!(sim.fault("x0002", "none"), 200);
    d.wait_state("x0002", "online", None, Duration::from_secs(60));
    assert_eq!(camera(&d, "x0002")["codec"], "h265");
}
