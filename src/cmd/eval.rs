//! `sharpeyes eval --labels FILE`: how well the daemon's detection path finds people on a
//! labelled set (`tests/data/eval/labels.json`), per setting.
//!
//! Matching (the same rule as `scripts/eval_reference.py`, so the two agree): person
//! detections at or above the threshold, best first, each take the unmatched labelled person
//! with the highest IoU ≥ 0.5 (a true positive). An unmatched detection on an `"ignore": true`
//! box (IoU ≥ 0.5, or at least 70 % inside it) counts neither way; any other is a false
//! positive. Unmatched labelled persons are misses. The count of an image is its true plus
//! false positives (what a crowding rule would count); MAE is the mean of |count − labelled|.
//! Times are wall-clock per image: decode excluded, every model pass, tile and merge included.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::vision::detect::{Detection, DetectorOptions, iou, share_inside};
use crate::vision::detect_plan::{DetectPlan, Merge, Tiling};
use crate::vision::frame::RgbFrame;

/// IoU at which a detection matches a labelled person.
pub const MATCH_IOU: f32 = 0.5;
/// A detection this much inside an ignore box is ignored.
pub const IGNORE_INSIDE: f32 = 0.7;
/// The person threshold when neither `--threshold` nor the models give one (the crowding
/// rule's own fallback).
pub const FALLBACK_THRESHOLD: f32 = 0.5;

/// Arguments of `sharpeyes eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// The labelled set (`tests/data/eval/labels.json`); images are relative to it.
    #[arg(long)]
    pub labels: PathBuf,
    /// Detector manifest; repeat for an ensemble. Default: `models/centernet_coco.toml`.
    #[arg(long = "model", value_name = "MANIFEST")]
    pub models: Vec<PathBuf>,
    /// Tiles besides the whole picture, `COLSxROWS` (e.g. `2x2`).
    #[arg(long)]
    pub tiles: Option<String>,
    /// Tile overlap, 0..0.5.
    #[arg(long, default_value_t = 0.25)]
    pub tile_overlap: f32,
    /// How boxes merge across tiles and models.
    #[arg(long, value_enum, default_value = "nms")]
    pub merge: MergeArg,
    /// Person score threshold; default: the models' recommended (`[thresholds] person`).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Only images of this set (`cctv`, `wide`, `photo`).
    #[arg(long)]
    pub set: Option<String>,
    /// Print one line per image too.
    #[arg(long)]
    pub per_image: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write each image's person detections at or above the threshold to this file, one JSON
    /// line per image (`{"file", "detections": [[x1, y1, x2, y2, score], ...]}`), to look at
    /// what was missed or invented.
    #[arg(long, value_name = "FILE")]
    pub detections: Option<PathBuf>,
}

/// `--merge`.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum MergeArg {
    /// Class-wise NMS.
    Nms,
    /// Weighted box fusion.
    Wbf,
}

/// The labelled set.
#[derive(Debug, Deserialize)]
pub struct Labels {
    /// Its images.
    pub images: Vec<LabelledImage>,
}

/// One labelled image.
#[derive(Debug, Deserialize)]
pub struct LabelledImage {
    /// File, relative to the labels file.
    pub file: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Subset name.
    #[serde(default)]
    pub set: Option<String>,
    /// The people.
    pub persons: Vec<Person>,
}

/// One labelled person.
#[derive(Debug, Deserialize)]
pub struct Person {
    /// `[x1, y1, x2, y2]` in image pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Counts neither as a miss nor a false positive.
    #[serde(default)]
    pub ignore: bool,
}

/// Matching of one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Labelled persons found.
    pub tp: usize,
    /// Labelled persons missed.
    pub fn_: usize,
    /// Detections that are nobody.
    pub fp: usize,
}

impl Tally {
    /// What a crowding rule counts.
    pub fn counted(&self) -> usize {
        self.tp + self.fp
    }

    /// Labelled persons.
    pub fn labelled(&self) -> usize {
        self.tp + self.fn_
    }
}

/// Matches person detections (any order) against the labels (see the module docs).
pub fn tally(dets: &[&Detection], persons: &[Person]) -> Tally {
    let mut dets: Vec<&Detection> = dets.to_vec();
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let gts: Vec<&Person> = persons.iter().filter(|p| !p.ignore).collect();
    let igs: Vec<&Person> = persons.iter().filter(|p| p.ignore).collect();
    let mut used = vec![false; gts.len()];
    let mut t = Tally::default();
    for d in dets {
        let mut best = (MATCH_IOU, None);
        for (i, g) in gts.iter().enumerate() {
            let v = iou(&d.bbox, &g.bbox);
            if !used[i] && v >= best.0 {
                best = (v, Some(i));
            }
        }
        if let Some(i) = best.1 {
            used[i] = true;
            t.tp += 1;
            continue;
        }
        let ignored = igs.iter().any(|g| {
            iou(&d.bbox, &g.bbox) >= MATCH_IOU || share_inside(&d.bbox, &g.bbox) >= IGNORE_INSIDE
        });
        if !ignored {
            t.fp += 1;
        }
    }
    t.fn_ = gts.len() - t.tp;
    t
}

/// The figures of one setting over a set of images.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Images.
    pub images: usize,
    /// Labelled persons.
    pub persons: usize,
    /// Found.
    pub tp: usize,
    /// Missed.
    pub fn_: usize,
    /// False positives.
    pub fp: usize,
    /// tp / persons.
    pub recall: f64,
    /// tp / (tp + fp).
    pub precision: f64,
    /// Mean |counted − labelled| per image.
    pub count_mae: f64,
    /// Median milliseconds per image.
    pub ms_per_image: f64,
    /// Model passes per image.
    pub passes: u32,
    /// Person threshold used.
    pub threshold: f32,
}

/// Sums tallies.
pub fn summarise(rows: &[(Tally, f64)], passes: u32, threshold: f32) -> Summary {
    let tp: usize = rows.iter().map(|r| r.0.tp).sum();
    let fn_: usize = rows.iter().map(|r| r.0.fn_).sum();
    let fp: usize = rows.iter().map(|r| r.0.fp).sum();
    let mae = rows
        .iter()
        .map(|r| r.0.counted().abs_diff(r.0.labelled()) as f64)
        .sum::<f64>()
        / rows.len().max(1) as f64;
    let mut ms: Vec<f64> = rows.iter().map(|r| r.1).collect();
    ms.sort_by(f64::total_cmp);
    Summary {
        images: rows.len(),
        persons: tp + fn_,
        tp,
        fn_,
        fp,
        recall: tp as f64 / (tp + fn_).max(1) as f64,
        precision: tp as f64 / (tp + fp).max(1) as f64,
        count_mae: mae,
        ms_per_image: ms.get(ms.len() / 2).copied().unwrap_or(0.0),
        passes,
        threshold,
    }
}

/// Runs the evaluation and returns the summary (printed by [`run`]).
pub fn evaluate(args: &EvalArgs) -> anyhow::Result<Summary> {
    let text = std::fs::read_to_string(&args.labels)
        .with_context(|| format!("cannot read {}", args.labels.display()))?;
    let labels: Labels = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a labels file", args.labels.display()))?;
    let dir = args.labels.parent().unwrap_or(Path::new("."));
    let manifests = if args.models.is_empty() {
        vec![crate::vision::detect::default_model_path()]
    } else {
        args.models.clone()
    };
    let tiling = args
        .tiles
        .as_deref()
        .map(|t| {
            let mut t = Tiling::parse(t).map_err(anyhow::Error::msg)?;
            t.overlap = args.tile_overlap.clamp(0.0, 0.49);
            anyhow::Ok(t)
        })
        .transpose()?;
    let merge = match args.merge {
        MergeArg::Nms => Merge::Nms,
        MergeArg::Wbf => Merge::Wbf,
    };
    let options = DetectorOptions {
        threads: args.threads,
        // A threshold under the manifest's floor must see the rows it asks for.
        score_threshold: args.threshold,
        ..Default::default()
    };
    let plan = DetectPlan::load(&manifests, &options, tiling, merge, &Default::default())?;
    let threshold = args
        .threshold
        .or_else(|| plan.thresholds().get("person").copied())
        .unwrap_or(FALLBACK_THRESHOLD);
    let mut rows = Vec::new();
    let mut dump = args
        .detections
        .as_ref()
        .map(|p| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .with_context(|| format!("cannot write {}", p.display()))
        })
        .transpose()?;
    let mut warmed = false;
    for img in labels
        .images
        .iter()
        .filter(|i| args.set.is_none() || i.set == args.set)
    {
        let frame: RgbFrame = crate::vision::image::load(&dir.join(&img.file))?;
        anyhow::ensure!(
            (frame.width, frame.height) == (img.width, img.height),
            "{}: {}x{}, the labels say {}x{}",
            img.file,
            frame.width,
            frame.height,
            img.width,
            img.height
        );
        if !warmed {
            plan.detect(&frame, None)?;
            warmed = true;
        }
        let started = Instant::now();
        let found = plan.detect(&frame, None)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let people: Vec<&Detection> = found
            .iter()
            .filter(|d| d.class == "person" && d.score >= threshold)
            .collect();
        let t = tally(&people, &img.persons);
        if let Some(out) = dump.as_mut() {
            use std::io::Write as _;
            let boxes: Vec<[f32; 5]> = people
                .iter()
                .map(|d| [d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3], d.score])
                .collect();
            let line = serde_json::json!({ "file": img.file, "detections": boxes });
            writeln!(out, "{line}")?;
        }
        if args.per_image {
            println!(
                "{:<28} labelled {:>3}  counted {:>3}  found {:>3}  missed {:>3}  false {:>3}  {:>7.1} ms",
                img.file,
                t.labelled(),
                t.counted(),
                t.tp,
                t.fn_,
                t.fp,
                ms
            );
        }
        rows.push((t, ms));
    }
    if let Some(mut out) = dump {
        use std::io::Write as _;
        out.flush()?;
    }
    anyhow::ensure!(
        !rows.is_empty(),
        "no image selected in {}",
        args.labels.display()
    );
    Ok(summarise(&rows, plan.passes(), threshold))
}

/// Runs `sharpeyes eval` and prints its table.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let s = evaluate(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let models: Vec<String> = if args.models.is_empty() {
        vec!["default".into()]
    } else {
        args.models
            .iter()
            .map(|m| m.display().to_string())
            .collect()
    };
    println!(
        "models {} | tiles {} | merge {:?} | person threshold {:.2} | {} threads",
        models.join(" + "),
        args.tiles.as_deref().unwrap_or("none"),
        args.merge,
        s.threshold,
        args.threads
    );
    println!(
        "images {:>3}  persons {:>4}  recall {:>5.1} %  precision {:>5.1} %  count MAE {:>5.2}  \
         {:>6.1} ms/image ({} passes)",
        s.images,
        s.persons,
        s.recall * 100.0,
        s.precision * 100.0,
        s.count_mae,
        s.ms_per_image,
        s.passes
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(b: [f32; 4], ignore: bool) -> Person {
        Person { bbox: b, ignore }
    }

    fn det(score: f32, b: [f32; 4]) -> Detection {
        Detection {
            class: "person".into(),
            class_id: 0,
            score,
            bbox: b,
        }
    }

    #[test]
    fn matching_counts_hits_misses_false_and_ignored() {
        let persons = [
            person([0.0, 0.0, 10.0, 20.0], false),
            person([50.0, 0.0, 60.0, 20.0], false),
            person([100.0, 0.0, 140.0, 40.0], true),
        ];
        let d = [
            det(0.9, [0.0, 0.0, 10.0, 21.0]),    // hit
            det(0.8, [1.0, 0.0, 11.0, 20.0]),    // duplicate of a taken person: false
            det(0.7, [105.0, 5.0, 115.0, 25.0]), // inside the ignore box
            det(0.6, [300.0, 0.0, 310.0, 20.0]), // nobody
        ];
        let refs: Vec<&Detection> = d.iter().collect();
        let t = tally(&refs, &persons);
        assert_eq!(
            t,
            Tally {
                tp: 1,
                fn_: 1,
                fp: 2
            }
        );
        assert_eq!((t.counted(), t.labelled()), (3, 2));
        let s = summarise(
            &[
                (t, 10.0),
                (
                    Tally {
                        tp: 2,
                        fn_: 0,
                        fp: 0,
                    },
                    20.0,
                ),
            ],
            1,
            0.35,
        );
        assert_eq!((s.persons, s.tp), (4, 3));
        assert!((s.recall - 0.75).abs() < 1e-9 && (s.precision - 0.6).abs() < 1e-9);
        assert!((s.count_mae - 0.5).abs() < 1e-9);
    }
}
