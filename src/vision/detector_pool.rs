//! The detector pool: one thread running one ONNX Runtime session for every camera, fed by a
//! drop-oldest queue of decoded samples and batching whatever waits (up to `max_batch`) into
//! one call. A slow model drops old samples (counted); it never slows decoding or ingest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::alerts::engine::Observation;
use crate::camera::sampler::DropOldest;
use crate::clock::Time;
use crate::fleet::{CameraEntry, Fleet};
use crate::vision::detect::{Detection, Detector};
use crate::vision::frame::RgbFrame;

/// A decoded sample waiting for detection.
pub struct DetectJob {
    /// The camera.
    pub camera: Arc<CameraEntry>,
    /// The picture.
    pub frame: Arc<RgbFrame>,
    /// When it was sampled.
    pub at: Time,
    /// The same picture as JPEG (what an alert raised on it stores).
    pub snapshot: Option<Arc<Vec<u8>>>,
}

/// The queue in front of the detector.
pub type DetectQueue = DropOldest<DetectJob>;

/// The latest detections of a camera, as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionsView {
    /// When the picture was sampled.
    pub at: Time,
    /// Picture size the boxes refer to.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Objects per class.
    pub counts: BTreeMap<String, usize>,
    /// The objects, best first.
    pub objects: Vec<Detection>,
}

/// Starts the detector thread. It stops when the queue is closed and drained.
pub fn spawn(
    detector: Detector,
    queue: Arc<DetectQueue>,
    fleet: Arc<Fleet>,
    max_batch: usize,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("detector".into())
        .spawn(move || {
            loop {
                let jobs = queue.pop_batch(max_batch, Duration::from_secs(1));
                if jobs.is_empty() {
                    if queue.is_closed() {
                        return;
                    }
                    continue;
                }
                run_batch(&detector, &jobs, &fleet);
            }
        })
        .expect("spawn detector thread")
}

fn run_batch(detector: &Detector, jobs: &[DetectJob], fleet: &Fleet) {
    let metrics = fleet.metrics();
    let frames: Vec<&RgbFrame> = jobs.iter().map(|j| j.frame.as_ref()).collect();
    let started = Instant::now();
    let results = match detector.detect(&frames) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("detection failed on a batch of {}: {e:#}", jobs.len());
            metrics
                .sample_errors
                .with_label_values(&["detect"])
                .inc_by(jobs.len() as u64);
            return;
        }
    };
    metrics
        .detect_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.detect_batch.observe(jobs.len() as f64);
    for (job, objects) in jobs.iter().zip(results) {
        let mut counts = BTreeMap::new();
        for d in &objects {
            *counts.entry(d.class.clone()).or_insert(0) += 1;
            metrics.detections.with_label_values(&[&d.class]).inc();
        }
        let view = DetectionsView {
            at: job.at,
            width: job.frame.width,
            height: job.frame.height,
            counts,
            objects,
        };
        if let Some(engine) = fleet.alerts() {
            let picture = job.snapshot.as_deref().map(|v| v.as_slice());
            engine.observe(
                &job.camera,
                job.at,
                Observation::Detections {
                    view: &view,
                    picture,
                },
            );
        }
        job.camera.vision.lock().unwrap().detections = Some(view);
    }
}
