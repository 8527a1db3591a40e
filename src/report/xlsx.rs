//! The monthly assessment as an Excel workbook (`report --month … --format xlsx`): the file a
//! county office forwards upward.
//!
//! Sheets: `按区域`, `按单位`, `按类别`, `按运维单位` (the whole month per group of each
//! dimension, ranked, with a 合计 row for the fleet), `工单` (repair tickets and SLA per
//! maintainer), `每日` (each day: the fleet and the groups of `--by`) and `说明` (period, targets, the rules behind the figures). Headers are Chinese,
//! the header row is frozen, rates are numbers (fractions) shown with a `0.00%` format, hours
//! are numbers; text cells are written as text, so a group called `=…` is never a formula.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::config::inventory::GroupBy;

use super::month::{MonthReport, RateLine};

/// The columns of a group sheet, after the group-name column.
pub const RATE_COLUMNS: [&str; 13] = [
    "点位数",
    "在线率",
    "考核在线率",
    "完好率",
    "考核完好率",
    "在线率距目标(百分点)",
    "完好率距目标(百分点)",
    "报备免责时长(小时)",
    "离线时长(小时)",
    "未观测时长(小时)",
    "离线次数",
    "未达标点位",
    "排名",
];

/// The Chinese name of a dimension, as sheets and headers use it.
pub fn dimension_name(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Region => "区域",
        GroupBy::Unit => "单位",
        GroupBy::Class => "类别",
        GroupBy::Maintainer => "运维单位",
    }
}

struct Formats {
    header: Format,
    pct: Format,
    num: Format,
    bold: Format,
}

fn write_line(
    ws: &mut Worksheet,
    row: u32,
    first: u16,
    l: &RateLine,
    f: &Formats,
) -> Result<(), XlsxError> {
    let c = first;
    ws.write_number(row, c, l.cameras as f64)?;
    let pct = |ws: &mut Worksheet, col: u16, v: Option<f64>| -> Result<(), XlsxError> {
        if let Some(v) = v {
            ws.write_number_with_format(row, col, v / 100.0, &f.pct)?;
        }
        Ok(())
    };
    pct(ws, c + 1, l.online_rate_pct)?;
    pct(ws, c + 2, l.assessed_online_rate_pct)?;
    pct(ws, c + 3, l.intact_rate_pct)?;
    pct(ws, c + 4, l.assessed_intact_rate_pct)?;
    for (i, v) in [l.online_gap_pct, l.intact_gap_pct].into_iter().enumerate() {
        if let Some(v) = v {
            ws.write_number_with_format(row, c + 5 + i as u16, v, &f.num)?;
        }
    }
    ws.write_number_with_format(row, c + 7, l.excused_h, &f.num)?;
    ws.write_number_with_format(row, c + 8, l.offline_h, &f.num)?;
    ws.write_number_with_format(row, c + 9, l.unobserved_h, &f.num)?;
    ws.write_number(row, c + 10, l.outages as f64)?;
    ws.write_number(row, c + 11, l.below_target as f64)?;
    if let Some(r) = l.rank {
        ws.write_number(row, c + 12, r as f64)?;
    }
    Ok(())
}

fn headers(ws: &mut Worksheet, lead: &[&str], f: &Formats) -> Result<u16, XlsxError> {
    for (i, h) in lead.iter().chain(RATE_COLUMNS.iter()).enumerate() {
        let col = i as u16;
        ws.write_string_with_format(0, col, *h, &f.header)?;
        ws.set_column_width(col, if i < lead.len() { 18 } else { 13 })?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(lead.len() as u16)
}

/// The workbook's bytes.
pub fn month_workbook(r: &MonthReport) -> anyhow::Result<Vec<u8>> {
    Ok(build(r)?)
}

fn build(r: &MonthReport) -> Result<Vec<u8>, XlsxError> {
    let f = Formats {
        header: Format::new().set_bold().set_text_wrap(),
        pct: Format::new().set_num_format("0.00%"),
        num: Format::new().set_num_format("0.00"),
        bold: Format::new().set_bold(),
    };
    let mut wb = Workbook::new();
    for dim in &r.dimensions {
        let ws = wb.add_worksheet();
        ws.set_name(format!("按{}", dimension_name(dim.by)))?;
        let first = headers(ws, &[dimension_name(dim.by)], &f)?;
        let mut row = 1;
        for g in &dim.groups {
            ws.write_string(row, 0, &g.group)?;
            write_line(ws, row, first, g, &f)?;
            row += 1;
        }
        ws.write_string_with_format(row, 0, "合计", &f.bold)?;
        write_line(ws, row, first, &r.fleet, &f)?;
    }

    let ws = wb.add_worksheet();
    ws.set_name("工单")?;
    for (col, h) in [
        "运维单位",
        "工单数",
        "未完成",
        "平均响应时长(分钟)",
        "平均修复时长(分钟)",
        "超时工单",
        "超时率",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(0, col as u16, *h, &f.header)?;
        ws.set_column_width(col as u16, if col == 0 { 18 } else { 13 })?;
    }
    ws.set_freeze_panes(1, 0)?;
    for (i, k) in r.tickets.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &k.maintainer)?;
        ws.write_number(row, 1, k.opened as f64)?;
        ws.write_number(row, 2, k.outstanding as f64)?;
        if let Some(v) = k.mean_ack_min {
            ws.write_number_with_format(row, 3, v, &f.num)?;
        }
        if let Some(v) = k.mean_repair_min {
            ws.write_number_with_format(row, 4, v, &f.num)?;
        }
        ws.write_number(row, 5, k.breached as f64)?;
        if let Some(v) = k.breach_rate {
            ws.write_number_with_format(row, 6, v, &f.pct)?;
        }
    }

    let ws = wb.add_worksheet();
    ws.set_name("每日")?;
    let first = headers(ws, &["日期", dimension_name(r.by)], &f)?;
    let mut row = 1;
    for d in &r.days {
        let date = d.date.to_string();
        for g in &d.groups {
            ws.write_string(row, 0, &date)?;
            ws.write_string(row, 1, &g.group)?;
            write_line(ws, row, first, g, &f)?;
            row += 1;
        }
        ws.write_string(row, 0, &date)?;
        ws.write_string_with_format(row, 1, "合计", &f.bold)?;
        write_line(ws, row, first, &d.fleet, &f)?;
        row += 1;
    }

    let ws = wb.add_worksheet();
    ws.set_name("说明")?;
    ws.set_column_width(0, 16)?;
    ws.set_column_width(1, 90)?;
    let notes: [(&str, String); 9] = [
        ("月份", r.month.clone()),
        (
            "统计时段",
            format!(
                "{} 至 {}{}",
                r.from.format("%Y-%m-%d %H:%M"),
                r.to.format("%Y-%m-%d %H:%M"),
                if r.partial { "(本月未结束)" } else { "" }
            ),
        ),
        ("时区", format!("UTC{}", r.utc_offset)),
        ("在线率目标", format!("{:.2}%", r.target_pct)),
        ("完好率目标", format!("{:.2}%", r.intact_target_pct)),
        ("报备窗口", format!("{} 个", r.windows)),
        (
            "在线率",
            "在线时长 / (在线 + 离线时长),按点位时长加权;连接中与守护进程未运行的时间不计入(未观测)".into(),
        ),
        (
            "考核在线率/完好率",
            format!(
                "报备(维护窗口)期间的离线与画面故障时长不计入分母;{}",
                if r.count_late {
                    "事后补报的窗口全额计入"
                } else {
                    "事后补报的窗口仅自报备时起免责"
                }
            ),
        ),
        ("排名", "按考核在线率由高到低,并列时按考核完好率".into()),
    ];
    for (i, (k, v)) in notes.iter().enumerate() {
        ws.write_string_with_format(i as u32, 0, *k, &f.bold)?;
        ws.write_string(i as u32, 1, v)?;
    }
    wb.save_to_buffer()
}
