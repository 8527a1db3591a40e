//! How one picture is detected: which models, on which parts of it, and how their boxes are
//! merged. A single CenterNet pass over a wide 1280x720 view sees far people 20-40 px tall
//! squeezed into a 512x512 input; the levers here are engineering, not a new model:
//!
//! - **Zone crop**: when every rule on a camera has a zone, only the bounding box of the zones
//!   (plus a margin) is looked at, so the model's pixels go where the rules look.
//! - **Tiles**: besides the whole region, a `cols x rows` grid of overlapping tiles is run, each
//!   stretched to the model's input: small people get 2-3x more input pixels. Cost: one
//!   inference per tile (a 2x2 grid is 5 passes), bounded by configuration.
//! - **Ensemble**: several models (CenterNet and NanoDet-g) on the same views.
//! - **Merge**: boxes from every view and model, mapped back to frame pixels, are fused
//!   class-wise: greedy NMS (keep the best) or weighted box fusion (WBF: clusters of boxes
//!   with IoU above the threshold become one box whose corners are the score-weighted mean,
//!   with the cluster's score averaged over the number of models, so a box seen by one model of
//!   two scores half — Solovyev et al., 2021).
//!
//! A tile cuts people at its edges; the overlap (default 25 %) makes every person whole in some
//! view, and the whole-region pass keeps large objects whole. Partial boxes at tile borders
//! that survive are removed by the merge when a whole box covers them (IoU) — or by the
//! containment rule below: a box mostly inside a bigger box of the same class is dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::detect::{Detection, Detector, iou, share_inside};
use super::frame::RgbFrame;

/// A rectangle in frame pixels, `[x1, y1, x2, y2]`.
pub type Rect = [f32; 4];

/// A grid of overlapping tiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiling {
    /// Tiles across.
    pub cols: u32,
    /// Tiles down.
    pub rows: u32,
    /// Share of a tile's width (height) that overlaps its neighbour, 0..0.5.
    #[serde(default = "default_overlap")]
    pub overlap: f32,
    /// Also run the whole region (keeps large objects whole; one more pass).
    #[serde(default = "default_whole")]
    pub whole: bool,
}

fn default_whole() -> bool {
    true
}

fn default_overlap() -> f32 {
    0.25
}

impl Tiling {
    /// Parses `"2x2"`, `"3x2"` (cols x rows); a trailing `"-tiles"` (`"2x2-tiles"`) drops the
    /// whole-region pass.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (grid, whole) = match s.trim().strip_suffix("-tiles") {
            Some(g) => (g, false),
            None => (s.trim(), true),
        };
        let (c, r) = grid
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("tiles {s:?}: write COLSxROWS, e.g. \"2x2\""))?;
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=4).contains(n))
                .ok_or_else(|| format!("tiles {s:?}: 1 to 4 columns and rows"))
        };
        Ok(Self {
            cols: num(c)?,
            rows: num(r)?,
            overlap: default_overlap(),
            whole,
        })
    }

    /// Model passes per picture: the whole region (unless left out) plus every tile (one
    /// pass for 1x1).
    pub fn passes(&self) -> u32 {
        if self.cols * self.rows <= 1 {
            1
        } else {
            u32::from(self.whole) + self.cols * self.rows
        }
    }
}

/// How boxes from several views and models become one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Merge {
    /// Class-wise greedy NMS.
    #[default]
    Nms,
    /// Weighted box fusion.
    Wbf,
}

/// The views of a region: the region itself (unless the tiling leaves it out), then the
/// tiles (row-major).
pub fn views(region: Rect, tiling: Option<Tiling>) -> Vec<Rect> {
    let Some(t) = tiling.filter(|t| t.cols * t.rows > 1) else {
        return vec![region];
    };
    let mut out = if t.whole { vec![region] } else { Vec::new() };
    let (w, h) = (region[2] - region[0], region[3] - region[1]);
    let ov = t.overlap.clamp(0.0, 0.5);
    // Tile size such that `n` tiles overlapping by `ov` cover the side exactly.
    let tw = w / (t.cols as f32 - (t.cols as f32 - 1.0) * ov);
    let th = h / (t.rows as f32 - (t.rows as f32 - 1.0) * ov);
    for r in 0..t.rows {
        for c in 0..t.cols {
            let x = region[0] + c as f32 * tw * (1.0 - ov);
            let y = region[1] + r as f32 * th * (1.0 - ov);
            out.push([x, y, (x + tw).min(region[2]), (y + th).min(region[3])]);
        }
    }
    out
}

/// One model's detections on one view, shifted into frame pixels.
fn shifted(mut d: Vec<Detection>, view: &Rect) -> Vec<Detection> {
    for x in &mut d {
        x.bbox[0] += view[0];
        x.bbox[1] += view[1];
        x.bbox[2] += view[0];
        x.bbox[3] += view[1];
    }
    d
}

/// Class-wise greedy NMS, plus: a box at least `contain` inside a kept, higher-scored box of
/// its class is dropped (a person cut at a tile's edge next to the whole person).
pub fn merge_nms(mut all: Vec<Detection>, iou_threshold: f32, contain: f32) -> Vec<Detection> {
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(all.len());
    for d in all {
        let dup = kept.iter().any(|k| {
            k.class_id == d.class_id
                && (iou(&k.bbox, &d.bbox) > iou_threshold
                    || share_inside(&d.bbox, &k.bbox) >= contain)
        });
        if !dup {
            kept.push(d);
        }
    }
    kept
}

/// Weighted box fusion over boxes from `models` models (class-wise): each box joins the first
/// cluster whose fused box it overlaps above `iou_threshold`; a cluster's box is the
/// score-weighted mean of its members, its score their mean score times
/// `min(members, models) / models`.
pub fn merge_wbf(
    mut all: Vec<Detection>,
    models: usize,
    iou_threshold: f32,
    contain: f32,
) -> Vec<Detection> {
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    struct Cluster {
        members: Vec<Detection>,
        fused: Detection,
    }
    let mut clusters: Vec<Cluster> = Vec::new();
    for d in all {
        let hit = clusters.iter_mut().find(|c| {
            c.fused.class_id == d.class_id && iou(&c.fused.bbox, &d.bbox) > iou_threshold
        });
        match hit {
            Some(c) => {
                c.members.push(d);
                let total: f32 = c.members.iter().map(|m| m.score).sum();
                for i in 0..4 {
                    c.fused.bbox[i] =
                        c.members.iter().map(|m| m.bbox[i] * m.score).sum::<f32>() / total;
                }
            }
            None => clusters.push(Cluster {
                fused: d.clone(),
                members: vec![d],
            }),
        }
    }
    let models = models.max(1) as f32;
    let fused: Vec<Detection> = clusters
        .into_iter()
        .map(|c| {
            let n = c.members.len() as f32;
            let mean = c.members.iter().map(|m| m.score).sum::<f32>() / n;
            let mut d = c.fused;
            d.score = mean * n.min(models) / models;
            d
        })
        .collect();
    merge_nms(fused, 1.0, contain)
}

/// Models, views and merge for one picture (see the module docs).
pub struct DetectPlan {
    detectors: Vec<Detector>,
    /// Tiles over the region; `None`: one pass.
    pub tiling: Option<Tiling>,
    /// How boxes are fused.
    pub merge: Merge,
    /// IoU above which two boxes of a class are one object.
    pub iou: f32,
    /// A box this much inside a better one of its class is dropped (tiles only).
    pub contain: f32,
    thresholds: BTreeMap<String, f32>,
}

impl DetectPlan {
    /// A plan over `detectors` (at least one). Recommended thresholds: the model's own with
    /// one model; with several, each class's mean over the models that state one, scaled as
    /// WBF scales scores when merging by WBF.
    pub fn new(detectors: Vec<Detector>, tiling: Option<Tiling>, merge: Merge) -> Self {
        assert!(!detectors.is_empty(), "a plan needs a detector");
        let mut sums: BTreeMap<String, (f32, u32)> = BTreeMap::new();
        for d in &detectors {
            for (class, t) in &d.model().manifest.thresholds {
                let e = sums.entry(class.clone()).or_default();
                e.0 += t;
                e.1 += 1;
            }
        }
        let thresholds = sums
            .into_iter()
            .map(|(c, (s, n))| (c, s / n as f32))
            .collect();
        Self {
            detectors,
            tiling,
            merge,
            iou: 0.5,
            contain: 0.8,
            thresholds,
        }
    }

    /// Loads every manifest into a detector and builds the plan; `thresholds` (when not
    /// empty) replaces the models' recommended thresholds.
    pub fn load(
        manifests: &[std::path::PathBuf],
        options: &super::detect::DetectorOptions,
        tiling: Option<Tiling>,
        merge: Merge,
        thresholds: &BTreeMap<String, f32>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!manifests.is_empty(), "no detector model configured");
        let detectors = manifests
            .iter()
            .map(|m| {
                Detector::new(m, options)
                    .map_err(|e| e.context(format!("detector model {}", m.display())))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut plan = Self::new(detectors, tiling, merge);
        if !thresholds.is_empty() {
            plan.set_thresholds(thresholds.clone());
        }
        Ok(plan)
    }

    /// The detectors.
    pub fn detectors(&self) -> &[Detector] {
        &self.detectors
    }

    /// Recommended score threshold per class (see [`DetectPlan::new`]).
    pub fn thresholds(&self) -> &BTreeMap<String, f32> {
        &self.thresholds
    }

    /// Overrides the recommended thresholds (an ensemble's must be measured as a whole).
    pub fn set_thresholds(&mut self, t: BTreeMap<String, f32>) {
        self.thresholds = t;
    }

    /// Model passes per picture.
    pub fn passes(&self) -> u32 {
        self.tiling.map_or(1, |t| t.passes()) * self.detectors.len() as u32
    }

    /// Detects objects in `frame`, looking only at `roi` (frame pixels) when given, with the
    /// plan's tiling.
    pub fn detect(&self, frame: &RgbFrame, roi: Option<Rect>) -> anyhow::Result<Vec<Detection>> {
        self.detect_with(frame, roi, self.tiling)
    }

    /// [`DetectPlan::detect`] with another tiling.
    pub fn detect_with(
        &self,
        frame: &RgbFrame,
        roi: Option<Rect>,
        tiling: Option<Tiling>,
    ) -> anyhow::Result<Vec<Detection>> {
        let whole = [0.0, 0.0, frame.width as f32, frame.height as f32];
        let region = roi.map_or(whole, |r| {
            [
                r[0].clamp(0.0, whole[2]),
                r[1].clamp(0.0, whole[3]),
                r[2].clamp(0.0, whole[2]),
                r[3].clamp(0.0, whole[3]),
            ]
        });
        let rects = views(region, tiling);
        let crops: Vec<(Rect, Option<RgbFrame>)> = rects
            .iter()
            .map(|r| {
                let (x, y) = (r[0].floor() as u32, r[1].floor() as u32);
                let (w, h) = (
                    (r[2].ceil() as u32).saturating_sub(x),
                    (r[3].ceil() as u32).saturating_sub(y),
                );
                if x == 0 && y == 0 && w == frame.width && h == frame.height {
                    ([0.0, 0.0, 0.0, 0.0], None)
                } else {
                    ([x as f32, y as f32, 0.0, 0.0], Some(frame.crop(x, y, w, h)))
                }
            })
            .collect();
        let pictures: Vec<&RgbFrame> = crops
            .iter()
            .map(|(_, c)| c.as_ref().unwrap_or(frame))
            .collect();
        let mut all = Vec::new();
        for d in &self.detectors {
            for ((offset, _), found) in crops.iter().zip(d.detect(&pictures)?) {
                all.extend(shifted(found, offset));
            }
        }
        let tiled = rects.len() > 1;
        let contain = if tiled { self.contain } else { 1.01 };
        Ok(match self.merge {
            Merge::Nms if self.detectors.len() == 1 && !tiled => all,
            Merge::Nms => merge_nms(all, self.iou, contain),
            Merge::Wbf => merge_wbf(all, self.detectors.len(), self.iou, contain),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32, score: f32, bbox: Rect) -> Detection {
        Detection {
            class: if class_id == 0 {
                "person".into()
            } else {
                "car".into()
            },
            class_id,
            score,
            bbox,
        }
    }

    #[test]
    fn tiles_cover_the_region_with_overlap() {
        let region = [0.0, 0.0, 1280.0, 720.0];
        let v = views(region, Some(Tiling::parse("2x2").unwrap()));
        assert_eq!(v.len(), 5);
        assert_eq!(v[0], region);
        // 2 tiles overlapping by 25 % cover 1280: each 1280 / 1.75 wide.
        let tw = 1280.0 / 1.75;
        assert!((v[1][2] - tw).abs() < 0.01);
        assert!((v[2][0] - tw * 0.75).abs() < 0.01);
        assert!((v[2][2] - 1280.0).abs() < 0.01);
        assert!((v[4][3] - 720.0).abs() < 0.01);
        assert_eq!(views(region, Some(Tiling::parse("1x1").unwrap())).len(), 1);
        assert_eq!(Tiling::parse("3x2").unwrap().passes(), 7);
        assert!(Tiling::parse("5x1").is_err() && Tiling::parse("2").is_err());
        let only = Tiling::parse("2x2-tiles").unwrap();
        assert_eq!((only.passes(), views(region, Some(only)).len()), (4, 4));
    }

    #[test]
    fn nms_drops_duplicates_and_cut_people_at_tile_edges() {
        let whole = det(0, 0.8, [100.0, 100.0, 140.0, 200.0]);
        let dup = det(0, 0.6, [102.0, 101.0, 141.0, 199.0]);
        let cut = det(0, 0.5, [100.0, 100.0, 140.0, 150.0]); // upper half, IoU 0.5
        let other = det(0, 0.4, [300.0, 100.0, 340.0, 200.0]);
        let car = det(2, 0.7, [100.0, 100.0, 140.0, 200.0]);
        let kept = merge_nms(vec![cut, other, dup, whole.clone(), car], 0.5, 0.8);
        let boxes: Vec<(u32, f32)> = kept.iter().map(|d| (d.class_id, d.score)).collect();
        assert_eq!(boxes, [(0, 0.8), (2, 0.7), (0, 0.4)]);
        assert_eq!(kept[0], whole);
    }

    #[test]
    fn wbf_fuses_agreeing_models_and_halves_lone_boxes() {
        let a = det(0, 0.8, [100.0, 100.0, 140.0, 200.0]);
        let b = det(0, 0.4, [110.0, 100.0, 150.0, 200.0]);
        let lone = det(0, 0.6, [400.0, 100.0, 440.0, 200.0]);
        let fused = merge_wbf(vec![a, b, lone], 2, 0.5, 0.8);
        assert_eq!(fused.len(), 2);
        // (0.8 + 0.4) / 2 with both models present; x1 = (100*0.8 + 110*0.4) / 1.2.
        assert!((fused[0].score - 0.6).abs() < 1e-6, "{fused:?}");
        assert!((fused[0].bbox[0] - (80.0 + 44.0) / 1.2).abs() < 1e-3);
        assert!(
            (fused[1].score - 0.3).abs() < 1e-6,
            "one model of two: half"
        );
    }
}
