//! `sharpeyes windows`: declare, list, edit and delete maintenance windows (报备) from the
//! command line, on the same store as the daemon's `/api/maintenance` (safe while it runs).
//!
//! ```text
//! sharpeyes windows add --data-dir data --camera c001 --camera c002 \
//!     --start 2026-11-10T09:00:00+08:00 --end 2026-11-10T12:00:00+08:00 --reason 道路施工停电 --by 张三
//! sharpeyes windows add --data-dir data --group region=城关镇 --start … --end … --reason … --by …
//! sharpeyes windows list --data-dir data [--deleted] [--format json]
//! sharpeyes windows edit 3 --data-dir data --end 2026-11-10T14:00:00+08:00 --by 张三
//! sharpeyes windows delete 3 --data-dir data --by 张三
//! sharpeyes windows audit 3 --data-dir data
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::assessment::windows::{GroupRef, Window, WindowSpec, WindowStore};
use crate::clock::{Clock, SystemClock, Time};
use crate::config::inventory::GroupBy;

/// Arguments of `sharpeyes windows`.
#[derive(clap::Args, Debug)]
pub struct WindowsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// Options every action takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// The daemon's data directory (holding maintenance.db).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
}

/// What a declaration names (for `add`, and `edit` when given).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Scope {
    /// A camera id (repeatable).
    #[arg(long = "camera", value_name = "ID")]
    pub cameras: Vec<String>,
    /// A group instead of ids: DIMENSION=VALUE, e.g. region=城关镇 (region, unit, class,
    /// maintainer).
    #[arg(long, value_name = "DIM=VALUE", value_parser = parse_group)]
    pub group: Option<GroupRef>,
}

/// The subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Declare a window.
    Add {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        scope: Scope,
        /// First instant of the work (RFC 3339 with offset).
        #[arg(long, value_parser = parse_rfc3339)]
        start: Time,
        /// First instant after the work.
        #[arg(long, value_parser = parse_rfc3339)]
        end: Time,
        /// Why (报备事由).
        #[arg(long)]
        reason: String,
        /// Who declares it (recorded in the audit trail).
        #[arg(long = "by", value_name = "NAME")]
        by: String,
        /// Declarations starting more than this before now are marked late.
        #[arg(long, default_value = "15m", value_parser = crate::config::duration::parse_duration)]
        late_grace: Duration,
    },
    /// List windows (JSON or a table).
    List {
        #[command(flatten)]
        common: Common,
        /// Include deleted windows.
        #[arg(long)]
        deleted: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Change a window (what is not given stays); the audit keeps the old declaration.
    Edit(EditArgs),
    /// Delete a window (it stops excusing; the record and its audit stay).
    Delete {
        /// The window's id.
        id: i64,
        #[command(flatten)]
        common: Common,
        /// Who deletes it.
        #[arg(long = "by", value_name = "NAME")]
        by: String,
    },
    /// Print a window's audit trail as JSON lines.
    Audit {
        /// The window's id.
        id: i64,
        #[command(flatten)]
        common: Common,
    },
}

/// `windows edit`: what is not given stays.
#[derive(clap::Args, Debug)]
pub struct EditArgs {
    /// The window's id.
    pub id: i64,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub scope: Scope,
    /// New start.
    #[arg(long, value_parser = parse_rfc3339)]
    pub start: Option<Time>,
    /// New end.
    #[arg(long, value_parser = parse_rfc3339)]
    pub end: Option<Time>,
    /// New reason.
    #[arg(long)]
    pub reason: Option<String>,
    /// Who changes it.
    #[arg(long = "by", value_name = "NAME")]
    pub by: String,
    /// Edits reaching back more than this before now mark the window late.
    #[arg(long, default_value = "15m", value_parser = crate::config::duration::parse_duration)]
    pub late_grace: Duration,
}

/// `windows list --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// One line per window.
    Table,
    /// A JSON array.
    Json,
}

fn parse_rfc3339(s: &str) -> Result<Time, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("{s:?} is not an RFC 3339 time (e.g. 2026-11-10T09:00:00+08:00)"))
}

fn parse_group(s: &str) -> Result<GroupRef, String> {
    let (dim, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: use DIMENSION=VALUE, e.g. region=城关镇"))?;
    let by = <GroupBy as clap::ValueEnum>::from_str(dim.trim(), true)
        .map_err(|_| format!("{dim:?} is not a dimension (region, unit, class, maintainer)"))?;
    Ok(GroupRef {
        by,
        value: value.trim().to_string(),
    })
}

fn scope_of(s: Scope) -> (Option<Vec<String>>, Option<GroupRef>) {
    ((!s.cameras.is_empty()).then_some(s.cameras), s.group)
}

/// Runs `sharpeyes windows`.
pub fn run(args: WindowsArgs) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let print = |w: &Window| -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(w)?);
        Ok(())
    };
    match args.action {
        Action::Add {
            common,
            scope,
            start,
            end,
            reason,
            by,
            late_grace,
        } => {
            let (cameras, group) = scope_of(scope);
            let mut store = WindowStore::open(&common.data_dir, late_grace)?;
            let w = store.declare(
                WindowSpec {
                    cameras,
                    group,
                    start,
                    end,
                    reason,
                },
                &by,
                now,
            )?;
            if w.late {
                eprintln!(
                    "windows: window {} starts before it was declared: marked late (excuses from {} unless late declarations count)",
                    w.id, w.on_time_from
                );
            }
            print(&w)
        }
        Action::Edit(edit) => {
            let mut store = WindowStore::open(&edit.common.data_dir, edit.late_grace)?;
            let id = edit.id;
            let old = store
                .get(id)?
                .with_context(|| format!("no maintenance window {id}"))?;
            let (cameras, group) = scope_of(edit.scope);
            let mut spec = old.spec;
            if cameras.is_some() || group.is_some() {
                spec.cameras = cameras;
                spec.group = group;
            }
            spec.start = edit.start.unwrap_or(spec.start);
            spec.end = edit.end.unwrap_or(spec.end);
            spec.reason = edit.reason.unwrap_or(spec.reason);
            print(&store.edit(id, spec, &edit.by, now)?)
        }
        Action::Delete { id, common, by } => {
            let mut store = WindowStore::open(&common.data_dir, Duration::ZERO)?;
            print(&store.delete(id, &by, now)?)
        }
        Action::List {
            common,
            deleted,
            format,
        } => {
            let windows = match WindowStore::open_read_only(&common.data_dir)? {
                Some(s) => s.list(None, None, deleted)?,
                None => Vec::new(),
            };
            match format {
                ListFormat::Json => println!("{}", serde_json::to_string_pretty(&windows)?),
                ListFormat::Table => {
                    if windows.is_empty() {
                        println!("No maintenance windows.");
                    }
                    for w in &windows {
                        let scope = match (&w.spec.cameras, &w.spec.group) {
                            (Some(c), _) => c.join(","),
                            (None, Some(g)) => format!("{}={}", g.by.as_str(), g.value),
                            (None, None) => String::new(),
                        };
                        println!(
                            "{:>4}  {} → {}  {}  {}  by {}{}{}",
                            w.id,
                            w.spec.start.with_timezone(&crate::clock::china()),
                            w.spec.end.with_timezone(&crate::clock::china()),
                            scope,
                            w.spec.reason,
                            w.declared_by,
                            if w.late { "  [late]" } else { "" },
                            if w.deleted_at.is_some() {
                                "  [deleted]"
                            } else {
                                ""
                            },
                        );
                    }
                }
            }
            Ok(())
        }
        Action::Audit { id, common } => {
            let Some(store) = WindowStore::open_read_only(&common.data_dir)? else {
                bail!(
                    "no maintenance window {id} (no windows declared in {})",
                    common.data_dir.display()
                );
            };
            if store.get(id)?.is_none() {
                bail!("no maintenance window {id}");
            }
            for a in store.audit(Some(id))? {
                println!("{}", serde_json::to_string(&a)?);
            }
            Ok(())
        }
    }
}
