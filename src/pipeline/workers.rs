//! Vision workers: threads that take sampled keyframes off the queue, decode them, diagnose
//! the picture, encode the snapshot when one is needed (someone looks at the camera, the
//! picture is faulty, or it goes to the detector) and send the verdict to the router (and the
//! picture to the detector).
//!
//! Each worker owns its decoders (one per codec and output layout, reused: RGB for cameras
//! whose pictures go to the detector, I420 for the rest) and its JPEG encoder; nothing here
//! runs on the async runtime. The previous sample's signature of each camera (frozen-picture
//! detection) is the workers' own state, keyed by camera id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::camera::sampler::{Sample, SampleQueue};
use crate::pipeline::detector::{DetectJob, DetectQueue};
use crate::pipeline::{UpdateSender, VisionResult, VisionUpdate};
use crate::telemetry::Metrics;
use crate::vision::decode::{Codec, KeyframeDecoder, Output};
use crate::vision::jpeg::JpegEncoder;
use crate::vision::quality::{Fault, FrameSignature, QualityConfig, QualityView, diagnose_picture};
use crate::vision::yuv::Picture;

/// Each camera's previous sample signature, shared by the workers (a camera's samples may go
/// to any worker). One entry per camera ever sampled.
type Signatures = Mutex<HashMap<Arc<str>, FrameSignature>>;

/// What every worker shares.
struct Shared {
    queue: Arc<SampleQueue>,
    metrics: Arc<Metrics>,
    cfg: QualityConfig,
    detect: Option<Arc<DetectQueue>>,
    detects: DetectFilter,
    updates: UpdateSender,
    signatures: Signatures,
}

/// Whether a camera's samples go to the detector (`[detect] cameras`).
pub type DetectFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Starts `n` worker threads on `queue`. They stop when the queue is closed and empty.
pub fn spawn(
    n: usize,
    queue: Arc<SampleQueue>,
    metrics: Arc<Metrics>,
    cfg: QualityConfig,
    detect: Option<(Arc<DetectQueue>, DetectFilter)>,
    updates: UpdateSender,
) -> Vec<std::thread::JoinHandle<()>> {
    let (detect, detects) = match detect {
        Some((q, f)) => (Some(q), f),
        None => (None, Arc::new(|_: &str| false) as DetectFilter),
    };
    let shared = Arc::new(Shared {
        queue,
        metrics,
        cfg,
        detect,
        detects,
        updates,
        signatures: Mutex::new(HashMap::new()),
    });
    (0..n.max(1))
        .map(|i| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("vision-{i}"))
                .spawn(move || run(&shared))
                .expect("spawn vision worker")
        })
        .collect()
}

fn run(shared: &Shared) {
    let queue = &shared.queue;
    let mut decoders: HashMap<(Codec, Output), KeyframeDecoder> = HashMap::new();
    let mut jpeg = match JpegEncoder::new(80) {
        Ok(j) => Some(j),
        Err(e) => {
            tracing::error!("snapshots disabled: {e:#}");
            None
        }
    };
    loop {
        match queue.pop(Duration::from_secs(1)) {
            Some(sample) => process(&sample, &mut decoders, jpeg.as_mut(), shared),
            None if queue.is_closed() => return,
            None => {}
        }
    }
}

fn process(
    sample: &Sample,
    decoders: &mut HashMap<(Codec, Output), KeyframeDecoder>,
    jpeg: Option<&mut JpegEncoder>,
    shared: &Shared,
) {
    let cam = &sample.camera;
    let metrics = &shared.metrics;
    let cfg = &shared.cfg;
    let Some(codec) = Codec::from_name(&sample.codec) else {
        return;
    };
    // The detector wants RGB, which the decoder's pipeline converts to; a picture only
    // diagnosed stays in the decoder's I420 (no conversion, half the bytes).
    let detects = shared.detect.is_some() && (shared.detects)(cam);
    let output = if detects { Output::Rgb } else { Output::I420 };
    let started = Instant::now();
    let decoder = match decoders.entry((codec, output)) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => {
            match KeyframeDecoder::with_output(codec, output) {
                Ok(d) => v.insert(d),
                Err(e) => {
                    tracing::error!(camera = %cam, "cannot decode {codec:?}: {e:#}");
                    metrics.sample_errors.with_label_values(&["decode"]).inc();
                    return;
                }
            }
        }
    };
    let frame = match decoder.decode(&sample.data) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(camera = %cam, "sample not decodable: {e:#}");
            metrics.sample_errors.with_label_values(&["decode"]).inc();
            // A decoder in a bad state is cheap to rebuild.
            decoders.remove(&(codec, output));
            return;
        }
    };
    metrics
        .decode_seconds
        .observe(started.elapsed().as_secs_f64());
    let previous = shared.signatures.lock().unwrap().get(cam).cloned();
    let d = diagnose_picture(&frame, previous.as_ref(), cfg);
    shared
        .signatures
        .lock()
        .unwrap()
        .insert(cam.clone(), d.signature.clone());
    metrics.samples_processed.inc();
    // A black or blinding picture has nothing to detect.
    let judgeable = !d
        .faults
        .iter()
        .any(|f| matches!(f, Fault::TooDark | Fault::TooBright));
    let detect = shared.detect.as_ref().filter(|_| judgeable && detects);
    // JPEG lazily: for someone looking at the camera, for a faulty picture (a picture alert
    // may be raised on it) and for the detector's pictures (their alerts carry it); a clean
    // picture nobody looks at is diagnosed and dropped.
    let encode = sample.snapshot || !d.faults.is_empty() || detect.is_some();
    let snapshot = jpeg
        .filter(|_| encode)
        .and_then(|j| match j.encode_picture(&frame) {
            Ok(bytes) => Some(Arc::new(bytes)),
            Err(e) => {
                tracing::warn!(camera = %cam, "snapshot not encoded: {e:#}");
                None
            }
        });
    if snapshot.is_some() {
        metrics.snapshots_encoded.inc();
    }
    let size = frame.size();
    if let (Some(q), Picture::Rgb(frame)) = (detect, frame) {
        q.push(DetectJob {
            camera: cam.clone(),
            frame: Arc::new(frame),
            at: sample.at,
            snapshot: snapshot.clone(),
        });
    }
    let update = VisionUpdate {
        camera: cam.clone(),
        at: sample.at,
        result: VisionResult::Verdict {
            quality: QualityView {
                at: sample.at,
                ok: d.faults.is_empty(),
                faults: d.faults,
                measures: d.measures,
            },
            size,
            snapshot,
        },
    };
    // Waits when the router is behind (bounded); gone only at shutdown.
    let _ = shared.updates.send(update);
}
