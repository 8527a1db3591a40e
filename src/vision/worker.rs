//! Vision workers: threads that take sampled keyframes off the queue, decode them, diagnose
//! the picture and keep the latest snapshot on the camera.
//!
//! Each worker owns its decoders (one per codec, reused) and its JPEG encoder; nothing here
//! runs on the async runtime.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::alerts::engine::Observation;
use crate::camera::sampler::{Sample, SampleQueue};
use crate::clock::Time;
use crate::fleet::Fleet;
use crate::vision::decode::{Codec, KeyframeDecoder};
use crate::vision::detector_pool::{DetectJob, DetectQueue, DetectionsView};
use crate::vision::jpeg::JpegEncoder;
use crate::vision::quality::{Fault, FrameSignature, Measures, QualityConfig, diagnose};

/// What vision knows of one camera.
#[derive(Default)]
pub struct VisionState {
    /// When the last sample was diagnosed.
    pub last_sample: Option<Time>,
    /// Picture size of the last sample.
    pub size: Option<(u32, u32)>,
    /// The latest verdict.
    pub quality: Option<QualityView>,
    /// The latest sample as JPEG.
    pub snapshot: Option<Arc<Vec<u8>>>,
    /// The latest detections.
    pub detections: Option<DetectionsView>,
    signature: Option<FrameSignature>,
    /// What the history holds for this camera, and a different verdict waiting for
    /// confirmation (its faults, its first sample's time, how many samples agreed).
    recorded: Option<Vec<Fault>>,
    candidate: Option<(Vec<Fault>, Time, u32)>,
}

impl VisionState {
    /// Feeds one verdict; returns the verdict and time to record in the history when the
    /// history must change (see `QualityConfig::confirm_samples`).
    pub fn confirm(
        &mut self,
        faults: &[Fault],
        at: Time,
        needed: u32,
    ) -> Option<(Vec<Fault>, Time)> {
        match &self.recorded {
            None => {
                // The first verdict of a camera: nothing to flip from.
                self.recorded = Some(faults.to_vec());
                self.candidate = None;
                return Some((faults.to_vec(), at));
            }
            Some(r) if r.as_slice() == faults => {
                self.candidate = None;
                return None;
            }
            Some(_) => {}
        }
        let (first, seen) = match &mut self.candidate {
            Some((f, first, n)) if f.as_slice() == faults => {
                *n += 1;
                (*first, *n)
            }
            _ => {
                self.candidate = Some((faults.to_vec(), at, 1));
                (at, 1)
            }
        };
        if seen >= needed.max(1) {
            self.recorded = Some(faults.to_vec());
            self.candidate = None;
            Some((faults.to_vec(), first))
        } else {
            None
        }
    }
}

/// A quality verdict as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct QualityView {
    /// When the sample was taken.
    pub at: Time,
    /// True when no fault was found.
    pub ok: bool,
    /// Faults found (snake_case names).
    pub faults: Vec<Fault>,
    /// The measures behind the verdict.
    pub measures: Measures,
}

/// Starts `n` worker threads on `queue`. They stop when the queue is closed and empty.
pub fn spawn(
    n: usize,
    queue: Arc<SampleQueue>,
    fleet: Arc<Fleet>,
    cfg: QualityConfig,
    detect: Option<Arc<DetectQueue>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n.max(1))
        .map(|i| {
            let (queue, fleet, cfg, detect) =
                (queue.clone(), fleet.clone(), cfg.clone(), detect.clone());
            std::thread::Builder::new()
                .name(format!("vision-{i}"))
                .spawn(move || run(&queue, &fleet, &cfg, detect.as_deref()))
                .expect("spawn vision worker")
        })
        .collect()
}

fn run(queue: &SampleQueue, fleet: &Fleet, cfg: &QualityConfig, detect: Option<&DetectQueue>) {
    let mut decoders: HashMap<Codec, KeyframeDecoder> = HashMap::new();
    let mut jpeg = match JpegEncoder::new(80) {
        Ok(j) => Some(j),
        Err(e) => {
            tracing::error!("snapshots disabled: {e:#}");
            None
        }
    };
    loop {
        match queue.pop(Duration::from_secs(1)) {
            Some(sample) => process(&sample, &mut decoders, jpeg.as_mut(), fleet, cfg, detect),
            None if queue.is_closed() => return,
            None => {}
        }
    }
}

fn process(
    sample: &Sample,
    decoders: &mut HashMap<Codec, KeyframeDecoder>,
    jpeg: Option<&mut JpegEncoder>,
    fleet: &Fleet,
    cfg: &QualityConfig,
    detect: Option<&DetectQueue>,
) {
    let cam = &sample.camera.camera.id;
    let metrics = fleet.metrics();
    let Some(codec) = Codec::from_name(&sample.codec) else {
        return;
    };
    let started = Instant::now();
    let decoder = match decoders.entry(codec) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => match KeyframeDecoder::new(codec) {
            Ok(d) => v.insert(d),
            Err(e) => {
                tracing::error!(camera = %cam, "cannot decode {codec:?}: {e:#}");
                metrics.sample_errors.with_label_values(&["decode"]).inc();
                return;
            }
        },
    };
    let frame = match decoder.decode(&sample.data) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(camera = %cam, "sample not decodable: {e:#}");
            metrics.sample_errors.with_label_values(&["decode"]).inc();
            // A decoder in a bad state is cheap to rebuild.
            decoders.remove(&codec);
            return;
        }
    };
    metrics
        .decode_seconds
        .observe(started.elapsed().as_secs_f64());
    let previous = sample.camera.vision.lock().unwrap().signature.clone();
    let d = diagnose(&frame, previous.as_ref(), cfg);
    let snapshot = jpeg.and_then(|j| match j.encode(&frame) {
        Ok(bytes) => Some(Arc::new(bytes)),
        Err(e) => {
            tracing::warn!(camera = %cam, "snapshot not encoded: {e:#}");
            None
        }
    });
    metrics.samples_processed.inc();
    // A black or blinding picture has nothing to detect.
    let judgeable = !d
        .faults
        .iter()
        .any(|f| matches!(f, Fault::TooDark | Fault::TooBright));
    let frame = Arc::new(frame);
    if let Some(q) = detect.filter(|_| judgeable) {
        q.push(DetectJob {
            camera: sample.camera.clone(),
            frame: frame.clone(),
            at: sample.at,
            snapshot: snapshot.clone(),
        });
    }
    if let Some(engine) = fleet.alerts() {
        engine.observe(
            &sample.camera,
            sample.at,
            Observation::Faults {
                faults: &d.faults,
                picture: snapshot.as_deref().map(|v| v.as_slice()),
            },
        );
    }
    let mut v = sample.camera.vision.lock().unwrap();
    let change = v.confirm(&d.faults, sample.at, cfg.confirm_samples);
    v.last_sample = Some(sample.at);
    v.size = Some((frame.width, frame.height));
    v.signature = Some(d.signature);
    v.quality = Some(QualityView {
        at: sample.at,
        ok: d.faults.is_empty(),
        faults: d.faults,
        measures: d.measures,
    });
    if snapshot.is_some() {
        v.snapshot = snapshot;
    }
    drop(v);
    // Outside the camera's lock: the history's queue may be full.
    if let Some((faults, at)) = change {
        fleet.record_quality(cam, at, &faults);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_verdict_is_recorded_after_confirmation_dated_at_its_first_sample() {
        let t = |s: i64| {
            crate::clock::parse_time("2026-11-23T08:00:00Z") + chrono::Duration::seconds(s)
        };
        let mut v = VisionState::default();
        let blur = [Fault::Blur];
        assert_eq!(
            v.confirm(&[], t(0), 2),
            Some((vec![], t(0))),
            "the first verdict at once"
        );
        assert_eq!(v.confirm(&blur, t(60), 2), None, "one odd sample");
        assert_eq!(v.confirm(&[], t(120), 2), None, "back: nothing to record");
        assert_eq!(v.confirm(&blur, t(180), 2), None);
        assert_eq!(
            v.confirm(&blur, t(240), 2),
            Some((blur.to_vec(), t(180))),
            "confirmed, dated at its first sample"
        );
        assert_eq!(v.confirm(&blur, t(300), 2), None);
        assert_eq!(
            v.confirm(&[], t(360), 1),
            Some((vec![], t(360))),
            "confirm 1: at once"
        );
    }
}
