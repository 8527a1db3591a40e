//! Sampled keyframes from real RTSP sessions are decoded and diagnosed: a black camera and a
//! frozen one are found, a fault switched at run time shows on the next sample, and the latest
//! picture is served as a JPEG snapshot.

mod common;

use std::time::Duration;

use common::*;

fn faults(d: &Daemon, id: &str) -> Option<Vec<String>> {
    let c = get_json(&format!("{}/api/cameras/{id}", d.base));
    let q = c.get("quality")?.as_object()?;
    Some(
        q["faults"]
            .as_array()?
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect(),
    )
}

fn wait_faults(d: &Daemon, id: &str, want: &[&str]) {
    wait_for(
        Duration::from_secs(30),
        &format!("{id} faults {want:?}"),
        || {
            let f = faults(d, id)?;
            (f == want).then_some(())
        },
    );
}

#[test]
fn sampled_pictures_are_diagnosed_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(
        dir.path(),
        "v",
        4,
        free_port(),
        &["--fault", "v0002=black", "--fault", "v0003=freeze"],
    );
    let d = Daemon::start(
        dir.path(),
        &sim.inventory,
        &["--sample-interval", "1", "--recovery-hold", "1"],
    );
    wait_faults(&d, "v0001", &[]);
    wait_faults(&d, "v0002", &["too_dark"]);
    wait_faults(&d, "v0003", &["frozen"]);
    let c = get_json(&format!("{}/api/cameras/v0002", d.base));
    assert_eq!(c["state"], "online");
    assert_eq!(c["intact"], false, "online but black is not 完好: {c}");
    assert_eq!(
        get_json(&format!("{}/api/cameras/v0001", d.base))["intact"],
        true
    );

    // Switched live: the next sample shows it.
    assert_eq!(sim.fault("v0004", "black"), 200);
    wait_faults(&d, "v0004", &["too_dark"]);
    assert_eq!(sim.fault("v0004", "none"), 200);
    wait_faults(&d, "v0004", &[]);

    // A fault switch restarts the camera's sessions; wait for all to be back.
    let g = wait_for(Duration::from_secs(30), "4 cameras online", || {
        let g = get_json(&format!("{}/api/groups", d.base));
        (g["fleet"]["online"] == 4).then_some(g)
    });
    assert_eq!(g["fleet"]["intact"], 2, "{g}");
    let m = d.metrics();
    assert!(m.contains("sharpeyes_intact_ratio 0.5"), "{m}");
    assert!(m.contains("sharpeyes_quality_fault_cameras{fault=\"frozen\"} 1"));
    assert!(m.contains("sharpeyes_camera_quality_ok{camera=\"v0001\"} 1"));

    d.snapshot("v0001");
    let url = format!("{}/api/cameras/nope/snapshot.jpg", d.base);
    assert_eq!(http_status(&url).unwrap().0, 404);
}

/// A metric's value in the exposition text.
fn metric(d: &Daemon, name: &str) -> f64 {
    let m = d.metrics();
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{m}"))
}

/// JPEGs are made lazily: clean pictures nobody looks at are diagnosed and dropped; asking for
/// a camera's snapshot takes a fresh sample at once and keeps encoding that camera's samples.
#[test]
fn snapshots_are_encoded_only_for_someone_looking() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "j", 2, free_port(), &[]);
    let d = Daemon::start(dir.path(), &sim.inventory, &["--sample-interval", "1"]);
    wait_faults(&d, "j0001", &[]);
    wait_faults(&d, "j0002", &[]);
    wait_for(Duration::from_secs(30), "6 samples diagnosed", || {
        (metric(&d, "sharpeyes_samples_processed_total") >= 6.0).then_some(())
    });
    assert_eq!(
        metric(&d, "sharpeyes_snapshots_encoded_total"),
        0.0,
        "clean pictures nobody asked for"
    );
    let c = get_json(&format!("{}/api/cameras/j0001", d.base));
    assert_eq!(c["snapshot"], true, "a picture can be had: {c}");

    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let asked = std::time::Instant::now();
    let mut r = agent
        .get(&format!("{}/api/cameras/j0001/snapshot.jpg", d.base))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        asked.elapsed() < Duration::from_secs(6),
        "{:?}",
        asked.elapsed()
    );
    assert!(r.headers().contains_key("x-snapshot-taken"));
    let jpeg = r.body_mut().read_to_vec().unwrap();
    assert!(jpeg.starts_with(&[0xff, 0xd8]) && jpeg.len() > 10_000);
    // The camera looked at keeps its samples encoded; the other one does not.
    let encoded = metric(&d, "sharpeyes_snapshots_encoded_total");
    assert!(encoded >= 1.0);
    let processed = metric(&d, "sharpeyes_samples_processed_total");
    std::thread::sleep(Duration::from_secs(5));
    let more_encoded = metric(&d, "sharpeyes_snapshots_encoded_total") - encoded;
    let more_processed = metric(&d, "sharpeyes_samples_processed_total") - processed;
    assert!(
        more_encoded >= 2.0 && more_encoded <= more_processed / 2.0 + 1.0,
        "encoded {more_encoded} of {more_processed} samples (only j0001's)"
    );
    // A stored snapshot under 30 s old is served at once.
    let asked = std::time::Instant::now();
    let r = agent
        .get(&format!("{}/api/cameras/j0001/snapshot.jpg", d.base))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(asked.elapsed() < Duration::from_millis(500));
}
