//! Zones and schedules: where in the picture and when a rule watches.
//!
//! A [`Polygon`] lives in normalised image coordinates: `x` from 0 (left) to 1 (right), `y`
//! from 0 (top) to 1 (bottom), so one zone fits every resolution of a camera's streams. A
//! detected object is placed by its **foot point** ([`foot_point`]): the bottom centre of its
//! box, where a person stands on the ground.
//!
//! A [`Schedule`] is a list of daily time windows in local time (a fixed UTC offset, +08:00
//! in China) and optionally the days of the week they apply to. A window may cross midnight
//! (`"22:00-06:00"`); it then belongs to the day it starts on.
//!
//! ```toml
//! [[rules]]
//! kind = "crowding"
//! cameras = ["c001"]
//! zone = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]   # lower part of the picture
//! hours = ["07:00-09:30", "17:00-19:30"]                      # rush hours
//! days = ["mon-fri"]                                         # optional; default every day
//! ```

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc, Weekday};

/// Why a polygon is not a usable zone.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolygonError {
    /// A zone needs at least three corners.
    #[error("a zone needs at least 3 points, got {0}")]
    TooFewPoints(usize),
    /// A coordinate is outside 0..=1 (or not a number).
    #[error("point {index} ({x}, {y}) is outside the picture: coordinates are normalised to 0..1")]
    OutOfRange {
        /// 0-based index of the point.
        index: usize,
        /// Its x.
        x: f64,
        /// Its y.
        y: f64,
    },
    /// Two consecutive points are the same.
    #[error("points {0} and {1} are the same")]
    RepeatedPoint(usize, usize),
    /// Two edges that do not share a corner cross or touch (or adjacent edges fold back).
    #[error(
        "the zone intersects itself: edge {0} crosses edge {1} (edge i runs from point i to point i+1)"
    )]
    SelfIntersecting(usize, usize),
    /// All points on one line: the zone has no area.
    #[error("the zone has no area (all points on one line)")]
    ZeroArea,
}

/// A simple polygon (no self-intersections) in normalised image coordinates (0..1).
///
/// The closing edge from the last point back to the first is implicit. Points on the boundary
/// count as inside, so the whole-frame zone contains a box touching the picture's bottom edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    points: Vec<[f64; 2]>,
}

impl Polygon {
    /// Validates and builds a polygon: at least 3 points, every coordinate in 0..=1, no two
    /// consecutive points equal, non-zero area, and no two edges crossing (adjacent edges
    /// may only share their common corner).
    pub fn new(points: Vec<[f64; 2]>) -> Result<Self, PolygonError> {
        let n = points.len();
        if n < 3 {
            return Err(PolygonError::TooFewPoints(n));
        }
        for (index, &[x, y]) in points.iter().enumerate() {
            if !((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y)) {
                return Err(PolygonError::OutOfRange { index, x, y });
            }
        }
        for i in 0..n {
            let j = (i + 1) % n;
            if points[i] == points[j] {
                return Err(PolygonError::RepeatedPoint(i, j));
            }
        }
        let p = &points;
        let edge = |i: usize| (p[i], p[(i + 1) % n]);
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = edge(i);
                let (c, d) = edge(j);
                let adjacent = j == i + 1 || (i == 0 && j == n - 1);
                if adjacent {
                    // They share one corner; they must not overlap beyond it (fold back).
                    let (shared, u, v) = if j == i + 1 { (b, a, d) } else { (a, b, c) };
                    if cross(shared, u, v) == 0.0 && dot_sub(u, shared, v) > 0.0 {
                        return Err(PolygonError::SelfIntersecting(i, j));
                    }
                } else if segments_intersect(a, b, c, d) {
                    return Err(PolygonError::SelfIntersecting(i, j));
                }
            }
        }
        let poly = Self { points };
        if poly.area() <= 0.0 {
            return Err(PolygonError::ZeroArea);
        }
        Ok(poly)
    }

    /// The whole picture: `[[0,0],[1,0],[1,1],[0,1]]`.
    pub fn whole_frame() -> Self {
        Self {
            points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
        }
    }

    /// The corners, in order.
    pub fn points(&self) -> &[[f64; 2]] {
        &self.points
    }

    /// The area, as a fraction of the picture (shoelace formula).
    pub fn area(&self) -> f64 {
        let n = self.points.len();
        let twice: f64 = (0..n)
            .map(|i| {
                let [x1, y1] = self.points[i];
                let [x2, y2] = self.points[(i + 1) % n];
                x1 * y2 - x2 * y1
            })
            .sum();
        twice.abs() / 2.0
    }

    /// Whether the normalised point `(x, y)` lies inside or on the boundary (ray casting).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let n = self.points.len();
        let q = [x, y];
        let mut inside = false;
        for i in 0..n {
            let a = self.points[i];
            let b = self.points[(i + 1) % n];
            if on_segment(a, b, q) {
                return true;
            }
            if (a[1] > y) != (b[1] > y) {
                let x_cross = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                if x < x_cross {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

/// Cross product of `(a - o) × (b - o)`.
fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Dot product of `(a - o) · (b - o)`.
fn dot_sub(a: [f64; 2], o: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[0] - o[0]) + (a[1] - o[1]) * (b[1] - o[1])
}

/// Whether `q` lies on the segment `a..b` (collinear and within its bounding box).
fn on_segment(a: [f64; 2], b: [f64; 2], q: [f64; 2]) -> bool {
    cross(a, b, q).abs() <= 1e-12
        && q[0] >= a[0].min(b[0]) - 1e-12
        && q[0] <= a[0].max(b[0]) + 1e-12
        && q[1] >= a[1].min(b[1]) - 1e-12
        && q[1] <= a[1].max(b[1]) + 1e-12
}

/// Whether the closed segments `a..b` and `c..d` share at least one point (touching counts).
fn segments_intersect(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let d1 = cross(c, d, a);
    let d2 = cross(c, d, b);
    let d3 = cross(a, b, c);
    let d4 = cross(a, b, d);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

/// The foot point of a box `[x1, y1, x2, y2]` in picture pixels, normalised by the picture
/// size: `((x1 + x2) / 2 / width, y2 / height)`, clamped to 0..=1. `None` for an empty
/// picture size.
pub fn foot_point(bbox: [f32; 4], width: u32, height: u32) -> Option<(f64, f64)> {
    if width == 0 || height == 0 {
        return None;
    }
    let [x1, _, x2, y2] = bbox.map(f64::from);
    let x = ((x1 + x2) / 2.0 / f64::from(width)).clamp(0.0, 1.0);
    let y = (y2 / f64::from(height)).clamp(0.0, 1.0);
    (x.is_finite() && y.is_finite()).then_some((x, y))
}

/// A daily time window in local time, `start..end` in minutes since midnight. `end < start`
/// crosses midnight; `end` may be 1440 (`"24:00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Minutes since local midnight, 0..1440.
    pub start: u32,
    /// Minutes since local midnight, 0..=1440; before `start` when the window crosses
    /// midnight.
    pub end: u32,
}

impl Window {
    /// Parses `"HH:MM-HH:MM"` (`"07:00-09:30"`, `"22:00-06:00"`, `"00:00-24:00"`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("bad time window {s:?} (use e.g. \"07:00-09:30\" or \"22:00-06:00\")");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let start = parse_hhmm(a.trim()).ok_or_else(bad)?;
        let end = parse_hhmm(b.trim()).ok_or_else(bad)?;
        if start == 1440 {
            return Err(bad());
        }
        if start == end {
            return Err(format!("time window {s:?} is empty (start equals end)"));
        }
        Ok(Self { start, end })
    }

    fn crosses_midnight(self) -> bool {
        self.end < self.start
    }
}

/// `HH:MM` to minutes since midnight; `24:00` allowed.
fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// When a rule watches: daily windows, optionally only on some weekdays.
///
/// No windows means all day; no weekdays means every day. A window crossing midnight belongs
/// to the day it starts on (`"22:00-06:00"` on `fri` covers Friday 22:00 to Saturday 06:00).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    windows: Vec<Window>,
    /// Bit `n` set: weekday `n` (Monday = 0) is on; `None`: every day.
    days: Option<u8>,
}

impl Schedule {
    /// Always on.
    pub fn always() -> Self {
        Self::default()
    }

    /// A schedule from parsed windows and optional weekdays.
    pub fn new(windows: Vec<Window>, days: Option<Vec<Weekday>>) -> Self {
        let days = days.map(|d| {
            d.iter()
                .fold(0u8, |m, w| m | (1 << w.num_days_from_monday()))
        });
        Self { windows, days }
    }

    /// Parses `hours` entries (`"07:00-09:30"`) and `days` entries (`"mon"`, `"mon-fri"`,
    /// `"sat-sun"`, full names too). Errors name the offending entry's index.
    pub fn parse(hours: &[&str], days: Option<&[&str]>) -> Result<Self, (usize, String)> {
        let windows = hours
            .iter()
            .enumerate()
            .map(|(i, h)| Window::parse(h).map_err(|e| (i, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let days = match days {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for (i, d) in list.iter().enumerate() {
                    out.extend(parse_days(d).map_err(|e| (i, e))?);
                }
                Some(out)
            }
        };
        Ok(Self::new(windows, days))
    }

    /// The windows.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Whether the schedule is on at `at`, read in local time at `offset`.
    pub fn active(&self, at: DateTime<Utc>, offset: FixedOffset) -> bool {
        let local = at.with_timezone(&offset);
        let minute = local.hour() * 60 + local.minute();
        let today = local.weekday();
        let day_on = |d: Weekday| match self.days {
            None => true,
            Some(mask) => mask & (1 << d.num_days_from_monday()) != 0,
        };
        if self.windows.is_empty() {
            return day_on(today);
        }
        self.windows.iter().any(|w| {
            if w.crosses_midnight() {
                (minute >= w.start && day_on(today)) || (minute < w.end && day_on(today.pred()))
            } else {
                minute >= w.start && minute < w.end && day_on(today)
            }
        })
    }
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.trim().to_ascii_lowercase();
    let all = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    let names = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    all.into_iter()
        .zip(names)
        .find(|(_, n)| s == *n || (s.len() == 3 && n.starts_with(s.as_str())))
        .map(|(w, _)| w)
}

/// Parses a day (`"mon"`, `"monday"`) or a range of days (`"mon-fri"`; may wrap: `"sat-mon"`).
pub fn parse_days(s: &str) -> Result<Vec<Weekday>, String> {
    let bad = || {
        format!("bad day {s:?} (use mon, tue, wed, thu, fri, sat, sun or a range like \"mon-fri\")")
    };
    match s.split_once('-') {
        None => Ok(vec![parse_weekday(s).ok_or_else(bad)?]),
        Some((a, b)) => {
            let a = parse_weekday(a).ok_or_else(bad)?;
            let b = parse_weekday(b).ok_or_else(bad)?;
            let mut out = vec![a];
            let mut d = a;
            while d != b {
                d = d.succ();
                out.push(d);
            }
            Ok(out)
        }
    }
}

/// Parses a UTC offset like `"+08:00"`, `"-05:30"`, `"+8"` or `"Z"`.
pub fn parse_utc_offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || format!("bad UTC offset {s:?} (use e.g. \"+08:00\")");
    let t = s.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(FixedOffset::east_opt(0).expect("zero offset"));
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sq() -> Vec<[f64; 2]> {
        vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    }

    #[test]
    fn valid_polygons() {
        assert!(Polygon::new(sq()).is_ok());
        assert!(Polygon::new(vec![[0.1, 0.1], [0.9, 0.2], [0.5, 0.9]]).is_ok());
        // Concave (an L shape) is fine.
        let l = vec![
            [0.0, 0.0],
            [0.5, 0.0],
            [0.5, 0.5],
            [1.0, 0.5],
            [1.0, 1.0],
            [0.0, 1.0],
        ];
        let p = Polygon::new(l).unwrap();
        assert!((p.area() - 0.75).abs() < 1e-12);
        assert!(p.contains(0.25, 0.25));
        assert!(!p.contains(0.75, 0.25));
        assert!(p.contains(0.75, 0.75));
    }

    #[test]
    fn invalid_polygons() {
        assert_eq!(
            Polygon::new(vec![[0.0, 0.0], [1.0, 1.0]]),
            Err(PolygonError::TooFewPoints(2))
        );
        assert!(matches!(
            Polygon::new(vec![[0.0, 0.0], [1.2, 0.0], [1.0, 1.0]]),
            Err(PolygonError::OutOfRange { index: 1, .. })
        ));
        assert!(matches!(
            Polygon::new(vec![[0.0, 0.0], [f64::NAN, 0.0], [1.0, 1.0]]),
            Err(PolygonError::OutOfRange { index: 1, .. })
        ));
        // A bow tie: edges 0 and 2 cross.
        let bow = vec![[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
        assert_eq!(Polygon::new(bow), Err(PolygonError::SelfIntersecting(0, 2)));
        // A vertex touching a non-adjacent edge.
        let touch = vec![[0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [0.5, 1.0]];
        assert!(matches!(
            Polygon::new(touch),
            Err(PolygonError::SelfIntersecting(..))
        ));
        // A spike folding back along the previous edge.
        let fold = vec![[0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]];
        assert!(matches!(
            Polygon::new(fold),
            Err(PolygonError::SelfIntersecting(..))
        ));
        assert_eq!(
            Polygon::new(vec![[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]),
            Err(PolygonError::RepeatedPoint(0, 1))
        );
        // All on one line: the closing edge folds back over the others.
        assert!(matches!(
            Polygon::new(vec![[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]),
            Err(PolygonError::SelfIntersecting(..) | PolygonError::ZeroArea)
        ));
    }

    #[test]
    fn contains_and_boundary() {
        let p = Polygon::new(sq()).unwrap();
        assert!(p.contains(0.5, 0.5));
        assert!(p.contains(0.5, 1.0), "bottom edge counts as inside");
        assert!(p.contains(1.0, 1.0));
        assert!(p.contains(0.0, 0.3));
        let tri = Polygon::new(vec![[0.2, 0.2], [0.8, 0.2], [0.5, 0.8]]).unwrap();
        assert!(tri.contains(0.5, 0.4));
        assert!(!tri.contains(0.2, 0.7));
        assert!(!tri.contains(0.9, 0.5));
        assert!(!tri.contains(0.5, 0.1));
        assert_eq!(Polygon::whole_frame(), p);
    }

    #[test]
    fn foot_point_is_bottom_centre() {
        assert_eq!(
            foot_point([100.0, 50.0, 300.0, 360.0], 400, 400),
            Some((0.5, 0.9))
        );
        assert_eq!(
            foot_point([0.0, 0.0, 10.0, 500.0], 100, 400),
            Some((0.05, 1.0))
        );
        assert_eq!(foot_point([0.0, 0.0, 10.0, 10.0], 0, 400), None);
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn windows_parse() {
        assert_eq!(
            Window::parse("07:00-09:30"),
            Ok(Window {
                start: 420,
                end: 570
            })
        );
        assert_eq!(Window::parse("22:00-06:00").unwrap().end, 360);
        assert_eq!(Window::parse("0:00-24:00").unwrap().end, 1440);
        for bad in [
            "7-9",
            "07:00",
            "25:00-26:00",
            "07:60-08:00",
            "08:00-08:00",
            "24:00-01:00",
            "a-b",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedule_in_local_time() {
        let cst = parse_utc_offset("+08:00").unwrap();
        let s = Schedule::parse(&["07:00-09:30", "17:00-19:30"], None).unwrap();
        // 2026-11-23 is a Monday. 23:30 UTC on the 22nd is 07:30 local on the 23rd.
        assert!(s.active(utc(2026, 11, 22, 23, 30), cst));
        assert!(!s.active(utc(2026, 11, 23, 1, 30), cst)); // 09:30 local: end is exclusive
        assert!(s.active(utc(2026, 11, 23, 9, 0), cst)); // 17:00 local
        assert!(!s.active(utc(2026, 11, 23, 12, 0), cst)); // 20:00 local
        let utc0 = parse_utc_offset("Z").unwrap();
        assert!(!s.active(utc(2026, 11, 22, 23, 30), utc0));
        assert!(Schedule::always().active(utc(2026, 11, 22, 23, 30), cst));
    }

    #[test]
    fn schedule_across_midnight_and_days() {
        let cst = parse_utc_offset("+08:00").unwrap();
        let s = Schedule::parse(&["22:00-06:00"], Some(&["fri"])).unwrap();
        // Friday 2026-11-27 23:00 local = 15:00 UTC.
        assert!(s.active(utc(2026, 11, 27, 15, 0), cst));
        // Saturday 05:59 local = Friday 21:59 UTC: still Friday night's window.
        assert!(s.active(utc(2026, 11, 27, 21, 59), cst));
        // Saturday 06:00 local: over.
        assert!(!s.active(utc(2026, 11, 27, 22, 0), cst));
        // Friday 05:00 local belongs to Thursday night: off.
        assert!(!s.active(utc(2026, 11, 26, 21, 0), cst));
        // Saturday 23:00 local: off.
        assert!(!s.active(utc(2026, 11, 28, 15, 0), cst));

        let weekend = Schedule::parse(&[], Some(&["sat-sun"])).unwrap();
        assert!(weekend.active(utc(2026, 11, 28, 3, 0), cst));
        assert!(!weekend.active(utc(2026, 11, 23, 3, 0), cst));
        let wrap = Schedule::parse(&[], Some(&["sat-mon"])).unwrap();
        assert!(wrap.active(utc(2026, 11, 23, 3, 0), cst));
        assert!(!wrap.active(utc(2026, 11, 24, 3, 0), cst));
        assert_eq!(
            Schedule::parse(&["07:00-08:00", "x"], None).unwrap_err().0,
            1
        );
        assert_eq!(
            Schedule::parse(&[], Some(&["mon", "funday"]))
                .unwrap_err()
                .0,
            1
        );
    }

    #[test]
    fn offsets() {
        assert_eq!(
            parse_utc_offset("+08:00").unwrap().local_minus_utc(),
            8 * 3600
        );
        assert_eq!(
            parse_utc_offset("-05:30").unwrap().local_minus_utc(),
            -19800
        );
        assert_eq!(parse_utc_offset("+8").unwrap().local_minus_utc(), 8 * 3600);
        assert!(parse_utc_offset("08:00").is_err());
        assert!(parse_utc_offset("+15:00").is_err());
    }
}
