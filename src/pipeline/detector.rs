//! The detector: one thread running the detection plan (one ONNX Runtime session per
//! model, `crate::vision::detect_plan`) for every camera, fed by a drop-oldest queue of decoded
//! samples and taking whatever waits (up to `max_batch`) in one go. Each camera is looked at
//! where its rules look (the zone crop) with its tiling. A slow model drops old samples
//! (counted); it never slows decoding or ingest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::Time;
use crate::pipeline::{UpdateSender, VisionResult, VisionUpdate};
use crate::queue::DropOldest;
use crate::telemetry::Metrics;
use crate::vision::detect::DetectionsView;
use crate::vision::detect_plan::{DetectPlan, Tiling};
use crate::vision::frame::RgbFrame;

/// A decoded sample waiting for detection.
pub struct DetectJob {
    /// The camera's id.
    pub camera: Arc<str>,
    /// The picture.
    pub frame: Arc<RgbFrame>,
    /// When it was sampled.
    pub at: Time,
    /// The same picture as JPEG (what an alert raised on it stores).
    pub snapshot: Option<Arc<Vec<u8>>>,
}

/// The queue in front of the detector.
pub type DetectQueue = DropOldest<DetectJob>;

/// Where and how finely to look on one camera: the detection zone (normalised
/// `[x1, y1, x2, y2]`, `None`: the whole picture) and the tiling (`None`: the plan's).
pub type Targeting = Arc<dyn Fn(&str) -> (Option<[f64; 4]>, Option<Tiling>) + Send + Sync>;

/// Starts the detector thread. It stops when the queue is closed and drained.
pub fn spawn(
    plan: DetectPlan,
    targeting: Targeting,
    queue: Arc<DetectQueue>,
    metrics: Arc<Metrics>,
    updates: UpdateSender,
    max_batch: usize,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("detector".into())
        .spawn(move || {
            let thresholds = Arc::new(plan.thresholds().clone());
            loop {
                let jobs = queue.pop_batch(max_batch, Duration::from_secs(1));
                if jobs.is_empty() {
                    if queue.is_closed() {
                        return;
                    }
                    continue;
                }
                run_batch(&plan, &targeting, &thresholds, &jobs, &metrics, &updates);
            }
        })
        .expect("spawn detector thread")
}

fn run_batch(
    plan: &DetectPlan,
    targeting: &Targeting,
    thresholds: &Arc<BTreeMap<String, f32>>,
    jobs: &[DetectJob],
    metrics: &Metrics,
    updates: &UpdateSender,
) {
    let started = Instant::now();
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let (zone, tiling) = targeting(&job.camera);
        let (w, h) = (job.frame.width as f64, job.frame.height as f64);
        let roi = zone.map(|z| {
            [
                (z[0] * w) as f32,
                (z[1] * h) as f32,
                (z[2] * w) as f32,
                (z[3] * h) as f32,
            ]
        });
        match plan.detect_with(&job.frame, roi, tiling.or(plan.tiling)) {
            Ok(r) => results.push(r),
            Err(e) => {
                tracing::error!(camera = %job.camera, "detection failed: {e:#}");
                metrics.sample_errors.with_label_values(&["detect"]).inc();
                return;
            }
        }
    }
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
            thresholds: thresholds.clone(),
        };
        let _ = updates.send(VisionUpdate {
            camera: job.camera.clone(),
            at: job.at,
            result: VisionResult::Detections {
                view,
                frame: job.frame.clone(),
                snapshot: job.snapshot.clone(),
            },
        });
    }
}
