//! Object detection on sampled frames with ONNX Runtime (the `ort` crate, library loaded at run
//! time): crowding is many `person`, an uncovered dump truck starts as a `truck`.
//!
//! One [`Detector`] holds one ONNX Runtime session for a model described by a manifest
//! (`models/centernet_coco.toml`, see [`super::model`]). [`Detector::detect`] takes a batch of
//! frames (one per camera, any sizes) and returns the detections of each.
//!
//! ## What happens to a frame
//!
//! 1. **Resize** (the manifest's `resize = "stretch"`): the frame is stretched to the model input
//!    (512x512) without keeping the aspect ratio, by bilinear interpolation with **half-pixel
//!    centres and no antialiasing** — the geometry of OpenCV's `INTER_LINEAR`:
//!    for output column `x`, `sx = clamp((x + 0.5) * in_w / out_w - 0.5, 0, in_w - 1)` (in f64),
//!    `x0 = floor(sx)`, `x1 = min(x0 + 1, in_w - 1)`, `fx = (sx - x0) as f32`; rows likewise; then in
//!    f32 `top = p[y0][x0] * (1 - fx) + p[y0][x1] * fx`, `bottom` the same on row `y1`,
//!    `v = top * (1 - fy) + bottom * fy`. (Unlike OpenCV's 8-bit path, no fixed-point rounding; unlike
//!    PIL's `BILINEAR`, no widening of the filter when shrinking.) `scripts/reference_detect.py`
//!    implements the identical rule in numpy.
//! 2. **Tensor**: `a[c] * v + b[c]` from the manifest's `pixel_range`/`mean`/`std` (for CenterNet:
//!    raw 0..255, no normalisation), float32, NHWC (or NCHW if the manifest says so).
//! 3. **Inference**: the graph returns `[1, 100, 6]` rows `[x1, y1, x2, y2, score, class_id]`, in
//!    input pixels, sorted by score.
//! 4. **Post-processing**: keep rows with `score >= score_threshold` (0.3); scale boxes by
//!    `W / 512`, `H / 512`; clamp to `[0, W] x [0, H]`; drop boxes left with no area;
//!    class-wise greedy NMS (a box is dropped when its IoU with a kept, higher-scored box of the
//!    same class is `> 0.5`); name classes from the manifest's list. Output is sorted by score.
//!
//! ## Batches
//!
//! The CenterNet graph has a fixed batch dimension of 1, so a batch of frames runs frame by frame
//! inside one [`Detector::detect`] call (one lock, one reused input buffer). A model whose manifest
//! leaves `input.batch` out (dynamic batch) gets its frames stacked, up to [`MAX_STACK`] per run.
//!
//! ## ONNX Runtime
//!
//! The library is not linked: [`environment`] loads it once per process (`ort::init_from`, a
//! process-wide [`OnceLock`]) from [`ort_library_path`]: `$ORT_DYLIB_PATH`, else
//! `vendor/onnxruntime/libonnxruntime.so.1.31.1` under the current directory or any ancestor of
//! the executable (`scripts/fetch-onnxruntime.sh` puts it there). Sessions run on the CPU
//! execution provider by default; [`Device::Cuda`] needs a build with `--features cuda` and the
//! `onnxruntime-gpu` library.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail, ensure};
use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use super::frame::RgbFrame;
use super::model::{
    self, BoxCoordinates, ChannelOrder, DetectionFormat, InputSpec, Layout, LoadedDetector, NmsMode,
};

/// File name of the ONNX Runtime library that `scripts/fetch-onnxruntime.sh` installs.
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";

/// Where `scripts/fetch-onnxruntime.sh` installs [`ORT_LIBRARY`], relative to the repository.
pub const ORT_VENDOR_DIR: &str = "vendor/onnxruntime";

/// The detector manifest used when none is given, relative to the repository.
pub const DEFAULT_MODEL: &str = "models/centernet_coco.toml";

/// Most frames stacked into one run for a model with a dynamic batch dimension.
pub const MAX_STACK: usize = 8;

/// One detected object, in the pixels of the frame it was found in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Class name from the model's class list (`person`, `car`, `truck`, ...).
    pub class: String,
    /// 0-based class index of the model (COCO-80 for CenterNet: 0 person, 2 car, 7 truck).
    pub class_id: u32,
    /// Confidence, 0..1.
    pub score: f32,
    /// `[x1, y1, x2, y2]` in frame pixels, `0 <= x1 < x2 <= width`, `0 <= y1 < y2 <= height`.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider on the given GPU (needs `--features cuda` and the
    /// `onnxruntime-gpu` build of the library).
    Cuda {
        /// CUDA device ordinal.
        device_id: i32,
    },
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda { device_id } => write!(f, "cuda:{device_id}"),
        }
    }
}

impl FromStr for Device {
    type Err = anyhow::Error;

    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda { device_id: 0 }),
            _ => match s.strip_prefix("cuda:").map(str::parse::<i32>) {
                Some(Ok(device_id)) if device_id >= 0 => Ok(Device::Cuda { device_id }),
                _ => bail!("unknown device {s:?}: expected cpu, cuda or cuda:N"),
            },
        }
    }
}

/// How to build a [`Detector`].
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorOptions {
    /// ONNX Runtime intra-op threads for this session (default 2).
    pub threads: usize,
    /// Execution provider (default CPU).
    pub device: Device,
    /// Whether idle intra-op threads spin before sleeping (ONNX Runtime's default is yes). Off by
    /// default: a daemon detecting on sampled keyframes should not burn CPU between frames.
    pub spin: bool,
    /// Lowers the manifest's `score_threshold` to this (never raises it): rows below the
    /// manifest's floor never reach a rule, so a rule, a `[detect] thresholds` entry or an
    /// `eval --threshold` under it must lower it to see what it asks for.
    pub score_threshold: Option<f32>,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self {
            threads: 2,
            device: Device::Cpu,
            spin: false,
            score_threshold: None,
        }
    }
}

/// An object detector: one ONNX Runtime session and the manifest that describes its model.
///
/// `Send + Sync`: calls from several threads are serialised on the session (ONNX Runtime runs one
/// inference at a time per session here; use one `Detector` per worker to run in parallel).
pub struct Detector {
    model: LoadedDetector,
    options: DetectorOptions,
    score_threshold: f32,
    inner: Mutex<Inner>,
}

struct Inner {
    session: Session,
    input: Vec<f32>,
    plans: Vec<ResizePlan>,
}

impl fmt::Debug for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.model.model_path)
            .field("options", &self.options)
            .field("score_threshold", &self.score_threshold)
            .finish()
    }
}

impl Detector {
    /// Loads the manifest at `manifest_path` (checking the model's sha256) and creates a session.
    pub fn new(manifest_path: &Path, options: &DetectorOptions) -> anyhow::Result<Self> {
        let model = model::load_detector(manifest_path)?;
        Self::from_loaded(model, options)
    }

    /// Creates a session for an already loaded manifest.
    pub fn from_loaded(model: LoadedDetector, options: &DetectorOptions) -> anyhow::Result<Self> {
        ensure!(
            (1..=256).contains(&options.threads),
            "threads must be 1..=256"
        );
        let m = &model.manifest;
        let score_threshold = options
            .score_threshold
            .map_or(m.postprocess.score_threshold, |t| {
                t.min(m.postprocess.score_threshold)
            });
        ensure!(
            (0.0..=1.0).contains(&score_threshold),
            "score threshold {score_threshold} is outside 0..=1"
        );
        let env = environment()?;
        let session = build_session(env, &model.model_path, options)
            .with_context(|| format!("loading model {}", model.model_path.display()))?;
        check_signature(&session, &model).with_context(|| {
            format!(
                "model {} does not match its manifest",
                model.model_path.display()
            )
        })?;
        tracing::debug!(
            model = %model.model_path.display(),
            threads = options.threads,
            device = %options.device,
            "detector ready"
        );
        Ok(Self {
            model,
            options: options.clone(),
            score_threshold,
            inner: Mutex::new(Inner {
                session,
                input: Vec::new(),
                plans: Vec::new(),
            }),
        })
    }

    /// The loaded manifest, model path and class names.
    pub fn model(&self) -> &LoadedDetector {
        &self.model
    }

    /// Class names, indexed by class id.
    pub fn class_names(&self) -> &[String] {
        &self.model.names
    }

    /// The options this detector was built with.
    pub fn options(&self) -> &DetectorOptions {
        &self.options
    }

    /// The score threshold in effect.
    pub fn score_threshold(&self) -> f32 {
        self.score_threshold
    }

    /// Detects objects in each frame: `result[i]` holds the detections of `frames[i]`, sorted by
    /// score, in that frame's pixels. Frames may differ in size. With a fixed batch of 1 in the
    /// graph, frames run one after the other within this call.
    pub fn detect(&self, frames: &[&RgbFrame]) -> anyhow::Result<Vec<Vec<Detection>>> {
        let raw = self.detect_raw(frames)?;
        Ok(frames
            .iter()
            .zip(raw)
            .map(|(frame, rows)| self.postprocess(&rows, frame.width, frame.height))
            .collect())
    }

    /// The model's raw output rows for each frame, before threshold, scaling and NMS:
    /// `[x1, y1, x2, y2, score, class_id]` in model-input coordinates.
    pub fn detect_raw(&self, frames: &[&RgbFrame]) -> anyhow::Result<Vec<Vec<[f32; 6]>>> {
        for (i, f) in frames.iter().enumerate() {
            f.validate().with_context(|| format!("frame {i}"))?;
        }
        let spec = &self.model.manifest.input;
        let per_image = spec.shape(1).iter().product::<usize>();
        let stack = match spec.batch {
            Some(b) => b as usize,
            None => MAX_STACK,
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Inner {
            session,
            input,
            plans,
        } = &mut *inner;
        let mut out = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(stack.max(1)) {
            // A fixed batch is padded with zeros; a dynamic one takes the chunk as it is.
            let n = spec.batch.map_or(chunk.len(), |b| b as usize);
            input.clear();
            input.resize(n * per_image, 0.0);
            for (frame, dst) in chunk.iter().zip(input.chunks_exact_mut(per_image)) {
                let plan = plan_for(plans, frame.width, frame.height, spec);
                preprocess_with(frame, spec, plan, dst);
            }
            let shape = spec.shape(n);
            let tensor = TensorRef::from_array_view((shape, input.as_slice()))
                .context("building the input tensor")?;
            let outputs = session
                .run(ort::inputs![spec.name.as_str() => tensor])
                .context("running the detector")?;
            let output = &outputs[self.model.manifest.output.name.as_str()];
            let (oshape, data) = output
                .try_extract_tensor::<f32>()
                .context("reading the detector output")?;
            ensure!(
                oshape.len() == 3 && oshape[0] as usize == n && oshape[2] == 6,
                "detector output has shape {oshape:?}, expected [{n}, rows, 6]"
            );
            let rows = oshape[1] as usize;
            for b in 0..chunk.len() {
                let image = &data[b * rows * 6..(b + 1) * rows * 6];
                out.push(
                    image
                        .chunks_exact(6)
                        .map(|r| <[f32; 6]>::try_from(r).expect("6 values"))
                        .collect(),
                );
            }
        }
        Ok(out)
    }

    /// Threshold, scaling to a `width x height` frame, clamping, NMS and naming, applied to raw
    /// rows from [`Detector::detect_raw`].
    pub fn postprocess(&self, rows: &[[f32; 6]], width: u32, height: u32) -> Vec<Detection> {
        let m = &self.model.manifest;
        let (sx, sy) = match m.output.coordinates {
            BoxCoordinates::InputPixels => (
                width as f32 / m.input.width as f32,
                height as f32 / m.input.height as f32,
            ),
            BoxCoordinates::Normalised => (width as f32, height as f32),
        };
        debug_assert_eq!(m.output.format, DetectionFormat::XyxyScoreClass);
        postprocess(
            rows,
            &PostprocessParams {
                scale: [sx, sy],
                width,
                height,
                score_threshold: self.score_threshold,
                nms: m.postprocess.nms,
                nms_iou: m.postprocess.nms_iou,
            },
            &self.model.names,
        )
    }
}

fn build_session(
    env: &Environment,
    model_path: &Path,
    options: &DetectorOptions,
) -> anyhow::Result<Session> {
    let ort_err = |e: ort::Error<ort::session::builder::SessionBuilder>| ort::Error::<()>::from(e);
    let mut builder = Session::builder(env)?
        .with_intra_threads(options.threads)
        .map_err(ort_err)?
        .with_inter_threads(1)
        .map_err(ort_err)?
        .with_intra_op_spinning(options.spin)
        .map_err(ort_err)?;
    if let Device::Cuda { device_id } = options.device {
        builder = with_cuda(builder, device_id)?;
    }
    Ok(builder.commit_from_file(model_path)?)
}

#[cfg(feature = "cuda")]
fn with_cuda(
    builder: ort::session::builder::SessionBuilder,
    device_id: i32,
) -> anyhow::Result<ort::session::builder::SessionBuilder> {
    builder
        .with_execution_providers([ort::ep::CUDA::default()
            .with_device_id(device_id)
            .build()
            .error_on_failure()])
        .map_err(|e| {
            anyhow!(
                "cannot use CUDA device {device_id}: {}; the CUDA execution provider needs the \
                 onnxruntime-gpu library (ORT_DYLIB_PATH) with CUDA and cuDNN installed",
                ort::Error::<()>::from(e)
            )
        })
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(
    _builder: ort::session::builder::SessionBuilder,
    device_id: i32,
) -> anyhow::Result<ort::session::builder::SessionBuilder> {
    bail!(
        "CUDA device {device_id} requested, but this sharpeyes was built without CUDA support; \
         rebuild with `cargo build --features cuda` and point ORT_DYLIB_PATH at the onnxruntime-gpu \
         library, or use the CPU"
    )
}

/// Checks the session's input and output against the manifest.
fn check_signature(session: &Session, model: &LoadedDetector) -> anyhow::Result<()> {
    let m = &model.manifest;
    let input = session
        .inputs()
        .iter()
        .find(|i| i.name() == m.input.name)
        .ok_or_else(|| {
            anyhow!(
                "no input named {:?} (the graph has {:?})",
                m.input.name,
                session
                    .inputs()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
            )
        })?;
    let shape = input
        .dtype()
        .tensor_shape()
        .ok_or_else(|| anyhow!("input {:?} is not a tensor", m.input.name))?;
    let want = m.input.shape(1);
    ensure!(
        shape.len() == 4,
        "input {:?} has {} dimensions, expected 4",
        m.input.name,
        shape.len()
    );
    let batch = m.input.batch.map_or(-1, i64::from);
    ensure!(
        shape[0] == batch,
        "input batch dimension is {} in the graph but {} in the manifest (-1 = dynamic)",
        shape[0],
        batch
    );
    for d in 1..4 {
        ensure!(
            shape[d] == want[d] as i64,
            "input {:?} has shape {:?}, manifest says {:?}",
            m.input.name,
            &shape[..],
            want
        );
    }
    let output = session
        .outputs()
        .iter()
        .find(|o| o.name() == m.output.name)
        .ok_or_else(|| {
            anyhow!(
                "no output named {:?} (the graph has {:?})",
                m.output.name,
                session
                    .outputs()
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
            )
        })?;
    if let Some(oshape) = output.dtype().tensor_shape() {
        ensure!(
            oshape.len() == 3 && oshape[2] == 6,
            "output {:?} has shape {:?}, expected [batch, rows, 6]",
            m.output.name,
            &oshape[..]
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ONNX Runtime environment

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static ENVIRONMENT_INIT: Mutex<()> = Mutex::new(());

/// The process-wide ONNX Runtime environment, created on first use from the library at
/// [`ort_library_path`]. `ort` allows one environment per process; every session shares it.
pub fn environment() -> anyhow::Result<&'static Environment> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let _guard = ENVIRONMENT_INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = ort_library_path()?;
    let started = Instant::now();
    let env = ort::init_from(&path)
        .map_err(|e| anyhow!("cannot load ONNX Runtime: {e}"))?
        .with_name("sharpeyes")
        .with_telemetry(false)
        .build()
        .context("creating the ONNX Runtime environment")?;
    tracing::info!(
        library = %path.display(),
        ms = started.elapsed().as_millis() as u64,
        "ONNX Runtime loaded"
    );
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// Where an installed sharpeyes keeps [`ORT_LIBRARY`], relative to its prefix (`/usr/local`):
/// the layout of `deploy/Dockerfile` and `deploy/systemd/sharpeyes.service`.
pub const ORT_INSTALL_DIR: &str = "lib/sharpeyes";

/// Finds the ONNX Runtime shared library: `$ORT_DYLIB_PATH` if set (it must exist), else
/// `vendor/onnxruntime/libonnxruntime.so.1.31.1` under the current directory or any ancestor
/// directory of the running executable (a source checkout), else
/// `lib/sharpeyes/libonnxruntime.so.1.31.1` under an ancestor of the executable (an install
/// prefix: `/usr/local/bin/sharpeyes` → `/usr/local/lib/sharpeyes/`). The working directory
/// never matters beyond the first candidate. The error lists every place looked in.
pub fn ort_library_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        ensure!(
            p.is_file(),
            "ORT_DYLIB_PATH={} does not exist; point it at libonnxruntime.so.1.31.x or unset it \
             and run scripts/fetch-onnxruntime.sh",
            p.display()
        );
        return Ok(p);
    }
    let candidates = crate::install::candidates(&[
        Path::new(ORT_VENDOR_DIR).join(ORT_LIBRARY),
        Path::new(ORT_INSTALL_DIR).join(ORT_LIBRARY),
    ]);
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "ONNX Runtime library {ORT_LIBRARY} not found (looked for {}); run \
         scripts/fetch-onnxruntime.sh, or set ORT_DYLIB_PATH to the library",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Finds [`DEFAULT_MODEL`] (see [`crate::install::locate`]).
pub fn default_model_path() -> PathBuf {
    crate::install::locate(Path::new(DEFAULT_MODEL))
}

// ---------------------------------------------------------------------------------------------
// Pre-processing

/// Source taps of one output row or column: `(i0, i1, f)`, value `= p[i0] * (1 - f) + p[i1] * f`.
#[derive(Debug, Clone, PartialEq)]
struct ResizePlan {
    from: (u32, u32),
    xs: Vec<(usize, usize, f32)>,
    ys: Vec<(usize, usize, f32)>,
}

/// Half-pixel-centre bilinear taps from `n_in` samples to `n_out` (see the module docs).
fn taps(n_in: u32, n_out: u32) -> Vec<(usize, usize, f32)> {
    let scale = f64::from(n_in) / f64::from(n_out);
    let last = f64::from(n_in - 1);
    (0..n_out)
        .map(|o| {
            let s = ((f64::from(o) + 0.5) * scale - 0.5).clamp(0.0, last);
            let i0 = s.floor();
            let f = (s - i0) as f32;
            let i0 = i0 as usize;
            (i0, (i0 + 1).min(n_in as usize - 1), f)
        })
        .collect()
}

fn plan_for<'a>(
    plans: &'a mut Vec<ResizePlan>,
    width: u32,
    height: u32,
    spec: &InputSpec,
) -> &'a ResizePlan {
    // Cameras come in a handful of sizes; keep the taps of the last few.
    if let Some(i) = plans.iter().position(|p| p.from == (width, height)) {
        return &plans[i];
    }
    if plans.len() >= 8 {
        plans.remove(0);
    }
    plans.push(ResizePlan {
        from: (width, height),
        xs: taps(width, spec.width),
        ys: taps(height, spec.height),
    });
    plans.last().expect("just pushed")
}

/// Fills `out` (length `width * height * 3` of the model input) with the model-input tensor of
/// `frame` for `spec`: stretch resize (bilinear, half-pixel centres), channel order, affine
/// normalisation, layout. Public for tests and tools; [`Detector`] caches the resize taps.
pub fn preprocess(frame: &RgbFrame, spec: &InputSpec, out: &mut [f32]) {
    let plan = ResizePlan {
        from: (frame.width, frame.height),
        xs: taps(frame.width, spec.width),
        ys: taps(frame.height, spec.height),
    };
    preprocess_with(frame, spec, &plan, out);
}

fn preprocess_with(frame: &RgbFrame, spec: &InputSpec, plan: &ResizePlan, out: &mut [f32]) {
    let (w, h) = (spec.width as usize, spec.height as usize);
    assert_eq!(out.len(), w * h * 3, "output buffer size");
    let affine = spec.affine();
    // Model channel c reads frame channel src[c].
    let src = match spec.channels {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    };
    let plane = w * h;
    for (oy, &(y0, y1, fy)) in plan.ys.iter().enumerate() {
        let r0 = frame.row(y0 as u32);
        let r1 = frame.row(y1 as u32);
        let gy = 1.0 - fy;
        for (ox, &(x0, x1, fx)) in plan.xs.iter().enumerate() {
            let gx = 1.0 - fx;
            for c in 0..3 {
                let s = src[c];
                let p00 = f32::from(r0[x0 * 3 + s]);
                let p01 = f32::from(r0[x1 * 3 + s]);
                let p10 = f32::from(r1[x0 * 3 + s]);
                let p11 = f32::from(r1[x1 * 3 + s]);
                let top = p00 * gx + p01 * fx;
                let bottom = p10 * gx + p11 * fx;
                let v = top * gy + bottom * fy;
                let (a, b) = affine[c];
                let idx = match spec.layout {
                    Layout::Nhwc => (oy * w + ox) * 3 + c,
                    Layout::Nchw => c * plane + oy * w + ox,
                };
                out[idx] = a * v + b;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Post-processing

/// Parameters of [`postprocess`].
#[derive(Debug, Clone, PartialEq)]
pub struct PostprocessParams {
    /// Factors from model coordinates to frame pixels, `[x, y]`.
    pub scale: [f32; 2],
    /// Frame width (boxes are clamped to it).
    pub width: u32,
    /// Frame height (boxes are clamped to it).
    pub height: u32,
    /// Rows with a lower score are dropped.
    pub score_threshold: f32,
    /// Suppression mode.
    pub nms: NmsMode,
    /// IoU above which a lower-scored box is suppressed.
    pub nms_iou: f32,
}

/// Turns raw rows `[x1, y1, x2, y2, score, class_id]` into detections: threshold, scale, clamp,
/// drop empty boxes, NMS, name. Output sorted by score (ties keep row order).
pub fn postprocess(rows: &[[f32; 6]], p: &PostprocessParams, names: &[String]) -> Vec<Detection> {
    let (w, h) = (p.width as f32, p.height as f32);
    let mut candidates: Vec<Detection> = rows
        .iter()
        .filter(|r| r[4] >= p.score_threshold && r[5].is_finite() && r[5] >= 0.0)
        .filter_map(|r| {
            let bbox = [
                (r[0] * p.scale[0]).clamp(0.0, w),
                (r[1] * p.scale[1]).clamp(0.0, h),
                (r[2] * p.scale[0]).clamp(0.0, w),
                (r[3] * p.scale[1]).clamp(0.0, h),
            ];
            if bbox.iter().any(|v| v.is_nan()) || bbox[2] <= bbox[0] || bbox[3] <= bbox[1] {
                return None;
            }
            let class_id = r[5].round() as u32;
            let class = names
                .get(class_id as usize)
                .cloned()
                .unwrap_or_else(|| format!("class_{class_id}"));
            Some(Detection {
                class,
                class_id,
                score: r[4],
                bbox,
            })
        })
        .collect();
    // Stable: equal scores keep the model's order.
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    nms(candidates, p.nms, p.nms_iou)
}

/// Greedy non-maximum suppression over detections sorted by score (highest first): a detection
/// is dropped when its IoU with an already kept one (of the same class, for
/// [`NmsMode::ClassWise`]) is greater than `iou_threshold`.
pub fn nms(sorted: Vec<Detection>, mode: NmsMode, iou_threshold: f32) -> Vec<Detection> {
    if mode == NmsMode::None {
        return sorted;
    }
    let mut kept: Vec<Detection> = Vec::with_capacity(sorted.len());
    for d in sorted {
        let suppressed = kept.iter().any(|k| {
            (mode == NmsMode::Agnostic || k.class_id == d.class_id)
                && iou(&k.bbox, &d.bbox) > iou_threshold
        });
        if !suppressed {
            kept.push(d);
        }
    }
    kept
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes (0 when the union is empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Share of box `a`'s area that lies inside box `b` (0 when `a` is empty): a detection mostly
/// inside a bigger one (a person cut at a tile's edge; a box in an "ignore" region).
pub fn share_inside(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = (a[2] - a[0]).max(0.0) * (a[3] - a[1]).max(0.0);
    if area > 0.0 { iw * ih / area } else { 0.0 }
}

/// A colour per class for annotation: people green, vehicles red/orange, others from a palette.
pub fn class_colour(class_id: u32) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [0, 200, 255],
        [255, 0, 255],
        [255, 255, 0],
        [0, 128, 255],
        [128, 0, 255],
        [255, 128, 128],
        [128, 255, 128],
        [200, 200, 200],
    ];
    match class_id {
        0 => [0, 255, 0],       // person
        7 => [255, 0, 0],       // truck
        2 | 5 => [255, 140, 0], // car, bus
        id => PALETTE[id as usize % PALETTE.len()],
    }
}

// ---------------------------------------------------------------------------------------------
// `sharpeyes detect`

/// `sharpeyes detect IMAGE... [--model M] [--json] [--annotate OUT.jpg]`: runs the detector on
/// image files and prints what it finds.
#[derive(clap::Args, Debug, Clone)]
pub struct DetectArgs {
    /// Image files (JPEG, PNG; anything GStreamer's decodebin reads).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Detector manifest [default: models/centernet_coco.toml, looked up in the current
    /// directory and above the executable].
    #[arg(long, value_name = "MANIFEST")]
    pub model: Option<PathBuf>,
    /// Print JSON: `[{"image", "width", "height", "detections": [{"class", "class_id", "score",
    /// "box": [x1, y1, x2, y2]}]}]`.
    #[arg(long)]
    pub json: bool,
    /// Write the image with the boxes drawn as a JPEG. With several images, one file per image:
    /// OUT's stem, `-`, the image's stem, `.jpg` (`out-dog.jpg`).
    #[arg(long, value_name = "OUT.jpg")]
    pub annotate: Option<PathBuf>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Score threshold (default: the manifest's).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Execution provider: cpu, cuda or cuda:N (cuda needs a `--features cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

/// One image's result, as `sharpeyes detect --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageDetections {
    /// The image path as given.
    pub image: String,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Detections, by score.
    pub detections: Vec<Detection>,
}

/// Runs `sharpeyes detect`.
pub fn run_cli(args: &DetectArgs) -> anyhow::Result<()> {
    let manifest = args.model.clone().unwrap_or_else(default_model_path);
    let started = Instant::now();
    let detector = Detector::new(
        &manifest,
        &DetectorOptions {
            threads: args.threads,
            device: args.device,
            score_threshold: args.threshold,
            ..DetectorOptions::default()
        },
    )?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut results = Vec::with_capacity(args.images.len());
    for (i, path) in args.images.iter().enumerate() {
        let mut frame = super::image::load(path)?;
        let t = Instant::now();
        let detections = detector
            .detect(&[&frame])
            .with_context(|| format!("detecting in {}", path.display()))?
            .pop()
            .unwrap_or_default();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if !args.json {
            print_table(path, &frame, &detections, ms);
        }
        if let Some(out) = &args.annotate {
            let out = annotate_path(out, path, i, args.images.len());
            for d in &detections {
                super::image::draw_box(&mut frame, d.bbox, class_colour(d.class_id));
            }
            super::image::write_jpeg(&frame, &out)?;
            if !args.json {
                println!("  annotated: {}", out.display());
            }
        }
        results.push(ImageDetections {
            image: path.display().to_string(),
            width: frame.width,
            height: frame.height,
            detections,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!(
            "model {} (threshold {}, {} thread(s), {}), loaded in {load_ms:.0} ms",
            detector.model().model_path.display(),
            detector.score_threshold(),
            args.threads,
            args.device
        );
    }
    Ok(())
}

fn annotate_path(out: &Path, image: &Path, index: usize, count: usize) -> PathBuf {
    if count <= 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("annotated");
    let image_stem = image
        .file_stem()
        .and_then(|s| s.to_str())
        .map_or_else(|| index.to_string(), str::to_string);
    out.with_file_name(format!("{stem}-{image_stem}.jpg"))
}

fn print_table(path: &Path, frame: &RgbFrame, detections: &[Detection], ms: f64) {
    println!(
        "{} ({}x{}): {} detection(s) in {ms:.1} ms",
        path.display(),
        frame.width,
        frame.height,
        detections.len()
    );
    if detections.is_empty() {
        return;
    }
    println!(
        "  {:<16} {:>5}  {:>7} {:>7} {:>7} {:>7}",
        "class", "score", "x1", "y1", "x2", "y2"
    );
    for d in detections {
        println!(
            "  {:<16} {:>5.3}  {:>7.1} {:>7.1} {:>7.1} {:>7.1}",
            d.class, d.score, d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32, score: f32, bbox: [f32; 4]) -> Detection {
        Detection {
            class: format!("c{class_id}"),
            class_id,
            score,
            bbox,
        }
    }

    #[test]
    fn detector_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Detector>();
    }

    #[test]
    fn iou_basics() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[10.0, 0.0, 20.0, 10.0]), 0.0);
        let v = iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]);
        assert!((v - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(iou(&[0.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn nms_is_class_wise_and_greedy() {
        let sorted = vec![
            det(2, 0.9, [0.0, 0.0, 10.0, 10.0]),
            det(7, 0.8, [0.0, 0.0, 10.0, 10.0]), // other class, same box: kept
            det(2, 0.7, [1.0, 0.0, 11.0, 10.0]), // IoU 0.82 with the first: dropped
            det(2, 0.6, [5.0, 0.0, 15.0, 10.0]), // IoU 0.33: kept
        ];
        let kept = nms(sorted.clone(), NmsMode::ClassWise, 0.5);
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, [0.9, 0.8, 0.6]);
        let kept = nms(sorted.clone(), NmsMode::Agnostic, 0.5);
        assert_eq!(kept.len(), 2);
        assert_eq!(nms(sorted, NmsMode::None, 0.5).len(), 4);
    }

    #[test]
    fn postprocess_thresholds_scales_clamps() {
        let names: Vec<String> = ["person", "bicycle", "car"].map(String::from).to_vec();
        let rows = [
            [-2.0, 10.0, 256.0, 600.0, 0.9, 0.0],    // clamped to the frame
            [100.0, 100.0, 200.0, 200.0, 0.29, 2.0], // below threshold
            [600.0, 10.0, 700.0, 20.0, 0.5, 2.0],    // entirely right of the frame: no area
            [0.0, 0.0, 512.0, 512.0, 0.3, 5.0],      // at threshold, unknown class id
        ];
        let p = PostprocessParams {
            scale: [768.0 / 512.0, 576.0 / 512.0],
            width: 768,
            height: 576,
            score_threshold: 0.3,
            nms: NmsMode::ClassWise,
            nms_iou: 0.5,
        };
        let d = postprocess(&rows, &p, &names);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].class, "person");
        assert_eq!(d[0].bbox, [0.0, 11.25, 384.0, 576.0]);
        assert_eq!(d[1].class, "class_5");
        assert_eq!(d[1].bbox, [0.0, 0.0, 768.0, 576.0]);
        let json = serde_json::to_value(&d[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"class": "person", "class_id": 0, "score": 0.9f32, "box": [0.0, 11.25, 384.0, 576.0]})
        );
    }

    #[test]
    fn resize_taps_follow_half_pixel_centres() {
        // Identity: every output pixel is exactly its source pixel.
        for (i, t) in taps(5, 5).into_iter().enumerate() {
            assert_eq!((t.0, t.2), (i, 0.0));
        }
        // 2x upscale of 4 samples: -0.25 clamps to 0, then 0.25, 0.75, ... , 3.25 clamps to 3.
        let t = taps(4, 8);
        assert_eq!(t[0], (0, 1, 0.0));
        assert_eq!(t[1], (0, 1, 0.25));
        assert_eq!(t[2], (0, 1, 0.75));
        assert_eq!(t[7], (3, 3, 0.0));
        // 2x downscale: output o reads between 2o and 2o+1 at weight 0.5.
        assert_eq!(
            taps(8, 4),
            vec![(0, 1, 0.5), (2, 3, 0.5), (4, 5, 0.5), (6, 7, 0.5)]
        );
    }

    #[test]
    fn preprocess_stretches_in_nhwc_and_nchw() {
        let frame = RgbFrame::from_fn(4, 2, |x, y| [(x * 10) as u8, (y * 100) as u8, 7]);
        let mut spec = InputSpec {
            name: "images".into(),
            layout: Layout::Nhwc,
            width: 2,
            height: 2,
            batch: Some(1),
            channels: ChannelOrder::Rgb,
            resize: model::Resize::Stretch,
            pixel_range: [0.0, 255.0],
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        let mut out = vec![0.0; 12];
        preprocess(&frame, &spec, &mut out);
        // Columns: 4 -> 2 reads (0,1) and (2,3) at 0.5: R = 5, 25. Rows 2 -> 2 identity.
        assert_eq!(
            out,
            [
                5.0, 0.0, 7.0, 25.0, 0.0, 7.0, 5.0, 100.0, 7.0, 25.0, 100.0, 7.0
            ]
        );
        spec.layout = Layout::Nchw;
        spec.channels = ChannelOrder::Bgr;
        spec.pixel_range = [0.0, 1.0];
        preprocess(&frame, &spec, &mut out);
        let expect = [
            7.0, 7.0, 7.0, 7.0, 0.0, 0.0, 100.0, 100.0, 5.0, 25.0, 5.0, 25.0,
        ];
        for (a, e) in out.iter().zip(expect) {
            assert!((a - e / 255.0).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn device_parses() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!(
            "cuda".parse::<Device>().unwrap(),
            Device::Cuda { device_id: 0 }
        );
        assert_eq!(
            "cuda:1".parse::<Device>().unwrap(),
            Device::Cuda { device_id: 1 }
        );
        assert!("gpu".parse::<Device>().is_err());
        assert!("cuda:-1".parse::<Device>().is_err());
        assert_eq!(Device::Cuda { device_id: 3 }.to_string(), "cuda:3");
    }

    #[test]
    fn annotate_paths() {
        let out = Path::new("/tmp/out.jpg");
        assert_eq!(annotate_path(out, Path::new("a/dog.jpg"), 0, 1), out);
        assert_eq!(
            annotate_path(out, Path::new("a/dog.jpg"), 0, 2),
            Path::new("/tmp/out-dog.jpg")
        );
    }
}

/// The latest detections of a camera, as the API shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DetectionsView {
    /// When the picture was sampled.
    pub at: crate::clock::Time,
    /// Picture size the boxes refer to.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Objects per class.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// The objects, best first.
    pub objects: Vec<Detection>,
    /// The detector's recommended score threshold per class (rules without `min_score`).
    #[serde(skip)]
    pub thresholds: std::sync::Arc<std::collections::BTreeMap<String, f32>>,
}
