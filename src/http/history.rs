//! Endpoints over the availability ledger: a camera's state history and the daily report.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/cameras/{id}/history[?hours=24]` | the camera's status intervals (with reasons) and picture verdicts over the last hours |
//! | `GET /api/report[?days=7][&by=region][&format=json\|csv][&target=0.98]` | each day's time-weighted online rate and 完好率 (fleet, groups; CSV adds cameras, as `sharpeyes report --format csv`) |
//! | `GET /api/report/month[?month=2026-11][&by=unit][&format=json\|csv\|xlsx]` | the monthly assessment (月度考核) as `sharpeyes report --month` writes it, as a download |
//!
//! The ledger is opened read-only per request on a blocking thread (SQLite in WAL mode, the
//! daemon's writer is not disturbed); before the first write there is nothing to read and the
//! answers are empty.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration as ChronoDuration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Time};
use crate::config::inventory::GroupBy;
use crate::health::ledger::{Ledger, db_path};
use crate::http::error::{blocking, error};
use crate::report::{self, GroupLine, ReportArgs};

/// What the ledger endpoints need.
#[derive(Debug, Clone)]
pub struct LedgerContext {
    /// The daemon's data directory.
    pub data_dir: PathBuf,
    /// The targets' default (`[web] target`).
    pub target: f64,
    /// Days of trend by default.
    pub report_days: u32,
    /// `[maintenance] count_late`.
    pub count_late: bool,
    /// The daemon's clock ("the last N hours", "today").
    pub clock: Arc<dyn Clock>,
}

fn open(ctx: &LedgerContext) -> anyhow::Result<Option<Ledger>> {
    if !db_path(&ctx.data_dir).is_file() {
        return Ok(None);
    }
    Ledger::open_read_only(&ctx.data_dir).map(Some)
}

/// `?hours=`.
#[derive(Deserialize)]
pub struct HistoryQuery {
    hours: Option<f64>,
}

/// One status interval.
#[derive(Serialize)]
pub struct Span {
    /// connecting, online, offline.
    pub state: &'static str,
    /// Why offline.
    pub reason: Option<&'static str>,
    /// Start.
    pub start: Time,
    /// End (the request time for the open interval).
    pub end: Time,
}

/// One picture-verdict interval.
#[derive(Serialize)]
pub struct VerdictSpan {
    /// No fault.
    pub ok: bool,
    /// The faults.
    pub faults: Vec<String>,
    /// Start.
    pub start: Time,
    /// End.
    pub end: Time,
}

/// A camera's history.
#[derive(Serialize)]
pub struct History {
    /// Camera id.
    pub camera: String,
    /// Window start.
    pub from: Time,
    /// Window end (now).
    pub to: Time,
    /// Status intervals, oldest first.
    pub intervals: Vec<Span>,
    /// Picture verdicts, oldest first.
    pub quality: Vec<VerdictSpan>,
}

/// `GET /api/cameras/{id}/history`.
pub async fn history(
    State(ctx): State<Arc<LedgerContext>>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let hours = q.hours.unwrap_or(24.0);
    if !(hours > 0.0 && hours <= 24.0 * 31.0) {
        return error(
            StatusCode::BAD_REQUEST,
            "hours must be in (0, 744]".to_string(),
        );
    }
    let to = ctx.clock.now();
    let from = to - ChronoDuration::milliseconds((hours * 3_600_000.0) as i64);
    let ctx2 = ctx.clone();
    let cam = id.clone();
    let r = blocking(move || {
        let Some(ledger) = open(&ctx2)? else {
            return Ok((Vec::new(), Vec::new()));
        };
        let iv = ledger.intervals_of(Some(&cam), from, to)?;
        let qv = ledger.quality_intervals_of(Some(&cam), from, to)?;
        Ok((
            iv.into_iter()
                .map(|i| Span {
                    state: i.state.as_str(),
                    reason: i.reason.map(|r| r.as_str()),
                    start: i.start,
                    end: i.end,
                })
                .collect::<Vec<_>>(),
            qv.into_iter()
                .map(|i| VerdictSpan {
                    ok: i.ok,
                    faults: i.faults,
                    start: i.start,
                    end: i.end,
                })
                .collect::<Vec<_>>(),
        ))
    })
    .await;
    match r {
        Ok((mut intervals, mut quality)) => {
            intervals.sort_by_key(|s| s.start);
            quality.sort_by_key(|s| s.start);
            Json(History {
                camera: id,
                from,
                to,
                intervals,
                quality,
            })
            .into_response()
        }
        Err(r) => r,
    }
}

/// `GET /api/report` query.
#[derive(Deserialize)]
pub struct ReportQuery {
    days: Option<u32>,
    by: Option<GroupBy>,
    format: Option<String>,
    target: Option<f64>,
}

/// One day of the trend.
#[derive(Serialize)]
pub struct DaySummary {
    /// The day (UTC+08:00).
    pub date: NaiveDate,
    /// The day is not over.
    pub partial: bool,
    /// The fleet.
    pub fleet: GroupLine,
    /// The groups.
    pub groups: Vec<GroupLine>,
}

/// `/api/report` JSON.
#[derive(Serialize)]
pub struct Trend {
    /// The target in percent.
    pub target_pct: f64,
    /// The grouping dimension.
    pub by: GroupBy,
    /// Oldest first; today last.
    pub days: Vec<DaySummary>,
}

use crate::clock::china;

/// `GET /api/report`: the last `days` days (today included) of the daily report.
pub async fn report(
    State(ctx): State<Arc<LedgerContext>>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let days = q.days.unwrap_or(ctx.report_days);
    if !(1..=92).contains(&days) {
        return error(StatusCode::BAD_REQUEST, "days must be 1..=92".to_string());
    }
    let target = q.target.unwrap_or(ctx.target);
    if !(0.0..=1.0).contains(&target) {
        return error(
            StatusCode::BAD_REQUEST,
            "target is a fraction in 0..=1".to_string(),
        );
    }
    let by = q.by.unwrap_or(GroupBy::Region);
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(f) => return error(StatusCode::BAD_REQUEST, format!("unknown format {f:?}")),
    };
    let ctx2 = ctx.clone();
    let r = blocking(move || {
        let today = ctx2.clock.now().with_timezone(&china()).date_naive();
        let dates: Vec<NaiveDate> = (0..days)
            .rev()
            .filter_map(|back| today.checked_sub_days(chrono::Days::new(u64::from(back))))
            .collect();
        let Some(ledger) = open(&ctx2)? else {
            return Ok(Vec::new());
        };
        dates
            .into_iter()
            .map(|date| {
                let args = ReportArgs {
                    data_dir: ctx2.data_dir.clone(),
                    date: Some(date),
                    month: None,
                    output: None,
                    by,
                    format: report::Format::Json,
                    utc_offset: china(),
                    target,
                    intact_target: None,
                    count_late: ctx2.count_late,
                };
                report::build(&ledger, &args)
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await;
    let reports = match r {
        Ok(v) => v,
        Err(r) => return r,
    };
    if csv {
        return match csv_of(&reports) {
            Ok(text) => {
                let name = format!(
                    "sharpeyes-report-{}.csv",
                    reports
                        .last()
                        .map_or_else(|| "empty".to_string(), |r| r.date.to_string())
                );
                (
                    [
                        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                        (
                            header::CONTENT_DISPOSITION,
                            format!("attachment; filename=\"{name}\""),
                        ),
                    ],
                    text,
                )
                    .into_response()
            }
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        };
    }
    Json(Trend {
        target_pct: (target * 10000.0).round() / 100.0,
        by,
        days: reports
            .into_iter()
            .map(|r| DaySummary {
                date: r.date,
                partial: r.partial,
                fleet: r.fleet,
                groups: r.groups,
            })
            .collect(),
    })
    .into_response()
}

/// The reports as one CSV table: `sharpeyes report --format csv` of each day (it has a `date`
/// column), one header.
fn csv_of(reports: &[report::DayReport]) -> anyhow::Result<String> {
    let mut out = String::new();
    for (i, r) in reports.iter().enumerate() {
        let mut buf = Vec::new();
        report::write(r, report::Format::Csv, &mut buf)?;
        let text = String::from_utf8(buf)?;
        for (n, line) in text.lines().enumerate() {
            if n > 0 || i == 0 {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// `GET /api/report/month` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    month: Option<String>,
    by: Option<GroupBy>,
    format: Option<String>,
    target: Option<f64>,
}

/// `GET /api/report/month[?month=YYYY-MM][&by=region][&format=json|csv|xlsx][&target=0.98]`:
/// the monthly assessment (default: this month), as `sharpeyes report --month` builds it.
pub async fn month_report(
    State(ctx): State<Arc<LedgerContext>>,
    q: Result<Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let now = ctx.clock.now();
    let first = match q.month.as_deref() {
        None => report::month::this_month(now, china()),
        Some(m) => match report::month::parse_month(m) {
            Ok(d) => d,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        },
    };
    let target = q.target.unwrap_or(ctx.target);
    if !(0.0..=1.0).contains(&target) {
        return error(StatusCode::BAD_REQUEST, "target is a fraction in 0..=1");
    }
    let (format, mime, ext) = match q.format.as_deref() {
        None | Some("json") => (report::Format::Json, "application/json", "json"),
        Some("csv") => (report::Format::Csv, "text/csv; charset=utf-8", "csv"),
        Some("xlsx") => (
            report::Format::Xlsx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        Some(f) => return error(StatusCode::BAD_REQUEST, format!("unknown format {f:?}")),
    };
    let by = q.by.unwrap_or(GroupBy::Region);
    let ctx2 = ctx.clone();
    let r = blocking(move || {
        let Some(ledger) = open(&ctx2)? else {
            anyhow::bail!("no history yet: the daemon has not written its ledger");
        };
        let args = ReportArgs {
            data_dir: ctx2.data_dir.clone(),
            date: None,
            month: Some(first),
            output: None,
            by,
            format,
            utc_offset: china(),
            target,
            intact_target: None,
            count_late: ctx2.count_late,
        };
        let report = report::month::build_at(&ledger, &args, first, now)?;
        let mut body = Vec::new();
        report::month::write(&report, format, &mut body)?;
        Ok(body)
    })
    .await;
    match r {
        Ok(body) => {
            let name = format!("sharpeyes-{}-{}.{ext}", first.format("%Y-%m"), by.as_str());
            (
                [
                    (header::CONTENT_TYPE, mime.to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                body,
            )
                .into_response()
        }
        Err(r) => r,
    }
}
