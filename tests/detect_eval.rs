//! Person detection on the labelled set `tests/data/eval` (see its README), run as a user runs
//! it: `sharpeyes eval --json`. Regression thresholds a little under the figures measured when
//! the set was made (docs/benchmarks.md, "Detection"), so a change that loses people fails.

mod common;

use std::process::Command;

use common::bin;
use serde_json::Value;

fn eval(args: &[&str]) -> Value {
    let labels = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/eval/labels.json");
    let out = Command::new(bin())
        .args(["eval", "--json", "--labels", labels])
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("sharpeyes eval runs");
    assert!(
        out.status.success(),
        "sharpeyes eval {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    println!(
        "eval {args:?}: recall {:.3} precision {:.3} MAE {:.2} ({} passes, {:.0} ms/image)",
        v["recall"], v["precision"], v["count_mae"], v["passes"], v["ms_per_image"]
    );
    v
}

fn at_least(v: &Value, key: &str, min: f64) {
    let got = v[key].as_f64().unwrap();
    assert!(got >= min, "{key} {got:.3} < {min}: {v}");
}

#[test]
fn default_model_at_its_calibrated_threshold() {
    let all = eval(&[]);
    let t = all["threshold"].as_f64().unwrap();
    assert!(
        (t - 0.35).abs() < 1e-6,
        "the manifest's person threshold: {t}"
    );
    assert_eq!(all["persons"], 290);
    at_least(&all, "recall", 0.55);
    at_least(&all, "precision", 0.88);
    let cctv = eval(&["--set", "cctv"]);
    at_least(&cctv, "recall", 0.88);
    at_least(&cctv, "precision", 0.88);
}

#[test]
fn tiles_find_far_people_on_wide_views() {
    let single = eval(&["--set", "wide"]);
    let tiled = eval(&[
        "--set",
        "wide",
        "--tiles",
        "3x1-tiles",
        "--threshold",
        "0.3",
    ]);
    at_least(&tiled, "recall", 0.84);
    at_least(&tiled, "precision", 0.92);
    assert!(
        tiled["recall"].as_f64().unwrap() > single["recall"].as_f64().unwrap() + 0.3,
        "tiles add far people: {single} vs {tiled}"
    );
    assert_eq!(tiled["passes"], 3);
    // Under the manifest's floor (postprocess.score_threshold 0.3) the detector keeps the
    // rows the threshold asks for instead of silently stopping at 0.3.
    let under = eval(&[
        "--set",
        "wide",
        "--tiles",
        "3x1-tiles",
        "--threshold",
        "0.2",
    ]);
    let boxes = |v: &Value| v["tp"].as_u64().unwrap() + v["fp"].as_u64().unwrap();
    assert!(
        boxes(&under) > boxes(&tiled) + 20,
        "0.2 counts more than 0.3: {under} vs {tiled}"
    );
}

/// `--detections FILE`: every image's person boxes at or above the threshold, one JSON line per
/// image, at least the summary's count.
#[test]
fn detections_are_written_for_inspection() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("detections.jsonl");
    let v = eval(&["--set", "cctv", "--detections", file.to_str().unwrap()]);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, v["images"].as_u64().unwrap());
    let mut boxes = 0;
    for l in &lines {
        assert!(l["file"].as_str().unwrap().starts_with("cctv_"), "{l}");
        for d in l["detections"].as_array().unwrap() {
            let d: Vec<f64> = d
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert!(d[0] < d[2] && d[1] < d[3], "{d:?}");
            assert!(d[4] >= v["threshold"].as_f64().unwrap() - 1e-6, "{d:?}");
            boxes += 1;
        }
    }
    // Boxes on "ignore" labels count neither way, so the file may hold more than tp + fp.
    assert!(boxes >= v["tp"].as_u64().unwrap() + v["fp"].as_u64().unwrap());
    assert!(boxes > 0);
}

#[test]
fn nanodet_runs_with_its_own_threshold() {
    let v = eval(&["--model", "models/nanodet_g_coco.toml", "--set", "cctv"]);
    assert!((v["threshold"].as_f64().unwrap() - 0.45).abs() < 1e-6);
    at_least(&v, "recall", 0.88);
    at_least(&v, "precision", 0.92);
}

#[test]
fn an_ensemble_merged_by_wbf_runs() {
    let v = eval(&[
        "--model",
        "models/centernet_coco.toml",
        "--model",
        "models/nanodet_g_coco.toml",
        "--merge",
        "wbf",
        "--threshold",
        "0.3",
        "--set",
        "cctv",
    ]);
    assert_eq!(v["passes"], 2);
    at_least(&v, "recall", 0.8);
    at_least(&v, "precision", 0.9);
}
