//! `sharpeyes report --month 2026-11`: the monthly assessment (月度考核) — per day and for the
//! whole month, the time-weighted 在线率 and 完好率 per group, raw and assessed (time inside
//! maintenance windows excused), excused time, outages, the ranking within the dimension and
//! the gap to the target.
//!
//! The month is the calendar month in the report's offset (default +08:00). The current month
//! is reported up to now (`partial`); later days are left out. Month figures are computed over
//! the whole month at once, so an outage across midnight counts once in the month (and once in
//! each day it touches).
//!
//! **Ranking**: within a dimension, groups are ranked by assessed 在线率 (highest first), ties
//! by assessed 完好率, then by name; a group with nothing observed has no rank. **Gap to
//! target**: assessed rate − target in percentage points (negative = below the target).
//!
//! Formats: `table`, `json` ([`MonthReport`]), `csv` (one table, `kind` = `day_group`,
//! `day_fleet`, `month_group`, `month_fleet`; see [`CSV_HEADER`]) and `xlsx` (see
//! [`super::xlsx`]: one sheet per dimension, a daily sheet and notes, Chinese headers).
//!
//! Repair tickets (工单) opened in the month are summed per maintainer ([`MonthReport::tickets`]:
//! opened, outstanding, mean time to acknowledge and to repair, breaches and breach rate),
//! from `tickets.db` when the daemon keeps one.

use std::io::Write;

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use serde::Serialize;

use crate::clock::Time;
use crate::config::inventory::GroupBy;
use crate::health::availability::{self, GroupAvailability, Targets};
use crate::health::ledger::Ledger;

use super::{Format, ReportArgs, round2, spreadsheet_safe};

/// One month's assessment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthReport {
    /// `YYYY-MM`.
    pub month: String,
    /// The time zone, e.g. `+08:00`.
    pub utc_offset: String,
    /// Start of the month.
    pub from: DateTime<FixedOffset>,
    /// End of the month (exclusive), or now when the month is not over.
    pub to: DateTime<FixedOffset>,
    /// True when the month is not over yet.
    pub partial: bool,
    /// The dimension of the daily lines.
    pub by: GroupBy,
    /// The online-rate target, in percent.
    pub target_pct: f64,
    /// The intact-rate target, in percent.
    pub intact_target_pct: f64,
    /// Whether late maintenance windows excused in full.
    pub count_late: bool,
    /// Maintenance windows overlapping the month (deleted ones left out).
    pub windows: usize,
    /// The whole month, every dimension (region, unit, class, maintainer), groups ranked.
    pub dimensions: Vec<DimensionLines>,
    /// The whole fleet over the month.
    pub fleet: RateLine,
    /// Each day: the fleet and the groups of `by`.
    pub days: Vec<DayLines>,
    /// Repair tickets opened in the month, per maintainer (SLA figures).
    pub tickets: Vec<crate::assessment::tickets::MaintainerKpi>,
}

/// A dimension's groups over the month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DimensionLines {
    /// The dimension.
    pub by: GroupBy,
    /// Groups in rank order (unranked last, by name).
    pub groups: Vec<RateLine>,
}

/// One day of the month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayLines {
    /// The day.
    pub date: NaiveDate,
    /// The fleet that day.
    pub fleet: RateLine,
    /// The groups of the report's dimension that day, ranked.
    pub groups: Vec<RateLine>,
}

/// The figures of one group (or the fleet) over a span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLine {
    /// The group value (`total` for the fleet).
    pub group: String,
    /// 1 = best assessed 在线率 in its dimension; `None` for the fleet or with nothing observed.
    pub rank: Option<usize>,
    /// Cameras.
    pub cameras: usize,
    /// Time-weighted 在线率, percent.
    pub online_rate_pct: Option<f64>,
    /// Assessed 在线率 (maintenance windows excused), percent.
    pub assessed_online_rate_pct: Option<f64>,
    /// Time-weighted 完好率, percent.
    pub intact_rate_pct: Option<f64>,
    /// Assessed 完好率, percent.
    pub assessed_intact_rate_pct: Option<f64>,
    /// Assessed 在线率 − target, percentage points.
    pub online_gap_pct: Option<f64>,
    /// Assessed 完好率 − intact target, percentage points.
    pub intact_gap_pct: Option<f64>,
    /// Hours excused by maintenance windows.
    pub excused_h: f64,
    /// Hours offline (camera-hours).
    pub offline_h: f64,
    /// Hours not observed (connecting, or the daemon not running).
    pub unobserved_h: f64,
    /// Outages.
    pub outages: usize,
    /// Cameras below the online target (raw, per camera).
    pub below_target: usize,
}

/// Parses `YYYY-MM`.
pub fn parse_month(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a month (YYYY-MM, e.g. 2026-11)"))
}

/// Builds the report of the month starting on `first` (a first of month), as of `now`.
pub fn build_at(
    ledger: &Ledger,
    args: &ReportArgs,
    first: NaiveDate,
    now: Time,
) -> anyhow::Result<MonthReport> {
    let offset = args.utc_offset;
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .context("month out of range")?;
    let start = super::day_window(first, offset)?.0;
    let end = super::day_window(next, offset)?.0;
    if start > now {
        bail!(
            "{} has not started yet in UTC{offset}",
            first.format("%Y-%m")
        );
    }
    let to = end.min(now);
    let targets = args.targets();
    let rows = ledger
        .cameras()
        .context("cannot read the ledger's cameras")?;
    let groups = super::groups_by_id(&rows);
    let intervals = ledger
        .intervals(start, to)
        .context("cannot read the ledger's intervals")?;
    let quality = ledger
        .quality_intervals(start, to)
        .context("cannot read the ledger's picture verdicts")?;
    let windows = super::windows(&args.data_dir, start, to)?;
    let excused = crate::assessment::windows::excused_by_camera(&windows, &groups, args.count_late);
    let tickets = match crate::assessment::tickets::TicketStore::open_read_only(&args.data_dir)? {
        Some(store) => crate::assessment::tickets::kpis(
            &store
                .tickets(&crate::assessment::tickets::TicketQuery {
                    from: Some(start),
                    to: Some(to),
                    ..Default::default()
                })
                .context("cannot read the repair tickets")?,
        ),
        None => Vec::new(),
    };

    let cams = availability::per_camera_assessed(&intervals, &quality, &excused, start, to);
    let dimensions = GroupBy::ALL
        .iter()
        .map(|&by| DimensionLines {
            by,
            groups: ranked(
                &availability::by_dimension(&cams, &groups, by, targets),
                targets,
            ),
        })
        .collect();
    let fleet = line(&availability::summarize("total", &cams, targets), targets);

    let mut days = Vec::new();
    let mut date = first;
    while date < next {
        let (d_from, d_to) = super::day_window(date, offset)?;
        if d_from >= now {
            break;
        }
        let d_to = d_to.min(now);
        let day = availability::per_camera_assessed(&intervals, &quality, &excused, d_from, d_to);
        days.push(DayLines {
            date,
            fleet: line(&availability::summarize("total", &day, targets), targets),
            groups: ranked(
                &availability::by_dimension(&day, &groups, args.by, targets),
                targets,
            ),
        });
        date = date.succ_opt().context("date out of range")?;
    }

    Ok(MonthReport {
        month: first.format("%Y-%m").to_string(),
        utc_offset: offset.to_string(),
        from: start.with_timezone(&offset),
        to: to.with_timezone(&offset),
        partial: now < end,
        by: args.by,
        target_pct: round2(targets.online * 100.0),
        intact_target_pct: round2(targets.intact * 100.0),
        count_late: args.count_late,
        windows: windows.len(),
        dimensions,
        fleet,
        days,
        tickets,
    })
}

fn hours(ms: i64) -> f64 {
    round2(ms as f64 / 3_600_000.0)
}

fn pct(r: Option<f64>) -> Option<f64> {
    r.map(|r| round2(r * 100.0))
}

fn line(g: &GroupAvailability, targets: Targets) -> RateLine {
    let online = g.assessed_rate();
    let intact = g.assessed_intact_rate();
    RateLine {
        group: g.group.clone(),
        rank: None,
        cameras: g.cameras,
        online_rate_pct: pct(g.rate()),
        assessed_online_rate_pct: pct(online),
        intact_rate_pct: pct(g.intact_rate()),
        assessed_intact_rate_pct: pct(intact),
        online_gap_pct: online.map(|r| round2((r - targets.online) * 100.0)),
        intact_gap_pct: intact.map(|r| round2((r - targets.intact) * 100.0)),
        excused_h: hours(g.excused_ms()),
        offline_h: hours(g.offline_ms),
        unobserved_h: hours(g.unknown_ms()),
        outages: g.outages,
        below_target: g.below_target,
    }
}

/// Lines in rank order with their ranks (see the module docs).
fn ranked(groups: &[GroupAvailability], targets: Targets) -> Vec<RateLine> {
    let mut order: Vec<(&GroupAvailability, Option<f64>, Option<f64>)> = groups
        .iter()
        .map(|g| (g, g.assessed_rate(), g.assessed_intact_rate()))
        .collect();
    order.sort_by(|a, b| {
        let key = |x: Option<f64>| x.unwrap_or(f64::NEG_INFINITY);
        a.1.is_none()
            .cmp(&b.1.is_none())
            .then(key(b.1).total_cmp(&key(a.1)))
            .then(key(b.2).total_cmp(&key(a.2)))
            .then(a.0.group.cmp(&b.0.group))
    });
    order
        .into_iter()
        .enumerate()
        .map(|(i, (g, online, _))| RateLine {
            rank: online.map(|_| i + 1),
            ..line(g, targets)
        })
        .collect()
}

/// The month CSV's columns.
pub const CSV_HEADER: [&str; 18] = [
    "kind",
    "period",
    "by",
    "group",
    "rank",
    "cameras",
    "online_rate_pct",
    "assessed_online_rate_pct",
    "intact_rate_pct",
    "assessed_intact_rate_pct",
    "online_gap_pct",
    "intact_gap_pct",
    "excused_h",
    "offline_h",
    "unobserved_h",
    "outages",
    "below_target",
    "month",
];

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_default()
}

fn csv_row(kind: &str, period: &str, by: &str, l: &RateLine, month: &str) -> Vec<String> {
    spreadsheet_safe([
        kind.to_string(),
        period.to_string(),
        by.to_string(),
        if kind.ends_with("fleet") {
            String::new()
        } else {
            l.group.clone()
        },
        l.rank.map(|r| r.to_string()).unwrap_or_default(),
        l.cameras.to_string(),
        opt(l.online_rate_pct),
        opt(l.assessed_online_rate_pct),
        opt(l.intact_rate_pct),
        opt(l.assessed_intact_rate_pct),
        opt(l.online_gap_pct),
        opt(l.intact_gap_pct),
        format!("{:.2}", l.excused_h),
        format!("{:.2}", l.offline_h),
        format!("{:.2}", l.unobserved_h),
        l.outages.to_string(),
        l.below_target.to_string(),
        month.to_string(),
    ])
}

/// Writes `r` in `format`.
pub fn write(r: &MonthReport, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, r)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_HEADER)?;
            let by = r.by.as_str();
            for d in &r.days {
                let date = d.date.to_string();
                for g in &d.groups {
                    w.write_record(csv_row("day_group", &date, by, g, &r.month))?;
                }
                w.write_record(csv_row("day_fleet", &date, by, &d.fleet, &r.month))?;
            }
            for dim in &r.dimensions {
                for g in &dim.groups {
                    w.write_record(csv_row(
                        "month_group",
                        &r.month,
                        dim.by.as_str(),
                        g,
                        &r.month,
                    ))?;
                }
            }
            w.write_record(csv_row("month_fleet", &r.month, "", &r.fleet, &r.month))?;
            w.flush()?;
        }
        Format::Xlsx => out.write_all(&super::xlsx::month_workbook(r)?)?,
        Format::Table => write_table(r, out)?,
    }
    Ok(())
}

fn write_table(r: &MonthReport, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "Monthly assessment (月度考核) {} (UTC{}){}: target {:.2} %, intact target {:.2} %, {} maintenance window(s){}",
        r.month,
        r.utc_offset,
        if r.partial { " [month not over]" } else { "" },
        r.target_pct,
        r.intact_target_pct,
        r.windows,
        if r.count_late {
            ", late declarations counted"
        } else {
            ""
        },
    )?;
    let p = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} %"));
    let g = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:+.2}"));
    for dim in r.dimensions.iter().filter(|d| d.by == r.by) {
        writeln!(out)?;
        writeln!(
            out,
            "{:>4}  {:<20} {:>7} {:>10} {:>10} {:>10} {:>10} {:>8} {:>9}",
            "RANK",
            dim.by.as_str().to_uppercase(),
            "CAMERAS",
            "ONLINE",
            "ASSESSED",
            "INTACT",
            "ASSESSED",
            "GAP",
            "EXCUSED h"
        )?;
        for l in dim.groups.iter().chain(std::iter::once(&r.fleet)) {
            writeln!(
                out,
                "{:>4}  {:<20} {:>7} {:>10} {:>10} {:>10} {:>10} {:>8} {:>9.2}",
                l.rank.map_or("-".to_string(), |r| r.to_string()),
                l.group,
                l.cameras,
                p(l.online_rate_pct),
                p(l.assessed_online_rate_pct),
                p(l.intact_rate_pct),
                p(l.assessed_intact_rate_pct),
                g(l.online_gap_pct),
                l.excused_h,
            )?;
        }
    }
    if !r.tickets.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<20} {:>7} {:>11} {:>12} {:>15} {:>8} {:>11}",
            "MAINTAINER",
            "TICKETS",
            "OUTSTANDING",
            "MEAN ACK min",
            "MEAN REPAIR min",
            "BREACHED",
            "BREACH RATE"
        )?;
        let m = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        for k in &r.tickets {
            writeln!(
                out,
                "{:<20} {:>7} {:>11} {:>12} {:>15} {:>8} {:>11}",
                k.maintainer,
                k.opened,
                k.outstanding,
                m(k.mean_ack_min),
                m(k.mean_repair_min),
                k.breached,
                p(k.breach_rate.map(|r| r * 100.0)),
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Per day (fleet): date, online, assessed, intact, assessed"
    )?;
    for d in &r.days {
        writeln!(
            out,
            "  {}  {:>10} {:>10} {:>10} {:>10}",
            d.date,
            p(d.fleet.online_rate_pct),
            p(d.fleet.assessed_online_rate_pct),
            p(d.fleet.intact_rate_pct),
            p(d.fleet.assessed_intact_rate_pct),
        )?;
    }
    Ok(())
}

/// The first of the month containing `now` in `offset`.
pub fn this_month(now: Time, offset: FixedOffset) -> NaiveDate {
    let d = now.with_timezone(&offset).date_naive();
    d.with_day(1).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ga(group: &str, online: i64, offline: i64, excused: i64) -> GroupAvailability {
        GroupAvailability {
            group: group.into(),
            cameras: 1,
            online_ms: online,
            offline_ms: offline,
            intact_ms: online,
            excused_offline_ms: excused,
            ..GroupAvailability::default()
        }
    }

    #[test]
    fn ranking_uses_the_assessed_rate_and_puts_unobserved_last() {
        let t = Targets::same(0.98);
        let lines = ranked(
            &[
                ga("a", 90, 10, 0),
                ga("b", 90, 10, 10),
                ga("c", 0, 0, 0),
                ga("d", 99, 1, 0),
            ],
            t,
        );
        let order: Vec<_> = lines.iter().map(|l| (l.group.as_str(), l.rank)).collect();
        assert_eq!(
            order,
            [("b", Some(1)), ("d", Some(2)), ("a", Some(3)), ("c", None)]
        );
        assert_eq!(lines[0].assessed_online_rate_pct, Some(100.0));
        assert_eq!(lines[0].online_rate_pct, Some(90.0));
        assert_eq!(lines[0].online_gap_pct, Some(2.0));
        assert_eq!(lines[2].online_gap_pct, Some(-8.0));
    }

    #[test]
    fn months_parse_and_this_month_is_local() {
        assert_eq!(
            parse_month("2026-11").unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        assert!(parse_month("2026-13").unwrap_err().contains("YYYY-MM"));
        // 2026-11-30 17:00 UTC is already December in Beijing.
        let now = crate::clock::parse_time("2026-11-30T17:00:00Z");
        assert_eq!(
            this_month(now, crate::clock::china()),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
    }
}
