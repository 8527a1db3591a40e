//! `sharpeyes report`: one day's online rate (在线率) and intact rate (完好率) from the ledger,
//! per camera and per group.
//!
//! The day is a calendar day in the report's time zone (`--utc-offset`, default `+08:00`:
//! the assessment day is the Beijing day). Figures follow the rules of
//! [`availability`]: only observed time counts (`connecting` and
//! unmonitored time are shown as *unobserved* and excluded from the rates), group rates are
//! time-weighted, and a camera meets the target when its uptime ≥ `--target`.
//!
//! The intact rate is intact time / the same observed time, where intact = online with no
//! known picture fault: online time inside a faulty picture verdict is *picture-fault* time,
//! and online time that was never diagnosed (*unchecked*) counts as intact (see
//! [`availability`]'s 完好率 section). A camera meets the intact target when its intact rate
//! ≥ `--intact-target` (default: `--target`).
//!
//! Cameras are those with any recorded time in the day; their name and groups are the latest
//! the daemon stored (a camera moved to another region is reported under the new one).
//!
//! ## Formats
//!
//! - `table` (default): the cameras, then the groups, then the fleet total, for people.
//! - `json`: the [`DayReport`] structure (times in the report's offset, RFC 3339; durations
//!   in seconds; percentages rounded to 2 decimals).
//! - `csv`: one table, UTF-8 without BOM, with a `kind` column (`camera`, `group`, `fleet`)
//!   so it can be filtered or pivoted in a spreadsheet. Columns: see [`CSV_HEADER`]. For
//!   `camera` rows `group` is the camera's group value and `uptime_pct` its uptime; `cameras`,
//!   `measured` and `below_target` are empty. For `group` and `fleet` rows `camera_id` and
//!   `name` are empty, `uptime_pct` is the time-weighted online rate, `longest_outage_s` is
//!   empty; the `fleet` row's `group` is empty. Seconds are whole numbers unless the ledger
//!   recorded milliseconds; a rate with no observed time is empty.
//!
//!   The 完好率 columns come last, after `main_reason`, so consumers of the older 17 columns
//!   keep working: `intact_pct` (the camera's intact rate; for `group` and `fleet` rows the
//!   time-weighted intact rate), `picture_fault_s` (online seconds with a faulty picture),
//!   `unchecked_s` (online seconds never diagnosed, counted intact), `below_intact_target`
//!   (empty for `camera` rows) and `main_fault` (the picture fault with the most time, a
//!   snake_case name such as `too_dark`; empty without fault time).

pub mod month;
pub mod xlsx;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

use crate::clock::{Clock, SystemClock, Time};
use crate::config::inventory::{GroupBy, Groups};
use crate::health::availability::{
    self, CameraAvailability, DEFAULT_TARGET, GroupAvailability, Targets,
};
use crate::health::ledger::Ledger;

/// Arguments of `sharpeyes report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// The daemon's data directory (the one holding sharpeyes.db).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The day to report, in the report's time zone [default: today].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: Option<NaiveDate>,
    /// Report a whole month instead (月度考核): per day and for the month, raw and assessed,
    /// ranked, with the gap to target (see `report::month`).
    #[arg(long, value_name = "YYYY-MM", value_parser = month::parse_month, conflicts_with = "date")]
    pub month: Option<NaiveDate>,
    /// Write the report to this file instead of stdout (needed for xlsx on a terminal).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Group cameras by this dimension.
    #[arg(long, value_enum, default_value_t = GroupBy::Region)]
    pub by: GroupBy,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The time zone of the day, as an offset from UTC (+08:00 = China Standard Time).
    #[arg(
        long,
        value_name = "±HH:MM",
        default_value = "+08:00",
        value_parser = parse_offset,
        allow_hyphen_values = true
    )]
    pub utc_offset: FixedOffset,
    /// Per-camera uptime target, a fraction (0.98) or a percentage (98%).
    #[arg(long, value_name = "RATIO", default_value_t = DEFAULT_TARGET, value_parser = parse_target)]
    pub target: f64,
    /// Per-camera intact-rate (完好率) target, a fraction or a percentage [default: --target].
    #[arg(long, value_name = "RATIO", value_parser = parse_target)]
    pub intact_target: Option<f64>,
    /// Let maintenance windows declared after the fact excuse in full (default: only from
    /// their declaration on; see `sharpeyes windows`).
    #[arg(long)]
    pub count_late: bool,
}

impl ReportArgs {
    /// The online and intact targets (the intact one defaults to the online one).
    pub fn targets(&self) -> Targets {
        Targets {
            online: self.target,
            intact: self.intact_target.unwrap_or(self.target),
        }
    }
}

/// Output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text tables, for people.
    Table,
    /// One CSV table with a kind column (camera, group, fleet).
    Csv,
    /// The full report as JSON, outages included.
    Json,
    /// An Excel workbook (`--month` only): one sheet per dimension, a daily sheet, notes.
    Xlsx,
}

/// One day's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayReport {
    /// The day, in the report's time zone.
    pub date: NaiveDate,
    /// The time zone, e.g. `+08:00`.
    pub utc_offset: String,
    /// Start of the day.
    pub from: DateTime<FixedOffset>,
    /// End of the day (exclusive).
    pub to: DateTime<FixedOffset>,
    /// True when the day is not over yet (the rest of it counts as unobserved).
    pub partial: bool,
    /// The grouping dimension.
    pub by: GroupBy,
    /// The per-camera target, in percent.
    pub target_pct: f64,
    /// The per-camera intact-rate target, in percent.
    pub intact_target_pct: f64,
    /// Whether late maintenance windows excused in full.
    pub count_late: bool,
    /// Cameras with recorded time in the day, sorted by group value then id.
    pub cameras: Vec<CameraLine>,
    /// Groups, sorted by value.
    pub groups: Vec<GroupLine>,
    /// The whole fleet (`group` is `"total"`).
    pub fleet: GroupLine,
}

/// One camera's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraLine {
    /// Camera id.
    pub id: String,
    /// Camera name (the id when unknown).
    pub name: String,
    /// The camera's value of the grouping dimension.
    pub group: String,
    /// online / (online + offline) in percent, 2 decimals; `None` when nothing was observed.
    pub uptime_pct: Option<f64>,
    /// Whether the uptime reaches the target; `None` when nothing was observed.
    pub meets_target: Option<bool>,
    /// Seconds online.
    pub online_s: f64,
    /// Seconds offline (the total outage time).
    pub offline_s: f64,
    /// Seconds connecting (unobserved).
    pub connecting_s: f64,
    /// Seconds not monitored (unobserved).
    pub unmonitored_s: f64,
    /// Number of outages.
    pub outage_count: usize,
    /// The longest outage in seconds (0 without outages).
    pub longest_outage_s: f64,
    /// The reason with the most offline time.
    pub main_reason: Option<String>,
    /// Offline seconds per reason.
    pub outage_s_by_reason: BTreeMap<String, f64>,
    /// The outages, in time order.
    pub outages: Vec<OutageLine>,
    /// 完好率: intact / (online + offline) in percent, 2 decimals; `None` when nothing was
    /// observed.
    pub intact_pct: Option<f64>,
    /// Whether the intact rate reaches the intact target; `None` when nothing was observed.
    pub meets_intact_target: Option<bool>,
    /// Seconds intact (online without a known picture fault).
    pub intact_s: f64,
    /// Seconds online with a faulty picture.
    pub picture_fault_s: f64,
    /// Seconds online never diagnosed (counted intact).
    pub unchecked_s: f64,
    /// The picture fault with the most time (a snake_case name such as `too_dark`).
    pub main_fault: Option<String>,
    /// Picture-fault seconds per fault (a picture with several faults counts under each).
    pub fault_s_by_fault: BTreeMap<String, f64>,
    /// Assessed 在线率: offline time inside maintenance windows left out, in percent.
    pub assessed_uptime_pct: Option<f64>,
    /// Assessed 完好率: offline and picture-fault time inside windows left out, in percent.
    pub assessed_intact_pct: Option<f64>,
    /// Seconds excused by maintenance windows (offline + picture fault inside them).
    pub excused_s: f64,
}

/// One outage in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutageLine {
    /// Start (clipped to the day).
    pub start: DateTime<FixedOffset>,
    /// End (clipped to the day or to the end of monitoring).
    pub end: DateTime<FixedOffset>,
    /// Seconds.
    pub duration_s: f64,
    /// The reason the outage started with.
    pub reason: Option<String>,
}

/// One group's (or the fleet's) line in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupLine {
    /// The group value.
    pub group: String,
    /// Cameras.
    pub cameras: usize,
    /// Of which observed for some time.
    pub measured: usize,
    /// Of which meeting the target.
    pub meeting_target: usize,
    /// Of which below the target.
    pub below_target: usize,
    /// Time-weighted online rate Σ online / Σ (online + offline) in percent, 2 decimals.
    pub online_rate_pct: Option<f64>,
    /// Σ seconds online.
    pub online_s: f64,
    /// Σ seconds offline.
    pub offline_s: f64,
    /// Σ seconds connecting.
    pub connecting_s: f64,
    /// Σ seconds not monitored.
    pub unmonitored_s: f64,
    /// Σ outages.
    pub outages: usize,
    /// The reason with the most offline time.
    pub main_reason: Option<String>,
    /// Time-weighted intact rate Σ intact / Σ (online + offline) in percent, 2 decimals.
    pub intact_rate_pct: Option<f64>,
    /// Of the measured cameras, those meeting the intact target.
    pub meeting_intact_target: usize,
    /// Of the measured cameras, those below the intact target.
    pub below_intact_target: usize,
    /// Σ seconds intact.
    pub intact_s: f64,
    /// Σ seconds online with a faulty picture.
    pub picture_fault_s: f64,
    /// Σ seconds online never diagnosed (counted intact).
    pub unchecked_s: f64,
    /// The picture fault with the most time.
    pub main_fault: Option<String>,
    /// Σ picture-fault seconds per fault.
    pub fault_s_by_fault: BTreeMap<String, f64>,
    /// Time-weighted assessed 在线率 (excused time left out), in percent.
    pub assessed_online_rate_pct: Option<f64>,
    /// Time-weighted assessed 完好率, in percent.
    pub assessed_intact_rate_pct: Option<f64>,
    /// Σ seconds excused by maintenance windows.
    pub excused_s: f64,
}

/// Runs `sharpeyes report`: reads the ledger (read-only, safe while the daemon runs) and
/// prints the report to stdout.
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let ledger = Ledger::open_read_only(&args.data_dir)?;
    let mut body = Vec::new();
    if let Some(first) = args.month {
        let report = month::build_at(&ledger, args, first, SystemClock.now())?;
        month::write(&report, args.format, &mut body)?;
    } else {
        if args.format == Format::Xlsx {
            bail!("--format xlsx is the monthly workbook: add --month YYYY-MM");
        }
        let report = build(&ledger, args)?;
        write(&report, args.format, &mut body)?;
    }
    if let Some(path) = &args.output {
        return std::fs::write(path, &body)
            .with_context(|| format!("cannot write {}", path.display()));
    }
    if args.format == Format::Xlsx && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        bail!("an xlsx workbook is binary: give --output FILE or redirect stdout");
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = out
        .write_all(&body)
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(out.flush()?));
    match written {
        // `sharpeyes report | head` is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Builds the report for `args.date` (default: today in `args.utc_offset`) from `ledger`.
pub fn build(ledger: &Ledger, args: &ReportArgs) -> anyhow::Result<DayReport> {
    build_at(ledger, args, SystemClock.now())
}

fn build_at(ledger: &Ledger, args: &ReportArgs, now: Time) -> anyhow::Result<DayReport> {
    let offset = args.utc_offset;
    let today = now.with_timezone(&offset).date_naive();
    let date = args.date.unwrap_or(today);
    if date > today {
        bail!("{date} has not started yet in UTC{offset} (today is {today})");
    }
    let (from, to) = day_window(date, offset)?;
    let intervals = ledger
        .intervals(from, to)
        .context("cannot read the ledger's intervals")?;
    let quality = ledger
        .quality_intervals(from, to)
        .context("cannot read the ledger's picture verdicts")?;
    let targets = args.targets();
    let rows = ledger
        .cameras()
        .context("cannot read the ledger's cameras")?;
    let names: HashMap<&str, &str> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.name.as_str()))
        .collect();
    let groups = groups_by_id(&rows);
    let excused = crate::assessment::windows::excused_by_camera(
        &windows(&args.data_dir, from, to)?,
        &groups,
        args.count_late,
    );
    let cams = availability::per_camera_assessed(&intervals, &quality, &excused, from, to);
    let group_of = |id: &str| availability::group_value(groups.get(id), args.by).to_string();

    let by_group = availability::by_dimension(&cams, &groups, args.by, targets);
    let fleet = availability::summarize("total", &cams, targets);

    let mut cameras: Vec<CameraLine> = cams
        .iter()
        .map(|c| {
            camera_line(
                c,
                names.get(c.camera_id.as_str()).copied(),
                group_of(&c.camera_id),
                targets,
                offset,
            )
        })
        .collect();
    cameras.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));

    Ok(DayReport {
        date,
        utc_offset: offset.to_string(),
        from: from.with_timezone(&offset),
        to: to.with_timezone(&offset),
        partial: now < to,
        by: args.by,
        target_pct: round2(targets.online * 100.0),
        intact_target_pct: round2(targets.intact * 100.0),
        count_late: args.count_late,
        cameras,
        groups: by_group.iter().map(group_line).collect(),
        fleet: group_line(&fleet),
    })
}

/// The maintenance windows in `data_dir` overlapping `[from, to)`, deleted ones left out
/// (none without a maintenance store).
pub fn windows(
    data_dir: &std::path::Path,
    from: Time,
    to: Time,
) -> anyhow::Result<Vec<crate::assessment::windows::Window>> {
    let Some(store) = crate::assessment::windows::WindowStore::open_read_only(data_dir)? else {
        return Ok(Vec::new());
    };
    store
        .list(Some(from), Some(to), false)
        .map_err(|e| anyhow::anyhow!("cannot read the maintenance windows: {e}"))
}

/// Each camera's groups, by id, as the ledger last stored them.
fn groups_by_id(rows: &[crate::health::ledger::CameraRow]) -> HashMap<String, Groups> {
    rows.iter()
        .map(|r| (r.id.clone(), r.groups.clone()))
        .collect()
}

/// `[from, to)` in UTC of calendar day `date` at `offset`.
fn day_window(date: NaiveDate, offset: FixedOffset) -> anyhow::Result<(Time, Time)> {
    let start = |d: NaiveDate| -> anyhow::Result<Time> {
        d.and_hms_opt(0, 0, 0)
            .and_then(|dt| dt.and_local_timezone(offset).single())
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| format!("{d} is out of range"))
    };
    let next = date
        .succ_opt()
        .with_context(|| format!("{date} is out of range"))?;
    Ok((start(date)?, start(next)?))
}

fn camera_line(
    c: &CameraAvailability,
    name: Option<&str>,
    group: String,
    targets: Targets,
    offset: FixedOffset,
) -> CameraLine {
    CameraLine {
        id: c.camera_id.clone(),
        name: name.unwrap_or(&c.camera_id).to_string(),
        group,
        uptime_pct: c.availability().map(|a| round2(a * 100.0)),
        meets_target: c.meets(targets.online),
        online_s: secs(c.online_ms),
        offline_s: secs(c.offline_ms),
        connecting_s: secs(c.connecting_ms),
        unmonitored_s: secs(c.unmonitored_ms),
        outage_count: c.outages.len(),
        longest_outage_s: secs(c.longest_outage().map_or(0, |o| o.duration_ms())),
        main_reason: c.main_reason().map(str::to_string),
        outage_s_by_reason: c
            .outage_ms_by_reason
            .iter()
            .map(|(k, v)| (k.to_string(), secs(*v)))
            .collect(),
        outages: c
            .outages
            .iter()
            .map(|o| OutageLine {
                start: o.start.with_timezone(&offset),
                end: o.end.with_timezone(&offset),
                duration_s: secs(o.duration_ms()),
                reason: o.reason.map(|r| r.as_str().to_string()),
            })
            .collect(),
        intact_pct: c.intact_rate().map(|a| round2(a * 100.0)),
        meets_intact_target: c.meets_intact(targets.intact),
        intact_s: secs(c.intact_ms),
        picture_fault_s: secs(c.fault_ms),
        unchecked_s: secs(c.unchecked_ms),
        main_fault: c.main_fault().map(str::to_string),
        fault_s_by_fault: fault_secs(&c.fault_ms_by_fault),
        assessed_uptime_pct: c.assessed_availability().map(|a| round2(a * 100.0)),
        assessed_intact_pct: c.assessed_intact_rate().map(|a| round2(a * 100.0)),
        excused_s: secs(c.excused_offline_ms + c.excused_fault_ms),
    }
}

fn fault_secs(by_fault: &BTreeMap<String, i64>) -> BTreeMap<String, f64> {
    by_fault
        .iter()
        .map(|(k, v)| (k.clone(), secs(*v)))
        .collect()
}

fn group_line(g: &GroupAvailability) -> GroupLine {
    GroupLine {
        group: g.group.clone(),
        cameras: g.cameras,
        measured: g.measured,
        meeting_target: g.meeting_target,
        below_target: g.below_target,
        online_rate_pct: g.rate().map(|r| round2(r * 100.0)),
        online_s: secs(g.online_ms),
        offline_s: secs(g.offline_ms),
        connecting_s: secs(g.connecting_ms),
        unmonitored_s: secs(g.unmonitored_ms),
        outages: g.outages,
        main_reason: g.main_reason().map(str::to_string),
        intact_rate_pct: g.intact_rate().map(|r| round2(r * 100.0)),
        meeting_intact_target: g.meeting_intact_target,
        below_intact_target: g.below_intact_target,
        intact_s: secs(g.intact_ms),
        picture_fault_s: secs(g.fault_ms),
        unchecked_s: secs(g.unchecked_ms),
        main_fault: g.main_fault().map(str::to_string),
        fault_s_by_fault: fault_secs(&g.fault_ms_by_fault),
        assessed_online_rate_pct: g.assessed_rate().map(|r| round2(r * 100.0)),
        assessed_intact_rate_pct: g.assessed_intact_rate().map(|r| round2(r * 100.0)),
        excused_s: secs(g.excused_ms()),
    }
}

/// Writes `report` in `format`.
pub fn write(report: &DayReport, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Table => write_table(report, out),
        Format::Csv => write_csv(report, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
            Ok(())
        }
        Format::Xlsx => bail!("--format xlsx is the monthly workbook: add --month YYYY-MM"),
    }
}

/// The CSV columns, in order. The 完好率 columns were appended after `main_reason`, and the
/// assessed ones (maintenance windows) after those, so earlier columns never move.
pub const CSV_HEADER: [&str; 25] = [
    "kind",
    "date",
    "by",
    "group",
    "camera_id",
    "name",
    "cameras",
    "measured",
    "below_target",
    "uptime_pct",
    "online_s",
    "offline_s",
    "connecting_s",
    "unmonitored_s",
    "outages",
    "longest_outage_s",
    "main_reason",
    "intact_pct",
    "picture_fault_s",
    "unchecked_s",
    "below_intact_target",
    "main_fault",
    "assessed_uptime_pct",
    "assessed_intact_pct",
    "excused_s",
];

/// Cells a spreadsheet (Excel, WPS, LibreOffice) would run as a formula — text starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return, e.g. a camera named `=HYPERLINK(…)` — get a
/// leading `'`, which the spreadsheet shows as text (OWASP's CSV-injection advice). No figure
/// in the report is negative, so no number is touched.
pub fn spreadsheet_safe<S: AsRef<str>>(row: impl IntoIterator<Item = S>) -> Vec<String> {
    row.into_iter()
        .map(|c| {
            let c = c.as_ref();
            if c.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn write_csv(r: &DayReport, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    let date = r.date.to_string();
    let by = r.by.as_str();
    for c in &r.cameras {
        w.write_record(spreadsheet_safe([
            "camera",
            &date,
            by,
            &c.group,
            &c.id,
            &c.name,
            "",
            "",
            "",
            &opt_pct(c.uptime_pct),
            &secs_text(c.online_s),
            &secs_text(c.offline_s),
            &secs_text(c.connecting_s),
            &secs_text(c.unmonitored_s),
            &c.outage_count.to_string(),
            &secs_text(c.longest_outage_s),
            c.main_reason.as_deref().unwrap_or(""),
            &opt_pct(c.intact_pct),
            &secs_text(c.picture_fault_s),
            &secs_text(c.unchecked_s),
            "",
            c.main_fault.as_deref().unwrap_or(""),
            &opt_pct(c.assessed_uptime_pct),
            &opt_pct(c.assessed_intact_pct),
            &secs_text(c.excused_s),
        ]))?;
    }
    let group_row = |kind: &str, g: &GroupLine| -> Vec<String> {
        vec![
            kind.to_string(),
            date.clone(),
            by.to_string(),
            if kind == "fleet" {
                String::new()
            } else {
                g.group.clone()
            },
            String::new(),
            String::new(),
            g.cameras.to_string(),
            g.measured.to_string(),
            g.below_target.to_string(),
            opt_pct(g.online_rate_pct),
            secs_text(g.online_s),
            secs_text(g.offline_s),
            secs_text(g.connecting_s),
            secs_text(g.unmonitored_s),
            g.outages.to_string(),
            String::new(),
            g.main_reason.clone().unwrap_or_default(),
            opt_pct(g.intact_rate_pct),
            secs_text(g.picture_fault_s),
            secs_text(g.unchecked_s),
            g.below_intact_target.to_string(),
            g.main_fault.clone().unwrap_or_default(),
            opt_pct(g.assessed_online_rate_pct),
            opt_pct(g.assessed_intact_rate_pct),
            secs_text(g.excused_s),
        ]
    };
    for g in &r.groups {
        w.write_record(spreadsheet_safe(group_row("group", g)))?;
    }
    w.write_record(spreadsheet_safe(group_row("fleet", &r.fleet)))?;
    w.flush()?;
    Ok(())
}

fn write_table(r: &DayReport, out: &mut dyn Write) -> anyhow::Result<()> {
    let dim = r.by.as_str().to_uppercase();
    writeln!(
        out,
        "Online rate (在线率) and intact rate (完好率) {} (UTC{}, {} to {}){}, by {}, target {:.2} %, intact target {:.2} %",
        r.date,
        r.utc_offset,
        r.from.format("%Y-%m-%d %H:%M"),
        r.to.format("%Y-%m-%d %H:%M"),
        if r.partial { " [day not over]" } else { "" },
        r.by.as_str(),
        r.target_pct,
        r.intact_target_pct,
    )?;
    writeln!(
        out,
        "Only observed time counts: UNOBSERVED (connecting, or the daemon not running) is left out of the rates."
    )?;
    writeln!(
        out,
        "INTACT = online without a known picture fault; online time never diagnosed counts as intact."
    )?;
    writeln!(
        out,
        "ASSESSED = the same rate with offline and picture-fault time inside maintenance windows (报备) left out{}.",
        if r.count_late {
            ", late declarations included"
        } else {
            "; late declarations excuse only from when they were made"
        }
    )?;
    writeln!(out)?;

    let mut t = Table::new(&[
        ("CAMERA", false),
        ("NAME", false),
        (&dim, false),
        ("UPTIME", true),
        ("INTACT", true),
        ("ONLINE", true),
        ("UNOBSERVED", true),
        ("OUTAGES", true),
        ("OUTAGE TOTAL", true),
        ("LONGEST", true),
        ("MAIN REASON", false),
        ("PICTURE FAULT", true),
        ("MAIN FAULT", false),
    ]);
    for c in &r.cameras {
        t.row(vec![
            c.id.clone(),
            c.name.clone(),
            c.group.clone(),
            pct_text(c.uptime_pct),
            pct_text(c.intact_pct),
            hms(c.online_s),
            hms(c.connecting_s + c.unmonitored_s),
            c.outage_count.to_string(),
            hms(c.offline_s),
            hms(c.longest_outage_s),
            c.main_reason.clone().unwrap_or_else(|| "-".into()),
            hms(c.picture_fault_s),
            c.main_fault.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if r.cameras.is_empty() {
        writeln!(out, "No camera has recorded time in this day.")?;
    } else {
        t.write(out)?;
    }
    writeln!(out)?;

    let mut t = Table::new(&[
        (&dim, false),
        ("CAMERAS", true),
        ("ONLINE RATE", true),
        ("INTACT RATE", true),
        ("ASSESSED ONLINE", true),
        ("ASSESSED INTACT", true),
        ("EXCUSED", true),
        ("BELOW TARGET", true),
        ("BELOW INTACT", true),
        ("NO DATA", true),
        ("OUTAGES", true),
        ("MAIN REASON", false),
        ("MAIN FAULT", false),
    ]);
    let line = |g: &GroupLine| {
        vec![
            g.group.clone(),
            g.cameras.to_string(),
            pct_text(g.online_rate_pct),
            pct_text(g.intact_rate_pct),
            pct_text(g.assessed_online_rate_pct),
            pct_text(g.assessed_intact_rate_pct),
            hms(g.excused_s),
            g.below_target.to_string(),
            g.below_intact_target.to_string(),
            (g.cameras - g.measured).to_string(),
            g.outages.to_string(),
            g.main_reason.clone().unwrap_or_else(|| "-".into()),
            g.main_fault.clone().unwrap_or_else(|| "-".into()),
        ]
    };
    for g in &r.groups {
        t.row(line(g));
    }
    let mut fleet = line(&r.fleet);
    fleet[0] = "FLEET TOTAL".into();
    t.separator();
    t.row(fleet);
    t.write(out)?;
    Ok(())
}

/// A plain text table; widths count East Asian wide characters as two columns.
struct Table {
    headers: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Option<Vec<String>>>,
}

impl Table {
    fn new(cols: &[(&str, bool)]) -> Self {
        Self {
            headers: cols.iter().map(|(h, _)| h.to_string()).collect(),
            right: cols.iter().map(|(_, r)| *r).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Some(cells));
    }

    fn separator(&mut self) {
        self.rows.push(None);
    }

    fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| display_width(h)).collect();
        for cells in self.rows.iter().flatten() {
            for (w, c) in widths.iter_mut().zip(cells) {
                *w = (*w).max(display_width(c));
            }
        }
        self.line(out, &self.headers, &widths)?;
        for row in &self.rows {
            match row {
                Some(cells) => self.line(out, cells, &widths)?,
                None => {
                    let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
                    writeln!(out, "{}", "-".repeat(total))?;
                }
            }
        }
        Ok(())
    }

    fn line(&self, out: &mut dyn Write, cells: &[String], widths: &[usize]) -> std::io::Result<()> {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = " ".repeat(w.saturating_sub(display_width(cell)));
            if self.right[i] {
                s.push_str(&pad);
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i + 1 < cells.len() {
                    s.push_str(&pad);
                }
            }
        }
        writeln!(out, "{}", s.trim_end())
    }
}

/// Terminal columns of `s`: 2 for East Asian wide and fullwidth characters, else 1.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = matches!(c,
                0x1100..=0x115F
                | 0x2E80..=0x303E
                | 0x3041..=0x33FF
                | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF
                | 0xA000..=0xA4CF
                | 0xAC00..=0xD7A3
                | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F
                | 0xFF00..=0xFF60
                | 0xFFE0..=0xFFE6
                | 0x1F300..=0x1F64F
                | 0x20000..=0x3FFFD);
            if wide { 2 } else { 1 }
        })
        .sum()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Seconds as text: whole numbers without decimals, else milliseconds.
fn secs_text(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.3}")
    }
}

fn opt_pct(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.2}")).unwrap_or_default()
}

fn pct_text(p: Option<f64>) -> String {
    p.map_or_else(|| "n/a".into(), |p| format!("{p:.2} %"))
}

/// `H:MM:SS`, whole seconds (rounded down).
fn hms(s: f64) -> String {
    let total = s.max(0.0).floor() as u64;
    format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|e| format!("expected a date as YYYY-MM-DD, e.g. 2024-05-01 ({e})"))
}

/// Parses `+08:00`, `+0800`, `+8`, `-05:30`, `Z` or `UTC`.
fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || format!("expected an offset from UTC like +08:00 or -05:30, not {s:?}");
    let t = s.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return FixedOffset::east_opt(0).ok_or_else(bad);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let all_digits =
        |x: &str| !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(h) || !all_digits(m) {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// Parses a target: `0.98` or `98%`; must be in (0, 1].
fn parse_target(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("expected a fraction like 0.98 or a percentage like 98%, not {s:?}"))?;
    if !(v > 0.0 && v <= 1.0) {
        return Err(format!(
            "target must be in (0, 1] (a fraction like 0.98 or a percentage like 98%), not {s:?}"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formula_cells_are_neutralised() {
        let row = spreadsheet_safe([
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "城关",
            "75.00",
            "",
        ]);
        assert_eq!(
            row,
            [
                "'=HYPERLINK(\"http://x\")",
                "'+1",
                "'-2",
                "'@SUM(A1)",
                "'\tx",
                "城关",
                "75.00",
                ""
            ]
        );
    }

    use super::*;
    use crate::clock::parse_time;
    use crate::health::ledger::CameraRow;
    use crate::health::status::{Reason, State, Transition};
    use clap::Parser;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: ReportArgs,
    }

    fn parse(args: &[&str]) -> Result<ReportArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("report").chain(args.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn defaults_and_parsers() {
        let a = parse(&["--data-dir", "d"]).unwrap();
        assert_eq!(a.by, GroupBy::Region);
        assert_eq!(a.format, Format::Table);
        assert_eq!(a.utc_offset, FixedOffset::east_opt(8 * 3600).unwrap());
        assert_eq!(a.target, 0.98);
        assert_eq!(a.intact_target, None);
        assert_eq!(a.targets(), Targets::same(0.98));
        assert_eq!(a.date, None);
        let a = parse(&[
            "--data-dir",
            "d",
            "--date",
            "2024-05-01",
            "--by",
            "class",
            "--format",
            "csv",
            "--utc-offset",
            "-05:30",
            "--target",
            "95%",
        ])
        .unwrap();
        assert_eq!(a.date, NaiveDate::from_ymd_opt(2024, 5, 1));
        assert_eq!(a.by, GroupBy::Class);
        assert_eq!(
            a.utc_offset,
            FixedOffset::west_opt(5 * 3600 + 1800).unwrap()
        );
        assert!((a.target - 0.95).abs() < 1e-12);
        assert_eq!(a.targets().intact, a.target, "defaults to --target");
        let a = parse(&["--data-dir", "d", "--intact-target", "0.9"]).unwrap();
        assert_eq!(
            a.targets(),
            Targets {
                online: 0.98,
                intact: 0.9
            }
        );
        assert!(parse(&["--data-dir", "d", "--intact-target", "90"]).is_err());
        assert!(parse(&[]).is_err(), "--data-dir is required");
        let err = parse(&["--data-dir", "d", "--date", "2024-13-01"]).unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        assert!(parse(&["--data-dir", "d", "--date", "01/05/2024"]).is_err());
        assert!(parse(&["--data-dir", "d", "--target", "98"]).is_err());
        assert!(parse(&["--data-dir", "d", "--target", "0"]).is_err());
        assert!(parse(&["--data-dir", "d", "--utc-offset", "8"]).is_err());
    }

    #[test]
    fn offsets() {
        let e = |s| FixedOffset::east_opt(s).unwrap();
        assert_eq!(parse_offset("+08:00"), Ok(e(8 * 3600)));
        assert_eq!(parse_offset("+0800"), Ok(e(8 * 3600)));
        assert_eq!(parse_offset("+8"), Ok(e(8 * 3600)));
        assert_eq!(parse_offset("-05:30"), Ok(e(-(5 * 3600 + 1800))));
        assert_eq!(parse_offset("Z"), Ok(e(0)));
        assert_eq!(parse_offset("utc"), Ok(e(0)));
        for bad in ["", "+", "08:00", "+8:60", "+15:00", "+08:00:00", "+a"] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(hms(0.0), "0:00:00");
        assert_eq!(hms(86_400.0), "24:00:00");
        assert_eq!(hms(3_661.9), "1:01:01");
        assert_eq!(secs_text(21_600.0), "21600");
        assert_eq!(secs_text(1.5), "1.500");
        assert_eq!(round2(99.995_000_1), 100.0);
        assert_eq!(round2(66.666_666), 66.67);
        assert_eq!(pct_text(Some(75.0)), "75.00 %");
        assert_eq!(pct_text(None), "n/a");
        assert_eq!(display_width("城关镇ab"), 8);
    }

    #[test]
    fn day_window_is_the_local_day() {
        let d = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let (from, to) = day_window(d, FixedOffset::east_opt(8 * 3600).unwrap()).unwrap();
        assert_eq!(from, parse_time("2024-04-30T16:00:00Z"));
        assert_eq!(to, parse_time("2024-05-01T16:00:00Z"));
    }

    #[test]
    fn builds_and_renders_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.upsert_cameras(&[CameraRow {
            id: "c1".into(),
            name: "人民路口".into(),
            groups: Groups {
                region: "城关镇".into(),
                unit: "交警".into(),
                class: "1".into(),
                maintainer: "运维甲".into(),
            },
        }])
        .unwrap();
        // Beijing day 2024-05-01 = 2024-04-30T16:00Z .. 2024-05-01T16:00Z.
        l.begin("c1", State::Online, parse_time("2024-04-30T16:00:00Z"))
            .unwrap();
        l.record(&[(
            "c1".into(),
            Transition {
                at: parse_time("2024-05-01T00:00:00Z"),
                from: State::Online,
                to: State::Offline,
                reason: Some(Reason::Refused),
                detail: None,
            },
        )])
        .unwrap();
        l.record(&[(
            "c1".into(),
            Transition {
                at: parse_time("2024-05-01T06:00:00Z"),
                from: State::Offline,
                to: State::Online,
                reason: None,
                detail: None,
            },
        )])
        .unwrap();
        // Black for two hours while online: 16 h intact of 24.
        l.quality(
            "c1",
            parse_time("2024-05-01T10:00:00Z"),
            false,
            &["too_dark".to_string()],
        )
        .unwrap();
        l.quality("c1", parse_time("2024-05-01T12:00:00Z"), true, &[])
            .unwrap();
        l.close_all(parse_time("2024-05-01T16:00:00Z")).unwrap();
        let args = parse(&["--data-dir", "x", "--date", "2024-05-01"]).unwrap();
        let r = build_at(&l, &args, parse_time("2024-06-01T00:00:00Z")).unwrap();
        assert!(!r.partial);
        assert_eq!(r.cameras.len(), 1);
        let c = &r.cameras[0];
        assert_eq!(c.uptime_pct, Some(75.0));
        assert_eq!(c.meets_target, Some(false));
        assert_eq!(c.offline_s, 6.0 * 3600.0);
        assert_eq!(c.main_reason.as_deref(), Some("refused"));
        assert_eq!(c.outages[0].start.to_rfc3339(), "2024-05-01T08:00:00+08:00");
        assert_eq!(r.fleet.online_rate_pct, Some(75.0));
        assert_eq!(r.fleet.below_target, 1);
        assert_eq!(c.intact_pct, Some(66.67));
        assert_eq!(c.picture_fault_s, 2.0 * 3600.0);
        assert_eq!(c.unchecked_s, 12.0 * 3600.0, "no verdict before 10:00Z");
        assert_eq!(c.main_fault.as_deref(), Some("too_dark"));
        assert_eq!(r.fleet.intact_rate_pct, Some(66.67));
        assert_eq!(r.fleet.below_intact_target, 1);

        let mut table = Vec::new();
        write(&r, Format::Table, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("75.00 %"), "{table}");
        assert!(table.contains("人民路口"), "{table}");
        assert!(table.contains("FLEET TOTAL"), "{table}");
        assert!(table.contains("66.67 %"), "{table}");
        assert!(table.contains("too_dark"), "{table}");

        let mut csv = Vec::new();
        write(&r, Format::Csv, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER.join(",").as_str()));
        for line in lines {
            assert_eq!(line.split(',').count(), CSV_HEADER.len(), "{line}");
        }
        assert!(
            csv.contains(",66.67,7200,43200,,too_dark,75.00,66.67,0\n"),
            "{csv}"
        );
        assert!(
            csv.contains(",66.67,7200,43200,1,too_dark,75.00,66.67,0\n"),
            "{csv}"
        );

        // Today (partial) and the future.
        let now = parse_time("2024-05-01T04:00:00Z");
        let today = build_at(&l, &parse(&["--data-dir", "x"]).unwrap(), now).unwrap();
        assert!(today.partial);
        assert_eq!(today.date, NaiveDate::from_ymd_opt(2024, 5, 1).unwrap());
        let err = build_at(
            &l,
            &parse(&["--data-dir", "x", "--date", "2024-05-02"]).unwrap(),
            now,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not started"), "{err}");
    }
}
