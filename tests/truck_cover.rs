//! The uncovered-truck rule's two stages on a real photo.
//!
//! Stage one runs the real detector (ONNX Runtime, the shipped CenterNet) on
//! `tests/data/images/dog.jpg`, whose pickup it finds as a `truck`. No package here ships dump
//! trucks, so stage two is fed honest composites: the cargo area of that very box is painted
//! with a granular earth-toned texture (spoil) or a green dust-net pattern, and the rule sees
//! the detections of the real photo with the composited picture. (Painting the cargo area
//! changes what this small detector sees — on the composites it finds only a `car` in the
//! lower half — so the stage-one boxes come from the unaltered photo.) The baseline classifier
//! must then raise an `uncovered_truck` alert for the spoil after `k` of `n` samples and not
//! for the net.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sharpeyes::alerts::engine::{AlertEngine, Observation};
use sharpeyes::alerts::outbox::Outbox;
use sharpeyes::alerts::store::AlertQuery;
use sharpeyes::clock::{Clock, ManualClock};
use sharpeyes::fleet::Fleet;
use sharpeyes::health::status::{Mode, StatusConfig};
use sharpeyes::rules::config::RulesFile;
use sharpeyes::vision::detect::DetectionsView;
use sharpeyes::vision::detect::{Detector, DetectorOptions, default_model_path};
use sharpeyes::vision::frame::RgbFrame;

const RULES: &str = "[[rules]]\nname = \"spoil\"\nkind = \"uncovered_truck\"\ncameras = [\"*\"]\n\
                     min_score = 0.3\nconfirm = [2, 3]\nhold_off = \"10s\"\n";

fn paint(frame: &RgbFrame, area: [u32; 4], spoil: bool) -> RgbFrame {
    let mut out = frame.clone();
    let mut s = 7u32;
    for y in area[1]..area[3] {
        for x in area[0]..area[2] {
            let px = if spoil {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let k = ((s >> 16) % 90) as i32 - 45;
                let c = |b: i32| (b + k).clamp(0, 255) as u8;
                [c(140), c(105), c(70)]
            } else if x % 6 == 0 || y % 6 == 0 {
                [30, 110, 50]
            } else {
                [40, 130, 60]
            };
            out.set_pixel(x, y, px);
        }
    }
    out
}

fn alerts_for(frame: &RgbFrame, view: &DetectionsView) -> Vec<serde_json::Value> {
    alerts_with(RULES, frame, view)
}

fn alerts_with(rules: &str, frame: &RgbFrame, view: &DetectionsView) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(sharpeyes::clock::parse_time(
        "2026-11-23T03:15:00Z",
    )));
    let fleet = Fleet::new(
        clock.clone(),
        Arc::new(sharpeyes::telemetry::Metrics::new()),
        None,
    );
    let inv = sharpeyes::config::inventory::parse_csv(
        "id,name,url,region\ngate-1,渣土路口,rtsp://127.0.0.1:1/x,城关镇\n",
    )
    .unwrap();
    let cam = fleet.add(
        inv.cameras[0].clone(),
        Mode::Hold,
        Duration::ZERO,
        StatusConfig::default(),
    );
    let engine = AlertEngine::new(
        RulesFile::parse(rules).unwrap(),
        Outbox::open(dir.path()).unwrap(),
        "http://127.0.0.1:9090".into(),
        Some(dir.path().join("snapshots")),
    )
    .unwrap();
    for _ in 0..3 {
        let v = DetectionsView {
            at: clock.now(),
            ..view.clone()
        };
        engine.observe(
            &cam.camera,
            clock.now(),
            Observation::Detections {
                view: &v,
                picture: Some(b"jpeg"),
                frame: Some(frame),
            },
        );
        clock.advance(Duration::from_secs(5));
    }
    engine
        .outbox()
        .alerts(&AlertQuery::default())
        .unwrap()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

#[test]
fn spoil_raises_an_uncovered_truck_alert_and_a_green_net_does_not() {
    assert!(
        Path::new("vendor/onnxruntime/libonnxruntime.so.1.31.1").exists(),
        "ONNX Runtime is missing: run scripts/setup.sh"
    );
    let photo = sharpeyes::vision::image::load(Path::new("tests/data/images/dog.jpg")).unwrap();
    let detector = Detector::new(&default_model_path(), &DetectorOptions::default()).unwrap();
    let objects = detector.detect(&[&photo]).unwrap().remove(0);
    let truck = objects
        .iter()
        .find(|d| d.class == "truck" && d.score >= 0.3)
        .unwrap_or_else(|| panic!("the detector finds the pickup as a truck: {objects:?}"))
        .clone();
    println!("stage one: {truck:?}");
    let view = DetectionsView {
        at: chrono::Utc::now(),
        width: photo.width,
        height: photo.height,
        counts: Default::default(),
        objects: objects.clone(),
        thresholds: Default::default(),
    };
    // The rule's default cargo area: the upper half of the box.
    let [x1, y1, x2, y2] = truck.bbox;
    let area = [
        x1.floor() as u32,
        y1.floor() as u32,
        x2.ceil() as u32,
        (y1 + (y2 - y1) / 2.0).ceil() as u32,
    ];

    let spoil = alerts_for(&paint(&photo, area, true), &view);
    assert_eq!(spoil.len(), 1, "{spoil:#?}");
    let a = &spoil[0];
    assert_eq!(a["kind"], "uncovered_truck");
    assert_eq!(a["camera"]["id"], "gate-1");
    assert_eq!(a["state"], "open");
    assert_eq!(a["gb28181"]["alarm_method"], 5);
    let o = &a["evidence"]["objects"][0];
    assert_eq!(o["class"], "truck");
    assert!(o["uncovered"].as_f64().unwrap() >= 0.5, "{a:#}");
    assert_eq!(a["evidence"]["frame_width"], photo.width);
    // Confirmed on the second of three samples (k = 2), not the first.
    assert_eq!(
        a["started_at"], "2026-11-23T03:15:05Z",
        "k of n: the second sample"
    );

    let net = alerts_for(&paint(&photo, area, false), &view);
    assert!(net.is_empty(), "a green dust net is a cover: {net:#?}");

    // The same two stages with an ONNX classifier named by a manifest: a config change. The
    // model is a hand-set test fixture (tests/data/cover_fixture), not a trained classifier.
    let manifest = std::fs::canonicalize("tests/data/cover_fixture/cover_fixture.toml").unwrap();
    let onnx_rules = RULES.replace(
        "confirm",
        &format!("classifier = {:?}\nconfirm", manifest.display().to_string()),
    );
    let spoil = alerts_with(&onnx_rules, &paint(&photo, area, true), &view);
    assert_eq!(spoil.len(), 1, "{spoil:#?}");
    let score = spoil[0]["evidence"]["objects"][0]["uncovered"]
        .as_f64()
        .unwrap();
    assert!(
        (0.5..1.0).contains(&score),
        "softmax of the fixture: {score}"
    );
    let net = alerts_with(&onnx_rules, &paint(&photo, area, false), &view);
    assert!(net.is_empty(), "{net:#?}");
}

#[test]
fn a_damaged_classifier_stops_the_engine_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let m = std::fs::read_to_string("tests/data/cover_fixture/cover_fixture.toml").unwrap();
    std::fs::copy(
        "tests/data/cover_fixture/cover_fixture.onnx",
        dir.path().join("cover_fixture.onnx"),
    )
    .unwrap();
    let bad = m.replace("sha256 = \"f3", "sha256 = \"00");
    std::fs::write(dir.path().join("cover.toml"), bad).unwrap();
    let rules = format!(
        "{RULES}classifier = {:?}\n",
        dir.path().join("cover.toml").display().to_string()
    );
    let err = AlertEngine::new(
        RulesFile::parse(&rules).unwrap(),
        Outbox::open(dir.path()).unwrap(),
        "http://x".into(),
        None,
    )
    .err()
    .expect("a damaged model is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("rule \"spoil\" (line 1)") && msg.contains("sha256"),
        "{msg}"
    );
}
