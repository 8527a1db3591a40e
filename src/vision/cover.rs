//! Is a truck's load covered? The second stage of the uncovered-dump-truck rule (渣土车未覆盖):
//! the detector finds a `truck`, [`cargo_crop`] cuts out its cargo area, and a
//! [`CoverClassifier`] says how likely the load is uncovered.
//!
//! Two classifiers sit behind the one interface, chosen per rule in the rules file:
//!
//! - [`OnnxCover`] — a trained model described by a classifier manifest
//!   (`kind = "classifier"`, see [`model`](crate::vision::model)); its `postprocess.positive`
//!   label (e.g. `uncovered`) is the score. Adding a trained model is a config change:
//!   `classifier = "models/truck_cover.toml"`.
//! - [`BaselineCover`] (`classifier = "baseline"`, the default) — **not a trained model**. No
//!   public dump-truck data ships with any package reachable here, so the baseline judges colour
//!   and texture of the cargo area, which is what the covers used in China look like:
//!   dust nets (防尘网) and tarps are saturated green or blue and smooth at CCTV distance;
//!   spoil, sand and gravel are earth-toned or grey and granular. Measures (all 0..1):
//!   - `cover_colour`: share of pixels that are saturated green (hue 70–170°) or blue
//!     (190–250°), saturation ≥ 0.25, value ≥ 0.15;
//!   - `earth_colour`: share of earth-toned pixels (hue 10–50°, saturation 0.12–0.75, value
//!     0.15–0.85) or of grey pixels (saturation < 0.12, value 0.2–0.8);
//!   - `texture`: mean absolute Laplacian of the luma on a 64-px-wide copy, `t / (t + 12)`.
//!
//!   `uncovered = clamp(0.45·earth + 0.55·texture − 1.2·cover, 0, 1)`.
//!
//!   **Its limits, plainly:** it has never seen a real dump truck; it cannot tell an empty bed
//!   from a covered one (both smooth), takes a grey tarp with folds for gravel and a
//!   brown tarp for spoil, is colour-blind at night (IR pictures are grey), and needs at least
//!   [`MIN_CROP`] pixels each way (smaller crops give no verdict). Use it to exercise the
//!   pipeline and as a floor; deploy a trained model for alerts anyone acts on.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context as _, ensure};
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use crate::vision::detect::{DetectorOptions, environment, preprocess};
use crate::vision::frame::RgbFrame;
use crate::vision::model::{Activation, LoadedClassifier, load_classifier};

/// The smallest cargo crop (pixels, each way) that gets a verdict.
pub const MIN_CROP: u32 = 24;

/// A classifier's verdict on one cargo crop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverVerdict {
    /// How likely the load is uncovered, 0..1.
    pub uncovered: f32,
    /// Named measures behind the score (baseline) or every label's score (model).
    pub measures: Vec<(String, f32)>,
}

/// Judges cargo crops. Implementations are `Send + Sync`: the alert engine calls them from the
/// detector thread.
pub trait CoverClassifier: Send + Sync {
    /// Short name for logs and evidence (`baseline`, the manifest's `name`).
    fn name(&self) -> &str;
    /// The score at or above which a load counts as uncovered.
    fn threshold(&self) -> f32;
    /// The verdict on one crop (at least [`MIN_CROP`] each way).
    fn classify(&self, crop: &RgbFrame) -> anyhow::Result<CoverVerdict>;
}

/// The cargo area of a truck box: `cargo` is `[x1, y1, x2, y2]` as fractions of the box
/// (default `[0, 0, 1, 0.5]`, the upper half, which an elevated camera sees the load in).
/// `None` when the crop is smaller than [`MIN_CROP`].
pub fn cargo_crop(frame: &RgbFrame, truck: [f32; 4], cargo: [f32; 4]) -> Option<RgbFrame> {
    let [bx1, by1, bx2, by2] = truck;
    let (bw, bh) = (bx2 - bx1, by2 - by1);
    let x1 = (bx1 + cargo[0] * bw).floor().max(0.0) as u32;
    let y1 = (by1 + cargo[1] * bh).floor().max(0.0) as u32;
    let x2 = ((bx1 + cargo[2] * bw).ceil() as u32).min(frame.width);
    let y2 = ((by1 + cargo[3] * bh).ceil() as u32).min(frame.height);
    if x2 < x1 + MIN_CROP || y2 < y1 + MIN_CROP {
        return None;
    }
    Some(RgbFrame::from_fn(x2 - x1, y2 - y1, |x, y| {
        frame.pixel(x1 + x, y1 + y)
    }))
}

/// HSV of an RGB pixel: hue in degrees, saturation and value in 0..1.
fn hsv([r, g, b]: [u8; 3]) -> (f32, f32, f32) {
    let (r, g, b) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let h = if d <= f32::EPSILON {
        0.0
    } else if max == r {
        60.0 * ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    let s = if max <= f32::EPSILON { 0.0 } else { d / max };
    (h, s, max)
}

/// The colour-and-texture baseline (see the module docs for what it measures and its limits).
#[derive(Debug, Clone)]
pub struct BaselineCover {
    threshold: f32,
}

impl Default for BaselineCover {
    fn default() -> Self {
        Self { threshold: 0.5 }
    }
}

impl BaselineCover {
    /// The baseline with its default threshold (0.5).
    pub fn new() -> Self {
        Self::default()
    }

    /// The measures of a crop: (cover colour, earth colour, texture).
    pub fn measure(crop: &RgbFrame) -> (f32, f32, f32) {
        let small = crop.downscale(64);
        let n = (small.width * small.height).max(1) as f32;
        let (mut cover, mut earth) = (0u32, 0u32);
        for y in 0..small.height {
            for x in 0..small.width {
                let (h, s, v) = hsv(small.pixel(x, y));
                let green = (70.0..=170.0).contains(&h);
                let blue = (190.0..=250.0).contains(&h);
                if (green || blue) && s >= 0.25 && v >= 0.15 {
                    cover += 1;
                } else if ((10.0..=50.0).contains(&h)
                    && (0.12..=0.75).contains(&s)
                    && (0.15..=0.85).contains(&v))
                    || (s < 0.12 && (0.2..=0.8).contains(&v))
                {
                    earth += 1;
                }
            }
        }
        let luma = small.luma();
        let (w, h) = (small.width, small.height);
        let mut lap = 0.0f64;
        let mut count = 0u32;
        for y in 1..h.saturating_sub(1) {
            for x in 1..w.saturating_sub(1) {
                let c = 4 * luma.get(x, y) as i32;
                let s = luma.get(x - 1, y) as i32
                    + luma.get(x + 1, y) as i32
                    + luma.get(x, y - 1) as i32
                    + luma.get(x, y + 1) as i32;
                lap += (c - s).unsigned_abs() as f64;
                count += 1;
            }
        }
        let t = (lap / count.max(1) as f64) as f32;
        (cover as f32 / n, earth as f32 / n, t / (t + 12.0))
    }
}

impl CoverClassifier for BaselineCover {
    fn name(&self) -> &str {
        "baseline"
    }

    fn threshold(&self) -> f32 {
        self.threshold
    }

    fn classify(&self, crop: &RgbFrame) -> anyhow::Result<CoverVerdict> {
        ensure!(
            crop.width >= MIN_CROP && crop.height >= MIN_CROP,
            "crop {}x{} is smaller than {MIN_CROP}x{MIN_CROP}",
            crop.width,
            crop.height
        );
        let (cover, earth, texture) = Self::measure(crop);
        let uncovered = (0.45 * earth + 0.55 * texture - 1.2 * cover).clamp(0.0, 1.0);
        Ok(CoverVerdict {
            uncovered,
            measures: vec![
                ("cover_colour".into(), cover),
                ("earth_colour".into(), earth),
                ("texture".into(), texture),
            ],
        })
    }
}

/// A trained cover classifier: one ONNX Runtime session over a classifier manifest.
pub struct OnnxCover {
    model: LoadedClassifier,
    positive: usize,
    session: Mutex<Session>,
}

impl std::fmt::Debug for OnnxCover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxCover")
            .field("model", &self.model.model_path)
            .finish()
    }
}

impl OnnxCover {
    /// Loads the manifest (checking the model's sha256) and creates a one-thread session. The
    /// manifest must name its `postprocess.positive` label (the "uncovered" one).
    pub fn new(manifest_path: &Path) -> anyhow::Result<Self> {
        let model = load_classifier(manifest_path)?;
        let positive_name = model.manifest.postprocess.positive.clone().with_context(|| {
            format!(
                "{}: a cover classifier needs postprocess.positive (the label meaning uncovered)",
                manifest_path.display()
            )
        })?;
        let positive = model
            .names
            .iter()
            .position(|n| *n == positive_name)
            .context("positive label not among the labels")?;
        let options = DetectorOptions {
            threads: 1,
            ..DetectorOptions::default()
        };
        let ort_err =
            |e: ort::Error<ort::session::builder::SessionBuilder>| ort::Error::<()>::from(e);
        let session = Session::builder(environment()?)?
            .with_intra_threads(options.threads)
            .map_err(ort_err)?
            .with_intra_op_spinning(false)
            .map_err(ort_err)?
            .commit_from_file(&model.model_path)
            .with_context(|| format!("loading model {}", model.model_path.display()))?;
        Ok(Self {
            model,
            positive,
            session: Mutex::new(session),
        })
    }

    /// The loaded manifest.
    pub fn model(&self) -> &LoadedClassifier {
        &self.model
    }
}

impl CoverClassifier for OnnxCover {
    fn name(&self) -> &str {
        &self.model.manifest.name
    }

    fn threshold(&self) -> f32 {
        self.model.manifest.postprocess.threshold
    }

    fn classify(&self, crop: &RgbFrame) -> anyhow::Result<CoverVerdict> {
        let spec = &self.model.manifest.input;
        let mut input = vec![0.0f32; (spec.width * spec.height * 3) as usize];
        preprocess(crop, spec, &mut input);
        let shape = spec.shape(1);
        let tensor = TensorRef::from_array_view((shape, input.as_slice()))
            .context("building the classifier input")?;
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs![spec.name.as_str() => tensor])
            .context("running the cover classifier")?;
        let (oshape, raw) = outputs[self.model.manifest.output.name.as_str()]
            .try_extract_tensor::<f32>()
            .context("reading the classifier output")?;
        let n = self.model.names.len();
        ensure!(
            raw.len() == n,
            "classifier output has shape {oshape:?}, expected [1, {n}]"
        );
        let scores: Vec<f32> = match self.model.manifest.output.activation {
            Activation::Softmax => {
                let max = raw.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f32> = raw.iter().map(|v| (v - max).exp()).collect();
                let sum: f32 = e.iter().sum();
                e.iter().map(|v| v / sum).collect()
            }
            Activation::Sigmoid => raw.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
            Activation::None => raw.to_vec(),
        };
        Ok(CoverVerdict {
            uncovered: scores[self.positive],
            measures: self.model.names.iter().cloned().zip(scores).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A granular earth-toned texture: spoil (deterministic pseudo-random grains).
    fn spoil(w: u32, h: u32) -> RgbFrame {
        let mut s = 12345u32;
        RgbFrame::from_fn(w, h, |_, _| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let k = ((s >> 16) % 90) as i32 - 45;
            let c = |base: i32| (base + k).clamp(0, 255) as u8;
            [c(140), c(105), c(70)]
        })
    }

    /// A green dust net: saturated green with a faint regular mesh.
    fn green_net(w: u32, h: u32) -> RgbFrame {
        RgbFrame::from_fn(w, h, |x, y| {
            if x % 6 == 0 || y % 6 == 0 {
                [30, 110, 50]
            } else {
                [40, 130, 60]
            }
        })
    }

    #[test]
    fn baseline_separates_spoil_from_a_green_net() {
        let b = BaselineCover::new();
        let open = b.classify(&spoil(120, 60)).unwrap();
        let net = b.classify(&green_net(120, 60)).unwrap();
        assert!(open.uncovered >= 0.5, "{open:?}");
        assert!(net.uncovered < 0.2, "{net:?}");
        // A flat grey surface (an empty bed, a grey tarp): earth-ish colour, no texture.
        let flat = b
            .classify(&RgbFrame::filled(120, 60, [128, 128, 128]))
            .unwrap();
        assert!(flat.uncovered < 0.5, "{flat:?}");
        assert!(b.classify(&RgbFrame::filled(10, 60, [0, 0, 0])).is_err());
    }

    #[test]
    fn cargo_crop_takes_the_fraction_of_the_box_and_refuses_tiny_ones() {
        let f = RgbFrame::from_fn(200, 100, |x, y| [x as u8, y as u8, 0]);
        let c = cargo_crop(&f, [100.0, 20.0, 180.0, 100.0], [0.0, 0.0, 1.0, 0.5]).unwrap();
        assert_eq!((c.width, c.height), (80, 40));
        assert_eq!(c.pixel(0, 0), [100, 20, 0]);
        // Clamped to the frame.
        let c = cargo_crop(&f, [150.0, 50.0, 260.0, 150.0], [0.0, 0.0, 1.0, 1.0]).unwrap();
        assert_eq!((c.width, c.height), (50, 50));
        assert!(cargo_crop(&f, [0.0, 0.0, 30.0, 30.0], [0.0, 0.0, 1.0, 0.5]).is_none());
    }

    #[test]
    fn hsv_of_primaries() {
        assert_eq!(hsv([255, 0, 0]), (0.0, 1.0, 1.0));
        assert_eq!(hsv([0, 255, 0]).0, 120.0);
        assert_eq!(hsv([0, 0, 255]).0, 240.0);
        assert_eq!(hsv([10, 10, 10]).1, 0.0);
    }
}
