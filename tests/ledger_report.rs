//! The ledger across a crash and a restart, and the day report computed from it, through the
//! library and through the real `sharpeyes report` binary.
//!
//! The story, in Beijing time, for the day 2024-05-01:
//!
//! - Run 1 starts on 04-30 at 23:00 and crashes on 05-01 after its 14:00:00 heartbeat.
//! - Run 2 starts at 14:59:50 (so 59 m 50 s unmonitored, then 10 s connecting: 1 h unobserved)
//!   and stops gracefully on 05-02 at 00:30, through the `LedgerWriter`.
//!
//! | camera | region   | the day                                         | uptime                   |
//! |--------|----------|-------------------------------------------------|--------------------------|
//! | c1     | 城关镇   | offline 02:00–07:45 (refused)                    | 17.25 h / 23 h = 75.00 % |
//! | c2     | 城关镇   | always online                                    | 100.00 %                 |
//! | c3     | 东城街道 | offline 09:00–10:00 (auth), 20:00–20:30 (stalled)| 21.5 / 23 = 93.48 %      |
//! | c4     | 东城街道 | offline from 15:00 after the restart (unreachable)| 14 / 23 = 60.87 %       |
//! | c5     | 城关镇   | removed on 04-30 at 23:30: not in the report     |                          |
//! | c6     | (none)   | added at 18:00, not in the cameras table          | 100.00 %, 18 h unobserved|
//!
//! Picture verdicts (完好率 = intact / the same 23 h observed; intact = online without a known
//! picture fault). Run 1 diagnoses c1..c4 ok at 04-30 23:00:15; verdicts left open at the
//! crash end at the 14:00 heartbeat, and after the restart a camera is unchecked (counted
//! intact) until its first verdict.
//!
//! | camera | verdicts                                                  | fault    | intact            |
//! |--------|-----------------------------------------------------------|----------|-------------------|
//! | c1     | too_dark 01:00–08:00 (offline 02:00–07:45 not counted twice)| 1.25 h | 16 / 23 = 69.57 % |
//! | c2     | frozen 10:00–crash (closed 14:00); ok again at 16:00       | 4 h      | 19 / 23 = 82.61 % |
//! | c3     | blur + occlusion 18:00–19:00                               | 1 h      | 20.5 / 23 = 89.13 %|
//! | c4     | ok                                                         | 0        | 14 / 23 = 60.87 % |
//! | c5     | scene_change 04-30 23:10 until stopped at 23:30            |          | (04-30) 32.96 %   |
//! | c6     | none: 6 h online unchecked                                 | 0        | 100.00 %          |

mod common;

use std::path::Path;
use std::process::Command;

use common::{assert_success, report_camera, run_ok};
use sharpeyes::clock::{Time, parse_time};
use sharpeyes::config::inventory::{GroupBy, Groups};
use sharpeyes::health::ledger::{CameraRow, Ledger, LedgerWriter};
use sharpeyes::health::status::{Reason, State, Transition};
use sharpeyes::report::{self, Format, ReportArgs};

const H: f64 = 3600.0;

/// A Beijing wall-clock time on 2024-05-01 ("HH:MM:SS").
fn bj(hms: &str) -> Time {
    parse_time(&format!("2024-05-01T{hms}+08:00"))
}

fn camera(id: &str, name: &str, region: &str, class: &str) -> CameraRow {
    CameraRow {
        id: id.into(),
        name: name.into(),
        groups: Groups {
            region: region.into(),
            unit: "派出所".into(),
            class: class.into(),
            maintainer: "运维甲".into(),
        },
    }
}

fn tr(at: Time, from: State, to: State, reason: Option<Reason>) -> Transition {
    Transition {
        at,
        from,
        to,
        reason,
        detail: reason.map(|r| format!("test: {r}")),
    }
}

fn rec(id: &str, t: Transition) -> (String, Transition) {
    (id.to_string(), t)
}

fn faults(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

use State::{Connecting, Offline, Online};

/// Writes the story into `dir`.
fn populate(dir: &Path) {
    let prev_23 = parse_time("2024-04-30T23:00:00+08:00");
    // Run 1: direct Ledger use, then a crash.
    {
        let mut l = Ledger::open(dir).expect("open run 1");
        assert_eq!(l.recovery().closed, 0);
        l.upsert_cameras(&[
            camera("c1", "人民路口", "城关镇", "1"),
            camera("c2", "北门", "城关镇", "2"),
            camera("c3", "东站广场", "东城街道", "1"),
            camera("c4", "东城小学", "东城街道", "3"),
            camera("c5", "旧桥", "城关镇", "3"),
        ])
        .unwrap();
        for id in ["c1", "c2", "c3", "c4", "c5"] {
            l.begin(id, Connecting, prev_23).unwrap();
        }
        let up = prev_23 + chrono::Duration::seconds(10);
        let batch: Vec<_> = ["c1", "c2", "c3", "c4", "c5"]
            .iter()
            .map(|id| rec(id, tr(up, Connecting, Online, None)))
            .collect();
        l.record(&batch).unwrap();
        let checked = prev_23 + chrono::Duration::seconds(15);
        for id in ["c1", "c2", "c3", "c4"] {
            l.quality(id, checked, true, &[]).unwrap();
        }
        l.quality(
            "c5",
            parse_time("2024-04-30T23:10:00+08:00"),
            false,
            &faults(&["scene_change"]),
        )
        .unwrap();
        l.stop("c5", parse_time("2024-04-30T23:30:00+08:00"))
            .unwrap();
        // c1's picture goes black an hour before its outage and is seen ok again at 08:00.
        l.quality("c1", bj("01:00:00"), false, &faults(&["too_dark"]))
            .unwrap();
        l.record(&[rec(
            "c1",
            tr(bj("02:00:00"), Online, Offline, Some(Reason::Refused)),
        )])
        .unwrap();
        l.heartbeat(bj("05:00:00")).unwrap();
        l.record(&[
            rec("c1", tr(bj("07:45:00"), Offline, Online, None)),
            rec(
                "c3",
                tr(bj("09:00:00"), Online, Offline, Some(Reason::Auth)),
            ),
        ])
        .unwrap();
        l.record(&[rec("c3", tr(bj("10:00:00"), Offline, Online, None))])
            .unwrap();
        l.quality("c1", bj("08:00:00"), true, &[]).unwrap();
        // c2 freezes at 10:00; the verdict is still open at the crash.
        l.quality("c2", bj("10:00:00"), false, &faults(&["frozen"]))
            .unwrap();
        l.heartbeat(bj("13:59:55")).unwrap();
        l.heartbeat(bj("14:00:00")).unwrap();
        // Crash: no close_all.
    }
    // Run 2: recovery, then the writer thread, then a graceful stop.
    let l = Ledger::open(dir).expect("open run 2");
    assert_eq!(l.recovery().closed, 4, "c1..c4 were left open");
    assert_eq!(l.recovery().quality_closed, 4, "c1..c4's verdicts too");
    assert_eq!(l.recovery().at, Some(bj("14:00:00")));
    let w = LedgerWriter::spawn(l).unwrap();
    let s = w.sender().clone();
    s.upsert_cameras(vec![
        camera("c1", "人民路口", "城关镇", "1"),
        camera("c2", "北门", "城关镇", "2"),
        camera("c3", "东站广场", "东城街道", "1"),
        camera("c4", "东城小学", "东城街道", "3"),
    ]);
    for id in ["c1", "c2", "c3", "c4"] {
        s.begin(id, Connecting, bj("14:59:50"));
    }
    for id in ["c1", "c2", "c3"] {
        s.record(id, tr(bj("15:00:00"), Connecting, Online, None));
    }
    s.record(
        "c4",
        tr(
            bj("15:00:00"),
            Connecting,
            Offline,
            Some(Reason::Unreachable),
        ),
    );
    s.heartbeat(bj("16:00:00"));
    s.quality("c2", bj("16:00:00"), true, vec![]);
    s.begin("c6", Connecting, bj("18:00:00"));
    s.record("c6", tr(bj("18:00:05"), Connecting, Online, None));
    s.quality("c3", bj("18:00:00"), false, faults(&["occlusion", "blur"]));
    s.quality("c3", bj("19:00:00"), true, vec![]);
    s.record(
        "c3",
        tr(bj("20:00:00"), Online, Offline, Some(Reason::Stalled)),
    );
    s.record("c3", tr(bj("20:30:00"), Offline, Online, None));
    s.heartbeat(bj("23:59:59"));
    assert!(s.flush());
    w.shutdown(parse_time("2024-05-02T00:30:00+08:00"));
}

fn args(dir: &Path, by: GroupBy) -> ReportArgs {
    ReportArgs {
        data_dir: dir.to_path_buf(),
        date: chrono::NaiveDate::from_ymd_opt(2024, 5, 1),
        month: None,
        output: None,
        by,
        format: Format::Json,
        utc_offset: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        target: 0.98,
        intact_target: None,
        count_late: false,
    }
}

#[test]
fn report_numbers_survive_a_crash_and_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    populate(tmp.path());

    // Reopening for writing again finds nothing to recover: the stop was graceful.
    drop(Ledger::open(tmp.path()).unwrap());
    assert_eq!(Ledger::open(tmp.path()).unwrap().recovery().closed, 0);

    let ledger = Ledger::open_read_only(tmp.path()).unwrap();
    let r = report::build(&ledger, &args(tmp.path(), GroupBy::Region)).unwrap();
    assert!(!r.partial);
    assert_eq!(r.from.to_rfc3339(), "2024-05-01T00:00:00+08:00");
    assert_eq!(r.to.to_rfc3339(), "2024-05-02T00:00:00+08:00");

    let ids: Vec<_> = r.cameras.iter().map(|c| c.id.as_str()).collect();
    // Sorted by group value (unassigned, 东城街道, 城关镇 in code-point order) then id.
    assert_eq!(
        ids,
        ["c6", "c3", "c4", "c1", "c2"],
        "c5 has no time in the day"
    );
    let cam = |id: &str| r.cameras.iter().find(|c| c.id == id).unwrap();

    let c1 = cam("c1");
    assert_eq!(c1.name, "人民路口");
    assert_eq!(c1.group, "城关镇");
    assert_eq!(c1.uptime_pct, Some(75.0));
    assert_eq!(c1.online_s, 17.25 * H);
    assert_eq!(c1.offline_s, 5.75 * H);
    assert_eq!(c1.unmonitored_s, H - 10.0, "the crash gap is unmonitored");
    assert_eq!(c1.connecting_s, 10.0);
    assert_eq!(c1.outage_count, 1);
    assert_eq!(c1.longest_outage_s, 5.75 * H);
    assert_eq!(c1.main_reason.as_deref(), Some("refused"));
    assert_eq!(c1.meets_target, Some(false));
    assert_eq!(
        c1.outages[0].start.to_rfc3339(),
        "2024-05-01T02:00:00+08:00"
    );
    assert_eq!(c1.outages[0].end.to_rfc3339(), "2024-05-01T07:45:00+08:00");

    let c2 = cam("c2");
    assert_eq!(c2.uptime_pct, Some(100.0));
    assert_eq!(c2.online_s, 23.0 * H);
    assert_eq!(c2.connecting_s + c2.unmonitored_s, H);
    assert_eq!(c2.outage_count, 0);
    assert_eq!(c2.main_reason, None);

    let c3 = cam("c3");
    assert_eq!(c3.uptime_pct, Some(93.48));
    assert_eq!(c3.outage_count, 2);
    assert_eq!(c3.offline_s, 1.5 * H);
    assert_eq!(c3.longest_outage_s, H);
    assert_eq!(c3.main_reason.as_deref(), Some("auth"));
    assert_eq!(c3.outage_s_by_reason["stalled"], 0.5 * H);

    let c4 = cam("c4");
    assert_eq!(c4.uptime_pct, Some(60.87));
    assert_eq!(c4.offline_s, 9.0 * H);
    assert_eq!(c4.outages[0].end.to_rfc3339(), "2024-05-02T00:00:00+08:00");
    assert_eq!(c4.main_reason.as_deref(), Some("unreachable"));

    let c6 = cam("c6");
    assert_eq!(c6.name, "c6", "no cameras row: the id stands in");
    assert_eq!(c6.group, "unassigned");
    assert_eq!(c6.uptime_pct, Some(100.0));
    assert_eq!(c6.online_s, 6.0 * H - 5.0);
    assert_eq!(c6.unmonitored_s, 18.0 * H);

    let groups: Vec<_> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.group.as_str(),
                g.cameras,
                g.below_target,
                g.online_rate_pct,
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("unassigned", 1, 0, Some(100.0)),
            // (21.5 + 14) / 46
            ("东城街道", 2, 2, Some(77.17)),
            // (17.25 + 23) / 46
            ("城关镇", 2, 1, Some(87.5)),
        ]
    );
    assert_eq!(r.fleet.group, "total");
    assert_eq!(r.fleet.cameras, 5);
    assert_eq!(r.fleet.below_target, 3);
    assert_eq!(r.fleet.meeting_target, 2);
    // 294 295 s online of 352 795 s observed.
    assert_eq!(r.fleet.online_s, 294_295.0);
    assert_eq!(r.fleet.offline_s, 58_500.0);
    assert_eq!(r.fleet.online_rate_pct, Some(83.42));
    assert_eq!(r.fleet.outages, 4);

    // By class: c1 and c3 are class 1.
    let by_class = report::build(&ledger, &args(tmp.path(), GroupBy::Class)).unwrap();
    let class1 = by_class.groups.iter().find(|g| g.group == "1").unwrap();
    assert_eq!(class1.cameras, 2);
    // (17.25 + 21.5) / 46
    assert_eq!(class1.online_rate_pct, Some(84.24));
    assert_eq!(by_class.fleet, r.fleet);

    // All three renderings work.
    for format in [Format::Table, Format::Csv, Format::Json] {
        let mut out = Vec::new();
        report::write(&r, format, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("83.42"), "{format:?}:\n{text}");
        assert!(text.contains("77.04"), "{format:?}:\n{text}");
    }
}

#[test]
fn intact_rate_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    populate(tmp.path());
    let ledger = Ledger::open_read_only(tmp.path()).unwrap();
    let r = report::build(&ledger, &args(tmp.path(), GroupBy::Region)).unwrap();
    assert_eq!(r.intact_target_pct, 98.0);
    let cam = |id: &str| r.cameras.iter().find(|c| c.id == id).unwrap();
    let by_fault = |pairs: &[(&str, f64)]| -> std::collections::BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };

    // c1: black 01:00–08:00, but 02:00–07:45 is an outage: 1 h + 15 min of picture fault.
    let c1 = cam("c1");
    assert_eq!(c1.picture_fault_s, 1.25 * H);
    assert_eq!(c1.fault_s_by_fault, by_fault(&[("too_dark", 1.25 * H)]));
    assert_eq!(c1.intact_s, 16.0 * H);
    assert_eq!(c1.intact_pct, Some(69.57));
    assert_eq!(c1.main_fault.as_deref(), Some("too_dark"));
    assert_eq!(c1.meets_intact_target, Some(false));
    // No verdict after the restart: 15:00–24:00 unchecked, counted intact.
    assert_eq!(c1.unchecked_s, 9.0 * H);
    assert_eq!(c1.online_s, c1.intact_s + c1.picture_fault_s);

    // c2: frozen from 10:00 until the crash; recovery closed the verdict at the 14:00
    // heartbeat, so the hour after the restart (unchecked) is not picture-fault time.
    let c2 = cam("c2");
    assert_eq!(c2.picture_fault_s, 4.0 * H);
    assert_eq!(c2.unchecked_s, H);
    assert_eq!(c2.intact_pct, Some(82.61));
    assert_eq!(c2.main_fault.as_deref(), Some("frozen"));

    // c3: two faults at once for an hour: counted once in the fault time, under each name.
    let c3 = cam("c3");
    assert_eq!(c3.picture_fault_s, H);
    assert_eq!(
        c3.fault_s_by_fault,
        by_fault(&[("blur", H), ("occlusion", H)])
    );
    assert_eq!(
        c3.main_fault.as_deref(),
        Some("blur"),
        "first in Fault::ALL"
    );
    assert_eq!(c3.intact_pct, Some(89.13));
    assert_eq!(c3.unchecked_s, 3.0 * H);

    // c4: always ok while online; offline time is not intact.
    let c4 = cam("c4");
    assert_eq!(c4.intact_pct, c4.uptime_pct);
    assert_eq!(c4.intact_pct, Some(60.87));
    assert_eq!((c4.picture_fault_s, c4.unchecked_s), (0.0, 0.0));
    assert_eq!(c4.main_fault, None);

    // c6: never diagnosed: intact as long as it is online.
    let c6 = cam("c6");
    assert_eq!(c6.intact_pct, Some(100.0));
    assert_eq!(c6.unchecked_s, 6.0 * H - 5.0);
    assert_eq!(c6.meets_intact_target, Some(true));

    let groups: Vec<_> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.group.as_str(),
                g.intact_rate_pct,
                g.meeting_intact_target,
                g.below_intact_target,
                g.main_fault.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("unassigned", Some(100.0), 1, 0, None),
            // (20.5 + 14) / 46
            ("东城街道", Some(75.0), 0, 2, Some("blur")),
            // (16 + 19) / 46
            ("城关镇", Some(76.09), 0, 2, Some("frozen")),
        ]
    );
    // 271 795 s intact of the same 352 795 s observed.
    assert_eq!(r.fleet.intact_s, 271_795.0);
    assert_eq!(r.fleet.picture_fault_s, 22_500.0);
    assert_eq!(r.fleet.intact_s + r.fleet.picture_fault_s, r.fleet.online_s);
    assert_eq!(r.fleet.unchecked_s, 68_395.0);
    assert_eq!(r.fleet.intact_rate_pct, Some(77.04));
    assert_eq!(
        (r.fleet.meeting_intact_target, r.fleet.below_intact_target),
        (1, 4)
    );
    assert_eq!(r.fleet.main_fault.as_deref(), Some("frozen"));
    assert_eq!(
        r.fleet.fault_s_by_fault,
        by_fault(&[
            ("blur", H),
            ("frozen", 4.0 * H),
            ("occlusion", H),
            ("too_dark", 1.25 * H),
        ])
    );

    // Its own target: at 70 %, c1 (69.57) and c4 (60.87) are below; uptime still at 98 %.
    let mut a = args(tmp.path(), GroupBy::Region);
    a.intact_target = Some(0.7);
    let r70 = report::build(&ledger, &a).unwrap();
    assert_eq!(r70.intact_target_pct, 70.0);
    assert_eq!(r70.target_pct, 98.0);
    assert_eq!(
        (
            r70.fleet.meeting_intact_target,
            r70.fleet.below_intact_target
        ),
        (3, 2)
    );
    assert_eq!(r70.fleet.below_target, 3);

    // CSV: the old 17 columns first, unchanged; the 完好率 columns after them.
    let mut out = Vec::new();
    report::write(&r, Format::Csv, &mut out).unwrap();
    let mut rdr = csv::Reader::from_reader(out.as_slice());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, report::CSV_HEADER);
    assert_eq!(
        header[17..22],
        [
            "intact_pct",
            "picture_fault_s",
            "unchecked_s",
            "below_intact_target",
            "main_fault"
        ]
    );
    assert_eq!(header[16], "main_reason");
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let row = |kind: &str, key: &str| {
        rows.iter()
            .find(|r| &r[0] == kind && (&r[4] == key || (kind != "camera" && &r[3] == key)))
            .unwrap_or_else(|| panic!("no {kind} row {key}"))
            .iter()
            .skip(17)
            .take(5)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("camera", "c1"),
        ["69.57", "4500", "32400", "", "too_dark"]
    );
    assert_eq!(row("camera", "c6"), ["100.00", "0", "21595", "", ""]);
    assert_eq!(
        // c1 + c2: 1.25 h + 4 h of fault, 9 h + 1 h unchecked.
        row("group", "城关镇"),
        ["76.09", "18900", "36000", "2", "frozen"]
    );
    assert_eq!(row("fleet", ""), ["77.04", "22500", "68395", "4", "frozen"]);

    // JSON: the same figures under the documented names.
    let mut out = Vec::new();
    report::write(&r, Format::Json, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["intact_target_pct"], 98.0);
    assert_eq!(json["fleet"]["intact_rate_pct"], 77.04);
    assert_eq!(json["fleet"]["below_intact_target"], 4);
    let c1 = report_camera(&json, "c1");
    assert_eq!(c1["intact_pct"], 69.57);
    assert_eq!(c1["main_fault"], "too_dark");
    assert_eq!(c1["fault_s_by_fault"]["too_dark"], 4500.0);
    assert_eq!(c1["meets_intact_target"], false);

    // Table: the new columns are there.
    let mut out = Vec::new();
    report::write(&r, Format::Table, &mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    for want in [
        "INTACT RATE",
        "MAIN FAULT",
        "69.57 %",
        "77.04 %",
        "too_dark",
    ] {
        assert!(table.contains(want), "{want} missing:\n{table}");
    }
}

#[test]
fn the_day_before_and_after() {
    let tmp = tempfile::tempdir().unwrap();
    populate(tmp.path());
    let ledger = Ledger::open_read_only(tmp.path()).unwrap();
    let mut a = args(tmp.path(), GroupBy::Region);
    // 04-30 Beijing: only 23:00..24:00 recorded, c5 stopped at 23:30.
    a.date = chrono::NaiveDate::from_ymd_opt(2024, 4, 30);
    let r = report::build(&ledger, &a).unwrap();
    assert_eq!(r.cameras.len(), 5);
    let c5 = r.cameras.iter().find(|c| c.id == "c5").unwrap();
    assert_eq!(c5.online_s, 30.0 * 60.0 - 10.0);
    assert_eq!(c5.unmonitored_s, 23.5 * H);
    // scene_change from 23:10 until the stop at 23:30: 590 s intact of 1 790 s.
    assert_eq!(c5.picture_fault_s, 20.0 * 60.0);
    assert_eq!(c5.intact_pct, Some(32.96));
    assert_eq!(c5.main_fault.as_deref(), Some("scene_change"));
    // 05-02: c1..c4 and c6 until the graceful stop at 00:30; c4 still offline.
    a.date = chrono::NaiveDate::from_ymd_opt(2024, 5, 2);
    let r = report::build(&ledger, &a).unwrap();
    assert_eq!(r.cameras.len(), 5);
    let c4 = r.cameras.iter().find(|c| c.id == "c4").unwrap();
    assert_eq!(c4.uptime_pct, Some(0.0));
    assert_eq!(c4.offline_s, 0.5 * H);
    assert_eq!(c4.unmonitored_s, 23.5 * H);
    assert_eq!(c4.intact_pct, Some(0.0));
    // c2's ok verdict from 16:00 lasts until the graceful stop.
    let c2 = r.cameras.iter().find(|c| c.id == "c2").unwrap();
    assert_eq!((c2.intact_pct, c2.unchecked_s), (Some(100.0), 0.0));
}

// ---------------------------------------------------------------------------------------------
// The real binary.

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sharpeyes"))
}

/// Whether `sharpeyes report` is wired into the binary yet.
fn report_wired() -> bool {
    let out = bin().args(["report", "--help"]).output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let wired = o.status.success() && text.contains("--data-dir");
            if !wired {
                eprintln!("`sharpeyes report` is not wired yet; skipping the binary checks");
            }
            wired
        }
        Err(e) => panic!("cannot run the sharpeyes binary: {e}"),
    }
}

fn run_report(dir: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .arg("report")
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run sharpeyes report")
}

/// [`run_report`], asserted to succeed (the panic shows its stderr).
#[track_caller]
fn report_ok(dir: &Path, extra: &[&str]) -> std::process::Output {
    let out = run_report(dir, extra);
    assert_success(&out);
    out
}

#[test]
fn binary_report_json_and_csv() {
    if !report_wired() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    populate(tmp.path());

    let out = report_ok(
        tmp.path(),
        &["--date", "2024-05-01", "--by", "region", "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(json["date"], "2024-05-01");
    assert_eq!(json["by"], "region");
    assert_eq!(json["fleet"]["online_rate_pct"], 83.42);
    let cams = json["cameras"].as_array().unwrap();
    assert_eq!(cams.len(), 5);
    let c1 = cams.iter().find(|c| c["id"] == "c1").unwrap();
    assert_eq!(c1["uptime_pct"], 75.0);
    assert_eq!(c1["name"], "人民路口");
    assert_eq!(c1["intact_pct"], 69.57);
    assert_eq!(json["fleet"]["intact_rate_pct"], 77.04);

    let out = report_ok(
        tmp.path(),
        &["--date", "2024-05-01", "--by", "region", "--format", "csv"],
    );
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, report::CSV_HEADER);
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let find = |kind: &str, key_col: &str, key: &str| {
        rows.iter()
            .find(|r| &r[col("kind")] == kind && &r[col(key_col)] == key)
            .unwrap_or_else(|| panic!("no {kind} row {key}"))
            .clone()
    };
    let c1 = find("camera", "camera_id", "c1");
    assert_eq!(&c1[col("uptime_pct")], "75.00");
    assert_eq!(&c1[col("offline_s")], "20700");
    assert_eq!(&c1[col("group")], "城关镇");
    let town = find("group", "group", "城关镇");
    assert_eq!(&town[col("uptime_pct")], "87.50");
    assert_eq!(&town[col("cameras")], "2");
    assert_eq!(&town[col("below_target")], "1");
    let fleet = find("fleet", "group", "");
    assert_eq!(&fleet[col("uptime_pct")], "83.42");
    assert_eq!(&fleet[col("intact_pct")], "77.04");
    assert_eq!(&fleet[col("main_fault")], "frozen");
    assert_eq!(&c1[col("intact_pct")], "69.57");
    assert_eq!(rows.len(), 5 + 3 + 1);

    // --intact-target is its own target.
    let out = report_ok(
        tmp.path(),
        &[
            "--date",
            "2024-05-01",
            "--format",
            "json",
            "--intact-target",
            "70%",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(json["intact_target_pct"], 70.0);
    assert_eq!(json["fleet"]["below_intact_target"], 2);
    assert_eq!(json["fleet"]["below_target"], 3);

    let out = run_report(tmp.path(), &["--date", "2024-05-01"]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("75.00 %") && table.contains("FLEET TOTAL"),
        "{table}"
    );
}

#[test]
fn binary_report_errors_are_clear() {
    if !report_wired() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = run_report(tmp.path(), &["--date", "2024-05-01"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no ledger database"), "{err}");

    populate(tmp.path());
    let out = run_report(tmp.path(), &["--date", "2024-5-1x"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
}

/// Maintenance windows (报备) in the day report: a group window declared the day before
/// excuses its cameras' offline time; a window declared now through the real `sharpeyes
/// windows` binary for that past day is late and excuses nothing unless `--count-late`;
/// deleting it takes the excuse back. Raw rates never change.
///
/// | camera | window                          | excused                          | assessed uptime / intact      |
/// |--------|---------------------------------|----------------------------------|-------------------------------|
/// | c3     | region 东城街道 08:30–10:30, on time | 1 h offline (auth 09:00–10:00) | 21.5/22 = 97.73 %, 20.5/22 = 93.18 % |
/// | c4     | same group                      | none (offline only from 15:00)   | = raw 60.87 %                  |
/// | c1     | c1 01:30–08:00, late            | with --count-late: 5.75 h offline + 0.75 h too_dark online | 100 %, 16/16.5 = 96.97 % |
#[test]
fn maintenance_windows_excuse_time_in_the_assessed_rates() {
    use sharpeyes::assessment::windows::{GroupRef, WindowSpec, WindowStore};
    let tmp = tempfile::tempdir().unwrap();
    populate(tmp.path());
    let mut store = WindowStore::open(tmp.path(), std::time::Duration::from_secs(900)).unwrap();
    let w = store
        .declare(
            WindowSpec {
                cameras: None,
                group: Some(GroupRef {
                    by: GroupBy::Region,
                    value: "东城街道".into(),
                }),
                start: bj("08:30:00"),
                end: bj("10:30:00"),
                reason: "光缆迁改".into(),
            },
            "运维甲",
            parse_time("2024-04-30T12:00:00+08:00"),
        )
        .unwrap();
    assert!(!w.late);
    drop(store);

    let out = run_ok(
        bin()
            .args(["windows", "add", "--data-dir"])
            .arg(tmp.path())
            .args([
                "--camera",
                "c1",
                "--start",
                "2024-05-01T01:30:00+08:00",
                "--end",
                "2024-05-01T08:00:00+08:00",
                "--reason",
                "电力检修",
                "--by",
                "张三",
            ]),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("marked late"));
    let late: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(late["late"], true);
    assert_eq!(late["declared_by"], "张三");

    let report = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["--date", "2024-05-01", "--format", "json"];
        args.extend_from_slice(extra);
        let out = report_ok(tmp.path(), &args);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let cam = report_camera;
    let r = report(&[]);
    let c3 = cam(&r, "c3");
    assert_eq!(c3["uptime_pct"], 93.48);
    assert_eq!(c3["assessed_uptime_pct"], 97.73);
    assert_eq!(c3["assessed_intact_pct"], 93.18);
    assert_eq!(c3["excused_s"], H);
    let c4 = cam(&r, "c4");
    assert_eq!(c4["excused_s"], 0.0);
    assert_eq!(c4["assessed_uptime_pct"], c4["uptime_pct"]);
    // Late and not counted: c1 as raw.
    let c1 = cam(&r, "c1");
    assert_eq!(c1["excused_s"], 0.0);
    assert_eq!(c1["assessed_uptime_pct"], 75.0);
    assert_eq!(r["fleet"]["excused_s"], H);
    assert!(
        r["fleet"]["assessed_online_rate_pct"].as_f64().unwrap()
            > r["fleet"]["online_rate_pct"].as_f64().unwrap()
    );

    let r = report(&["--count-late"]);
    let c1 = cam(&r, "c1");
    assert_eq!(c1["uptime_pct"], 75.0);
    assert_eq!(c1["excused_s"], 6.5 * H);
    assert_eq!(c1["assessed_uptime_pct"], 100.0);
    assert_eq!(c1["assessed_intact_pct"], 96.97);
    assert_eq!(r["fleet"]["excused_s"], 7.5 * H);

    // CSV carries the assessed columns; the table names them.
    let out = run_report(
        tmp.path(),
        &["--date", "2024-05-01", "--format", "csv", "--count-late"],
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",assessed_uptime_pct,assessed_intact_pct,excused_s")
    );
    assert!(
        csv.lines()
            .any(|l| l.contains(",c1,") && l.ends_with(",100.00,96.97,23400")),
        "{csv}"
    );
    let out = run_report(tmp.path(), &["--date", "2024-05-01"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ASSESSED ONLINE"));

    // Editing the late window's end (the rest stays) shortens its excuse.
    let id = late["id"].as_i64().unwrap().to_string();
    let out = run_ok(
        bin()
            .args(["windows", "edit", &id, "--by", "李四", "--data-dir"])
            .arg(tmp.path())
            .args(["--end", "2024-05-01T05:00:00+08:00"]),
    );
    let edited: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(edited["id"], late["id"]);
    assert_eq!(edited["start"], late["start"], "not given: kept");
    assert_eq!(edited["reason"], "电力检修");
    assert_ne!(edited["end"], late["end"]);
    let r = report(&["--count-late"]);
    assert_eq!(cam(&r, "c1")["excused_s"], 3.5 * H);

    // Deleting the late window takes its excuse back, even with --count-late.
    run_ok(
        bin()
            .args(["windows", "delete", &id, "--by", "张三", "--data-dir"])
            .arg(tmp.path()),
    );
    let r = report(&["--count-late"]);
    assert_eq!(cam(&r, "c1")["excused_s"], 0.0);
    let out = bin()
        .args(["windows", "audit", &id, "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let audit = String::from_utf8(out.stdout).unwrap();
    assert_eq!(audit.lines().count(), 3, "{audit}");
    assert!(audit.contains("\"edit\"") && audit.contains("\"delete\""));
    assert!(audit.contains("李四"), "{audit}");
}

/// The monthly assessment through the real binary: JSON, CSV and XLSX of one month agree with
/// each other and with the day report; the XLSX is read back by an independent reader
/// (openpyxl): Chinese sheet names and headers, a frozen header row, rates as numbers with a
/// percent format.
#[test]
fn monthly_report_json_csv_and_xlsx_agree() {
    let tmp = tempfile::tempdir().unwrap();
    populate(tmp.path());
    // One repair ticket of 运维甲 in the month, acknowledged after 30 minutes.
    {
        use sharpeyes::assessment::tickets::{Condition, TicketDesk, TicketSettings, TicketStore};
        let mut store = TicketStore::open(tmp.path()).unwrap();
        let mut desk = TicketDesk::new(TicketSettings::default(), Vec::new(), 1);
        let down = Condition {
            camera_id: "c1".into(),
            maintainer: "运维甲".into(),
            class: "1".into(),
            down: Some((bj("02:00:00"), "refused".into())),
            up_since: None,
            excused: false,
        };
        let mut ev = desk.tick(std::slice::from_ref(&down), bj("02:30:00"));
        ev.extend(desk.acknowledge(1, "甲", None, bj("03:00:00")));
        store.record(&ev).unwrap();
    }
    let json_of = |extra: &[&str]| -> serde_json::Value {
        let out = report_ok(tmp.path(), extra);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let m = json_of(&["--month", "2024-05", "--by", "region", "--format", "json"]);
    assert_eq!(m["month"], "2024-05");
    assert_eq!(m["partial"], false);
    let days = m["days"].as_array().unwrap();
    assert_eq!(days.len(), 31);
    // Day 05-01 of the month equals the day report of 05-01.
    let day = json_of(&["--date", "2024-05-01", "--by", "region", "--format", "json"]);
    assert_eq!(days[0]["date"], "2024-05-01");
    assert_eq!(
        days[0]["fleet"]["online_rate_pct"],
        day["fleet"]["online_rate_pct"]
    );
    assert_eq!(
        days[0]["fleet"]["intact_rate_pct"],
        day["fleet"]["intact_rate_pct"]
    );
    // Later days were not observed: no rate, all unobserved.
    assert!(days[10]["fleet"]["online_rate_pct"].is_null());
    // Every dimension, ranked; assessed never below raw.
    let dims: Vec<_> = m["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["by"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dims, ["region", "unit", "class", "maintainer"]);
    let regions = m["dimensions"][0]["groups"].as_array().unwrap();
    assert_eq!(regions[0]["rank"], 1);
    for g in regions {
        let raw = g["online_rate_pct"].as_f64().unwrap();
        let assessed = g["assessed_online_rate_pct"].as_f64().unwrap();
        assert!(assessed >= raw);
        let gap = g["online_gap_pct"].as_f64().unwrap();
        assert!((gap - (assessed - 98.0)).abs() < 0.011, "{g}");
    }
    let ranks: Vec<f64> = regions
        .iter()
        .map(|g| g["assessed_online_rate_pct"].as_f64().unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] >= w[1]), "{ranks:?}");

    assert_eq!(m["tickets"][0]["maintainer"], "运维甲");
    assert_eq!(m["tickets"][0]["opened"], 1);
    assert_eq!(m["tickets"][0]["mean_ack_min"], 30.0);
    // CSV: the same month figures.
    let out = run_report(tmp.path(), &["--month", "2024-05", "--format", "csv"]);
    let csv = String::from_utf8(out.stdout).unwrap();
    let fleet_row = csv.lines().find(|l| l.starts_with("month_fleet,")).unwrap();
    let cells: Vec<&str> = fleet_row.split(',').collect();
    assert_eq!(
        cells[6].parse::<f64>().unwrap(),
        m["fleet"]["online_rate_pct"].as_f64().unwrap()
    );
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("day_fleet,")).count(),
        31
    );

    // XLSX, through --output, read back by openpyxl.
    let xlsx = tmp.path().join("2024-05.xlsx");
    report_ok(
        tmp.path(),
        &[
            "--month",
            "2024-05",
            "--format",
            "xlsx",
            "--output",
            xlsx.to_str().unwrap(),
        ],
    );
    let python = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/browser-venv/bin/python"
    );
    let script = r#"
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {"sheets": wb.sheetnames, "freeze": {}, "rows": {}}
for ws in wb.worksheets:
    out["freeze"][ws.title] = ws.freeze_panes
    out["rows"][ws.title] = [[c.value for c in row] for row in ws.iter_rows()]
ws = wb["按区域"]
out["pct_format"] = ws.cell(row=2, column=3).number_format
out["pct_type"] = type(ws.cell(row=2, column=3).value).__name__
print(json.dumps(out, ensure_ascii=False))
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(&xlsx)
        .output()
        .expect("target/browser-venv/bin/python with openpyxl (scripts/setup.sh installs it)");
    assert_success(&out);
    let book: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sheets: Vec<_> = book["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        sheets,
        [
            "按区域",
            "按单位",
            "按类别",
            "按运维单位",
            "工单",
            "每日",
            "说明"
        ]
    );
    for s in &sheets[..6] {
        assert_eq!(book["freeze"][s], "A2", "{s}");
    }
    assert_eq!(book["pct_format"], "0.00%");
    // A number, not text (100 % reads back as the integer 1).
    assert!(["float", "int"].contains(&book["pct_type"].as_str().unwrap()));
    let rows = book["rows"]["按区域"].as_array().unwrap();
    assert_eq!(rows[0][0], "区域");
    assert_eq!(rows[0][2], "在线率");
    assert_eq!(rows[0][3], "考核在线率");
    // One row per region (in rank order) and the 合计 row, equal to the JSON.
    assert_eq!(rows.len(), regions.len() + 2);
    for (row, g) in rows[1..].iter().zip(regions) {
        assert_eq!(row[0], g["group"]);
        let xl = row[2].as_f64().unwrap() * 100.0;
        assert!(
            (xl - g["online_rate_pct"].as_f64().unwrap()).abs() < 1e-6,
            "{row:?} {g}"
        );
        assert_eq!(row[13], g["rank"]);
    }
    let total = rows.last().unwrap();
    assert_eq!(total[0], "合计");
    assert!(
        (total[2].as_f64().unwrap() * 100.0 - m["fleet"]["online_rate_pct"].as_f64().unwrap())
            .abs()
            < 1e-6
    );
    let tickets = book["rows"]["工单"].as_array().unwrap();
    assert_eq!(tickets[0][0], "运维单位");
    assert_eq!(tickets[1][0], "运维甲");
    assert_eq!(tickets[1][3], 30);
    let daily = book["rows"]["每日"].as_array().unwrap();
    assert_eq!(daily[0][0], "日期");
    assert!(daily.iter().any(|r| r[0] == "2024-05-31" && r[1] == "合计"));

    // Clear errors: xlsx without --month, a bad month, a month not started.
    let out = run_report(tmp.path(), &["--format", "xlsx", "--date", "2024-05-01"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --month"));
    let out = run_report(tmp.path(), &["--month", "2024-13"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM"));
    let out = run_report(tmp.path(), &["--month", "2999-01"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("has not started"));
}

/// The README's `windows add` and `report --month` commands, parsed from the shipped README
/// and run as written (only the data directory and the output file point into a temp dir).
#[test]
fn readme_assessment_commands_run_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    populate(tmp.path());
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| {
            l.starts_with("sharpeyes windows add")
                || (l.starts_with("sharpeyes report") && l.contains("--month"))
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in lines {
        let line = line.split("  #").next().unwrap();
        let data = tmp.path().to_str().unwrap();
        let out_file = tmp.path().join("month.xlsx");
        let args: Vec<String> = line
            .split_whitespace()
            .skip(1)
            .map(|a| match a {
                "/var/lib/sharpeyes" => data.to_string(),
                a if a.ends_with(".xlsx") => out_file.to_str().unwrap().to_string(),
                a => a.to_string(),
            })
            .collect();
        // As a user runs them: from some other directory, not the checkout.
        let out = bin().args(&args).current_dir(tmp.path()).output().unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let xlsx = std::fs::read(tmp.path().join("month.xlsx")).unwrap();
    assert!(xlsx.starts_with(b"PK"), "a zip (xlsx) file");
    let store = sharpeyes::assessment::windows::WindowStore::open_read_only(tmp.path())
        .unwrap()
        .unwrap();
    assert_eq!(
        store.list(None, None, false).unwrap()[0].spec.reason,
        "道路施工停电"
    );
}

/// The monthly report over a synthetic month of 1,000 cameras (one outage per camera per day,
/// 60,000 transitions), built by the real binary: the time is printed (debug build here; the
/// figure is for reading, not asserted), the result checked.
#[test]
fn a_month_of_1000_cameras_reports_in_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let start = parse_time("2024-06-01T00:00:00+08:00");
    let end = parse_time("2024-07-01T00:00:00+08:00");
    let ids: Vec<String> = (0..1000).map(|i| format!("k{i:04}")).collect();
    {
        let mut l = Ledger::open(tmp.path()).unwrap();
        let rows: Vec<CameraRow> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| CameraRow {
                id: id.clone(),
                name: id.clone(),
                groups: Groups {
                    region: format!("乡镇{}", i % 10),
                    unit: format!("单位{}", i % 7),
                    class: ["1", "2", "3"][i % 3].into(),
                    maintainer: ["甲运维", "乙运维", "丙运维"][i % 3].into(),
                },
            })
            .collect();
        l.upsert_cameras(&rows).unwrap();
        for id in &ids {
            l.begin(id, Connecting, start).unwrap();
        }
        let up = start + chrono::Duration::seconds(10);
        let batch: Vec<_> = ids
            .iter()
            .map(|id| rec(id, tr(up, Connecting, Online, None)))
            .collect();
        l.record(&batch).unwrap();
        for day in 0..30 {
            let day0 = start + chrono::Duration::days(day);
            let mut down = Vec::new();
            let mut back = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let at = day0 + chrono::Duration::minutes(((i * 37) % 1200) as i64 + 1);
                let len = chrono::Duration::minutes(10 + (i % 50) as i64);
                down.push(rec(id, tr(at, Online, Offline, Some(Reason::Unreachable))));
                back.push(rec(id, tr(at + len, Offline, Online, None)));
            }
            l.record(&down).unwrap();
            l.record(&back).unwrap();
        }
        l.close_all(end).unwrap();
    }
    let t0 = std::time::Instant::now();
    let out = run_report(
        tmp.path(),
        &[
            "--month",
            "2024-06",
            "--by",
            "maintainer",
            "--format",
            "json",
        ],
    );
    let took = t0.elapsed();
    assert_success(&out);
    eprintln!(
        "report --month over 1,000 cameras x 30 days (62,000 status intervals): {:.2} s",
        took.as_secs_f64()
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["days"].as_array().unwrap().len(), 30);
    let rate = m["fleet"]["online_rate_pct"].as_f64().unwrap();
    // Mean outage 34.5 min a day: 97.6 %.
    assert!((97.0..98.5).contains(&rate), "{rate}");
    assert_eq!(m["dimensions"][3]["groups"].as_array().unwrap().len(), 3);
    assert_eq!(m["fleet"]["outages"], 30_000);
}
