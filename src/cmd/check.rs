//! `sharpeyes check`: validate an inventory and print what would run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::inventory::{self, GroupBy, Rejected};
use crate::config::shard::Shard;

/// Arguments of `sharpeyes check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Inventory file (CSV, or TOML when it ends in `.toml`).
    #[arg(long)]
    pub inventory: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Only the cameras this instance owns: `I/N`, or `pod/N` (index from the pod name).
    #[arg(long, value_parser = crate::config::shard::parse_arg)]
    pub shard: Option<Shard>,
}

/// The summary printed by `check`.
#[derive(Debug, Serialize)]
pub struct CheckSummary {
    /// Cameras loaded.
    pub cameras: usize,
    /// Of which enabled.
    pub enabled: usize,
    /// Camera counts per dimension and group value.
    pub groups: BTreeMap<&'static str, BTreeMap<String, usize>>,
    /// Rows skipped and why.
    pub rejected: Vec<Rejected>,
    /// With `--shard`: the shard and the ids of the enabled cameras it owns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardView>,
}

/// The cameras one shard owns.
#[derive(Debug, Serialize)]
pub struct ShardView {
    /// `I/N`.
    pub shard: String,
    /// Owned camera ids, in inventory order.
    pub cameras: Vec<String>,
}

/// Runs `check`. Exit status: 0 when at least one camera is usable, 1 otherwise.
pub fn run(args: &CheckArgs) -> anyhow::Result<i32> {
    let mut inv = inventory::load(&args.inventory)?;
    let shard = args.shard.map(|sh| {
        inv.cameras.retain(|c| sh.owns(&c.id));
        ShardView {
            shard: sh.to_string(),
            cameras: inv.enabled().map(|c| c.id.clone()).collect(),
        }
    });
    let mut groups: BTreeMap<&'static str, BTreeMap<String, usize>> = BTreeMap::new();
    for c in inv.enabled() {
        for by in GroupBy::ALL {
            *groups
                .entry(by.as_str())
                .or_default()
                .entry(c.groups.get(by).to_string())
                .or_default() += 1;
        }
    }
    let summary = CheckSummary {
        cameras: inv.cameras.len(),
        enabled: inv.enabled().count(),
        groups,
        rejected: inv.rejected.clone(),
        shard,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        if let Some(sh) = &summary.shard {
            println!("shard {}: owns {} cameras", sh.shard, sh.cameras.len());
        }
        println!(
            "{}: {} cameras loaded ({} enabled), {} rows rejected",
            args.inventory.display(),
            summary.cameras,
            summary.enabled,
            summary.rejected.len()
        );
        for (dim, values) in &summary.groups {
            let list: Vec<String> = values.iter().map(|(g, n)| format!("{g} {n}")).collect();
            println!("  by {dim}: {}", list.join(", "));
        }
        for r in &summary.rejected {
            println!("  rejected {r}");
        }
    }
    if summary.enabled == 0 {
        eprintln!("error: no usable camera in {}", args.inventory.display());
        return Ok(1);
    }
    Ok(0)
}
