//! The rules file through the public API: a realistic file against a realistic inventory,
//! driving the state machines it configures, and every kind of bad config naming its line.

use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use sharpeyes::clock::Time;
use sharpeyes::config::inventory::parse_csv;
use sharpeyes::rules::condition::{LossState, Phase};
use sharpeyes::rules::config::{RuleError, RuleKind, RulesFile, Severity};
use sharpeyes::rules::crowding::CrowdingState;
use sharpeyes::rules::zones::Polygon;
use sharpeyes::vision::detect::Detection;

const INVENTORY: &str = "\
id,name,url,username,password,region,unit,class
gc-square-01,城关镇广场东,rtsp://10.20.1.11:554/Streaming/Channels/101,admin,x,城关镇,派出所,1
gc-square-02,城关镇广场西,rtsp://10.20.1.12:554/Streaming/Channels/101,admin,x,城关镇,派出所,1
gc-school-01,城关镇实验小学门口,rtsp://10.20.1.21:554/Streaming/Channels/101,admin,x,城关镇,派出所,2
hx-road-07,河西路口,rtsp://10.20.2.7:554/Streaming/Channels/101,admin,x,河西乡,交警大队,3
";

const RULES: &str = r#"# Rules of the 城关镇 district.
utc_offset = "+08:00"

# The square fills up in the evening; more than 8 people in front of the stage for 20 s.
[[rules]]
name = "square-crowding"
kind = "crowding"
cameras = ["gc-square-*"]
zone = [
  [0.10, 0.55],
  [0.90, 0.55],
  [0.95, 1.00],
  [0.05, 1.00],
]
min_people = 8
dwell = "20s"
hold_off = "1m"
smoothing = 3
update_interval = "30s"
hours = ["17:00-22:30"]
severity = "major"

# School gate at opening and closing time, working days only.
[[rules]]
name = "school-gate"
kind = "crowding"
cameras = ["gc-school-01"]
min_people = 15
dwell = "10s"
hours = ["07:00-08:30", "16:00-17:30"]
days = ["mon-fri"]
severity = "minor"

[[rules]]
kind = "video_loss"
cameras = ["*"]
after = "5m"
hold_off = "1m"
severity = "critical"
"#;

fn ids() -> Vec<String> {
    parse_csv(INVENTORY)
        .unwrap()
        .cameras
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn person(x: f32, y2: f32) -> Detection {
    Detection {
        class: "person".into(),
        class_id: 0,
        score: 0.8,
        bbox: [x - 10.0, y2 - 120.0, x + 10.0, y2],
    }
}

/// 2026-11-23 (a Monday) at local (+08:00) time `h:m:s`.
fn local(h: u32, m: u32, s: u32) -> Time {
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap() - TimeDelta::hours(8)
}

#[test]
fn realistic_file_parses_and_validates() {
    let file = RulesFile::parse(RULES).unwrap();
    let ids = ids();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    file.validate(&ids).unwrap();

    let names: Vec<_> = file.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["square-crowding", "school-gate", "video_loss-3"]);
    let lines: Vec<_> = file.rules.iter().map(|r| r.line).collect();
    assert_eq!(lines, [5, 24, 34]);
    assert_eq!(file.rules[2].severity, Severity::Critical);

    let on_square: Vec<_> = file
        .rules_for("gc-square-02")
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(on_square, ["square-crowding", "video_loss-3"]);
    assert_eq!(file.rules_for("hx-road-07").count(), 1);

    // Schedules in local time.
    let square = &file.rules[0];
    assert!(square.active(local(19, 0, 0)));
    assert!(!square.active(local(23, 0, 0)));
    let school = &file.rules[1];
    assert!(school.active(local(7, 30, 0)));
    assert!(
        !school.active(local(7, 30, 0) + TimeDelta::days(5)),
        "Saturday"
    );
}

#[test]
fn configured_crowding_rule_runs_on_detections() {
    let file = RulesFile::parse(RULES).unwrap();
    let rule = &file.rules[0];
    let RuleKind::Crowding(params) = &rule.kind else {
        panic!("{:?}", rule.kind)
    };
    assert_eq!(params.min_people, 8);
    assert_eq!(params.hold_off, Duration::from_secs(60));
    assert_ne!(params.zone, Polygon::whole_frame());

    // 1920×1080 picture; 9 people standing in the lower part, 3 in the upper part (outside).
    let mut crowd: Vec<Detection> = (0..9)
        .map(|i| person(400.0 + 120.0 * i as f32, 900.0))
        .collect();
    crowd.extend((0..3).map(|i| person(500.0 + 100.0 * i as f32, 400.0)));
    assert_eq!(params.count(&crowd, 1920, 1080, None), 9);
    let few: Vec<Detection> = crowd[..4].to_vec();

    let mut state = CrowdingState::new(params.clone());
    let mut events = Vec::new();
    let mut at = local(18, 0, 0);
    // 40 s of a crowd, then 90 s of a few people, one sample every 5 s.
    for i in 0..26 {
        let objects = if i < 8 { &crowd } else { &few };
        assert!(rule.active(at));
        if let Some(t) = state.observe(at, params.count(objects, 1920, 1080, None)) {
            events.push((t.phase, (t.at - local(18, 0, 0)).num_seconds(), t.count));
        }
        at += TimeDelta::seconds(5);
    }
    // Smoothing 3 (median; the window fills from the first sample): 9 from t=0, dwell 20 s →
    // New at 20. It falls below at the 10th sample (t=45); 60 s later (t=105) the alert ends.
    assert_eq!(events, [(Phase::New, 20, 9), (Phase::End, 105, 4)]);
}

#[test]
fn configured_video_loss_rule_runs() {
    let file = RulesFile::parse(RULES).unwrap();
    let RuleKind::VideoLoss(params) = file.rules[2].kind else {
        panic!()
    };
    let mut s = LossState::new(params);
    let t0 = local(3, 0, 0);
    assert_eq!(s.observe(t0, false), None);
    let new = s.observe(t0 + TimeDelta::minutes(5), false).unwrap();
    assert_eq!((new.phase, new.started_at), (Phase::New, t0));
    assert_eq!(s.observe(t0 + TimeDelta::minutes(6), true), None);
    let end = s.observe(t0 + TimeDelta::minutes(7), true).unwrap();
    assert_eq!(end.phase, Phase::End);
}

fn error(text: &str) -> RuleError {
    RulesFile::parse(text).expect_err("should be rejected")
}

/// Replaces the `n`-th (1-based) line of the realistic file.
fn with_line(n: usize, new: &str) -> String {
    RULES
        .lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == n { new } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn line_numbers_of_the_realistic_file() {
    // Sanity: the lines the error tests replace are the ones they mean.
    let lines: Vec<&str> = RULES.lines().collect();
    assert_eq!(lines[6], r#"kind = "crowding""#);
    assert_eq!(lines[10], "  [0.90, 0.55],");
    assert_eq!(lines[15], r#"dwell = "20s""#);
    assert_eq!(lines[26], r#"cameras = ["gc-school-01"]"#);
}

#[test]
fn unknown_kind() {
    let e = error(&with_line(7, r#"kind = "crowded""#));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(
        e.to_string().starts_with("line 7: unknown rule kind"),
        "{e}"
    );
}

#[test]
fn coordinates_outside_the_picture() {
    let e = error(&with_line(11, "  [1.20, 0.55],"));
    assert_eq!(e.line, Some(11), "{e}");
    assert!(e.message.contains("square-crowding"), "{e}");
}

#[test]
fn self_intersecting_zone() {
    // Swap the bottom corners: a bow tie.
    let text = with_line(12, "  [0.05, 1.00],");
    let text = text.replacen("  [0.05, 1.00],\n]", "  [0.95, 1.00],\n]", 1);
    let e = error(&text);
    assert_eq!(e.line, Some(9), "the `zone` key: {e}");
    assert!(e.message.contains("intersects itself"), "{e}");
}

#[test]
fn too_few_points() {
    let text = RULES.replace(
        "zone = [\n  [0.10, 0.55],\n  [0.90, 0.55],\n  [0.95, 1.00],\n  [0.05, 1.00],\n]",
        "zone = [[0.1, 0.5], [0.9, 0.5]]",
    );
    let e = error(&text);
    assert_eq!(e.line, Some(9), "{e}");
    assert!(e.message.contains("at least 3 points"), "{e}");
}

#[test]
fn bad_duration() {
    let e = error(&with_line(16, r#"dwell = "20 seconds""#));
    assert_eq!(e.line, Some(16), "{e}");
    assert!(e.message.contains("dwell"), "{e}");
}

#[test]
fn unknown_camera() {
    let file = RulesFile::parse(&with_line(27, r#"cameras = ["gc-schol-01"]"#)).unwrap();
    let ids = ids();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let e = file.validate(&ids).unwrap_err();
    assert_eq!(e.line, Some(27), "{e}");
    assert!(e.message.contains("gc-schol-01"), "{e}");
    // A glob matching nothing is as much an error.
    let file = RulesFile::parse(&with_line(27, r#"cameras = ["gc-park-*"]"#)).unwrap();
    assert_eq!(file.validate(&ids).unwrap_err().line, Some(27));
}

#[test]
fn unknown_key() {
    let e = error(&with_line(16, r#"dwel = "20s""#));
    assert_eq!(e.line, Some(16), "{e}");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, with_line(7, r#"kind = "crowded""#)).unwrap();
    let e = RulesFile::load(&path).unwrap_err().to_string();
    assert!(e.contains("rules.toml") && e.contains("line 7"), "{e}");
}
