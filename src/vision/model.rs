//! Model manifests: the TOML file beside every ONNX model that says what the model expects and
//! returns, where it came from, and which bytes it must be.
//!
//! A manifest is the single source of truth for pre- and post-processing: the detector never
//! hard-codes 512x512, NHWC or the class list; it reads them from here. Two kinds exist:
//!
//! - `kind = "detector"` — boxes, scores and class ids per image (see `models/centernet_coco.toml`):
//!   input tensor, output rows `[x1, y1, x2, y2, score, class_id]`, class names, score threshold
//!   and NMS IoU.
//! - `kind = "classifier"` — one label per crop (the cover classifier of the `uncovered_truck` rule):
//!   input tensor with mean/std normalisation, output activation, labels, threshold.
//!
//! Paths in a manifest (`file`, `classes.file`, `labels.file`) are relative to the manifest's
//! directory. [`load`] parses, validates the values, checks that the model file exists and that
//! its sha256 is the manifest's, and reads the label file.
//!
//! Pixel normalisation, for both kinds: an 8-bit sample `p` (0..=255, after resizing) becomes
//! `((p / 255) * (hi - lo) + lo - mean[c]) / std[c]` where `pixel_range = [lo, hi]`; with the
//! defaults (`mean = 0`, `std = 1`) and `pixel_range = [0, 255]` that is `p` itself.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use serde::{Deserialize, Serialize};

/// A parsed manifest of either kind, chosen by its `kind` key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Manifest {
    /// An object detector (`kind = "detector"`).
    Detector(DetectorManifest),
    /// An image classifier (`kind = "classifier"`).
    Classifier(ClassifierManifest),
}

/// `kind = "detector"`: an ONNX model that returns scored, classed boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorManifest {
    /// Always `"detector"`.
    pub kind: DetectorKind,
    /// Short name, used in logs and metrics (`centernet_coco`).
    pub name: String,
    /// The ONNX file, relative to the manifest.
    pub file: PathBuf,
    /// Lower-case hex sha256 of `file`.
    pub sha256: String,
    /// Licence of the model weights as distributed (SPDX where possible).
    pub licence: String,
    /// The input tensor and how to fill it.
    pub input: InputSpec,
    /// The output tensor and how to read it.
    pub output: DetectorOutputSpec,
    /// Class names, indexed by the model's class id.
    pub classes: LabelSource,
    /// Threshold and non-maximum suppression.
    pub postprocess: DetectorPostprocess,
    /// Recommended score thresholds per class name, measured with `sharpeyes eval` (rules that
    /// set no `min_score` use these): `[thresholds] person = 0.35`.
    #[serde(default)]
    pub thresholds: std::collections::BTreeMap<String, f32>,
    /// Where the weights come from.
    pub provenance: Provenance,
}

/// `kind = "classifier"`: an ONNX model that returns one score per label for an image (or crop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierManifest {
    /// Always `"classifier"`.
    pub kind: ClassifierKind,
    /// Short name, used in logs and metrics (`truck_cover`).
    pub name: String,
    /// The ONNX file, relative to the manifest.
    pub file: PathBuf,
    /// Lower-case hex sha256 of `file`.
    pub sha256: String,
    /// Licence of the model weights as distributed (SPDX where possible).
    pub licence: String,
    /// The input tensor and how to fill it (typically NCHW with ImageNet mean/std).
    pub input: InputSpec,
    /// The output tensor and the activation that turns it into scores.
    pub output: ClassifierOutputSpec,
    /// Label names, indexed like the output vector.
    pub labels: LabelSource,
    /// Decision rule.
    pub postprocess: ClassifierPostprocess,
    /// Where the weights come from.
    pub provenance: Provenance,
}

/// The `kind` value of a detector manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DetectorKind {
    /// `kind = "detector"`.
    #[default]
    #[serde(rename = "detector")]
    Detector,
}

/// The `kind` value of a classifier manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ClassifierKind {
    /// `kind = "classifier"`.
    #[default]
    #[serde(rename = "classifier")]
    Classifier,
}

/// Memory layout of an image tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// `[batch, height, width, channels]` (TensorFlow style).
    #[serde(rename = "NHWC")]
    Nhwc,
    /// `[batch, channels, height, width]` (PyTorch style).
    #[serde(rename = "NCHW")]
    Nchw,
}

/// Channel order the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelOrder {
    /// Red, green, blue.
    #[serde(rename = "RGB")]
    Rgb,
    /// Blue, green, red (OpenCV-trained models).
    #[serde(rename = "BGR")]
    Bgr,
}

/// How a frame is brought to the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Scale width and height independently to the input size (aspect ratio not kept), bilinear
    /// with half-pixel centres and no antialiasing (see `vision::detect`).
    Stretch,
}

/// The image input tensor of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// Tensor layout.
    pub layout: Layout,
    /// Model input width in pixels.
    pub width: u32,
    /// Model input height in pixels.
    pub height: u32,
    /// Fixed batch size of the graph, or absent when the batch dimension is dynamic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// Channel order.
    #[serde(default = "default_channels")]
    pub channels: ChannelOrder,
    /// Resize rule.
    pub resize: Resize,
    /// `[lo, hi]`: 8-bit samples 0..=255 are first mapped linearly onto this range.
    pub pixel_range: [f32; 2],
    /// Per-channel mean subtracted after the range mapping (in `channels` order).
    #[serde(default = "default_mean")]
    pub mean: [f32; 3],
    /// Per-channel divisor applied after subtracting the mean (in `channels` order).
    #[serde(default = "default_std")]
    pub std: [f32; 3],
}

fn default_channels() -> ChannelOrder {
    ChannelOrder::Rgb
}
fn default_mean() -> [f32; 3] {
    [0.0; 3]
}
fn default_std() -> [f32; 3] {
    [1.0; 3]
}

impl InputSpec {
    /// Per model channel `(a, b)` such that the tensor value of an 8-bit sample `p` (possibly
    /// interpolated, so fractional) is `a * p + b`.
    pub fn affine(&self) -> [(f32, f32); 3] {
        let [lo, hi] = self.pixel_range;
        std::array::from_fn(|c| {
            let a = (hi - lo) / 255.0 / self.std[c];
            let b = (lo - self.mean[c]) / self.std[c];
            (a, b)
        })
    }

    /// The tensor shape for a batch of `n` images.
    pub fn shape(&self, n: usize) -> [usize; 4] {
        let (w, h) = (self.width as usize, self.height as usize);
        match self.layout {
            Layout::Nhwc => [n, h, w, 3],
            Layout::Nchw => [n, 3, h, w],
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(!self.name.is_empty(), "input.name is empty");
        ensure!(
            (1..=8192).contains(&self.width) && (1..=8192).contains(&self.height),
            "input size {}x{} is out of range 1..=8192",
            self.width,
            self.height
        );
        ensure!(self.batch != Some(0), "input.batch must be at least 1");
        let [lo, hi] = self.pixel_range;
        ensure!(
            lo.is_finite() && hi.is_finite() && lo < hi,
            "input.pixel_range [{lo}, {hi}] must be finite with lo < hi"
        );
        for c in 0..3 {
            ensure!(
                self.mean[c].is_finite(),
                "input.mean[{c}] is not a finite number"
            );
            ensure!(
                self.std[c].is_finite() && self.std[c] != 0.0,
                "input.std[{c}] must be finite and non-zero"
            );
        }
        Ok(())
    }
}

/// How detector output rows are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectionFormat {
    /// `[batch, rows, 6]`, each row `[x1, y1, x2, y2, score, class_id]`, `class_id` 0-based.
    XyxyScoreClass,
}

/// The coordinate frame of detector boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxCoordinates {
    /// Pixels of the model input (`0..width`, `0..height`).
    InputPixels,
    /// Fractions of the model input (`0..1`).
    Normalised,
}

/// The output tensor of a detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorOutputSpec {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// Row layout.
    pub format: DetectionFormat,
    /// Rows per image (fixed), or absent when variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
    /// Box coordinate frame.
    pub coordinates: BoxCoordinates,
}

/// Non-maximum suppression mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NmsMode {
    /// Boxes suppress only boxes of the same class.
    ClassWise,
    /// Boxes suppress boxes of any class.
    Agnostic,
    /// No suppression (the graph already does it).
    None,
}

/// Detector post-processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorPostprocess {
    /// Rows with `score >= score_threshold` are kept.
    pub score_threshold: f32,
    /// Suppression mode.
    pub nms: NmsMode,
    /// A box is suppressed by a higher-scored one when their IoU is greater than this.
    pub nms_iou: f32,
}

/// What turns the classifier's raw output into scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Softmax over the output vector (mutually exclusive labels).
    Softmax,
    /// Logistic function per output (independent labels).
    Sigmoid,
    /// The output already holds scores in 0..1.
    None,
}

/// The output tensor of a classifier: `[batch, labels]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierOutputSpec {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// Activation applied to the raw output.
    pub activation: Activation,
}

/// Classifier decision rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierPostprocess {
    /// A label counts as present when its score is `>= threshold`.
    pub threshold: f32,
    /// The label that raises an alarm (for the cover classifier: `uncovered`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<String>,
}

/// Class or label names: a file with one name per line, or a list in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LabelSource {
    /// `file = "coco80.txt"`: one name per line, relative to the manifest.
    File {
        /// The label file.
        file: PathBuf,
    },
    /// `names = ["covered", "uncovered"]`.
    Inline {
        /// The names, in output order.
        names: Vec<String>,
    },
}

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The package or URL the weights were taken from (with version).
    pub source: String,
    /// The licence under which `source` distributes them.
    pub licence: String,
    /// The original project, if `source` is a redistribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The licence situation of `upstream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_licence: Option<String>,
    /// How the ONNX file was produced from `source`, and how it was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<String>,
}

impl Manifest {
    /// Parses a manifest and validates its values (not the files it names).
    pub fn from_toml_str(text: &str) -> anyhow::Result<Self> {
        // Look at `kind` first, then parse the whole text as that kind: errors then carry the
        // line and key (an internally tagged serde enum would lose them).
        #[derive(Deserialize)]
        struct Kind {
            kind: Option<String>,
        }
        let kind: Kind = toml::from_str(text).context("invalid model manifest")?;
        let manifest = match kind.kind.as_deref() {
            Some("detector") => {
                Manifest::Detector(toml::from_str(text).context("invalid detector manifest")?)
            }
            Some("classifier") => {
                Manifest::Classifier(toml::from_str(text).context("invalid classifier manifest")?)
            }
            Some(other) => bail!(
                "invalid model manifest: unknown kind {other:?}, expected \"detector\" or \"classifier\""
            ),
            None => bail!("invalid model manifest: no `kind` (\"detector\" or \"classifier\")"),
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks the values: sizes, ranges, thresholds, hash syntax, label lists.
    pub fn validate(&self) -> anyhow::Result<()> {
        match self {
            Manifest::Detector(m) => m.validate(),
            Manifest::Classifier(m) => m.validate(),
        }
    }

    /// `"detector"` or `"classifier"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Manifest::Detector(_) => "detector",
            Manifest::Classifier(_) => "classifier",
        }
    }
}

fn validate_common(name: &str, sha256: &str, licence: &str, p: &Provenance) -> anyhow::Result<()> {
    ensure!(!name.is_empty(), "name is empty");
    ensure!(
        sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "sha256 must be 64 lower-case hex digits, got {sha256:?}"
    );
    ensure!(!licence.trim().is_empty(), "licence is empty");
    ensure!(!p.source.trim().is_empty(), "provenance.source is empty");
    ensure!(!p.licence.trim().is_empty(), "provenance.licence is empty");
    Ok(())
}

fn validate_labels(what: &str, labels: &LabelSource) -> anyhow::Result<()> {
    if let LabelSource::Inline { names } = labels {
        validate_names(what, names)?;
    }
    Ok(())
}

fn validate_names(what: &str, names: &[String]) -> anyhow::Result<()> {
    ensure!(!names.is_empty(), "{what}: no names");
    if let Some(i) = names.iter().position(|n| n.trim().is_empty()) {
        bail!("{what}: name {i} is empty");
    }
    Ok(())
}

impl DetectorManifest {
    fn validate(&self) -> anyhow::Result<()> {
        validate_common(&self.name, &self.sha256, &self.licence, &self.provenance)?;
        self.input.validate()?;
        ensure!(!self.output.name.is_empty(), "output.name is empty");
        ensure!(
            self.output.rows != Some(0),
            "output.rows must be at least 1"
        );
        let pp = &self.postprocess;
        ensure!(
            (0.0..=1.0).contains(&pp.score_threshold),
            "postprocess.score_threshold {} is outside 0..=1",
            pp.score_threshold
        );
        ensure!(
            pp.nms_iou > 0.0 && pp.nms_iou <= 1.0,
            "postprocess.nms_iou {} is outside (0, 1]",
            pp.nms_iou
        );
        for (class, t) in &self.thresholds {
            ensure!(
                (pp.score_threshold..=1.0).contains(t),
                "thresholds.{class} = {t} is outside [postprocess.score_threshold, 1]: rows \
                 below score_threshold never reach a rule"
            );
        }
        validate_labels("classes", &self.classes)
    }
}

impl ClassifierManifest {
    fn validate(&self) -> anyhow::Result<()> {
        validate_common(&self.name, &self.sha256, &self.licence, &self.provenance)?;
        self.input.validate()?;
        ensure!(!self.output.name.is_empty(), "output.name is empty");
        let t = self.postprocess.threshold;
        ensure!(
            (0.0..=1.0).contains(&t),
            "postprocess.threshold {t} is outside 0..=1"
        );
        validate_labels("labels", &self.labels)?;
        if let (Some(positive), LabelSource::Inline { names }) =
            (&self.postprocess.positive, &self.labels)
        {
            ensure!(
                names.contains(positive),
                "postprocess.positive {positive:?} is not one of the labels"
            );
        }
        Ok(())
    }
}

/// A manifest whose files were found and checked: the model path is absolute (or relative to the
/// current directory, as given), its sha256 verified, its label names read.
#[derive(Debug, Clone)]
pub struct Loaded<M> {
    /// The manifest as written.
    pub manifest: M,
    /// Where the manifest was read from.
    pub manifest_path: PathBuf,
    /// The ONNX file, resolved against the manifest's directory.
    pub model_path: PathBuf,
    /// Class (detector) or label (classifier) names, indexed by the model's output index.
    pub names: Vec<String>,
}

/// A loaded detector manifest.
pub type LoadedDetector = Loaded<DetectorManifest>;
/// A loaded classifier manifest.
pub type LoadedClassifier = Loaded<ClassifierManifest>;

/// Reads, validates and checks a manifest of either kind: parses the TOML, validates the values,
/// resolves `file` against the manifest's directory, verifies the model's sha256 and reads the
/// label names.
///
/// A relative manifest path that does not exist under the working directory is looked up
/// next to the executable and under the install prefix ([`crate::install::locate`]).
pub fn load(manifest_path: &Path) -> anyhow::Result<Loaded<Manifest>> {
    let located = crate::install::locate(manifest_path);
    let manifest_path = located.as_path();
    let text = std::fs::read_to_string(manifest_path)
        .with_context(|| format!("cannot read model manifest {}", manifest_path.display()))?;
    let manifest = Manifest::from_toml_str(&text)
        .with_context(|| format!("in model manifest {}", manifest_path.display()))?;
    let dir = manifest_path.parent().unwrap_or(Path::new(""));
    let (file, sha256, labels) = match &manifest {
        Manifest::Detector(m) => (&m.file, &m.sha256, &m.classes),
        Manifest::Classifier(m) => (&m.file, &m.sha256, &m.labels),
    };
    let model_path = dir.join(file);
    ensure!(
        model_path.is_file(),
        "model file {} named by {} does not exist",
        model_path.display(),
        manifest_path.display()
    );
    let actual = sha256_file(&model_path)?;
    ensure!(
        actual == *sha256,
        "model file {} has sha256 {actual}, but {} expects {sha256}; the file is damaged or not \
         the model the manifest describes",
        model_path.display(),
        manifest_path.display()
    );
    let names = match labels {
        LabelSource::Inline { names } => names.clone(),
        LabelSource::File { file } => {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read label file {}", path.display()))?;
            let names = parse_label_file(&text);
            validate_names(&path.display().to_string(), &names)?;
            names
        }
    };
    if let Manifest::Classifier(m) = &manifest
        && let Some(positive) = &m.postprocess.positive
    {
        ensure!(
            names.contains(positive),
            "postprocess.positive {positive:?} is not one of the labels"
        );
    }
    Ok(Loaded {
        manifest,
        manifest_path: manifest_path.to_path_buf(),
        model_path,
        names,
    })
}

/// Loads a manifest that must be `kind = "detector"` (see [`load`]).
pub fn load_detector(manifest_path: &Path) -> anyhow::Result<LoadedDetector> {
    let l = load(manifest_path)?;
    match l.manifest {
        Manifest::Detector(m) => Ok(Loaded {
            manifest: m,
            manifest_path: l.manifest_path,
            model_path: l.model_path,
            names: l.names,
        }),
        other => bail!(
            "{} is a {} manifest, not a detector",
            manifest_path.display(),
            other.kind()
        ),
    }
}

/// Loads a manifest that must be `kind = "classifier"` (see [`load`]).
pub fn load_classifier(manifest_path: &Path) -> anyhow::Result<LoadedClassifier> {
    let l = load(manifest_path)?;
    match l.manifest {
        Manifest::Classifier(m) => Ok(Loaded {
            manifest: m,
            manifest_path: l.manifest_path,
            model_path: l.model_path,
            names: l.names,
        }),
        other => bail!(
            "{} is a {} manifest, not a classifier",
            manifest_path.display(),
            other.kind()
        ),
    }
}

/// One name per line; surrounding whitespace trimmed; trailing empty lines ignored.
fn parse_label_file(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while names.last().is_some_and(|n| n.is_empty()) {
        names.pop();
    }
    names
}

/// Lower-case hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {} to hash it", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex sha256 of `data` (for example a decoded frame, to pin decoder output in tests).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSIFIER_EXAMPLE: &str = r#"
kind = "classifier"
name = "truck_cover"
file = "truck_cover.onnx"
sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
licence = "Apache-2.0"

[input]
name = "input"
layout = "NCHW"
width = 224
height = 224
channels = "RGB"
resize = "stretch"
pixel_range = [0.0, 1.0]
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]

[output]
name = "logits"
activation = "softmax"

[labels]
names = ["covered", "uncovered", "empty"]

[postprocess]
threshold = 0.6
positive = "uncovered"

[provenance]
source = "trained in-house on labelled crops of the truck class"
licence = "Apache-2.0"
"#;

    #[test]
    fn classifier_manifest_parses_and_validates() {
        let m = Manifest::from_toml_str(CLASSIFIER_EXAMPLE).unwrap();
        let Manifest::Classifier(c) = &m else {
            panic!("expected a classifier, got {m:?}")
        };
        assert_eq!(m.kind(), "classifier");
        assert_eq!(c.input.layout, Layout::Nchw);
        assert_eq!(c.input.shape(2), [2, 3, 224, 224]);
        assert_eq!(c.output.activation, Activation::Softmax);
        assert_eq!(
            c.labels,
            LabelSource::Inline {
                names: vec!["covered".into(), "uncovered".into(), "empty".into()]
            }
        );
        assert_eq!(c.postprocess.positive.as_deref(), Some("uncovered"));
        // 255 -> (1.0 - 0.485) / 0.229; 0 -> -0.485 / 0.229.
        let [(a, b), _, _] = c.input.affine();
        assert!((a * 255.0 + b - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((b + 0.485 / 0.229).abs() < 1e-6);
        // Round trip through the serialiser.
        let again = Manifest::from_toml_str(&toml::to_string(&m).unwrap()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn classifier_manifest_errors_are_caught() {
        let bad = |from: &str, to: &str| {
            let text = CLASSIFIER_EXAMPLE.replace(from, to);
            assert_ne!(text, CLASSIFIER_EXAMPLE, "{from:?} not in the example");
            format!("{:#}", Manifest::from_toml_str(&text).unwrap_err())
        };
        assert!(bad("positive = \"uncovered\"", "positive = \"open\"").contains("not one of"));
        assert!(bad("std = [0.229, 0.224, 0.225]", "std = [0.229, 0.0, 0.225]").contains("std"));
        assert!(bad("threshold = 0.6", "threshold = 1.5").contains("threshold"));
        assert!(bad("layout = \"NCHW\"", "layout = \"CHW\"").contains("layout"));
        assert!(bad("sha256 = \"0123", "sha256 = \"X123").contains("sha256"));
        assert!(bad("activation = \"softmax\"", "activation = \"relu\"").contains("activation"));
        assert!(bad("width = 224", "width = 0").contains("out of range"));
        assert!(bad("name = \"input\"", "name = \"input\"\nmystery = 1").contains("mystery"));
        assert!(bad("kind = \"classifier\"", "kind = \"segmenter\"").contains("segmenter"));
        assert!(
            bad(
                "names = [\"covered\", \"uncovered\", \"empty\"]",
                "names = []"
            )
            .contains("no names")
        );
    }

    fn manifest_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
    }

    #[test]
    fn shipped_detector_manifest_loads_and_verifies() {
        let l = load_detector(&manifest_dir().join("centernet_coco.toml")).unwrap();
        let m = &l.manifest;
        assert_eq!(m.input.layout, Layout::Nhwc);
        assert_eq!((m.input.width, m.input.height), (512, 512));
        assert_eq!(
            m.input.affine(),
            [(1.0, 0.0); 3],
            "raw 0..255, no normalisation"
        );
        assert_eq!(m.output.format, DetectionFormat::XyxyScoreClass);
        assert_eq!(m.postprocess.nms, NmsMode::ClassWise);
        assert_eq!(l.names.len(), 80);
        assert_eq!(
            (
                l.names[0].as_str(),
                l.names[2].as_str(),
                l.names[7].as_str()
            ),
            ("person", "car", "truck")
        );
        assert!(load_classifier(&manifest_dir().join("centernet_coco.toml")).is_err());
    }

    #[test]
    fn damaged_model_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("truck_cover.onnx"), b"not a model").unwrap();
        let manifest = dir.path().join("truck_cover.toml");
        std::fs::write(&manifest, CLASSIFIER_EXAMPLE).unwrap();
        let err = format!("{:#}", load_classifier(&manifest).unwrap_err());
        assert!(err.contains("sha256"), "{err}");

        // With the right hash it loads.
        let right = sha256_file(&dir.path().join("truck_cover.onnx")).unwrap();
        let text = CLASSIFIER_EXAMPLE.replace(
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            &right,
        );
        std::fs::write(&manifest, text).unwrap();
        let l = load_classifier(&manifest).unwrap();
        assert_eq!(l.names, ["covered", "uncovered", "empty"]);
        assert_eq!(l.model_path, dir.path().join("truck_cover.onnx"));

        std::fs::remove_file(dir.path().join("truck_cover.onnx")).unwrap();
        let err = format!("{:#}", load_classifier(&manifest).unwrap_err());
        assert!(err.contains("does not exist"), "{err}");
    }
}
