//! The Rust detection path (GStreamer decode, stretch resize, ONNX Runtime through `ort`, NMS)
//! against the Python onnxruntime reference in `tests/data/reference_detections.json`
//! (written by `scripts/reference_detect.py`), plus sanity checks on what must be found.
//!
//! Needs the ONNX Runtime library: run `scripts/fetch-onnxruntime.sh` first (or set
//! `ORT_DYLIB_PATH`). Without it these tests fail loudly rather than pass silently.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use serde::Deserialize;
use sharpeyes::vision::detect::{
    DetectArgs, Detection, Detector, DetectorOptions, Device, ort_library_path, run_cli,
};
use sharpeyes::vision::frame::RgbFrame;
use sharpeyes::vision::{image, model};

/// Score tolerance against the reference.
const SCORE_TOL: f32 = 1e-3;
/// Box tolerance against the reference, in image pixels (raw rows: 512x512 input pixels).
const BOX_TOL: f32 = 1.0;

#[derive(Debug, Deserialize)]
struct Reference {
    images: Vec<RefImage>,
}

#[derive(Debug, Deserialize)]
struct RefImage {
    image: String,
    sha256: String,
    width: u32,
    height: u32,
    rgb_sha256: String,
    detections: Vec<Detection>,
    raw_top: Vec<[f32; 6]>,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn reference() -> &'static Reference {
    static REF: OnceLock<Reference> = OnceLock::new();
    REF.get_or_init(|| read_reference("tests/data/reference_detections.json"))
}

fn read_reference(rel: &str) -> Reference {
    let path = root().join(rel);
    let text = std::fs::read_to_string(&path).expect("reading the reference detections");
    serde_json::from_str(&text).expect("parsing the reference detections")
}

/// A detector on the shipped model; panics with instructions when ONNX Runtime is missing.
fn detector(threads: usize) -> Detector {
    detector_for("models/centernet_coco.toml", threads)
}

/// A detector on a shipped manifest.
fn detector_for(manifest: &str, threads: usize) -> Detector {
    if let Err(e) = ort_library_path() {
        panic!(
            "\n\n*** ONNX Runtime is not installed: {e:#}\n\
             *** Run scripts/fetch-onnxruntime.sh, then rerun the tests. ***\n\n"
        );
    }
    Detector::new(
        &root().join(manifest),
        &DetectorOptions {
            threads,
            ..DetectorOptions::default()
        },
    )
    .expect("creating the detector")
}

fn load(name: &str) -> RgbFrame {
    image::load(&root().join("tests/data/images").join(name)).expect("decoding the test image")
}

fn describe(d: &[Detection]) -> String {
    d.iter()
        .map(|d| format!("{} {:.3} {:?}", d.class, d.score, d.bbox.map(|v| v.round())))
        .collect::<Vec<_>>()
        .join("\n    ")
}

#[test]
fn matches_the_python_reference() {
    compare(&detector(2), reference());
}

/// NanoDet-g (NCHW, BGR, mean/std: the other input contract the loader supports) against its
/// own Python onnxruntime reference (`scripts/reference_detect.py --model nanodet`).
#[test]
fn nanodet_matches_the_python_reference() {
    let detector = detector_for("models/nanodet_g_coco.toml", 2);
    compare(
        &detector,
        &read_reference("tests/data/reference_detections_nanodet.json"),
    );
}

fn compare(detector: &Detector, reference: &Reference) {
    assert_eq!(
        reference.images.len(),
        5,
        "reference covers the 5 test images"
    );

    // Decode everything, then detect all images in one batch, as the daemon does across cameras.
    let frames: Vec<RgbFrame> = reference.images.iter().map(|r| load(&r.image)).collect();
    for (r, f) in reference.images.iter().zip(&frames) {
        let file = std::fs::read(root().join("tests/data/images").join(&r.image)).unwrap();
        assert_eq!(
            model::sha256_hex(&file),
            r.sha256,
            "{}: file changed",
            r.image
        );
        assert_eq!(
            (f.width, f.height),
            (r.width, r.height),
            "{}: size",
            r.image
        );
        assert_eq!(
            model::sha256_hex(&f.data),
            r.rgb_sha256,
            "{}: the GStreamer decode differs from the one the reference used (different \
             GStreamer/libjpeg version?); regenerate with scripts/reference_detect.py",
            r.image
        );
    }
    let refs: Vec<&RgbFrame> = frames.iter().collect();
    let raw = detector.detect_raw(&refs).expect("raw detection");
    let all = detector.detect(&refs).expect("detection");

    let (mut max_score, mut max_box, mut max_raw_score, mut max_raw_box) = (0f32, 0f32, 0f32, 0f32);
    for ((r, got), raw) in reference.images.iter().zip(&all).zip(&raw) {
        for (i, (want, have)) in r.raw_top.iter().zip(raw).enumerate() {
            let ds = (want[4] - have[4]).abs();
            let db = (0..4)
                .map(|k| (want[k] - have[k]).abs())
                .fold(0f32, f32::max);
            assert!(
                ds <= SCORE_TOL && db <= BOX_TOL && want[5] == have[5],
                "{}: raw row {i} differs: reference {want:?}, rust {have:?}",
                r.image
            );
            max_raw_score = max_raw_score.max(ds);
            max_raw_box = max_raw_box.max(db);
        }
        assert_eq!(
            got.len(),
            r.detections.len(),
            "{}: detection count\n  reference:\n    {}\n  rust:\n    {}",
            r.image,
            describe(&r.detections),
            describe(got)
        );
        for (want, have) in r.detections.iter().zip(got) {
            let ds = (want.score - have.score).abs();
            let db = (0..4)
                .map(|k| (want.bbox[k] - have.bbox[k]).abs())
                .fold(0f32, f32::max);
            assert!(
                want.class == have.class
                    && want.class_id == have.class_id
                    && ds <= SCORE_TOL
                    && db <= BOX_TOL,
                "{}: detection differs: reference {want:?}, rust {have:?}",
                r.image
            );
            max_score = max_score.max(ds);
            max_box = max_box.max(db);
        }
    }
    println!(
        "reference deviations: detections score {max_score:.2e}, box {max_box:.2e} px; \
         raw rows score {max_raw_score:.2e}, box {max_raw_box:.2e} px"
    );
}

fn count(d: &[Detection], class: &str) -> usize {
    d.iter().filter(|d| d.class == class).count()
}

#[test]
fn finds_what_is_plainly_there() {
    let detector = detector(2);
    let frames = ["cctv_t20.png", "dog.jpg", "person.jpg"].map(load);
    let found = detector
        .detect(&[&frames[0], &frames[1], &frames[2]])
        .unwrap();
    let (cctv, dog, person) = (&found[0], &found[1], &found[2]);

    assert!(
        count(cctv, "person") >= 5,
        "cctv_t20: walkers\n    {}",
        describe(cctv)
    );
    assert!(
        count(dog, "truck") + count(dog, "car") >= 1 && count(dog, "dog") >= 1,
        "dog.jpg: the pickup and the dog\n    {}",
        describe(dog)
    );
    assert!(
        count(person, "person") >= 1,
        "person.jpg\n    {}",
        describe(person)
    );
    for (frame, dets) in frames.iter().zip(&found) {
        for d in dets {
            let [x1, y1, x2, y2] = d.bbox;
            assert!(0.0 <= x1 && x1 < x2 && x2 <= frame.width as f32, "{d:?}");
            assert!(0.0 <= y1 && y1 < y2 && y2 <= frame.height as f32, "{d:?}");
            assert!(d.score >= 0.3 && d.score <= 1.0, "{d:?}");
        }
    }
}

#[test]
fn batch_equals_one_at_a_time_and_threads_agree() {
    let two = detector(2);
    let one = detector(1);
    let frames = ["messi5.jpg", "licenseplate_motion.jpg", "messi5.jpg"].map(load);
    let batch = two.detect(&[&frames[0], &frames[1], &frames[2]]).unwrap();
    assert_eq!(batch[0], batch[2], "same frame twice in a batch");
    for (frame, b) in frames.iter().zip(&batch) {
        let single = one.detect(&[frame]).unwrap().pop().unwrap();
        assert_eq!(single.len(), b.len());
        for (s, b) in single.iter().zip(b) {
            assert_eq!(s.class, b.class);
            assert!((s.score - b.score).abs() <= 1e-5, "{s:?} vs {b:?}");
        }
    }
    assert!(two.detect(&[]).unwrap().is_empty());
}

#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    detector(1); // the library must be present; this test is about the device choice
    let err = Detector::new(
        &root().join("models/centernet_coco.toml"),
        &DetectorOptions {
            device: "cuda".parse().unwrap(),
            ..DetectorOptions::default()
        },
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("--features cuda"), "{err:#}");
}

#[test]
fn cli_prints_json_and_writes_annotations() {
    detector(1); // fails loudly without ONNX Runtime
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("annotated.jpg");
    let images = root().join("tests/data/images");
    let args = DetectArgs {
        images: vec![images.join("dog.jpg"), images.join("cctv_t20.png")],
        model: Some(root().join("models/centernet_coco.toml")),
        json: true,
        annotate: Some(out.clone()),
        threads: 1,
        threshold: Some(0.5),
        device: Device::Cpu,
    };
    run_cli(&args).expect("sharpeyes detect");
    for name in ["annotated-dog.jpg", "annotated-cctv_t20.jpg"] {
        let f = image::load(&dir.path().join(name)).expect("annotated image decodes");
        assert!(f.width > 500 && f.height > 400);
    }
    let mut table = args.clone();
    table.json = false;
    table.annotate = None;
    run_cli(&table).expect("sharpeyes detect (table)");
}

/// Timing, not a check: `cargo test --release --test detect_reference -- --ignored --nocapture`.
/// Median of 30 single-frame calls (768x576 frame, everything from resize to NMS), per thread
/// count, with ONNX Runtime's thread spinning off (our default) and on.
#[test]
#[ignore = "timing; run explicitly"]
fn timing() {
    let frame = load("cctv_t20.png");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let spec = detector(1).model().manifest.input.clone();
    let mut buf = vec![0f32; spec.shape(1).iter().product()];
    let pre = median(
        (0..30)
            .map(|_| {
                let t = Instant::now();
                sharpeyes::vision::detect::preprocess(&frame, &spec, &mut buf);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    println!("resize + tensor alone: {pre:.1} ms");
    for spin in [false, true] {
        for threads in [1, 2] {
            let t = Instant::now();
            let d = Detector::new(
                &root().join("models/centernet_coco.toml"),
                &DetectorOptions {
                    threads,
                    spin,
                    ..DetectorOptions::default()
                },
            )
            .unwrap();
            let create_ms = t.elapsed().as_secs_f64() * 1e3;
            d.detect(&[&frame]).unwrap(); // warm-up
            let per = median(
                (0..30)
                    .map(|_| {
                        let t = Instant::now();
                        d.detect(&[&frame]).unwrap();
                        t.elapsed().as_secs_f64() * 1e3
                    })
                    .collect(),
            );
            let frames: Vec<&RgbFrame> = std::iter::repeat_n(&frame, 8).collect();
            let t = Instant::now();
            d.detect(&frames).unwrap();
            let batch = t.elapsed().as_secs_f64() * 1e3 / 8.0;
            println!(
                "threads {threads}, spin {spin}: {per:.1} ms/frame (median), batch of 8: \
                 {batch:.1} ms/frame; manifest check + session {create_ms:.0} ms"
            );
        }
    }
}
