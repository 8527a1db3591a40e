//! `sharpeyes diagnose IMAGE...`: the daemon's picture-quality diagnosis on image files, for
//! people who tune thresholds. Images are judged in the order given, each against the one
//! before (so `frozen` and `scene_change` can be tried with two files).

use std::path::PathBuf;

use serde::Serialize;

use crate::settings::Settings;
use crate::vision::quality::{self, Fault, Measures};

/// Arguments of `sharpeyes diagnose`.
#[derive(clap::Args, Debug, Clone)]
pub struct DiagnoseArgs {
    /// Image files (JPEG, PNG, …), judged in order.
    #[arg(required_unless_present = "labels")]
    pub images: Vec<PathBuf>,
    /// A labelled set (`tests/data/diagnose/labels.json`: `{"images": [{"file", "expect":
    /// [faults]}]}`): each image is judged on its own and a confusion table per fault is
    /// printed; exit status 1 when any verdict differs from its label.
    #[arg(long, conflicts_with = "images")]
    pub labels: Option<PathBuf>,
    /// Settings file whose `[quality]` table holds the thresholds.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One image's verdict.
#[derive(Debug, Serialize)]
pub struct ImageVerdict {
    /// The file.
    pub image: String,
    /// True when no fault was found.
    pub ok: bool,
    /// Fault names.
    pub faults: Vec<Fault>,
    /// The measures behind them.
    pub measures: Measures,
}

/// Runs `diagnose`; exit status 0 when every picture is fault-free, 1 otherwise.
pub fn run(args: &DiagnoseArgs) -> anyhow::Result<i32> {
    let cfg = match &args.config {
        Some(p) => Settings::load(p)?.quality,
        None => quality::QualityConfig::default(),
    };
    if let Some(labels) = &args.labels {
        return run_labelled(labels, &cfg, args.json);
    }
    let mut previous = None;
    let mut verdicts = Vec::new();
    for path in &args.images {
        let frame = crate::vision::image::load(path)?;
        let d = quality::diagnose(&frame, previous.as_ref(), &cfg);
        previous = Some(d.signature);
        verdicts.push(ImageVerdict {
            image: path.display().to_string(),
            ok: d.faults.is_empty(),
            faults: d.faults,
            measures: d.measures,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdicts)?);
    } else {
        for v in &verdicts {
            let faults: Vec<String> = v
                .faults
                .iter()
                .map(|f| format!("{} ({})", f.as_str(), f.zh()))
                .collect();
            println!(
                "{}: {}",
                v.image,
                if v.ok {
                    "ok".to_string()
                } else {
                    faults.join(", ")
                }
            );
            println!("  {}", serde_json::to_string(&v.measures)?);
        }
    }
    Ok(if verdicts.iter().all(|v| v.ok) { 0 } else { 1 })
}

#[derive(serde::Deserialize)]
struct LabelledSet {
    images: Vec<LabelledImage>,
}

#[derive(serde::Deserialize)]
struct LabelledImage {
    file: String,
    expect: Vec<String>,
}

/// Per fault: pictures that have it and were called so, called so without having it, and
/// having it without being called so.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Confusion {
    /// Correctly raised.
    pub tp: usize,
    /// Raised on a picture without the fault.
    pub fp: usize,
    /// Missed.
    pub fn_: usize,
}

/// One picture whose verdict differs from its label.
#[derive(Debug, Serialize)]
pub struct Mismatch {
    /// The file.
    pub image: String,
    /// What the label says.
    pub expected: Vec<String>,
    /// What the diagnosis said.
    pub got: Vec<String>,
    /// The measures behind it.
    pub measures: Measures,
}

/// The confusion table of a labelled set.
#[derive(Debug, Serialize)]
pub struct LabelledReport {
    /// Pictures judged.
    pub images: usize,
    /// Per fault name.
    pub faults: std::collections::BTreeMap<String, Confusion>,
    /// Pictures whose verdict differs from the label.
    pub mismatches: Vec<Mismatch>,
}

/// Judges every picture of a labelled set on its own (no previous picture: `frozen` and
/// `scene_change` are not exercised) and tallies the verdicts against the labels.
pub fn judge_labelled(
    labels: &std::path::Path,
    cfg: &quality::QualityConfig,
) -> anyhow::Result<LabelledReport> {
    let text = std::fs::read_to_string(labels)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", labels.display()))?;
    let set: LabelledSet = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a labels file: {e}", labels.display()))?;
    let dir = labels.parent().unwrap_or(std::path::Path::new("."));
    let mut faults: std::collections::BTreeMap<String, Confusion> = Default::default();
    let mut mismatches = Vec::new();
    for img in &set.images {
        let frame = crate::vision::image::load(&dir.join(&img.file))?;
        let d = quality::diagnose(&frame, None, cfg);
        let got: Vec<String> = d.faults.iter().map(|f| f.as_str().to_string()).collect();
        for name in &got {
            let c = faults.entry(name.clone()).or_default();
            if img.expect.contains(name) {
                c.tp += 1;
            } else {
                c.fp += 1;
            }
        }
        for name in img.expect.iter().filter(|n| !got.contains(n)) {
            faults.entry(name.clone()).or_default().fn_ += 1;
        }
        let mut want = img.expect.clone();
        want.sort();
        let mut have = got.clone();
        have.sort();
        if want != have {
            mismatches.push(Mismatch {
                image: img.file.clone(),
                expected: img.expect.clone(),
                got,
                measures: d.measures,
            });
        }
    }
    Ok(LabelledReport {
        images: set.images.len(),
        faults,
        mismatches,
    })
}

fn run_labelled(
    labels: &std::path::Path,
    cfg: &quality::QualityConfig,
    json: bool,
) -> anyhow::Result<i32> {
    let r = judge_labelled(labels, cfg)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{} pictures, each judged on its own", r.images);
        println!("{:<14} {:>4} {:>4} {:>4}", "fault", "TP", "FP", "FN");
        for (name, c) in &r.faults {
            println!("{name:<14} {:>4} {:>4} {:>4}", c.tp, c.fp, c.fn_);
        }
        for m in &r.mismatches {
            println!(
                "differs: {}: expected {:?}, got {:?}\n  {}",
                m.image,
                m.expected,
                m.got,
                serde_json::to_string(&m.measures)?
            );
        }
    }
    Ok(if r.mismatches.is_empty() { 0 } else { 1 })
}
