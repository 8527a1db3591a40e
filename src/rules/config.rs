//! The rules file: which rule watches which cameras, where, when and how; errors name the line.
//!
//! ```toml
//! utc_offset = "+08:00"          # local time of `hours` and `days`; default +08:00
//!
//! [[rules]]
//! name = "square-crowding"       # optional; default "<kind>-<position>", e.g. "crowding-1"
//! kind = "crowding"
//! cameras = ["c001", "gate-*"]   # camera ids or globs (`*` any run, `?` one character)
//! zone = [[0,0],[1,0],[1,1],[0,1]]   # normalised picture coordinates; default the whole frame
//! min_people = 5                 # required
//! dwell = "10s"                  # default 10s
//! hold_off = "30s"               # default 30s
//! smoothing = 5                  # median of the last 5 samples; default 5
//! update_interval = "30s"        # default 30s
//! sample_interval = "2s"         # sample its cameras this often; default [detect] interval (5s)
//! min_score = 0.5                # default: the model's [thresholds] person (CenterNet 0.35), else 0.5
//! class = "person"               # default person
//! hours = ["07:00-22:00"]        # optional; default all day
//! days = ["mon-fri"]             # optional; default every day
//! severity = "major"             # info, warning, minor, major (default), critical
//!
//! [[rules]]
//! kind = "uncovered_truck"       # see rules::truck and docs/alerts.md
//! cameras = ["road-*"]
//! zone = [[0,0.4],[1,0.4],[1,1],[0,1]]   # default the whole frame
//! min_score = 0.4                # default: the model's [thresholds] truck, else 0.4; class "truck"
//! classifier = "baseline"        # default; or a classifier manifest path (relative to this file)
//! cargo = [0.0, 0.0, 1.0, 0.5]   # cargo area as fractions of the truck box; default upper half
//! confirm = [3, 5]               # k of the last n samples; default [3, 5]
//! hold_off = "30s"               # default 30s
//!
//! [[rules]]
//! kind = "video_loss"
//! cameras = ["*"]
//! after = "5m"                   # required: offline this long
//! hold_off = "1m"                # default 0
//! severity = "critical"
//!
//! [[rules]]
//! kind = "video_abnormal"
//! cameras = ["*"]
//! after = "10m"                  # required: a picture fault this long
//! faults = ["too_dark", "frozen"]   # optional; default every fault
//! ```
//!
//! Durations are strings (`"500ms"`, `"10s"`, `"5m"`, `"1h"`) or seconds as numbers.
//!
//! [`RulesFile::parse`] (in [`crate::rules::parse`]) checks everything the file alone can tell: TOML syntax, unknown keys,
//! unknown `kind`, keys that do not belong to the kind, durations, zones (at least 3 points,
//! coordinates in 0..1, not self-intersecting), time windows, days, severities, duplicate
//! names. [`RulesFile::validate`] checks the camera patterns against the inventory: a pattern
//! matching no camera is an error (a typo would otherwise silently watch nothing). Every
//! error carries the 1-based line of the offending key (or the `[[rules]]` header when a
//! required key is missing).

use std::fmt;

use chrono::FixedOffset;

use crate::clock::Time;
use crate::rules::condition::ConditionParams;
use crate::rules::crowding::CrowdingParams;
use crate::rules::truck::TruckParams;
use crate::rules::zones::Schedule;
use crate::vision::quality::Fault;

/// A bad rules file: the message and, where known, the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based line of the offending key or `[[rules]]` table.
    pub line: Option<usize>,
    /// What is wrong, naming the rule where known.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for RuleError {}

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// For information.
    Info,
    /// Worth a look.
    Warning,
    /// Minor.
    Minor,
    /// Major (the default).
    Major,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Warning,
        Severity::Minor,
        Severity::Major,
        Severity::Critical,
    ];

    /// `info`, `warning`, `minor`, `major`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// Parses the name written by [`Severity::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a rule watches, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// People crowding in a zone.
    Crowding(CrowdingParams),
    /// A camera offline for longer than `after`.
    VideoLoss(ConditionParams),
    /// A picture fault for longer than `after`.
    VideoAbnormal {
        /// Timing.
        params: ConditionParams,
        /// Faults that count; empty means every fault.
        faults: Vec<Fault>,
    },
    /// A truck with an uncovered load in a zone (two stages, k of n samples).
    UncoveredTruck(TruckParams),
}

impl RuleKind {
    /// Every kind name, as written in `kind = ...`.
    pub const NAMES: [&'static str; 4] = [
        "crowding",
        "uncovered_truck",
        "video_loss",
        "video_abnormal",
    ];

    /// `crowding`, `uncovered_truck`, `video_loss` or `video_abnormal`.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::Crowding(_) => "crowding",
            RuleKind::UncoveredTruck(_) => "uncovered_truck",
            RuleKind::VideoLoss(_) => "video_loss",
            RuleKind::VideoAbnormal { .. } => "video_abnormal",
        }
    }
}

/// A camera id or glob of a rule, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraPattern {
    /// The id or glob (`*` any run of characters, `?` exactly one).
    pub pattern: String,
    /// 1-based line where it is written.
    pub line: usize,
}

impl CameraPattern {
    /// Whether the camera id matches.
    pub fn matches(&self, camera_id: &str) -> bool {
        glob_match(&self.pattern, camera_id)
    }
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    /// Unique name in the file (default `<kind>-<position>`, position 1-based).
    pub name: String,
    /// What it watches and how.
    pub kind: RuleKind,
    /// Cameras it applies to.
    pub cameras: Vec<CameraPattern>,
    /// When it watches.
    pub schedule: Schedule,
    /// Local time of the schedule (the file's `utc_offset`).
    pub utc_offset: FixedOffset,
    /// Severity of its alerts.
    pub severity: Severity,
    /// 1-based line of its `[[rules]]` header.
    pub line: usize,
}

impl RuleConfig {
    /// Whether the rule needs the detector (crowding, uncovered truck).
    pub fn detects(&self) -> bool {
        matches!(
            self.kind,
            RuleKind::Crowding(_) | RuleKind::UncoveredTruck(_)
        )
    }

    /// Whether the rule applies to the camera.
    pub fn applies_to(&self, camera_id: &str) -> bool {
        self.cameras.iter().any(|p| p.matches(camera_id))
    }

    /// Whether the schedule is on at `at`.
    pub fn active(&self, at: Time) -> bool {
        self.schedule.active(at, self.utc_offset)
    }

    /// Checks the camera patterns against the inventory: each must match at least one id.
    pub fn validate(&self, camera_ids: &[&str]) -> Result<(), RuleError> {
        for p in &self.cameras {
            if !camera_ids.iter().any(|id| p.matches(id)) {
                let what = if p.pattern.contains(['*', '?']) {
                    "pattern"
                } else {
                    "camera"
                };
                return Err(RuleError {
                    line: Some(p.line),
                    message: format!(
                        "rule {:?}: unknown camera: {what} {:?} matches no camera of the inventory",
                        self.name, p.pattern
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A parsed rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesFile {
    /// Local time of every schedule (default +08:00).
    pub utc_offset: FixedOffset,
    /// The rules, in file order.
    pub rules: Vec<RuleConfig>,
}

impl Default for RulesFile {
    fn default() -> Self {
        Self {
            utc_offset: china(),
            rules: Vec::new(),
        }
    }
}

/// +08:00, China's time, the default `utc_offset`.
pub(super) use crate::clock::china;

impl RulesFile {
    /// Checks every rule's camera patterns against the inventory's camera ids.
    pub fn validate(&self, camera_ids: &[&str]) -> Result<(), RuleError> {
        self.rules.iter().try_for_each(|r| r.validate(camera_ids))
    }

    /// The rules that apply to a camera.
    pub fn rules_for<'a>(&'a self, camera_id: &'a str) -> impl Iterator<Item = &'a RuleConfig> {
        self.rules.iter().filter(move |r| r.applies_to(camera_id))
    }

    /// Whether a detection rule (crowding, uncovered truck) applies to the camera.
    pub fn has_detection_rule(&self, camera_id: &str) -> bool {
        self.rules_for(camera_id).any(RuleConfig::detects)
    }

    /// How often the camera must be sampled for its detection rules: the shortest of their
    /// `sample_interval`s, `default` for a rule that sets none; `None` when no detection rule
    /// applies to it.
    pub fn detection_interval(
        &self,
        camera_id: &str,
        default: std::time::Duration,
    ) -> Option<std::time::Duration> {
        self.rules_for(camera_id)
            .filter_map(|r| match &r.kind {
                RuleKind::Crowding(p) => Some(p.sample_interval),
                RuleKind::UncoveredTruck(p) => Some(p.sample_interval),
                _ => None,
            })
            .map(|every| every.unwrap_or(default))
            .min()
    }

    /// The lowest `min_score` a detection rule sets (`None`: none sets one): the detector
    /// must keep rows down to it.
    pub fn lowest_min_score(&self) -> Option<f32> {
        self.rules
            .iter()
            .filter_map(|r| match &r.kind {
                RuleKind::Crowding(p) => p.min_score,
                RuleKind::UncoveredTruck(p) => p.min_score,
                _ => None,
            })
            .min_by(f32::total_cmp)
    }

    /// Whether any detection rule is loaded.
    pub fn any_detection_rule(&self) -> bool {
        self.rules.iter().any(RuleConfig::detects)
    }

    /// Where the detector needs to look on a camera, normalised `[x1, y1, x2, y2]`: the
    /// bounding box of the zones of its detection rules (crowding, uncovered truck), grown by
    /// `margin` on each side (people standing in a zone stick out of it). `None` when a
    /// detection rule watches the whole picture, or when no detection rule applies.
    pub fn detection_zone(&self, camera_id: &str, margin: f64) -> Option<[f64; 4]> {
        let mut bounds: Option<[f64; 4]> = None;
        for r in self.rules_for(camera_id) {
            let zone = match &r.kind {
                RuleKind::Crowding(p) => &p.zone,
                RuleKind::UncoveredTruck(p) => &p.zone,
                _ => continue,
            };
            let pts = zone.points();
            let b = [
                pts.iter().map(|p| p[0]).fold(f64::MAX, f64::min),
                pts.iter().map(|p| p[1]).fold(f64::MAX, f64::min),
                pts.iter().map(|p| p[0]).fold(f64::MIN, f64::max),
                pts.iter().map(|p| p[1]).fold(f64::MIN, f64::max),
            ];
            bounds = Some(match bounds {
                None => b,
                Some(a) => [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ],
            });
        }
        let b = bounds?;
        let grown = [
            (b[0] - margin).max(0.0),
            (b[1] - margin).max(0.0),
            (b[2] + margin).min(1.0),
            (b[3] + margin).min(1.0),
        ];
        // Nothing to gain below a 10 % saving of area.
        ((grown[2] - grown[0]) * (grown[3] - grown[1]) < 0.9).then_some(grown)
    }
}

/// Glob match over characters: `*` matches any run (including none), `?` exactly one
/// character; everything else matches itself (case-sensitive).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    #[test]
    fn detection_zone_is_the_box_of_the_detection_rules_zones() {
        let f = RulesFile::parse(
            "[[rules]]\nname = \"a\"\nkind = \"crowding\"\ncameras = [\"c1\", \"c2\"]\n\
             min_people = 3\nzone = [[0.1,0.5],[0.4,0.5],[0.4,0.9],[0.1,0.9]]\n\
             [[rules]]\nname = \"b\"\nkind = \"crowding\"\ncameras = [\"c1\"]\nmin_people = 3\n\
             zone = [[0.3,0.4],[0.6,0.4],[0.6,0.8]]\n\
             [[rules]]\nname = \"c\"\nkind = \"crowding\"\ncameras = [\"c3\"]\nmin_people = 3\n\
             [[rules]]\nname = \"lost\"\nkind = \"video_loss\"\ncameras = [\"*\"]\nafter = \"1m\"\n",
        )
        .unwrap();
        assert!(f.any_detection_rule());
        assert!(f.has_detection_rule("c1") && f.has_detection_rule("c3"));
        assert!(
            !f.has_detection_rule("c9"),
            "video_loss on * is no detection rule"
        );
        let z = f.detection_zone("c1", 0.05).unwrap();
        let want = [0.05, 0.35, 0.65, 0.95];
        assert!(
            z.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9),
            "{z:?}"
        );
        // A whole-picture rule, or no detection rule: no crop.
        assert_eq!(f.detection_zone("c3", 0.05), None);
        assert_eq!(f.detection_zone("c9", 0.05), None);
    }

    #[test]
    fn the_lowest_min_score_is_that_of_the_detection_rules_that_set_one() {
        let f = RulesFile::parse(
            "[[rules]]\nname = \"a\"\nkind = \"crowding\"\ncameras = [\"c1\"]\n\
             min_people = 3\nmin_score = 0.25\n\
             [[rules]]\nname = \"b\"\nkind = \"uncovered_truck\"\ncameras = [\"c1\"]\n\
             min_score = 0.4\n\
             [[rules]]\nname = \"c\"\nkind = \"crowding\"\ncameras = [\"c3\"]\nmin_people = 3\n",
        )
        .unwrap();
        assert_eq!(f.lowest_min_score(), Some(0.25));
        let none = RulesFile::parse(
            "[[rules]]\nname = \"c\"\nkind = \"crowding\"\ncameras = [\"c3\"]\nmin_people = 3\n",
        )
        .unwrap();
        assert_eq!(
            none.lowest_min_score(),
            None,
            "the models' own thresholds apply"
        );
    }

    #[test]
    fn detection_interval_is_the_shortest_of_the_cameras_detection_rules() {
        let f = RulesFile::parse(
            "[[rules]]\nname = \"a\"\nkind = \"crowding\"\ncameras = [\"c1\", \"c2\"]\n\
             min_people = 3\nsample_interval = \"30s\"\n\
             [[rules]]\nname = \"b\"\nkind = \"uncovered_truck\"\ncameras = [\"c1\"]\n\
             [[rules]]\nname = \"c\"\nkind = \"crowding\"\ncameras = [\"c3\"]\nmin_people = 3\n\
             sample_interval = 2\n\
             [[rules]]\nname = \"lost\"\nkind = \"video_loss\"\ncameras = [\"*\"]\nafter = \"1m\"\n",
        )
        .unwrap();
        let d = Duration::from_secs(5);
        // c1: the truck rule sets none, so the default beats the crowding rule's 30 s.
        assert_eq!(f.detection_interval("c1", d), Some(d));
        assert_eq!(f.detection_interval("c2", d), Some(Duration::from_secs(30)));
        assert_eq!(f.detection_interval("c3", d), Some(Duration::from_secs(2)));
        assert_eq!(f.detection_interval("c9", d), None);
        let e = err_of(
            "[[rules]]\nkind = \"crowding\"\ncameras = [\"c1\"]\nmin_people = 3\n\
             sample_interval = 0\n",
        );
        assert_eq!(e.line, Some(5), "{e}");
        let e = err_of(
            "[[rules]]\nkind = \"video_loss\"\ncameras = [\"c1\"]\nafter = 60\n\
             sample_interval = 5\n",
        );
        assert!(e.message.contains("sample_interval"), "{e}");
    }

    use super::*;
    use crate::rules::zones::Polygon;
    use std::time::Duration;

    fn err_of(text: &str) -> RuleError {
        RulesFile::parse(text).expect_err("should fail")
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "c001"));
        assert!(glob_match("*", ""));
        assert!(glob_match("c00?", "c001"));
        assert!(!glob_match("c00?", "c0011"));
        assert!(glob_match("c*1", "c0011"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("*a*b*", "xxbxxaxx"));
        assert!(glob_match("城关*", "城关镇01"));
        assert!(glob_match("??", "城关"));
        assert!(!glob_match("c001", "C001"));
        assert!(glob_match("c001", "c001"));
        assert!(!glob_match("", "c"));
    }

    #[test]
    fn full_example_parses() {
        let text = "utc_offset = \"+08:00\"\n\
                    [[rules]]\n\
                    name = \"square-crowding\"\n\
                    kind = \"crowding\"\n\
                    cameras = [\"*\"]\n\
                    zone = [[0,0],[1,0],[1,1],[0,1]]\n\
                    min_people = 5\n\
                    dwell = \"10s\"\n\
                    hold_off = \"30s\"\n\
                    hours = [\"07:00-22:00\"]\n\
                    severity = \"major\"\n\
                    [[rules]]\n\
                    kind = \"video_loss\"\n\
                    cameras = [\"c00?\"]\n\
                    after = 300\n";
        let f = RulesFile::parse(text).unwrap();
        assert_eq!(f.rules.len(), 2);
        let r = &f.rules[0];
        assert_eq!((r.name.as_str(), r.line), ("square-crowding", 2));
        let RuleKind::Crowding(p) = &r.kind else {
            panic!("{:?}", r.kind)
        };
        assert_eq!(p.min_people, 5);
        assert_eq!(p.dwell, Duration::from_secs(10));
        assert_eq!(p.zone, Polygon::whole_frame());
        assert_eq!(f.rules[1].name, "video_loss-2");
        assert_eq!(f.rules[1].line, 12);
        assert_eq!(
            f.rules[1].kind,
            RuleKind::VideoLoss(ConditionParams {
                after: Duration::from_secs(300),
                hold_off: Duration::ZERO,
                update_interval: Duration::from_secs(30),
            })
        );
        assert!(f.validate(&["c001", "x"]).is_ok());
        assert_eq!(f.rules_for("x").count(), 1);
        assert_eq!(f.rules_for("c002").count(), 2);
    }

    const HEAD: &str = "[[rules]]\nkind = \"crowding\"\ncameras = [\"*\"]\nmin_people = 3\n";

    #[test]
    fn unknown_kind_names_the_line() {
        let e = err_of("\n[[rules]]\ncameras = [\"*\"]\nkind = \"crowds\"\n");
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("unknown rule kind \"crowds\""), "{e}");
        let e = err_of("\n\n[[rules]]\ncameras = [\"*\"]\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("no `kind`"), "{e}");
    }

    #[test]
    fn bad_duration_names_the_line() {
        let e = err_of(&format!("{HEAD}dwell = \"10 parsecs\"\n"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("`dwell`"), "{e}");
        let e = err_of(&format!("{HEAD}hold_off = -3\n"));
        assert_eq!(e.line, Some(5), "{e}");
        let e = err_of(&format!("{HEAD}dwell = \"ten\"\n"));
        assert_eq!(e.line, Some(5), "{e}");
    }

    #[test]
    fn too_few_points_names_the_line() {
        let e = err_of(&format!("{HEAD}zone = [[0,0],[1,1]]\n"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("at least 3 points"), "{e}");
    }

    #[test]
    fn out_of_range_names_the_point_line() {
        let e = err_of(&format!(
            "{HEAD}zone = [\n  [0, 0],\n  [1.5, 0],\n  [1, 1],\n]\n"
        ));
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("outside the picture"), "{e}");
        let e = err_of(&format!("{HEAD}zone = [[0,0],[1,0,3],[1,1]]\n"));
        assert_eq!(e.line, Some(5), "{e}");
    }

    #[test]
    fn self_intersecting_names_the_line() {
        let e = err_of(&format!(
            "{HEAD}hours = [\"07:00-09:00\"]\nzone = [[0,0],[1,1],[1,0],[0,1]]\n"
        ));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("intersects itself"), "{e}");
    }

    #[test]
    fn unknown_camera_names_the_line() {
        let f = RulesFile::parse(
            "[[rules]]\nkind = \"video_loss\"\nafter = \"1m\"\ncameras = [\n  \"c001\",\n  \"gate-*\",\n]\n",
        )
        .unwrap();
        assert!(f.validate(&["c001", "gate-1"]).is_ok());
        let e = f.validate(&["c001", "c002"]).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("\"gate-*\" matches no camera"), "{e}");
        let e = f.validate(&["gate-1"]).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("unknown camera: camera \"c001\""), "{e}");
    }

    #[test]
    fn other_errors_name_the_line() {
        // Unknown key (typo).
        let e = err_of(&format!("{HEAD}dwel = \"10s\"\n"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
        // Key of another kind.
        let e = err_of(&format!("{HEAD}after = \"10s\"\n"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("does not apply"), "{e}");
        // Missing required key: the table's line.
        let e = err_of("x = 1\n");
        assert_eq!(e.line, Some(1), "{e}");
        let e = err_of("\n[[rules]]\nkind = \"crowding\"\ncameras = [\"*\"]\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("min_people"), "{e}");
        let e = err_of("[[rules]]\nkind = \"video_loss\"\n");
        assert_eq!(e.line, Some(1), "{e}");
        assert!(e.message.contains("cameras"), "{e}");
        // Hours and days.
        let e = err_of(&format!(
            "{HEAD}hours = [\n\"07:00-09:00\",\n\"25:00-26:00\"]\n"
        ));
        assert_eq!(e.line, Some(7), "{e}");
        let e = err_of(&format!("{HEAD}days = [\"mon\",\n \"someday\"]\n"));
        assert_eq!(e.line, Some(6), "{e}");
        // Severity, min_people, smoothing, min_score, wrong type: the key's line (5).
        let base = "[[rules]]\nkind = \"crowding\"\ncameras = [\"*\"]\nmin_people = 3\n";
        for (extra, needle) in [
            ("severity = \"urgent\"", "unknown severity"),
            ("smoothing = 0", "`smoothing`"),
            ("min_score = 1.5", "`min_score`"),
            ("class = \"\"", "`class`"),
        ] {
            let e = err_of(&format!("{base}{extra}\n"));
            assert_eq!(e.line, Some(5), "{extra}: {e}");
            assert!(e.message.contains(needle), "{extra}: {e}");
        }
        let no_min = "[[rules]]\nkind = \"crowding\"\ncameras = [\"*\"]\n";
        for (extra, needle) in [
            ("min_people = 0", "`min_people`"),
            ("min_people = \"five\"", "invalid type"),
        ] {
            let e = err_of(&format!("{no_min}{extra}\n"));
            assert_eq!(e.line, Some(4), "{extra}: {e}");
            assert!(e.message.contains(needle), "{extra}: {e}");
        }
        let e = err_of(
            "[[rules]]\nkind = \"video_abnormal\"\ncameras = [\"*\"]\nafter = \"1m\"\nfaults = [\"dusty\"]\n",
        );
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("unknown fault"), "{e}");
        let e = err_of("utc_offset = \"Beijing\"\n");
        assert_eq!(e.line, Some(1), "{e}");
        let e = err_of(&format!("{HEAD}name = \"a\"\n{HEAD}name = \"a\"\n"));
        assert_eq!(e.line, Some(10), "{e}");
        assert!(e.message.contains("duplicate"), "{e}");
        assert!(e.to_string().starts_with("line 10: "), "{e}");
    }

    #[test]
    fn abnormal_faults_and_schedule() {
        let f = RulesFile::parse(
            "utc_offset = \"+00:00\"\n[[rules]]\nkind = \"video_abnormal\"\ncameras = [\"*\"]\n\
             after = \"2m\"\nfaults = [\"too_dark\", \"frozen\"]\nhours = [\"22:00-06:00\"]\n\
             days = [\"mon-fri\"]\n",
        )
        .unwrap();
        let r = &f.rules[0];
        assert_eq!(
            r.kind,
            RuleKind::VideoAbnormal {
                params: ConditionParams {
                    after: Duration::from_secs(120),
                    hold_off: Duration::ZERO,
                    update_interval: Duration::from_secs(30),
                },
                faults: vec![Fault::TooDark, Fault::Frozen],
            }
        );
        use chrono::TimeZone;
        // Monday 2026-11-23 23:00 UTC: on; Saturday 23:00: off.
        assert!(
            r.active(
                chrono::Utc
                    .with_ymd_and_hms(2026, 11, 23, 23, 0, 0)
                    .unwrap()
            )
        );
        assert!(
            !r.active(
                chrono::Utc
                    .with_ymd_and_hms(2026, 11, 28, 23, 0, 0)
                    .unwrap()
            )
        );
        assert_eq!(r.severity, Severity::Major);
    }
}
