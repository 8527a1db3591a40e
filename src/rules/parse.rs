//! Reading a rules file: the raw TOML shape, the checks common to every rule, and one builder
//! per kind (see the table [`KINDS`]). The types it builds are in [`crate::rules::config`].

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::FixedOffset;
use serde::Deserialize;
use toml::Spanned;

use crate::config::duration::{duration_from_secs, parse_duration};
use crate::rules::condition::ConditionParams;
use crate::rules::config::{
    CameraPattern, RuleConfig, RuleError, RuleKind, RulesFile, Severity, china,
};
use crate::rules::crowding::CrowdingParams;
use crate::rules::truck::{ClassifierChoice, TruckParams};
use crate::rules::zones::{Polygon, PolygonError, Schedule, Window, parse_days, parse_utc_offset};
use crate::vision::quality::Fault;

/// One rule kind: its name, the keys it takes beyond the common ones, and its builder.
struct Kind {
    name: &'static str,
    keys: &'static [&'static str],
    build: fn(&Rule<'_>) -> Result<RuleKind, RuleError>,
}

/// Every kind, in the order [`RuleKind::NAMES`] lists them.
const KINDS: [Kind; 4] = [
    Kind {
        name: "crowding",
        keys: &[
            "zone",
            "class",
            "min_score",
            "min_people",
            "dwell",
            "smoothing",
            "hold_off",
            "update_interval",
            "sample_interval",
        ],
        build: crowding,
    },
    Kind {
        name: "uncovered_truck",
        keys: &[
            "zone",
            "class",
            "min_score",
            "classifier",
            "cargo",
            "confirm",
            "hold_off",
            "update_interval",
            "sample_interval",
        ],
        build: uncovered_truck,
    },
    Kind {
        name: "video_loss",
        keys: &["after", "hold_off"],
        build: video_loss,
    },
    Kind {
        name: "video_abnormal",
        keys: &["after", "hold_off", "update_interval", "faults"],
        build: video_abnormal,
    },
];

/// Parses rules text; see [`RulesFile::parse`].
fn parse(text: &str) -> Result<RulesFile, RuleError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| RuleError {
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim_end().to_string(),
    })?;
    let lines = Lines(text);
    let utc_offset = match &raw.utc_offset {
        None => china(),
        Some(s) => parse_utc_offset(s.get_ref()).map_err(|m| lines.err(s, m))?,
    };
    let mut rules: Vec<RuleConfig> = Vec::with_capacity(raw.rules.len());
    for (i, r) in raw.rules.iter().enumerate() {
        let rule = build(&lines, i + 1, r, utc_offset)?;
        if let Some(first) = rules.iter().find(|o| o.name == rule.name) {
            let at = r
                .get_ref()
                .name
                .as_ref()
                .map_or(rule.line, |n| lines.line(n));
            return Err(RuleError {
                line: Some(at),
                message: format!(
                    "duplicate rule name {:?} (first used by the rule on line {})",
                    rule.name, first.line
                ),
            });
        }
        rules.push(rule);
    }
    Ok(RulesFile { utc_offset, rules })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].matches('\n').count() + 1
}

struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn line<T>(&self, s: &Spanned<T>) -> usize {
        line_of(self.0, s.span().start)
    }

    fn err<T>(&self, s: &Spanned<T>, message: impl Into<String>) -> RuleError {
        RuleError {
            line: Some(self.line(s)),
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    utc_offset: Option<Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Secs(f64),
    Text(String),
}

type S<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: S<String>,
    kind: S<String>,
    cameras: S<Vec<Spanned<String>>>,
    hours: S<Vec<Spanned<String>>>,
    days: S<Vec<Spanned<String>>>,
    severity: S<String>,
    // crowding
    zone: S<Vec<Spanned<Vec<f64>>>>,
    class: S<String>,
    min_score: S<f64>,
    min_people: S<i64>,
    dwell: S<RawDuration>,
    smoothing: S<i64>,
    // crowding and conditions
    hold_off: S<RawDuration>,
    update_interval: S<RawDuration>,
    // crowding and uncovered_truck: how often the camera is sampled for them
    sample_interval: S<RawDuration>,
    // video_loss, video_abnormal
    after: S<RawDuration>,
    faults: S<Vec<Spanned<String>>>,
    // uncovered_truck
    classifier: S<String>,
    cargo: S<Vec<f64>>,
    confirm: S<Vec<i64>>,
}

impl RawRule {
    /// The kind-specific keys given, with their spans, for the kind check.
    fn present(&self) -> Vec<(&'static str, Range<usize>)> {
        fn k<T>(name: &'static str, v: &S<T>) -> Option<(&'static str, Range<usize>)> {
            v.as_ref().map(|s| (name, s.span()))
        }
        [
            k("zone", &self.zone),
            k("class", &self.class),
            k("min_score", &self.min_score),
            k("min_people", &self.min_people),
            k("dwell", &self.dwell),
            k("smoothing", &self.smoothing),
            k("hold_off", &self.hold_off),
            k("update_interval", &self.update_interval),
            k("sample_interval", &self.sample_interval),
            k("after", &self.after),
            k("faults", &self.faults),
            k("classifier", &self.classifier),
            k("cargo", &self.cargo),
            k("confirm", &self.confirm),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// One `[[rules]]` table being built: its raw keys, its name and line, and the checks its
/// builder shares with the others. Errors name the rule.
struct Rule<'a> {
    lines: &'a Lines<'a>,
    raw: &'a RawRule,
    kind: &'static str,
    name: String,
    /// Line of the `[[rules]]` header (where a missing key is reported).
    line: usize,
}

fn build(
    lines: &Lines<'_>,
    position: usize,
    spanned: &Spanned<RawRule>,
    utc_offset: FixedOffset,
) -> Result<RuleConfig, RuleError> {
    let raw = spanned.get_ref();
    let line = lines.line(spanned);
    let kind_s = raw.kind.as_ref().ok_or_else(|| RuleError {
        line: Some(line),
        message: format!(
            "rule {position} has no `kind` (one of {})",
            RuleKind::NAMES.join(", ")
        ),
    })?;
    let kind = KINDS
        .iter()
        .find(|k| k.name == kind_s.get_ref())
        .ok_or_else(|| {
            lines.err(
                kind_s,
                format!(
                    "unknown rule kind {:?} (one of {})",
                    kind_s.get_ref(),
                    RuleKind::NAMES.join(", ")
                ),
            )
        })?;
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(lines.err(n, "rule name is empty"));
        }
        Some(n) => n.get_ref().clone(),
        None => format!("{}-{position}", kind.name),
    };
    let rule = Rule {
        lines,
        raw,
        kind: kind.name,
        name,
        line,
    };
    if let Some((key, span)) = raw
        .present()
        .into_iter()
        .find(|(k, _)| !kind.keys.contains(k))
    {
        return Err(rule.err(
            line_of(lines.0, span.start),
            format!(
                "key `{key}` does not apply to kind {:?} (its keys: {})",
                kind.name,
                kind.keys.join(", ")
            ),
        ));
    }
    let cameras = rule.cameras()?;
    let schedule = rule.schedule()?;
    let severity = rule.severity()?;
    let built = (kind.build)(&rule)?;
    Ok(RuleConfig {
        name: rule.name,
        kind: built,
        cameras,
        schedule,
        utc_offset,
        severity,
        line,
    })
}

impl Rule<'_> {
    /// An error at a line, naming the rule.
    fn err(&self, line: usize, message: impl Into<String>) -> RuleError {
        RuleError {
            line: Some(line),
            message: format!("rule {:?}: {}", self.name, message.into()),
        }
    }

    /// An error at a key's line, naming the rule.
    fn at<T>(&self, key: &Spanned<T>, message: impl Into<String>) -> RuleError {
        self.err(self.lines.line(key), message)
    }

    /// An error for a key the kind requires.
    fn missing(&self, message: impl Into<String>) -> RuleError {
        self.err(self.line, message)
    }

    fn cameras(&self) -> Result<Vec<CameraPattern>, RuleError> {
        let cams = self.raw.cameras.as_ref().ok_or_else(|| {
            self.missing("no `cameras` (camera ids or globs, e.g. cameras = [\"*\"])")
        })?;
        if cams.get_ref().is_empty() {
            return Err(self.at(cams, "`cameras` is empty"));
        }
        cams.get_ref()
            .iter()
            .map(|c| {
                if c.get_ref().trim().is_empty() {
                    return Err(self.at(c, "empty camera id in `cameras`"));
                }
                Ok(CameraPattern {
                    pattern: c.get_ref().clone(),
                    line: self.lines.line(c),
                })
            })
            .collect()
    }

    fn schedule(&self) -> Result<Schedule, RuleError> {
        let mut windows = Vec::new();
        for h in self.raw.hours.iter().flat_map(|h| h.get_ref()) {
            windows.push(Window::parse(h.get_ref()).map_err(|m| self.at(h, m))?);
        }
        let days = match &self.raw.days {
            None => None,
            Some(d) if d.get_ref().is_empty() => {
                return Err(self.at(d, "`days` is empty (leave it out for every day)"));
            }
            Some(d) => {
                let mut out = Vec::new();
                for day in d.get_ref() {
                    out.extend(parse_days(day.get_ref()).map_err(|m| self.at(day, m))?);
                }
                Some(out)
            }
        };
        Ok(Schedule::new(windows, days))
    }

    fn severity(&self) -> Result<Severity, RuleError> {
        match &self.raw.severity {
            None => Ok(Severity::Major),
            Some(s) => Severity::parse(s.get_ref()).ok_or_else(|| {
                self.at(
                    s,
                    format!(
                        "unknown severity {:?} (one of info, warning, minor, major, critical)",
                        s.get_ref()
                    ),
                )
            }),
        }
    }

    /// A duration key; `default` `None` makes it required.
    fn duration(
        &self,
        key: &str,
        value: &S<RawDuration>,
        default: Option<Duration>,
    ) -> Result<Duration, RuleError> {
        match value {
            None => default.ok_or_else(|| {
                self.missing(format!(
                    "kind {:?} needs `{key}` (a duration like \"5m\")",
                    self.kind
                ))
            }),
            Some(s) => match s.get_ref() {
                RawDuration::Secs(n) => duration_from_secs(*n),
                RawDuration::Text(t) => parse_duration(t),
            }
            .map_err(|m| self.at(s, format!("`{key}`: {m}"))),
        }
    }

    fn hold_off(&self, default: Duration) -> Result<Duration, RuleError> {
        self.duration("hold_off", &self.raw.hold_off, Some(default))
    }

    fn update_interval(&self) -> Result<Duration, RuleError> {
        self.duration(
            "update_interval",
            &self.raw.update_interval,
            Some(Duration::from_secs(30)),
        )
    }

    /// A detection rule's `sample_interval`, if set (non-zero).
    fn sample_interval(&self) -> Result<Option<Duration>, RuleError> {
        let Some(v) = &self.raw.sample_interval else {
            return Ok(None);
        };
        let d = self.duration("sample_interval", &self.raw.sample_interval, None)?;
        if d.is_zero() {
            return Err(self.at(
                v,
                "`sample_interval` must be above 0 (a detection rule needs samples)",
            ));
        }
        Ok(Some(d))
    }

    fn zone(&self) -> Result<Polygon, RuleError> {
        let Some(z) = &self.raw.zone else {
            return Ok(Polygon::whole_frame());
        };
        let mut points = Vec::new();
        for p in z.get_ref() {
            match p.get_ref().as_slice() {
                &[x, y] => points.push([x, y]),
                other => {
                    return Err(self.at(
                        p,
                        format!(
                            "`zone` point has {} coordinates, expected [x, y]",
                            other.len()
                        ),
                    ));
                }
            }
        }
        Polygon::new(points).map_err(|e| {
            let at = match e {
                PolygonError::OutOfRange { index, .. } => self.lines.line(&z.get_ref()[index]),
                _ => self.lines.line(z),
            };
            self.err(at, format!("`zone`: {e}"))
        })
    }

    fn min_score(&self) -> Result<Option<f32>, RuleError> {
        match &self.raw.min_score {
            None => Ok(None),
            Some(s) if !(0.0..=1.0).contains(s.get_ref()) => Err(self.at(
                s,
                format!("`min_score` must be in 0..=1, got {}", s.get_ref()),
            )),
            Some(s) => Ok(Some(*s.get_ref() as f32)),
        }
    }

    fn class(&self, default: &str) -> Result<String, RuleError> {
        match &self.raw.class {
            None => Ok(default.to_string()),
            Some(c) if c.get_ref().trim().is_empty() => Err(self.at(c, "`class` is empty")),
            Some(c) => Ok(c.get_ref().clone()),
        }
    }

    /// `after`, `hold_off` (default 0) and `update_interval` of the condition kinds.
    fn condition(&self) -> Result<ConditionParams, RuleError> {
        Ok(ConditionParams {
            after: self.duration("after", &self.raw.after, None)?,
            hold_off: self.hold_off(Duration::ZERO)?,
            update_interval: self.update_interval()?,
        })
    }
}

fn crowding(r: &Rule<'_>) -> Result<RuleKind, RuleError> {
    let zone = r.zone()?;
    let min_people = match &r.raw.min_people {
        None => {
            return Err(r.missing("kind \"crowding\" needs `min_people` (e.g. min_people = 5)"));
        }
        Some(n) if *n.get_ref() < 1 => {
            return Err(r.at(
                n,
                format!("`min_people` must be at least 1, got {}", n.get_ref()),
            ));
        }
        Some(n) => usize::try_from(*n.get_ref()).unwrap_or(usize::MAX),
    };
    let smoothing = match &r.raw.smoothing {
        None => 5,
        Some(n) if !(1..=1000).contains(n.get_ref()) => {
            return Err(r.at(
                n,
                format!("`smoothing` must be 1..=1000 samples, got {}", n.get_ref()),
            ));
        }
        Some(n) => *n.get_ref() as usize,
    };
    let min_score = r.min_score()?;
    let class = r.class("person")?;
    Ok(RuleKind::Crowding(CrowdingParams {
        zone,
        class,
        min_score,
        min_people,
        dwell: r.duration("dwell", &r.raw.dwell, Some(Duration::from_secs(10)))?,
        hold_off: r.hold_off(Duration::from_secs(30))?,
        smoothing,
        update_interval: r.update_interval()?,
        sample_interval: r.sample_interval()?,
    }))
}

fn uncovered_truck(r: &Rule<'_>) -> Result<RuleKind, RuleError> {
    let classifier = match &r.raw.classifier {
        None => ClassifierChoice::Baseline,
        Some(c) if c.get_ref() == "baseline" => ClassifierChoice::Baseline,
        Some(c) if c.get_ref().trim().is_empty() => {
            return Err(r.at(
                c,
                "`classifier` is empty (\"baseline\" or a classifier manifest path)",
            ));
        }
        Some(c) => ClassifierChoice::Model(PathBuf::from(c.get_ref())),
    };
    let cargo = match &r.raw.cargo {
        None => [0.0, 0.0, 1.0, 0.5],
        Some(c) => match c.get_ref().as_slice() {
            &[x1, y1, x2, y2]
                if [x1, y1, x2, y2].iter().all(|v| (0.0..=1.0).contains(v))
                    && x1 < x2
                    && y1 < y2 =>
            {
                [x1 as f32, y1 as f32, x2 as f32, y2 as f32]
            }
            _ => {
                return Err(r.at(
                    c,
                    "`cargo` must be [x1, y1, x2, y2], fractions of the truck box in \
                     0..1 with x1 < x2 and y1 < y2",
                ));
            }
        },
    };
    let (confirm_k, confirm_n) = match &r.raw.confirm {
        None => (3, 5),
        Some(c) => match c.get_ref().as_slice() {
            &[k, n] if k >= 1 && n >= k && n <= 100 => (k as usize, n as usize),
            _ => {
                return Err(r.at(
                    c,
                    "`confirm` must be [k, n]: k of the last n samples, 1 <= k <= n <= 100",
                ));
            }
        },
    };
    Ok(RuleKind::UncoveredTruck(TruckParams {
        zone: r.zone()?,
        class: r.class("truck")?,
        min_score: r.min_score()?,
        classifier,
        cargo,
        confirm_k,
        confirm_n,
        hold_off: r.hold_off(Duration::from_secs(30))?,
        update_interval: r.update_interval()?,
        sample_interval: r.sample_interval()?,
    }))
}

fn video_loss(r: &Rule<'_>) -> Result<RuleKind, RuleError> {
    Ok(RuleKind::VideoLoss(r.condition()?))
}

fn video_abnormal(r: &Rule<'_>) -> Result<RuleKind, RuleError> {
    let params = r.condition()?;
    let mut faults = Vec::new();
    for f in r.raw.faults.iter().flat_map(|l| l.get_ref()) {
        let fault = Fault::ALL
            .into_iter()
            .find(|x| x.as_str() == f.get_ref())
            .ok_or_else(|| {
                r.at(
                    f,
                    format!(
                        "unknown fault {:?} (one of {})",
                        f.get_ref(),
                        Fault::ALL.map(Fault::as_str).join(", ")
                    ),
                )
            })?;
        faults.push(fault);
    }
    Ok(RuleKind::VideoAbnormal { params, faults })
}

impl RulesFile {
    /// Reads and parses a rules file; errors name the file and line.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read rules {}: {e}", path.display()))?;
        let mut file =
            Self::parse(&text).map_err(|e| anyhow::anyhow!("rules {}: {e}", path.display()))?;
        // Classifier manifests are named relative to the rules file.
        let dir = path.parent().unwrap_or(Path::new(""));
        for rule in &mut file.rules {
            if let RuleKind::UncoveredTruck(p) = &mut rule.kind
                && let ClassifierChoice::Model(m) = &mut p.classifier
                && m.is_relative()
            {
                *m = dir.join(&*m);
            }
        }
        Ok(file)
    }

    /// Parses rules text; checks everything but the cameras (see [`RulesFile::validate`]).
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_table_follows_the_names() {
        let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        assert_eq!(names, RuleKind::NAMES);
    }
}
