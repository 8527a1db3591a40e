//! `sharpeyes diagnose IMAGE...`: the daemon's picture-quality diagnosis on image files, for
//! people who tune thresholds. Images are judged in the order given, each against the one
//! before (so `frozen` and `scene_change` can be tried with two files).

use std::path::PathBuf;

use serde::Serialize;

use crate::config::settings::Settings;
use crate::vision::quality::{self, Fault, Measures};

/// Arguments of `sharpeyes diagnose`.
#[derive(clap::Args, Debug, Clone)]
pub struct DiagnoseArgs {
    /// Image files (JPEG, PNG, …), judged in order.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
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
