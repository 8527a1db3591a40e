//! End to end: the simulated fleet's CCTV clip → sampled keyframes from held RTSP sessions →
//! decode → the ONNX detector (real ONNX Runtime) → people on each camera's API.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn people_in_the_clip_show_on_the_cameras_api() {
    assert!(
        std::path::Path::new("vendor/onnxruntime/libonnxruntime.so.1.31.1").exists()
            || std::env::var_os("ORT_DYLIB_PATH").is_some(),
        "ONNX Runtime is missing: run scripts/fetch-onnxruntime.sh (make test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "e", 3, free_port(), &[]);
    let d = Daemon::start(
        dir.path(),
        &sim.inventory,
        &["--sample-interval", "1", "--detect"],
    );
    for id in ["e0001", "e0002", "e0003"] {
        let people = wait_for(Duration::from_secs(60), &format!("people on {id}"), || {
            let c = get_json(&format!("{}/api/cameras/{id}", d.base));
            let n = c["detections"]["counts"]["person"].as_u64()?;
            (n >= 3).then_some(c)
        });
        let det = &people["detections"];
        let (w, h) = (
            det["width"].as_f64().unwrap(),
            det["height"].as_f64().unwrap(),
        );
        assert_eq!((w, h), (768.0, 576.0));
        for o in det["objects"].as_array().unwrap() {
            let b: Vec<f64> = o["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!(
                b[0] >= 0.0 && b[0] < b[2] && b[2] <= w && b[1] >= 0.0 && b[1] < b[3] && b[3] <= h,
                "{o}"
            );
            assert!(o["score"].as_f64().unwrap() >= 0.3, "{o}");
        }
    }
    let m = d.metrics();
    assert!(
        m.contains("sharpeyes_detections_total{class=\"person\"}"),
        "{m}"
    );
}

/// A rule's `min_score` under the model's `[postprocess] score_threshold` (0.3) lowers the
/// detector's floor: the rows it asks for reach the camera (and the rule) instead of being
/// dropped before it.
#[test]
fn a_rule_min_score_under_the_model_floor_sees_those_detections() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "m", 1, free_port(), &[]);
    let rules = "[[rules]]\nname = \"crowd\"\nkind = \"crowding\"\ncameras = [\"m0001\"]\n\
         min_people = 50\nmin_score = 0.15\n";
    let d = Daemon::start_detecting(dir.path(), &sim.inventory, rules, &[]);
    let low = wait_for(
        Duration::from_secs(60),
        "a detection under 0.3 on m0001",
        || {
            let c = get_json(&format!("{}/api/cameras/m0001", d.base));
            c["detections"]["objects"]
                .as_array()?
                .iter()
                .find(|o| o["score"].as_f64().is_some_and(|s| s < 0.3))
                .cloned()
        },
    );
    assert!(low["score"].as_f64().unwrap() >= 0.15, "{low}");
}

/// `[detect] cameras`: with a crowding rule on one camera, only that camera's samples go to the
/// detector (`auto`, the default); `all` sends every sampled camera's. Every camera is still
/// diagnosed.
#[test]
fn only_cameras_with_a_detection_rule_are_detected_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "r", 2, free_port(), &[]);
    let rules = "[[rules]]\nname = \"crowd\"\nkind = \"crowding\"\ncameras = [\"r0001\"]\nmin_people = 50\n\
         [[rules]]\nname = \"lost\"\nkind = \"video_loss\"\ncameras = [\"*\"]\nafter = \"1m\"\n";
    for (scope, second_detected) in [("auto", false), ("all", true)] {
        let config = write_file(
            dir.path(),
            &format!("{scope}.toml"),
            format!("[detect]\ncameras = \"{scope}\"\n"),
        );
        let config = ["--config", config.to_str().unwrap()];
        let d = Daemon::start_detecting(dir.path(), &sim.inventory, rules, &config);
        let camera = |id: &str| get_json(&format!("{}/api/cameras/{id}", d.base));
        wait_for(Duration::from_secs(60), "people on r0001", || {
            camera("r0001")["detections"]["counts"]["person"]
                .as_u64()
                .filter(|n| *n >= 3)
        });
        // By now r0002 has been sampled and diagnosed several times too.
        wait_for(Duration::from_secs(30), "r0002 diagnosed", || {
            camera("r0002")["quality"]["faults"].as_array().map(|_| ())
        });
        std::thread::sleep(Duration::from_secs(3));
        let other = camera("r0002");
        assert_eq!(
            other["detections"]["counts"]["person"].as_u64().is_some(),
            second_detected,
            "[detect] cameras = {scope}: r0002 {}",
            other["detections"]
        );
    }
}

/// Sampling by purpose: with detection on and otherwise default settings, a camera a
/// detection rule watches is sampled at the rule's `sample_interval` (or `[detect] interval`,
/// 5 s), every other camera only for picture diagnosis, every 3 minutes.
#[test]
fn cameras_are_sampled_as_often_as_their_purpose_needs() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "p", 3, free_port(), &[]);
    let rules = write_file(
        dir.path(),
        "rules.toml",
        "[[rules]]\nname = \"fast\"\nkind = \"crowding\"\ncameras = [\"p0001\"]\nmin_people = 50\n\
         sample_interval = \"1s\"\n\
         [[rules]]\nname = \"default\"\nkind = \"crowding\"\ncameras = [\"p0002\"]\nmin_people = 50\n\
         [[rules]]\nname = \"lost\"\nkind = \"video_loss\"\ncameras = [\"*\"]\nafter = \"1m\"\n",
    );
    let d = Daemon::start(
        dir.path(),
        &sim.inventory,
        &["--detect", "--rules", rules.to_str().unwrap()],
    );
    let camera = |id: &str| get_json(&format!("{}/api/cameras/{id}", d.base));
    for (id, every) in [("p0001", 1.0), ("p0002", 5.0), ("p0003", 180.0)] {
        assert_eq!(
            camera(id)["sample_interval_seconds"].as_f64(),
            Some(every),
            "{id}"
        );
    }
    wait_for(Duration::from_secs(60), "people on p0001", || {
        camera("p0001")["detections"]["counts"]["person"]
            .as_u64()
            .filter(|n| *n >= 3)
    });
    // Over 12 s, the times of each camera's latest diagnosed sample.
    let mut seen: [std::collections::BTreeSet<String>; 3] = Default::default();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        for (i, id) in ["p0001", "p0002", "p0003"].iter().enumerate() {
            if let Some(at) = camera(id)["quality"]["at"].as_str() {
                seen[i].insert(at.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let n = seen.map(|s| s.len());
    assert!(n[0] >= 6, "p0001 (1 s) sampled {} times in 12 s", n[0]);
    assert!(
        (2..=4).contains(&n[1]),
        "p0002 (5 s) sampled {} times in 12 s",
        n[1]
    );
    assert!(n[2] <= 1, "p0003 (180 s) sampled {} times in 12 s", n[2]);
}
