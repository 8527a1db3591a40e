//! Picture-quality diagnosis (视频质量诊断, VQD) as pure functions on decoded frames.
//!
//! A camera counts towards 完好率 when it is online **and** its picture is usable. Online is
//! the status machine's business; this module judges the picture. [`diagnose`] takes one
//! sampled [`RgbFrame`] ([`diagnose_picture`]: or the decoder's I420 planes, unconverted), the [`FrameSignature`] of the camera's previous sample (for the two
//! faults that need two samples) and the [`QualityConfig`], and returns a [`Diagnosis`]: the
//! [`Fault`]s found, the [`Measures`] behind every decision, and the signature to keep for the
//! next sample. No state, no I/O, no allocation beyond the working copies: about 1.3 ms per
//! 768x576 frame in an optimised build on one core of a shared AMD EPYC VM, half of it the single
//! read of the full-resolution frame (`time_per_frame` in `tests/quality_frames.rs`).
//!
//! # The faults
//!
//! The set is the one VQD products check (Hikvision's VQD events, Huawei's quality-detection
//! plugin; see `REFERENCES.md`). "Working picture" is the frame box-downscaled by an integer
//! factor to at most [`QualityConfig::work_max_width`] pixels wide (768x576 → 256x192).
//!
//! | fault | 中文 | measure | raised when (default) | what it cannot tell apart |
//! |---|---|---|---|---|
//! | `too_dark` | 画面过暗 | `mean_luma`: mean BT.601 luma of the working picture, 0..=255 | < 30 | A black screen (信号丢失, lens cap, dead sensor) from a genuinely dark scene: an unlit road at night without IR averages 20-40 and is flagged. |
//! | `too_bright` | 画面过亮 | `mean_luma` | > 225 | A washed-out picture (sun in the lens, failed iris, IR bounce) from a legitimately white scene (snowfield, white wall filling the view). |
//! | `frozen` | 画面冻结 | `diff_to_previous`: mean absolute difference of the 64x48 luma thumbnails of this and the previous sample, levels | ≤ 1 | A live view of a perfectly still scene (nothing moving, clean sensor, encoder skipping static blocks) from a stalled encoder; a change smaller than a thumbnail cell (12x12 pixels at 768x576: a distant pedestrian, an OSD clock) does not count as change. Needs two samples. |
//! | `blur` | 图像模糊 | `laplacian_var`: variance of the 4-neighbour Laplacian of the working luma, over the grid cells that have content (see occlusion), levels² | < 100 | Blur from low contrast: fog, a dirty dome or dim light lower the measure as blur does (the clip at 30% contrast reads 225, at 20% 111; such pictures tend to read as `occlusion` first, see below). Noise raises it, so a noisy soft picture reads sharp. A scene with little detail (sky, a blank wall) reads soft. |
//! | `occlusion` | 视频遮挡 | `occluded_fraction`: fraction of the 16x12 grid cells (48x48 pixels at 768x576) whose luma standard deviation is below 3 levels | ≥ 0.32 (Huawei's default) | A covering object from large featureless scene areas (sky, water, snow, a white wall) or from a low-contrast picture (the clip at 30% contrast has 41% featureless cells); a textured occluder (leaves, patterned cloth) is missed. Location is not used: a cover anywhere counts. |
//! | `color_cast` | 图像偏色 | `cast_factor` K = D / M and `chroma_offset` D on the CIELAB a\*b\* plane of a 64x48 colour thumbnail: D the distance of the mean chroma from neutral, M the mean absolute chroma spread | K ≥ 2 and D ≥ 10 | A cast from a scene dominated by one colour (a lawn, a red façade: the reference clip, mostly grass, reads K 1.2); a cast towards the colour opposite the scene's dominant one cancels it (a magenta or blue cast on a green lawn reads K < 1). |
//! | `snow_noise` | 雪花干扰 | `noise_ratio`: fraction of full-resolution pixels (1 row in 4 sampled) brighter or darker than all 4 neighbours by more than 40 levels | ≥ 0.003 | Noise whose grains are larger than one pixel (analogue video upscaled, some 4K sensors) is missed; moderate gaussian noise (σ < 15 levels) is not counted; genuine point-like detail (stars, distant lamps) counts. |
//! | `stripes` | 条纹干扰 | `stripe_score`: spectral peak-to-background ratio of the full-resolution row and column luma profiles (high-passed by a running median, Hann window), periods 3 px to 1/16 of the frame; `stripe_amplitude`: the peak's amplitude, levels | score ≥ 5 and amplitude ≥ 2 | Only horizontal and vertical bands are seen: slanted or rolling bars and bars wider than 1/16 of the frame (mains hum) are missed; long periods need more amplitude, as the scene's own structure is stronger there (on the clip, period 10 px needs about 2 levels, period 16 px about 3); regular scene structures (fences, blinds, a façade of equal windows) read as stripes. |
//! | `scene_change` | 场景变换 | `scene_correlation`: Pearson correlation of the 32x24 gradient-energy maps of this and the previous sample | < 0.5 | A camera turned by less than about 4% of the view width (the clip shifted by 3% reads 0.65, by 5% 0.48); a crowd or a lorry filling most of the view reads as change; a PTZ camera touring its presets is reported (do not check it for this fault). Needs two samples. |
//!
//! # How faults combine
//!
//! Each measure is computed on every frame, and reported in [`Measures`] whatever is decided.
//! The decisions then follow the physics of a broken picture:
//!
//! - `too_dark` and `too_bright` stand alone: with no picture to judge, nothing else is
//!   reported, and the frame is not compared with the previous one (a black picture is trivially
//!   "frozen"; `diff_to_previous` and `scene_correlation` are `None`). The next sample is not
//!   compared with it either.
//! - `blur` is judged only on the cells that have content, so a half-covered lens does not read
//!   as blurred; and a soft picture has featureless cells everywhere, so `blur` suppresses
//!   `occlusion`. Exception: when *every* cell is featureless (lens fully covered, a uniform
//!   "no signal" card) there is nothing left to be blurred, and `occlusion` is reported instead.
//! - `frozen`, `blur` and `occlusion` suppress `scene_change`: an unchanged picture has not
//!   changed scene, and a picture that went soft or got covered changed for that reason.
//! - `color_cast`, `snow_noise` and `stripes` are independent of one another and of the rest.
//!
//! A fault is a per-sample observation. An alarm should need it on several consecutive samples
//! (Huawei uses a 20-frame window); that hysteresis belongs to the caller, as does the choice of
//! which faults make a camera not 完好 (by default all of them: [`Diagnosis::is_clean`]).
//!
//! # Calibration
//!
//! Thresholds were set on the project's real clip (`tests/data/cctv_gop20.mp4`, a 768x576 CCTV
//! view of a campus lawn and path, slightly soft, 400 kb/s H.264) and on altered copies of its
//! frames (`tests/quality_frames.rs`). On frames at 0-79 s the clip reads: mean luma 118-122,
//! Laplacian variance 1,430-1,670, featureless cells ≤ 1%, K 1.18-1.23 (D ≈ 20: the lawn),
//! impulses ≤ 0.005%, stripe score ≤ 2.8, thumbnail difference 2.0 after 0.1 s and 5-8 after
//! 2-40 s (0.3 between two samples of the same still re-encoded with H.264), scene correlation
//! 0.95 after 0.1 s and 0.77 after 40 s. The thresholds keep wide margins from those values
//! where the physics allows: the blur threshold is 1/15 of the clip's Laplacian variance (a box
//! blur of radius 5 px, 11 px wide, brings it to 70; radius 3 to 204; radius 2 to 432), because
//! real cameras differ in sharpness and scene detail far more than from sample to sample, and
//! a camera with a detail-poor view may need its own, lower, threshold. The narrowest margins
//! are `frozen` (1 sits between 0.3 for a re-encoded still and 2.0 for the live clip 0.1 s
//! later: samples seconds apart widen it) and `color_cast` (2 against the lawn's 1.2).
//!
//! # GB/T 28181
//!
//! GB/T 28181 has no code per picture fault: every fault here is reported upwards as an alarm
//! with `AlarmMethod` 5 (视频报警) and `AlarmType` 11 (视频异常检测报警), the fault named in the
//! description ([`Fault::GB28181_ALARM_METHOD`], [`Fault::GB28181_ALARM_TYPE`]). The 2022
//! edition adds `AlarmType` 13 (图像遮挡报警), which an upper platform that knows it may prefer
//! for `occlusion`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::vision::frame::RgbFrame;
use crate::vision::yuv::Picture;

mod measure;

use measure::Grey;

/// Thresholds of the diagnosis (a `[quality]` table in a config file); every key optional.
///
/// Levels are 8-bit luma or channel levels, 0..=255. The defaults and the values the reference
/// clip reads are in the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Width bound of the working picture, pixels. The frame is box-downscaled by the smallest
    /// integer factor that brings it to this width or less (768x576 → 256x192, 1920x1080 →
    /// 320x180). Default 320: small enough for about 1 ms per frame, large enough that a
    /// 3x3-pixel Laplacian still sees the difference between sharp and blurred. The blur
    /// threshold depends on it: change one, recalibrate the other.
    pub work_max_width: u32,
    /// `too_dark` when `mean_luma` is below this, levels. Default 30: a black or signal-lost
    /// picture reads 0-16, the clip 118-122; a lit street at night reads 40 and more.
    pub dark_luma: f32,
    /// `too_bright` when `mean_luma` is above this, levels. Default 225: a white-out reads
    /// 240-255; a bright but usable daylight scene stays under 210.
    pub bright_luma: f32,
    /// `blur` when `laplacian_var` is below this, levels². Default 100: 1/15 of the reference
    /// clip (1,430-1,670), so only a picture whose fine detail is nearly gone is flagged (a box
    /// blur of radius 5 px at 768x576 reads 68, radius 3 px 203).
    pub blur_laplacian_var: f32,
    /// A grid cell is featureless when its luma standard deviation is below this, levels.
    /// Default 3: a flat cover reads 0-1.5 (compression noise), the clip's lawn 4-8 and its road
    /// 3-7; the cell is 1/16 of the working width (48x48 px at 768x576).
    pub flat_cell_std: f32,
    /// `occlusion` when `occluded_fraction` is at least this. Default 0.32, Huawei's default
    /// (REFERENCES.md): a third of the view gone. The clip reads ≤ 0.01.
    pub occlusion_fraction: f32,
    /// The overall contrast (`luma_std`) at which `flat_cell_std` and `blur_laplacian_var`
    /// apply as set; below it both scale down with the contrast (the Laplacian squared),
    /// to at most a third (a ninth). Default 40 levels: the clip reads 51, photos 45-57. A
    /// tint, a veil or dim light lowers every cell's spread with the whole picture's, and
    /// without this read as `occlusion` or `blur`; a real cover keeps the picture's contrast
    /// high through the step between cover and scene (a hand reads 29, a bag 25).
    pub flat_contrast_ref: f32,
    /// A changed verdict reaches the history (the 完好率 ledger) only after this many
    /// consecutive samples agree (dated at the first of them); the live view shows every
    /// sample's verdict. Default 2: one odd sample (a bus passing, a headlight) does not write
    /// two intervals. 1 records every change at once.
    pub confirm_samples: u32,
    /// `color_cast` needs `cast_factor` (K = D / M) at least this. Default 2: the literature's
    /// 1.5 would leave little margin over the lawn-dominated clip (1.18-1.23); a 20% drop of the
    /// blue channel reads 2.6, a 60% drop 4.9.
    pub cast_factor: f32,
    /// `color_cast` also needs `chroma_offset` (D) at least this, CIELAB units. Default 10: below
    /// it a cast is barely visible, however tight the chroma cluster (a grey picture with a
    /// faint tint has a large K and a small D).
    pub cast_offset: f32,
    /// A full-resolution pixel is an impulse when it is above all 4 neighbours or below all of
    /// them by more than this, levels. Default 40: well above compression ringing, well below
    /// the 100-255 contrast of a snow speck.
    pub impulse_delta: u8,
    /// `snow_noise` when `noise_ratio` is at least this. Default 0.003 (0.3% of pixels): 60x the
    /// clip's 0.00005; 0.5% salt-and-pepper reads 0.0046, gaussian noise of σ 25 levels 0.025.
    pub snow_ratio: f32,
    /// `stripes` needs `stripe_score` at least this. Default 5: broadband scene residue scores
    /// 2-3 (the clip ≤ 2.8); a sine of amplitude 3 levels on the clip scores 6-12.
    pub stripe_score: f32,
    /// `stripes` also needs `stripe_amplitude` at least this, levels. Default 2: fainter bands
    /// are barely visible.
    pub stripe_amplitude: f32,
    /// `frozen` when `diff_to_previous` is at most this, levels. Default 1: the same still
    /// re-encoded with H.264 and sampled 3 s apart (two GOPs) reads 0.33, the clip 0.1 s later
    /// 2.0 (people walking), 2-40 s later 5-8.
    pub frozen_diff: f32,
    /// `scene_change` when `scene_correlation` is below this. Default 0.5: the clip reads 0.95
    /// after 0.1 s and 0.77 after 40 s (different people, same view); the view panned by 10%
    /// reads 0.36, by 30% 0.08, mirrored 0.05.
    pub scene_correlation: f32,
    /// `clock_drift` (时钟偏差) when the camera's clock, read from the RTCP sender reports of
    /// its held session, is off ours by more than this, seconds. Default 60: quality-inspection
    /// platforms check 时钟同步 to about a minute; evidence stamped further off is worth little.
    /// 0 turns the check off. A camera without sender reports (patrol, or a server that sends
    /// none) is not judged.
    pub max_clock_offset: f32,
    /// Whether `clock_drift` makes a camera not 完好 (counted against 完好率, and opening a
    /// picture-fault ticket where those are on). Default false: the drift is shown, alerted by a
    /// `video_abnormal` rule and listed in the verdict, but a picture that is usable is not
    /// counted as broken unless the office's assessment rules say so.
    pub clock_drift_counts: bool,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            work_max_width: 320,
            dark_luma: 30.0,
            bright_luma: 225.0,
            blur_laplacian_var: 100.0,
            flat_cell_std: 3.0,
            occlusion_fraction: 0.32,
            flat_contrast_ref: 40.0,
            confirm_samples: 2,
            cast_factor: 2.0,
            cast_offset: 10.0,
            impulse_delta: 40,
            snow_ratio: 0.003,
            stripe_score: 5.0,
            stripe_amplitude: 2.0,
            frozen_diff: 1.0,
            scene_correlation: 0.5,
            max_clock_offset: 60.0,
            clock_drift_counts: false,
        }
    }
}

impl QualityConfig {
    /// Checks that every threshold is finite and in its range; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.work_max_width < 16 {
            return Err(format!(
                "quality.work_max_width must be at least 16, got {}",
                self.work_max_width
            ));
        }
        let ranges = [
            ("dark_luma", self.dark_luma, 0.0, 255.0),
            ("bright_luma", self.bright_luma, 0.0, 255.0),
            ("blur_laplacian_var", self.blur_laplacian_var, 0.0, f32::MAX),
            ("flat_cell_std", self.flat_cell_std, 0.0, 255.0),
            ("occlusion_fraction", self.occlusion_fraction, 0.0, 1.0),
            ("flat_contrast_ref", self.flat_contrast_ref, 0.0, 255.0),
            ("cast_factor", self.cast_factor, 0.0, f32::MAX),
            ("cast_offset", self.cast_offset, 0.0, f32::MAX),
            ("snow_ratio", self.snow_ratio, 0.0, 1.0),
            ("stripe_score", self.stripe_score, 0.0, f32::MAX),
            ("stripe_amplitude", self.stripe_amplitude, 0.0, 255.0),
            ("frozen_diff", self.frozen_diff, 0.0, 255.0),
            ("scene_correlation", self.scene_correlation, -1.0, 1.0),
            ("max_clock_offset", self.max_clock_offset, 0.0, 1e9),
        ];
        for (key, value, lo, hi) in ranges {
            if !(value.is_finite() && (lo..=hi).contains(&value)) {
                return Err(format!("quality.{key} must be in {lo}..={hi}, got {value}"));
            }
        }
        if self.dark_luma >= self.bright_luma {
            return Err(format!(
                "quality.dark_luma ({}) must be below quality.bright_luma ({})",
                self.dark_luma, self.bright_luma
            ));
        }
        Ok(())
    }
}

/// A picture fault. Serialised in snake_case (`too_dark`, `color_cast`…); see the
/// [module documentation](self) for the measure, default threshold and limits of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 画面过暗: mean luma below `dark_luma` (black screen, signal loss, lens cap, night
    /// without IR).
    TooDark,
    /// 画面过亮: mean luma above `bright_luma` (white-out, sun in the lens).
    TooBright,
    /// 画面冻结: the picture did not change since the previous sample while the stream runs.
    Frozen,
    /// 图像模糊: little fine detail (defocus, condensation, a smeared dome).
    Blur,
    /// 视频遮挡: a large featureless area (a cover, a bag, a hand; also sky, see the limits).
    Occlusion,
    /// 图像偏色: the whole picture's chroma is pulled one way (failed IR-cut filter, white
    /// balance, a broken colour cable).
    ColorCast,
    /// 雪花干扰: isolated impulse pixels everywhere (analogue snow, bit errors, high gain).
    SnowNoise,
    /// 条纹干扰: periodic horizontal or vertical bands (ground loops, power interference).
    Stripes,
    /// 场景变换: the view changed structurally since the previous sample (camera knocked,
    /// turned or moved).
    SceneChange,
    /// 时钟偏差: the camera's clock (its RTCP sender reports) is off by more than
    /// `max_clock_offset`; judged beside the picture, not from it.
    ClockDrift,
}

impl Fault {
    /// Every fault, in the order [`Diagnosis::faults`] lists them.
    pub const ALL: [Fault; 10] = [
        Fault::TooDark,
        Fault::TooBright,
        Fault::Frozen,
        Fault::Blur,
        Fault::Occlusion,
        Fault::ColorCast,
        Fault::SnowNoise,
        Fault::Stripes,
        Fault::SceneChange,
        Fault::ClockDrift,
    ];

    /// GB/T 28181 `AlarmMethod` of every picture fault: 5, 视频报警.
    pub const GB28181_ALARM_METHOD: u8 = 5;
    /// GB/T 28181 `AlarmType` of every picture fault under method 5: 11, 视频异常检测报警.
    pub const GB28181_ALARM_TYPE: u8 = 11;

    /// The wire name, as serialised: `too_dark`, `too_bright`, `frozen`, `blur`, `occlusion`,
    /// `color_cast`, `snow_noise`, `stripes`, `scene_change`, `clock_drift`.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::TooDark => "too_dark",
            Fault::TooBright => "too_bright",
            Fault::Frozen => "frozen",
            Fault::Blur => "blur",
            Fault::Occlusion => "occlusion",
            Fault::ColorCast => "color_cast",
            Fault::SnowNoise => "snow_noise",
            Fault::Stripes => "stripes",
            Fault::SceneChange => "scene_change",
            Fault::ClockDrift => "clock_drift",
        }
    }

    /// The Chinese name used by VQD products and 雪亮工程 inspection reports.
    pub fn zh(self) -> &'static str {
        match self {
            Fault::TooDark => "画面过暗",
            Fault::TooBright => "画面过亮",
            Fault::Frozen => "画面冻结",
            Fault::Blur => "图像模糊",
            Fault::Occlusion => "视频遮挡",
            Fault::ColorCast => "图像偏色",
            Fault::SnowNoise => "雪花干扰",
            Fault::Stripes => "条纹干扰",
            Fault::SceneChange => "场景变换",
            Fault::ClockDrift => "时钟偏差",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The numbers behind each decision, computed on every frame whatever is decided (so an
/// operator can see how far from a threshold a camera is). Levels are 8-bit luma levels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// Mean BT.601 luma of the working picture, levels (`too_dark`, `too_bright`).
    pub mean_luma: f32,
    /// Variance of the 4-neighbour Laplacian of the working luma over the cells that have
    /// content (all cells when none has), levels² (`blur`).
    pub laplacian_var: f32,
    /// Fraction of grid cells whose luma standard deviation is below `flat_cell_std` (scaled
    /// by the picture's contrast, see `flat_contrast_ref`), 0..=1 (`occlusion`).
    pub occluded_fraction: f32,
    /// Standard deviation of the working luma over the whole picture, levels: its contrast.
    #[serde(default)]
    pub luma_std: f32,
    /// K = D / M: mean chroma offset over chroma spread, CIELAB a\*b\* (`color_cast`).
    pub cast_factor: f32,
    /// D: distance of the mean chroma from neutral, CIELAB units (`color_cast`).
    pub chroma_offset: f32,
    /// Fraction of sampled full-resolution pixels that are isolated impulses, 0..=1
    /// (`snow_noise`).
    pub noise_ratio: f32,
    /// Peak-to-background ratio of the strongest periodic component of the row or column
    /// luma profile (`stripes`).
    pub stripe_score: f32,
    /// Amplitude of that component, levels (`stripes`).
    pub stripe_amplitude: f32,
    /// Period of that component, full-resolution pixels (informative).
    pub stripe_period: f32,
    /// Mean absolute difference of the luma thumbnails of this and the previous sample,
    /// levels (`frozen`); `None` without a comparable previous sample.
    pub diff_to_previous: Option<f32>,
    /// Correlation of the gradient-energy maps of this and the previous sample, -1..=1
    /// (`scene_change`); `None` without a comparable previous sample or when either map is
    /// flat.
    pub scene_correlation: Option<f32>,
}

/// What one sample leaves for the diagnosis of the next one of the same camera: a 64x48 luma
/// thumbnail and a 32x24 gradient-energy map (for 4:3 pictures), about 6 KiB.
///
/// Signatures are comparable when they come from pictures of the same size; a resolution
/// change (a camera reconfigured) gives `None` differences, not faults.
#[derive(Clone, PartialEq)]
pub struct FrameSignature {
    source: (u32, u32),
    thumb: Grey,
    edges: measure::EdgeMap,
    usable: bool,
}

impl FrameSignature {
    /// Whether the sample had a picture to compare (it was neither too dark nor too bright).
    pub fn is_usable(&self) -> bool {
        self.usable
    }

    /// A signature nothing is compared with (of an invalid frame).
    fn empty() -> Self {
        Self {
            source: (0, 0),
            thumb: Grey {
                w: 0,
                h: 0,
                data: Vec::new(),
            },
            edges: measure::EdgeMap::default(),
            usable: false,
        }
    }
}

impl fmt::Debug for FrameSignature {
    // The thumbnails are thousands of numbers; their sizes say what matters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSignature")
            .field(
                "source",
                &format_args!("{}x{}", self.source.0, self.source.1),
            )
            .field("thumb", &format_args!("{}x{}", self.thumb.w, self.thumb.h))
            .field("edges", &format_args!("{}x{}", self.edges.w, self.edges.h))
            .field("usable", &self.usable)
            .finish()
    }
}

/// The result of [`diagnose`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// The faults found, in [`Fault::ALL`] order, after the combination rules of the
    /// [module documentation](self); empty for a good picture.
    pub faults: Vec<Fault>,
    /// The numbers behind the decisions.
    pub measures: Measures,
    /// To pass as `previous` when diagnosing the camera's next sample (not serialised).
    #[serde(skip)]
    pub signature: FrameSignature,
}

impl Diagnosis {
    /// No fault: the picture counts as usable for 完好率.
    pub fn is_clean(&self) -> bool {
        self.faults.is_empty()
    }

    /// Whether `fault` was found.
    pub fn has(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }

    /// The diagnosis of an invalid frame: no picture (`too_dark`, zero measures).
    fn no_picture() -> Self {
        Diagnosis {
            faults: vec![Fault::TooDark],
            measures: Measures::default(),
            signature: FrameSignature::empty(),
        }
    }
}

/// Diagnoses one sampled frame of a camera.
///
/// `previous` is the [`Diagnosis::signature`] of the same camera's previous sample, if any;
/// without it `frozen` and `scene_change` cannot be raised. Samples should be seconds apart
/// (the frozen test needs something to have moved). A frame that fails
/// [`RgbFrame::validate`] (zero size, wrong data length) has no picture: it is diagnosed
/// `too_dark` with zero measures and an unusable signature.
pub fn diagnose(
    frame: &RgbFrame,
    previous: Option<&FrameSignature>,
    cfg: &QualityConfig,
) -> Diagnosis {
    if frame.validate().is_err() {
        return Diagnosis::no_picture();
    }
    diagnose_source(frame, previous, cfg)
}

/// [`diagnose`] for any decoded [`Picture`]: an I420 picture is diagnosed on its planes, with
/// no conversion to RGB (its luma mapped to full-range levels, the colour thumbnail from the
/// mean Y, U and V of each block; see [`crate::vision::yuv`]). On an SD (BT.601) stream the
/// measures equal those of the RGB picture within rounding (`tests/decode_keyframes.rs`).
pub fn diagnose_picture(
    picture: &Picture,
    previous: Option<&FrameSignature>,
    cfg: &QualityConfig,
) -> Diagnosis {
    match picture {
        Picture::Rgb(frame) => diagnose(frame, previous, cfg),
        Picture::Yuv(frame) if frame.validate().is_err() => Diagnosis::no_picture(),
        Picture::Yuv(frame) => diagnose_source(&measure::YuvSource::new(frame), previous, cfg),
    }
}

fn diagnose_source(
    frame: &impl measure::ScanSource,
    previous: Option<&FrameSignature>,
    cfg: &QualityConfig,
) -> Diagnosis {
    let (w, h) = frame.size();
    let source = (w as u32, h as u32);
    // One read of the full frame: working luma, colour thumbnail, profiles, impulses.
    let scan = measure::scan(frame, cfg.work_max_width, cfg.impulse_delta);
    let luma = &scan.work;
    let texture = measure::texture(luma);
    let thumb = Grey::of(&scan.thumb_rgb);
    let edges = measure::edge_map(
        &texture.gradient,
        luma.w,
        luma.h,
        luma.w.div_ceil(measure::EDGE_MAX_WIDTH),
    );

    let mean_luma = luma.mean();
    let luma_std = luma.std_around(mean_luma);
    // A low-contrast picture (tint, veil, dim light) has low spread in every cell: judge
    // flatness and blur relative to the picture's own contrast.
    let contrast = if cfg.flat_contrast_ref > 0.0 {
        (luma_std / cfg.flat_contrast_ref).clamp(1.0 / 3.0, 1.0)
    } else {
        1.0
    };
    let flat_std = cfg.flat_cell_std * contrast;
    let flat: Vec<bool> = texture.cell_std.iter().map(|&s| s < flat_std).collect();
    let flat_cells = flat.iter().filter(|&&f| f).count();
    let occluded_fraction = flat_cells as f32 / flat.len().max(1) as f32;
    let laplacian_var = measure::laplacian_var_of(&texture.cell_lap, |i| !flat[i])
        .or_else(|| measure::laplacian_var_of(&texture.cell_lap, |_| true))
        .unwrap_or(0.0);
    let (cast_factor, chroma_offset) = measure::colour_cast(&scan.thumb_rgb);
    let rows = measure::periodicity(&scan.rows);
    let cols = measure::periodicity(&scan.cols);
    let (stripe_score, stripe_amplitude, stripe_period) =
        if rows.0 >= cols.0 { rows } else { cols };

    let too_dark = mean_luma < cfg.dark_luma;
    let too_bright = mean_luma > cfg.bright_luma;
    let usable = !too_dark && !too_bright;
    let comparable = previous.filter(|p| p.usable && usable && p.source == source);
    let diff_to_previous = comparable.and_then(|p| measure::mean_abs_diff(&thumb, &p.thumb));
    let scene_correlation = comparable.and_then(|p| edges.correlation(&p.edges));

    let measures = Measures {
        mean_luma,
        laplacian_var,
        occluded_fraction,
        luma_std,
        cast_factor,
        chroma_offset,
        noise_ratio: scan.noise_ratio,
        stripe_score,
        stripe_amplitude,
        stripe_period,
        diff_to_previous,
        scene_correlation,
    };
    let signature = FrameSignature {
        source,
        thumb,
        edges,
        usable,
    };

    let mut faults = Vec::new();
    if too_dark || too_bright {
        faults.push(if too_dark {
            Fault::TooDark
        } else {
            Fault::TooBright
        });
        return Diagnosis {
            faults,
            measures,
            signature,
        };
    }
    let frozen = diff_to_previous.is_some_and(|d| d <= cfg.frozen_diff);
    let all_flat = flat_cells == flat.len();
    let blur = !all_flat && laplacian_var < cfg.blur_laplacian_var * contrast * contrast;
    let occlusion = !blur && occluded_fraction >= cfg.occlusion_fraction;
    let color_cast = cast_factor >= cfg.cast_factor && chroma_offset >= cfg.cast_offset;
    let snow_noise = scan.noise_ratio >= cfg.snow_ratio;
    let stripes = stripe_score >= cfg.stripe_score && stripe_amplitude >= cfg.stripe_amplitude;
    let scene_change = !frozen
        && !blur
        && !occlusion
        && scene_correlation.is_some_and(|c| c < cfg.scene_correlation);
    for (raised, fault) in [
        (frozen, Fault::Frozen),
        (blur, Fault::Blur),
        (occlusion, Fault::Occlusion),
        (color_cast, Fault::ColorCast),
        (snow_noise, Fault::SnowNoise),
        (stripes, Fault::Stripes),
        (scene_change, Fault::SceneChange),
    ] {
        if raised {
            faults.push(fault);
        }
    }
    Diagnosis {
        faults,
        measures,
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 640;
    const H: u32 = 480;

    fn hash(a: u32, b: u32, seed: u32) -> u32 {
        let mut x = a.wrapping_mul(0x9E37_79B1)
            ^ b.wrapping_mul(0x85EB_CA77)
            ^ seed.wrapping_mul(0xC2B2_AE3D);
        x ^= x >> 15;
        x = x.wrapping_mul(0x2C1B_3C6D);
        x ^= x >> 12;
        x = x.wrapping_mul(0x297A_2D39);
        x ^ (x >> 15)
    }

    /// Uniform in 0..1.
    fn unit(a: u32, b: u32, seed: u32) -> f32 {
        hash(a, b, seed) as f32 / u32::MAX as f32
    }

    /// Value noise in -1..1: random values on a `cell`-pixel lattice, bilinearly interpolated
    /// (texture without any period, unlike a sum of sines).
    fn value_noise(x: u32, y: u32, cell: u32, seed: u32) -> f32 {
        let (gx, gy) = (x / cell, y / cell);
        let fx = (x % cell) as f32 / cell as f32;
        let fy = (y % cell) as f32 / cell as f32;
        let v = |i: u32, j: u32| unit(gx + i, gy + j, seed) * 2.0 - 1.0;
        let top = v(0, 0) * (1.0 - fx) + v(1, 0) * fx;
        let bottom = v(0, 1) * (1.0 - fx) + v(1, 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// A deterministic textured scene: a vertical gradient, two octaves of value noise, slowly
    /// varying tint, coloured textured shapes with hard edges, a dark 50x150 "walker" whose left
    /// edge is at `walker_x`, and ±4 levels of pixel noise.
    fn scene(walker_x: u32) -> RgbFrame {
        let shapes: [(u32, u32, u32, u32, [f32; 3]); 4] = [
            (60, 50, 180, 160, [170.0, 90.0, 80.0]),
            (300, 90, 420, 300, [80.0, 95.0, 160.0]),
            (470, 260, 600, 420, [190.0, 175.0, 90.0]),
            (120, 300, 260, 440, [30.0, 30.0, 35.0]),
        ];
        RgbFrame::from_fn(W, H, |x, y| {
            let base = 70.0
                + 90.0 * y as f32 / H as f32
                + 22.0 * value_noise(x, y, 24, 1)
                + 14.0 * value_noise(x, y, 6, 2)
                + 14.0 * value_noise(x, y, 2, 8);
            let mut rgb = [
                base + 12.0 * value_noise(x, y, 97, 3),
                base,
                base + 12.0 * value_noise(x, y, 89, 4),
            ];
            for (x0, y0, x1, y1, colour) in shapes {
                if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
                    let t = 14.0 * value_noise(x, y, 8, 5) + 10.0 * value_noise(x, y, 2, 9);
                    rgb = colour.map(|v| v + t);
                }
            }
            let (dx, dy) = (x as f32 - 520.0, y as f32 - 130.0);
            if dx * dx + dy * dy < 60.0 * 60.0 {
                rgb = [90.0, 150.0, 95.0].map(|v| v + 16.0 * value_noise(x, y, 5, 6));
            }
            if (walker_x..walker_x + 50).contains(&x) && (180..330).contains(&y) {
                rgb = [45.0, 40.0, 60.0];
            }
            let n = (unit(x, y, 7) - 0.5) * 8.0;
            rgb.map(|v| (v + n).clamp(0.0, 255.0) as u8)
        })
    }

    fn map(f: &RgbFrame, mut g: impl FnMut(u32, u32, [u8; 3]) -> [u8; 3]) -> RgbFrame {
        RgbFrame::from_fn(f.width, f.height, |x, y| g(x, y, f.pixel(x, y)))
    }

    /// Box blur of radius `r`, separable, edges clamped.
    fn box_blur(f: &RgbFrame, r: i64) -> RgbFrame {
        let (w, h) = (i64::from(f.width), i64::from(f.height));
        let pass = |src: &RgbFrame, horizontal: bool| {
            RgbFrame::from_fn(f.width, f.height, |x, y| {
                let mut sum = [0u32; 3];
                for d in -r..=r {
                    let (xx, yy) = if horizontal {
                        ((i64::from(x) + d).clamp(0, w - 1), i64::from(y))
                    } else {
                        (i64::from(x), (i64::from(y) + d).clamp(0, h - 1))
                    };
                    let p = src.pixel(xx as u32, yy as u32);
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                }
                sum.map(|s| (s / (2 * r + 1) as u32) as u8)
            })
        };
        pass(&pass(f, true), false)
    }

    fn salt_and_pepper(f: &RgbFrame, density: f32) -> RgbFrame {
        map(f, |x, y, p| {
            let u = unit(x, y, 99);
            if u < density / 2.0 {
                [0, 0, 0]
            } else if u < density {
                [255, 255, 255]
            } else {
                p
            }
        })
    }

    fn add_sine(f: &RgbFrame, rows: bool, period: f32, amplitude: f32) -> RgbFrame {
        map(f, |x, y, p| {
            let t = if rows { y } else { x } as f32;
            let a = amplitude * (t * std::f32::consts::TAU / period).sin();
            p.map(|v| (f32::from(v) + a).clamp(0.0, 255.0) as u8)
        })
    }

    fn run(f: &RgbFrame, previous: Option<&FrameSignature>) -> Diagnosis {
        diagnose(f, previous, &QualityConfig::default())
    }

    #[track_caller]
    fn expect(f: &RgbFrame, previous: Option<&FrameSignature>, faults: &[Fault]) -> Diagnosis {
        let d = run(f, previous);
        assert_eq!(d.faults, faults, "measures: {:#?}", d.measures);
        d
    }

    #[test]
    fn clean_textured_scene_has_no_fault() {
        let first = expect(&scene(100), None, &[]);
        // Same view, someone walked: neither frozen nor a scene change.
        let second = expect(&scene(400), Some(&first.signature), &[]);
        let m = &second.measures;
        assert!(
            m.diff_to_previous.unwrap() > QualityConfig::default().frozen_diff,
            "{m:?}"
        );
        assert!(m.scene_correlation.unwrap() > 0.6, "{m:?}");
    }

    #[test]
    fn too_dark_and_too_bright() {
        let clean = scene(100);
        let first = run(&clean, None);
        let dark = map(&clean, |_, _, p| p.map(|v| v / 8));
        let d = expect(&dark, Some(&first.signature), &[Fault::TooDark]);
        // No picture to compare: not frozen, not a scene change, and not comparable next time.
        assert_eq!(d.measures.diff_to_previous, None);
        assert!(!d.signature.is_usable());
        let after = expect(&clean, Some(&d.signature), &[]);
        assert_eq!(after.measures.scene_correlation, None);
        expect(&RgbFrame::filled(W, H, [0, 0, 0]), None, &[Fault::TooDark]);
        let bright = map(&clean, |_, _, p| p.map(|v| 255 - (255 - v) / 8));
        expect(&bright, None, &[Fault::TooBright]);
    }

    #[test]
    fn frozen_needs_two_samples() {
        let f = scene(100);
        let first = expect(&f, None, &[]);
        let d = expect(&f, Some(&first.signature), &[Fault::Frozen]);
        assert_eq!(d.measures.diff_to_previous, Some(0.0));
    }

    #[test]
    fn blur() {
        let mut f = scene(100);
        for _ in 0..3 {
            f = box_blur(&f, 4);
        }
        let clean = run(&scene(100), None);
        // Gone soft since the last sample: blur, not a scene change.
        expect(&f, Some(&clean.signature), &[Fault::Blur]);
    }

    #[test]
    fn occlusion_half_covered_and_fully_covered() {
        let f = scene(100);
        let covered = map(
            &f,
            |x, _, p| if x < W * 55 / 100 { [128, 128, 128] } else { p },
        );
        let d = expect(&covered, None, &[Fault::Occlusion]);
        assert!(d.measures.occluded_fraction >= 0.5, "{:?}", d.measures);
        // The rest of the picture is sharp: no blur although half the detail is gone.
        assert!(d.measures.laplacian_var >= QualityConfig::default().blur_laplacian_var);
        // Lens fully covered: nothing left to be blurred, so occlusion, not blur.
        expect(
            &RgbFrame::filled(W, H, [120, 120, 120]),
            None,
            &[Fault::Occlusion],
        );
    }

    #[test]
    fn color_cast() {
        let f = map(&scene(100), |_, _, p| {
            [p[0], p[1], (f32::from(p[2]) * 0.4) as u8]
        });
        expect(&f, None, &[Fault::ColorCast]);
        // A uniform blue "no signal" screen: featureless and coloured.
        expect(
            &RgbFrame::filled(W, H, [20, 40, 200]),
            None,
            &[Fault::Occlusion, Fault::ColorCast],
        );
    }

    #[test]
    fn every_fault_reads_the_same_on_the_i420_planes() {
        use crate::vision::yuv::{Matrix, Picture, YuvFrame};
        let clean = scene(100);
        let previous = run(&clean, None).signature;
        let mut blurred = clean.clone();
        for _ in 0..3 {
            blurred = box_blur(&blurred, 4);
        }
        let cases: Vec<(&str, RgbFrame, Option<&FrameSignature>)> = vec![
            ("clean", scene(104), Some(&previous)),
            ("frozen", clean.clone(), Some(&previous)),
            ("blur", blurred, Some(&previous)),
            ("dark", RgbFrame::filled(W, H, [8, 8, 8]), None),
            ("bright", RgbFrame::filled(W, H, [250, 250, 250]), None),
            (
                "cover",
                map(
                    &clean,
                    |x, _, p| if x < W * 55 / 100 { [128; 3] } else { p },
                ),
                None,
            ),
            (
                "cast",
                map(&clean, |_, _, p| {
                    [p[0], p[1], (f32::from(p[2]) * 0.4) as u8]
                }),
                None,
            ),
            ("snow", salt_and_pepper(&clean, 0.03), None),
            ("stripes", add_sine(&clean, true, 10.0, 8.0), None),
        ];
        for (name, rgb, prev) in cases {
            let want = run(&rgb, prev);
            for (m, full) in [(Matrix::Bt601, false), (Matrix::Bt601, true)] {
                let yuv = Picture::Yuv(YuvFrame::from_rgb(&rgb, m, full));
                // The previous signature from the same path, as a camera's samples have.
                let prev_yuv = prev.map(|_| {
                    let p = YuvFrame::from_rgb(&clean, m, full);
                    diagnose_picture(&Picture::Yuv(p), None, &QualityConfig::default()).signature
                });
                let got = diagnose_picture(&yuv, prev_yuv.as_ref(), &QualityConfig::default());
                assert_eq!(
                    got.faults, want.faults,
                    "{name} ({m:?}, full range {full}): {:?} vs {:?}",
                    got.measures, want.measures
                );
                assert!(
                    (got.measures.mean_luma - want.measures.mean_luma).abs() < 1.0,
                    "{name}: {} vs {}",
                    got.measures.mean_luma,
                    want.measures.mean_luma
                );
            }
        }
        let bad = YuvFrame {
            data: vec![],
            ..YuvFrame::from_rgb(&clean, Matrix::Bt601, false)
        };
        let d = diagnose_picture(&Picture::Yuv(bad), None, &QualityConfig::default());
        assert_eq!(d.faults, vec![Fault::TooDark]);
    }

    #[test]
    fn snow_noise() {
        expect(
            &salt_and_pepper(&scene(100), 0.03),
            None,
            &[Fault::SnowNoise],
        );
    }

    #[test]
    fn stripes_horizontal_and_vertical() {
        let d = expect(
            &add_sine(&scene(100), true, 10.0, 8.0),
            None,
            &[Fault::Stripes],
        );
        assert!(
            (d.measures.stripe_period - 10.0).abs() < 0.5,
            "{:?}",
            d.measures
        );
        expect(
            &add_sine(&scene(100), false, 7.0, 6.0),
            None,
            &[Fault::Stripes],
        );
    }

    #[test]
    fn scene_change_mirrored_and_panned() {
        let f = scene(100);
        let first = run(&f, None);
        let mirrored = map(&f, |x, y, _| f.pixel(W - 1 - x, y));
        expect(&mirrored, Some(&first.signature), &[Fault::SceneChange]);
        let panned = map(&f, |x, y, _| f.pixel((x + W * 3 / 10) % W, y));
        expect(&panned, Some(&first.signature), &[Fault::SceneChange]);
        // Frozen overrides: an unchanged picture has not changed scene.
        let again = run(&mirrored, Some(&first.signature));
        assert!(!again.has(Fault::Frozen));
    }

    #[test]
    fn invalid_frame_is_no_picture() {
        let bad = RgbFrame {
            width: 4,
            height: 4,
            data: vec![0; 5],
        };
        let d = expect(&bad, None, &[Fault::TooDark]);
        assert_eq!(d.measures, Measures::default());
        let empty = RgbFrame {
            width: 0,
            height: 0,
            data: Vec::new(),
        };
        expect(&empty, None, &[Fault::TooDark]);
        // Tiny but valid frames do not panic.
        for (w, h) in [(1, 1), (2, 3), (17, 1), (1, 40)] {
            let _ = run(&RgbFrame::filled(w, h, [100, 100, 100]), None);
        }
    }

    #[test]
    fn resolution_change_is_not_compared() {
        let first = run(&scene(100), None);
        let small = scene(100).downscale_by(2);
        let d = run(&small, Some(&first.signature));
        assert_eq!(d.measures.diff_to_previous, None);
        assert_eq!(d.measures.scene_correlation, None);
    }

    #[test]
    fn fault_names() {
        let names: Vec<&str> = Fault::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "too_dark",
                "too_bright",
                "frozen",
                "blur",
                "occlusion",
                "color_cast",
                "snow_noise",
                "stripes",
                "scene_change",
                "clock_drift"
            ]
        );
        for f in Fault::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
            let back: Fault = serde_json::from_value(f.as_str().into()).unwrap();
            assert_eq!(back, f);
            assert_eq!(f.to_string(), f.as_str());
            assert!(!f.zh().is_ascii());
        }
        assert_eq!(Fault::Occlusion.zh(), "视频遮挡");
        assert_eq!(
            (Fault::GB28181_ALARM_METHOD, Fault::GB28181_ALARM_TYPE),
            (5, 11)
        );
    }

    #[test]
    fn config_defaults_and_overrides() {
        let cfg: QualityConfig = toml::from_str("blur_laplacian_var = 50.0\n").unwrap();
        assert_eq!(cfg.blur_laplacian_var, 50.0);
        assert_eq!(cfg.occlusion_fraction, 0.32);
        assert!(cfg.validate().is_ok());
        assert!(toml::from_str::<QualityConfig>("blur = 1.0\n").is_err());
        let bad = QualityConfig {
            occlusion_fraction: 1.5,
            ..QualityConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("occlusion_fraction"));
        let inverted = QualityConfig {
            dark_luma: 200.0,
            bright_luma: 100.0,
            ..QualityConfig::default()
        };
        assert!(inverted.validate().is_err());
    }

    #[test]
    fn measures_serialise_for_json_output() {
        let d = run(&scene(100), None);
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["faults"], serde_json::json!([]));
        for key in [
            "mean_luma",
            "laplacian_var",
            "occluded_fraction",
            "cast_factor",
            "chroma_offset",
            "noise_ratio",
            "stripe_score",
            "stripe_amplitude",
            "stripe_period",
            "diff_to_previous",
            "scene_correlation",
        ] {
            assert!(v["measures"].get(key).is_some(), "{key} missing: {v}");
        }
        assert!(v.get("signature").is_none());
        assert!(v["measures"]["diff_to_previous"].is_null());
    }
}

/// A quality verdict as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QualityView {
    /// When the sample was taken.
    pub at: crate::clock::Time,
    /// True when no fault was found.
    pub ok: bool,
    /// Faults found (snake_case names).
    pub faults: Vec<Fault>,
    /// The measures behind the verdict.
    pub measures: Measures,
}
