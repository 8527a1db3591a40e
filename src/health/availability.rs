//! Historical availability (在线率) and intact rate (完好率) over a period: pure maths over
//! status and picture-quality intervals.
//!
//! Input: the status history as [`Interval`]s (one per camera and state, as the
//! [`ledger`](crate::health::ledger) stores them), optionally the picture verdicts as
//! [`QualityInterval`]s, and a window `[from, to)`. Output: per camera
//! ([`CameraAvailability`]) the time spent `online`, `offline`, `connecting` and unmonitored,
//! the outages, the availability, the intact time and the picture-fault time per fault; per
//! group value ([`GroupAvailability`]) the time-weighted online and intact rates and how many
//! cameras meet the targets.
//!
//! ## The rule: only observed time counts
//!
//! ```text
//! availability = online / (online + offline)
//! ```
//!
//! Two kinds of time are **excluded from the denominator** (they are reported as `unknown`,
//! split into `connecting` and `unmonitored`):
//!
//! - **`connecting`**: the daemon has just started watching the camera and has no verdict
//!   yet. Counting it as offline would punish every camera for each daemon restart;
//!   counting it as online would credit cameras that may well be dead.
//! - **unmonitored**: no interval covers the time: the daemon was down (crash, upgrade,
//!   power cut), or the camera was not in the inventory. We did not look, so we do not
//!   know; after a crash the ledger closes the open intervals at the last heartbeat for
//!   exactly this reason, so a dead daemon never reads as a healthy fleet.
//!
//! In short, we only count what we observed. The price: a camera observed for one hour
//! with no outage reads 100 %. That is why every figure comes with the unknown time next
//! to it, and a camera with no observed time at all has no availability (`None`) and is
//! counted neither as meeting nor as missing the target.
//!
//! This differs on purpose from the *live* rate of [`rates`](crate::health::rates), which
//! counts `connecting` cameras in the denominator: a snapshot must not read high while the
//! fleet is still coming up, whereas a period figure should not be skewed by restarts.
//!
//! Group rates are **time-weighted**: Σ online / Σ (online + offline) over the group's
//! cameras, so a camera observed all day weighs more than one observed for an hour. That is
//! the usual 在线率 of an assessment: the share of camera-time with a usable picture.
//!
//! ## 完好率 (intact rate)
//!
//! A camera is **intact** (完好) when it is online *and* its picture has no known fault:
//!
//! ```text
//! intact      = online time not inside a faulty quality interval
//! intact rate = intact / (online + offline)
//! ```
//!
//! - The denominator is the availability's: the same observed time, so 完好率 ≤ 在线率 always,
//!   and a camera offline all day is 0 % intact, not "unknown".
//! - Picture-fault time counts only while **online**: a faulty verdict stays in force while
//!   the camera is offline (the last picture seen was bad), but that time is already lost to
//!   the outage and is not counted a second time.
//! - Online time with **no verdict** (not yet diagnosed, sampling off, a patrol camera between
//!   its first probe and first diagnosis, a ledger from before verdicts were stored) counts
//!   as **intact**: no fault is known. This is the live rule of
//!   [`fleet::is_intact`](crate::fleet::is_intact). It is reported as `unchecked_ms` beside the
//!   rate, so a 100 % that rests on no diagnosis at all can be seen.
//! - The fault breakdown (`fault_ms_by_fault`) counts each faulty piece of online time under
//!   every fault its verdict lists (a picture both `too_dark` and `frozen` counts under both),
//!   so its sum may exceed `fault_ms`; a faulty verdict without a fault name counts under
//!   [`UNSPECIFIED_FAULT`]. The main fault is the one with the most time.
//! - Group intact rates are time-weighted like online rates: Σ intact / Σ (online + offline).
//!   Cameras are measured or not exactly as for the online rate; a measured camera meets the
//!   intact target when its intact rate ≥ the target (see [`Targets`]).
//!
//! ## Excused time (maintenance windows, 报备) and the assessed rates
//!
//! Planned work declared in advance (a road-works power cut, a pole replaced) must not count
//! against the office. Given a camera's declared windows, the offline time inside them is
//! `excused_offline_ms` and the picture-fault time inside them `excused_fault_ms`; the
//! **assessed** rates leave that time out of the denominator:
//!
//! ```text
//! assessed 在线率 = online / (online + offline − excused_offline)
//! assessed 完好率 = intact / (online + offline − excused_offline − excused_fault)
//! ```
//!
//! Online and intact time inside a window still count (a camera that stayed up during the
//! works is credited), so the assessed rate is never below the raw one. Every figure is
//! reported both ways; which windows excuse (a late declaration or not) is the caller's choice
//! ([`crate::assessment`]).
//!
//! ## Outages
//!
//! An outage is a run of `offline` time clipped to the window; touching `offline`
//! intervals merge (the outage keeps the reason it started with). An outage that spans a
//! daemon restart counts twice: the unmonitored gap splits it. Outage time is also summed
//! per reason (every piece under its own reason), for the "why are we down" breakdown.
//!
//! Times are handled in whole milliseconds, as the ledger stores them.

use std::collections::{BTreeMap, HashMap};

use crate::clock::Time;
use crate::config::inventory::{GroupBy, Groups, UNASSIGNED};
use crate::health::status::{Reason, State};

/// The default availability target per camera (98 %), a common assessment threshold.
pub const DEFAULT_TARGET: f64 = 0.98;

/// The key used in the per-reason breakdowns for an `offline` interval without a reason.
pub const UNSPECIFIED_REASON: &str = "unspecified";

/// The key used in the per-fault breakdowns for a faulty verdict without a fault name.
pub const UNSPECIFIED_FAULT: &str = "unspecified";

/// The per-camera targets a group counts cameras against: one for the online rate, one for
/// the intact rate. A bare `f64` converts into the same target for both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    /// Target availability (在线率), a fraction.
    pub online: f64,
    /// Target intact rate (完好率), a fraction.
    pub intact: f64,
}

impl Targets {
    /// The same target for both rates.
    pub fn same(target: f64) -> Self {
        Self {
            online: target,
            intact: target,
        }
    }
}

impl Default for Targets {
    /// [`DEFAULT_TARGET`] for both.
    fn default() -> Self {
        Self::same(DEFAULT_TARGET)
    }
}

impl From<f64> for Targets {
    fn from(target: f64) -> Self {
        Self::same(target)
    }
}

/// Tolerance when comparing an availability with the target, so that exactly 98 % meets
/// 98 % whatever the floating-point rounding.
const TARGET_EPSILON: f64 = 1e-9;

/// A span of time one camera spent in one state: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// The camera.
    pub camera_id: String,
    /// The state during the span.
    pub state: State,
    /// Why, when `state` is `offline`.
    pub reason: Option<Reason>,
    /// First instant of the span.
    pub start: Time,
    /// First instant after the span.
    pub end: Time,
}

/// A span of time one camera's picture had one verdict: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityInterval {
    /// The camera.
    pub camera_id: String,
    /// Whether the picture had no fault (only this decides 完好).
    pub ok: bool,
    /// The faults found (snake_case names such as `too_dark`), empty when `ok`.
    pub faults: Vec<String>,
    /// First instant of the span.
    pub start: Time,
    /// First instant after the span.
    pub end: Time,
}

/// One outage, clipped to the window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outage {
    /// When the camera went offline (or the window start).
    pub start: Time,
    /// When it came back (or the window end, or the end of monitoring).
    pub end: Time,
    /// The reason the outage started with.
    pub reason: Option<Reason>,
}

impl Outage {
    /// Length in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        (self.end - self.start).num_milliseconds()
    }

    /// The reason's name, or [`UNSPECIFIED_REASON`].
    pub fn reason_str(&self) -> &'static str {
        reason_key(self.reason)
    }
}

/// One camera's figures over a window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CameraAvailability {
    /// The camera.
    pub camera_id: String,
    /// Milliseconds `online`.
    pub online_ms: i64,
    /// Milliseconds `offline`.
    pub offline_ms: i64,
    /// Milliseconds `connecting` (no verdict yet; excluded from availability).
    pub connecting_ms: i64,
    /// Milliseconds no interval covers (not monitored; excluded from availability).
    pub unmonitored_ms: i64,
    /// Outages in time order.
    pub outages: Vec<Outage>,
    /// Offline milliseconds per reason name ([`Reason::as_str`] or [`UNSPECIFIED_REASON`]).
    pub outage_ms_by_reason: BTreeMap<&'static str, i64>,
    /// Milliseconds 完好: online and not inside a faulty quality interval (online time without
    /// a verdict included). `intact_ms + fault_ms == online_ms`.
    pub intact_ms: i64,
    /// Milliseconds online inside a faulty quality interval (picture-fault time).
    pub fault_ms: i64,
    /// Milliseconds online without any picture verdict (counted in `intact_ms`).
    pub unchecked_ms: i64,
    /// Picture-fault milliseconds per fault name ([`Fault::as_str`] or [`UNSPECIFIED_FAULT`]);
    /// a verdict with several faults counts under each.
    ///
    /// [`Fault::as_str`]: crate::vision::quality::Fault::as_str
    pub fault_ms_by_fault: BTreeMap<String, i64>,
    /// Offline milliseconds inside a maintenance window (left out of the assessed rates).
    pub excused_offline_ms: i64,
    /// Picture-fault milliseconds (online, faulty verdict) inside a maintenance window.
    pub excused_fault_ms: i64,
}

impl CameraAvailability {
    /// A camera with no interval in the window: all of it unmonitored.
    pub fn unmonitored(camera_id: impl Into<String>, from: Time, to: Time) -> Self {
        Self {
            camera_id: camera_id.into(),
            unmonitored_ms: window_ms(from, to),
            ..Self::default()
        }
    }

    /// Milliseconds with a verdict: online + offline (the availability's denominator).
    pub fn observed_ms(&self) -> i64 {
        self.online_ms + self.offline_ms
    }

    /// Milliseconds without a verdict: connecting + unmonitored.
    pub fn unknown_ms(&self) -> i64 {
        self.connecting_ms + self.unmonitored_ms
    }

    /// online / (online + offline); `None` when nothing was observed.
    pub fn availability(&self) -> Option<f64> {
        ratio(self.online_ms, self.offline_ms)
    }

    /// Whether the availability reaches `target`; `None` when nothing was observed.
    pub fn meets(&self, target: f64) -> Option<bool> {
        self.availability().map(|a| a + TARGET_EPSILON >= target)
    }

    /// The longest outage (the earliest of equals).
    pub fn longest_outage(&self) -> Option<&Outage> {
        self.outages.iter().rev().max_by_key(|o| o.duration_ms())
    }

    /// The reason with the most offline time (ties: the first in [`Reason::ALL`] order,
    /// unspecified last); `None` without outages.
    pub fn main_reason(&self) -> Option<&'static str> {
        main_reason(&self.outage_ms_by_reason)
    }

    /// 完好率: intact / (online + offline); `None` when nothing was observed.
    pub fn intact_rate(&self) -> Option<f64> {
        rate(self.intact_ms, self.observed_ms())
    }

    /// Whether the intact rate reaches `target`; `None` when nothing was observed.
    pub fn meets_intact(&self, target: f64) -> Option<bool> {
        self.intact_rate().map(|a| a + TARGET_EPSILON >= target)
    }

    /// The fault with the most picture-fault time (ties: the first in [`Fault::ALL`] order,
    /// then unknown names alphabetically, unspecified last); `None` without fault time.
    ///
    /// [`Fault::ALL`]: crate::vision::quality::Fault::ALL
    pub fn main_fault(&self) -> Option<&str> {
        main_fault(&self.fault_ms_by_fault)
    }

    /// Assessed 在线率: online / (online + offline − excused offline); `None` when nothing
    /// is left to assess.
    pub fn assessed_availability(&self) -> Option<f64> {
        ratio(self.online_ms, self.offline_ms - self.excused_offline_ms)
    }

    /// Assessed 完好率: intact / (observed − excused offline − excused fault).
    pub fn assessed_intact_rate(&self) -> Option<f64> {
        rate(
            self.intact_ms,
            self.observed_ms() - self.excused_offline_ms - self.excused_fault_ms,
        )
    }
}

/// Figures of a set of cameras (a group value, or the fleet).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupAvailability {
    /// The group value (e.g. a region name), or the name given to the whole set.
    pub group: String,
    /// Cameras in the set.
    pub cameras: usize,
    /// Of which observed for some time (with an availability).
    pub measured: usize,
    /// Of which with availability ≥ the target.
    pub meeting_target: usize,
    /// Of which with availability < the target. `measured - meeting - below` is always 0;
    /// unmeasured cameras are in neither count.
    pub below_target: usize,
    /// Of the measured cameras, those with intact rate ≥ the intact target.
    pub meeting_intact_target: usize,
    /// Of the measured cameras, those with intact rate < the intact target.
    pub below_intact_target: usize,
    /// Σ online milliseconds.
    pub online_ms: i64,
    /// Σ offline milliseconds.
    pub offline_ms: i64,
    /// Σ connecting milliseconds.
    pub connecting_ms: i64,
    /// Σ unmonitored milliseconds.
    pub unmonitored_ms: i64,
    /// Σ outages.
    pub outages: usize,
    /// Σ offline milliseconds per reason name.
    pub outage_ms_by_reason: BTreeMap<&'static str, i64>,
    /// Σ intact milliseconds.
    pub intact_ms: i64,
    /// Σ picture-fault milliseconds (online with a faulty verdict).
    pub fault_ms: i64,
    /// Σ online milliseconds without a picture verdict (counted intact).
    pub unchecked_ms: i64,
    /// Σ picture-fault milliseconds per fault name.
    pub fault_ms_by_fault: BTreeMap<String, i64>,
    /// Σ offline milliseconds inside maintenance windows.
    pub excused_offline_ms: i64,
    /// Σ picture-fault milliseconds inside maintenance windows.
    pub excused_fault_ms: i64,
}

impl GroupAvailability {
    /// The time-weighted online rate Σ online / Σ (online + offline); `None` when nothing
    /// was observed.
    pub fn rate(&self) -> Option<f64> {
        ratio(self.online_ms, self.offline_ms)
    }

    /// Σ connecting + unmonitored milliseconds.
    pub fn unknown_ms(&self) -> i64 {
        self.connecting_ms + self.unmonitored_ms
    }

    /// The reason with the most offline time in the set.
    pub fn main_reason(&self) -> Option<&'static str> {
        main_reason(&self.outage_ms_by_reason)
    }

    /// The time-weighted intact rate Σ intact / Σ (online + offline); `None` when nothing
    /// was observed.
    pub fn intact_rate(&self) -> Option<f64> {
        rate(self.intact_ms, self.online_ms + self.offline_ms)
    }

    /// The fault with the most picture-fault time in the set.
    pub fn main_fault(&self) -> Option<&str> {
        main_fault(&self.fault_ms_by_fault)
    }

    /// Time-weighted assessed 在线率: Σ online / Σ (online + offline − excused offline).
    pub fn assessed_rate(&self) -> Option<f64> {
        ratio(self.online_ms, self.offline_ms - self.excused_offline_ms)
    }

    /// Time-weighted assessed 完好率: Σ intact / Σ (observed − excused offline − excused fault).
    pub fn assessed_intact_rate(&self) -> Option<f64> {
        rate(
            self.intact_ms,
            self.online_ms + self.offline_ms - self.excused_offline_ms - self.excused_fault_ms,
        )
    }

    /// Σ excused milliseconds (offline and picture-fault time inside maintenance windows).
    pub fn excused_ms(&self) -> i64 {
        self.excused_offline_ms + self.excused_fault_ms
    }

    fn add(&mut self, cam: &CameraAvailability, targets: Targets) {
        self.cameras += 1;
        match cam.meets_intact(targets.intact) {
            Some(true) => self.meeting_intact_target += 1,
            Some(false) => self.below_intact_target += 1,
            None => {}
        }
        match cam.meets(targets.online) {
            Some(true) => {
                self.measured += 1;
                self.meeting_target += 1;
            }
            Some(false) => {
                self.measured += 1;
                self.below_target += 1;
            }
            None => {}
        }
        self.online_ms += cam.online_ms;
        self.offline_ms += cam.offline_ms;
        self.connecting_ms += cam.connecting_ms;
        self.unmonitored_ms += cam.unmonitored_ms;
        self.outages += cam.outages.len();
        for (k, v) in &cam.outage_ms_by_reason {
            *self.outage_ms_by_reason.entry(k).or_default() += v;
        }
        self.intact_ms += cam.intact_ms;
        self.fault_ms += cam.fault_ms;
        self.unchecked_ms += cam.unchecked_ms;
        for (k, v) in &cam.fault_ms_by_fault {
            *self.fault_ms_by_fault.entry(k.clone()).or_default() += v;
        }
        self.excused_offline_ms += cam.excused_offline_ms;
        self.excused_fault_ms += cam.excused_fault_ms;
    }
}

/// Per-camera figures over `[from, to)` for every camera that has an interval in `intervals`
/// (in any order), sorted by camera id, without picture verdicts (every online moment
/// counts as intact).
///
/// Intervals are clipped to the window. Overlapping intervals of one camera (which a sane
/// ledger never has) are not double-counted: the earlier one wins the overlap.
pub fn per_camera(intervals: &[Interval], from: Time, to: Time) -> Vec<CameraAvailability> {
    per_camera_with_quality(intervals, &[], from, to)
}

/// Per-camera figures over `[from, to)`, 完好率 included, for every camera that has a
/// status interval in `intervals` (in any order), sorted by camera id. Quality intervals of
/// cameras without a status interval are ignored (they had no observed time).
///
/// Both kinds of interval are clipped to the window; overlapping intervals of one camera
/// and kind are not double-counted (the earlier one wins the overlap).
pub fn per_camera_with_quality(
    intervals: &[Interval],
    quality: &[QualityInterval],
    from: Time,
    to: Time,
) -> Vec<CameraAvailability> {
    per_camera_assessed(intervals, quality, &HashMap::new(), from, to)
}

/// One camera's figures over `[from, to)` from its intervals (in any order; intervals of
/// other cameras must not be passed), without picture verdicts.
pub fn camera<'a>(
    camera_id: &str,
    intervals: impl IntoIterator<Item = &'a Interval>,
    from: Time,
    to: Time,
) -> CameraAvailability {
    camera_with_quality(camera_id, intervals, [], from, to)
}

/// Per-camera figures like [`per_camera_with_quality`], with the excused time of each
/// camera's maintenance windows (`windows[camera_id]`, `[start, end)` spans in any order,
/// overlaps allowed).
pub fn per_camera_assessed(
    intervals: &[Interval],
    quality: &[QualityInterval],
    windows: &HashMap<String, Vec<(Time, Time)>>,
    from: Time,
    to: Time,
) -> Vec<CameraAvailability> {
    let mut by_camera: BTreeMap<&str, (Vec<&Interval>, Vec<&QualityInterval>)> = BTreeMap::new();
    for iv in intervals {
        by_camera
            .entry(iv.camera_id.as_str())
            .or_default()
            .0
            .push(iv);
    }
    for q in quality {
        if let Some(entry) = by_camera.get_mut(q.camera_id.as_str()) {
            entry.1.push(q);
        }
    }
    by_camera
        .into_iter()
        .map(|(id, (ivs, qs))| {
            let w = windows.get(id).map_or(&[][..], Vec::as_slice);
            camera_assessed(id, ivs, qs, w, from, to)
        })
        .collect()
}

/// One camera's figures over `[from, to)`, 完好率 included, from its status and quality
/// intervals (each in any order; intervals of other cameras must not be passed).
pub fn camera_with_quality<'a, 'b>(
    camera_id: &str,
    intervals: impl IntoIterator<Item = &'a Interval>,
    quality: impl IntoIterator<Item = &'b QualityInterval>,
    from: Time,
    to: Time,
) -> CameraAvailability {
    camera_assessed(camera_id, intervals, quality, &[], from, to)
}

/// One camera's figures like [`camera_with_quality`], plus the offline and picture-fault
/// time inside `windows` (its maintenance windows, `[start, end)`, any order, may overlap).
pub fn camera_assessed<'a, 'b>(
    camera_id: &str,
    intervals: impl IntoIterator<Item = &'a Interval>,
    quality: impl IntoIterator<Item = &'b QualityInterval>,
    windows: &[(Time, Time)],
    from: Time,
    to: Time,
) -> CameraAvailability {
    let mut out = CameraAvailability {
        camera_id: camera_id.to_string(),
        ..CameraAvailability::default()
    };
    if to <= from {
        return out;
    }
    let mut ivs: Vec<&Interval> = intervals.into_iter().collect();
    ivs.sort_by_key(|iv| (iv.start, iv.end));
    // The online pieces, in time order and disjoint, for the 完好率.
    let mut online: Vec<(Time, Time)> = Vec::new();
    // The offline pieces likewise, for the excused time.
    let mut offline: Vec<(Time, Time)> = Vec::new();
    // Everything before `cursor` is accounted for.
    let mut cursor = from;
    for iv in ivs {
        let start = iv.start.max(cursor);
        let end = iv.end.min(to);
        if end <= start {
            continue;
        }
        out.unmonitored_ms += (start - cursor).num_milliseconds();
        let ms = (end - start).num_milliseconds();
        match iv.state {
            State::Online => {
                out.online_ms += ms;
                online.push((start, end));
            }
            State::Connecting => out.connecting_ms += ms,
            State::Offline => {
                out.offline_ms += ms;
                offline.push((start, end));
                *out.outage_ms_by_reason
                    .entry(reason_key(iv.reason))
                    .or_default() += ms;
                match out.outages.last_mut() {
                    Some(last) if last.end == start => last.end = end,
                    _ => out.outages.push(Outage {
                        start,
                        end,
                        reason: iv.reason,
                    }),
                }
            }
        }
        cursor = end;
    }
    out.unmonitored_ms += (to - cursor).num_milliseconds();
    let faulty = add_quality(&mut out, &online, quality, from, to);
    if !windows.is_empty() {
        let windows = merge_spans(windows);
        out.excused_offline_ms = overlap_ms(&offline, &windows);
        out.excused_fault_ms = overlap_ms(&faulty, &windows);
    }
    out
}

/// Sorted, disjoint union of `[start, end)` spans (empty spans dropped).
pub fn merge_spans(spans: &[(Time, Time)]) -> Vec<(Time, Time)> {
    let mut v: Vec<(Time, Time)> = spans.iter().copied().filter(|(s, e)| e > s).collect();
    v.sort_unstable();
    let mut out: Vec<(Time, Time)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Milliseconds of `pieces` (disjoint, in time order) inside `windows` (merged).
fn overlap_ms(pieces: &[(Time, Time)], windows: &[(Time, Time)]) -> i64 {
    let mut total = 0;
    let mut first = 0;
    for &(start, end) in pieces {
        while first < windows.len() && windows[first].1 <= start {
            first += 1;
        }
        for &(ws, we) in windows[first..].iter().take_while(|w| w.0 < end) {
            total += (we.min(end) - ws.max(start)).num_milliseconds().max(0);
        }
    }
    total
}

/// Splits the online pieces (in time order, disjoint) of `out` into intact and picture-fault
/// time by the quality intervals; returns the picture-fault pieces (disjoint, in order).
fn add_quality<'b>(
    out: &mut CameraAvailability,
    online: &[(Time, Time)],
    quality: impl IntoIterator<Item = &'b QualityInterval>,
    from: Time,
    to: Time,
) -> Vec<(Time, Time)> {
    let mut faulty = Vec::new();
    let mut qs: Vec<&QualityInterval> = quality.into_iter().collect();
    qs.sort_by_key(|q| (q.start, q.end));
    // Disjoint verdict pieces clipped to the window, in time order (the earlier one wins an
    // overlap).
    let mut pieces: Vec<(Time, Time, &QualityInterval)> = Vec::new();
    let mut cursor = from;
    for q in qs {
        let start = q.start.max(cursor);
        let end = q.end.min(to);
        if end <= start {
            continue;
        }
        pieces.push((start, end, q));
        cursor = end;
    }
    let mut first = 0;
    for &(start, end) in online {
        // Pieces ending before this online piece end before every later one too.
        while first < pieces.len() && pieces[first].1 <= start {
            first += 1;
        }
        let mut judged = 0;
        for &(q_start, q_end, q) in pieces[first..].iter().take_while(|p| p.0 < end) {
            let ms = (q_end.min(end) - q_start.max(start)).num_milliseconds();
            if ms <= 0 {
                continue;
            }
            judged += ms;
            if q.ok {
                continue;
            }
            out.fault_ms += ms;
            faulty.push((q_start.max(start), q_end.min(end)));
            let mut names: Vec<&str> = q
                .faults
                .iter()
                .map(String::as_str)
                .filter(|f| !f.is_empty())
                .collect();
            names.sort_unstable();
            names.dedup();
            if names.is_empty() {
                names.push(UNSPECIFIED_FAULT);
            }
            for name in names {
                *out.fault_ms_by_fault.entry(name.to_string()).or_default() += ms;
            }
        }
        out.unchecked_ms += (end - start).num_milliseconds() - judged;
    }
    out.intact_ms = out.online_ms - out.fault_ms;
    faulty
}

/// Sums a set of cameras into one [`GroupAvailability`] named `group`, counting cameras
/// against `targets` (a bare `f64` is the same target for both rates).
pub fn summarize<'a>(
    group: impl Into<String>,
    cameras: impl IntoIterator<Item = &'a CameraAvailability>,
    targets: impl Into<Targets>,
) -> GroupAvailability {
    let targets = targets.into();
    let mut g = GroupAvailability {
        group: group.into(),
        ..GroupAvailability::default()
    };
    for cam in cameras {
        g.add(cam, targets);
    }
    g
}

/// Groups cameras by `key` (the group value of each camera) and sums each group; sorted by
/// group value.
pub fn by_group(
    cameras: &[CameraAvailability],
    key: impl Fn(&CameraAvailability) -> String,
    targets: impl Into<Targets>,
) -> Vec<GroupAvailability> {
    let targets = targets.into();
    let mut groups: BTreeMap<String, GroupAvailability> = BTreeMap::new();
    for cam in cameras {
        let k = key(cam);
        groups
            .entry(k.clone())
            .or_insert_with(|| GroupAvailability {
                group: k,
                ..GroupAvailability::default()
            })
            .add(cam, targets);
    }
    groups.into_values().collect()
}

/// Groups cameras by one [`GroupBy`] dimension of their [`Groups`]; a camera missing from
/// `groups` (or with an empty value) falls under [`UNASSIGNED`].
pub fn by_dimension(
    cameras: &[CameraAvailability],
    groups: &HashMap<String, Groups>,
    by: GroupBy,
    targets: impl Into<Targets>,
) -> Vec<GroupAvailability> {
    by_group(
        cameras,
        |c| group_value(groups.get(&c.camera_id), by).to_string(),
        targets,
    )
}

/// The value of dimension `by` for a camera's groups, [`UNASSIGNED`] when unknown or empty.
pub fn group_value(groups: Option<&Groups>, by: GroupBy) -> &str {
    match groups.map(|g| g.get(by)) {
        Some(v) if !v.is_empty() => v,
        _ => UNASSIGNED,
    }
}

fn reason_key(reason: Option<Reason>) -> &'static str {
    reason.map_or(UNSPECIFIED_REASON, Reason::as_str)
}

fn main_reason(by_reason: &BTreeMap<&'static str, i64>) -> Option<&'static str> {
    let rank = |k: &str| {
        Reason::ALL
            .iter()
            .position(|r| r.as_str() == k)
            .unwrap_or(Reason::ALL.len())
    };
    by_reason
        .iter()
        .filter(|(_, ms)| **ms > 0)
        // Most time first; among equals the lowest rank.
        .max_by(|(ka, a), (kb, b)| a.cmp(b).then_with(|| rank(kb).cmp(&rank(ka))))
        .map(|(k, _)| *k)
}

/// The sort rank of a fault name: its place in [`Fault::ALL`], unknown names after, and
/// [`UNSPECIFIED_FAULT`] last. The ledger lists a verdict's faults in this order.
///
/// [`Fault::ALL`]: crate::vision::quality::Fault::ALL
pub(crate) fn fault_rank(name: &str) -> usize {
    let all = &crate::vision::quality::Fault::ALL;
    if name == UNSPECIFIED_FAULT {
        return all.len() + 1;
    }
    all.iter()
        .position(|f| f.as_str() == name)
        .unwrap_or(all.len())
}

fn main_fault(by_fault: &BTreeMap<String, i64>) -> Option<&str> {
    by_fault
        .iter()
        .filter(|(_, ms)| **ms > 0)
        // Most time first; among equals the lowest rank, then the first name.
        .max_by(|(ka, a), (kb, b)| {
            a.cmp(b)
                .then_with(|| (fault_rank(kb), *kb).cmp(&(fault_rank(ka), *ka)))
        })
        .map(|(k, _)| k.as_str())
}

fn ratio(online_ms: i64, offline_ms: i64) -> Option<f64> {
    rate(online_ms, online_ms + offline_ms)
}

fn rate(part_ms: i64, observed_ms: i64) -> Option<f64> {
    (observed_ms > 0).then(|| part_ms as f64 / observed_ms as f64)
}

fn window_ms(from: Time, to: Time) -> i64 {
    (to - from).num_milliseconds().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_time;

    const DAY_MS: i64 = 86_400_000;

    fn t(hms: &str) -> Time {
        parse_time(&format!("2024-05-01T{hms}Z"))
    }

    fn from() -> Time {
        t("00:00:00")
    }

    fn to() -> Time {
        parse_time("2024-05-02T00:00:00Z")
    }

    fn iv(cam: &str, state: State, reason: Option<Reason>, start: Time, end: Time) -> Interval {
        Interval {
            camera_id: cam.into(),
            state,
            reason,
            start,
            end,
        }
    }

    fn on(cam: &str, start: Time, end: Time) -> Interval {
        iv(cam, State::Online, None, start, end)
    }

    fn off(cam: &str, r: Reason, start: Time, end: Time) -> Interval {
        iv(cam, State::Offline, Some(r), start, end)
    }

    fn conn(cam: &str, start: Time, end: Time) -> Interval {
        iv(cam, State::Connecting, None, start, end)
    }

    const H: i64 = 3_600_000;

    #[test]
    fn all_day_online_is_100_percent() {
        let a = camera("a", &[on("a", from(), to())], from(), to());
        assert_eq!(a.online_ms, DAY_MS);
        assert_eq!(a.unknown_ms(), 0);
        assert_eq!(a.availability(), Some(1.0));
        assert!(a.outages.is_empty());
        assert_eq!(a.longest_outage(), None);
        assert_eq!(a.main_reason(), None);
        assert_eq!(a.meets(DEFAULT_TARGET), Some(true));
    }

    #[test]
    fn six_hours_offline_of_24_is_75_percent() {
        let ivs = [
            on("a", from(), t("08:00:00")),
            off("a", Reason::Refused, t("08:00:00"), t("14:00:00")),
            on("a", t("14:00:00"), to()),
        ];
        let a = camera("a", &ivs, from(), to());
        assert_eq!(
            (a.online_ms, a.offline_ms, a.unknown_ms()),
            (18 * H, 6 * H, 0)
        );
        assert_eq!(a.availability(), Some(0.75));
        assert_eq!(
            a.outages,
            [Outage {
                start: t("08:00:00"),
                end: t("14:00:00"),
                reason: Some(Reason::Refused)
            }]
        );
        assert_eq!(a.main_reason(), Some("refused"));
        assert_eq!(a.meets(0.75), Some(true));
        assert_eq!(a.meets(0.76), Some(false));
    }

    #[test]
    fn connecting_and_unmonitored_are_excluded_from_the_denominator() {
        // Daemon starts at 02:00, connecting 1 min, online until a crash at 12:00,
        // back at 13:00, connecting, then offline for 1 h, then online.
        let ivs = [
            conn("a", t("02:00:00"), t("02:01:00")),
            on("a", t("02:01:00"), t("12:00:00")),
            conn("a", t("13:00:00"), t("13:00:30")),
            off("a", Reason::Unreachable, t("13:00:30"), t("14:00:30")),
            on("a", t("14:00:30"), to()),
        ];
        let a = camera("a", &ivs, from(), to());
        assert_eq!(a.connecting_ms, 90_000);
        assert_eq!(a.unmonitored_ms, 3 * H);
        assert_eq!(a.offline_ms, H);
        assert_eq!(a.online_ms, DAY_MS - 3 * H - H - 90_000);
        assert_eq!(
            a.online_ms + a.offline_ms + a.connecting_ms + a.unmonitored_ms,
            DAY_MS
        );
        let avail = a.availability().unwrap();
        assert!((avail - (a.online_ms as f64 / (DAY_MS - 3 * H - 90_000) as f64)).abs() < 1e-15);
    }

    #[test]
    fn intervals_are_clipped_to_the_window() {
        let ivs = [
            off(
                "a",
                Reason::Auth,
                parse_time("2024-04-30T20:00:00Z"),
                t("02:00:00"),
            ),
            on("a", t("02:00:00"), t("22:00:00")),
            off(
                "a",
                Reason::Stalled,
                t("22:00:00"),
                parse_time("2024-05-02T05:00:00Z"),
            ),
        ];
        let a = camera("a", &ivs, from(), to());
        assert_eq!(
            (a.online_ms, a.offline_ms, a.unknown_ms()),
            (20 * H, 4 * H, 0)
        );
        assert_eq!(a.outages.len(), 2);
        assert_eq!(a.outages[0].start, from());
        assert_eq!(a.outages[1].end, to());
        assert_eq!(a.outage_ms_by_reason.get("auth"), Some(&(2 * H)));
        assert_eq!(a.outage_ms_by_reason.get("stalled"), Some(&(2 * H)));
        // Equal time: the first reason in Reason::ALL order wins.
        assert_eq!(a.main_reason(), Some("auth"));
        // Equal length: the earliest outage is the longest.
        assert_eq!(a.longest_outage().unwrap().reason, Some(Reason::Auth));
    }

    #[test]
    fn intervals_outside_the_window_and_empty_ones_are_ignored() {
        let ivs = [
            on(
                "a",
                parse_time("2024-04-30T00:00:00Z"),
                parse_time("2024-04-30T23:00:00Z"),
            ),
            on("a", t("05:00:00"), t("05:00:00")),
            on("a", t("07:00:00"), t("06:00:00")), // inverted
            on("a", to(), parse_time("2024-05-02T03:00:00Z")),
        ];
        let a = camera("a", &ivs, from(), to());
        assert_eq!(a.unmonitored_ms, DAY_MS);
        assert_eq!(a.availability(), None);
        assert_eq!(a.meets(DEFAULT_TARGET), None);
        assert_eq!(a, CameraAvailability::unmonitored("a", from(), to()));
    }

    #[test]
    fn empty_or_inverted_window_counts_nothing() {
        let ivs = [on("a", from(), to())];
        let a = camera("a", &ivs, to(), from());
        assert_eq!(a.observed_ms() + a.unknown_ms(), 0);
        assert_eq!(
            CameraAvailability::unmonitored("a", to(), from()).unmonitored_ms,
            0
        );
    }

    #[test]
    fn unordered_and_overlapping_intervals_are_not_double_counted() {
        let ivs = [
            off("a", Reason::Refused, t("10:00:00"), t("12:00:00")),
            on("a", from(), t("11:00:00")), // overlaps the outage by one hour
            on("a", t("12:00:00"), to()),
        ];
        let a = camera("a", &ivs, from(), to());
        assert_eq!(a.online_ms, 11 * H + 12 * H);
        assert_eq!(a.offline_ms, H);
        assert_eq!(a.outages[0].start, t("11:00:00"));
        assert_eq!(a.observed_ms(), DAY_MS);
    }

    #[test]
    fn touching_offline_intervals_merge_into_one_outage() {
        let ivs = [
            on("a", from(), t("01:00:00")),
            off("a", Reason::Refused, t("01:00:00"), t("02:00:00")),
            off("a", Reason::Unreachable, t("02:00:00"), t("05:00:00")),
            on("a", t("05:00:00"), t("06:00:00")),
            off("a", Reason::Refused, t("06:00:00"), t("06:30:00")),
            on("a", t("06:30:00"), to()),
        ];
        let a = camera("a", &ivs, from(), to());
        assert_eq!(a.outages.len(), 2);
        assert_eq!(a.outages[0].reason, Some(Reason::Refused));
        assert_eq!(a.outages[0].duration_ms(), 4 * H);
        assert_eq!(a.longest_outage().unwrap().start, t("01:00:00"));
        assert_eq!(a.outage_ms_by_reason["refused"], H + H / 2);
        assert_eq!(a.outage_ms_by_reason["unreachable"], 3 * H);
        assert_eq!(a.main_reason(), Some("unreachable"));
    }

    #[test]
    fn outage_split_by_a_daemon_restart_counts_twice() {
        let ivs = [
            off("a", Reason::Refused, from(), t("10:00:00")),
            conn("a", t("11:00:00"), t("11:00:10")),
            off("a", Reason::Refused, t("11:00:10"), to()),
        ];
        let a = camera("a", &ivs, from(), to());
        assert_eq!(a.outages.len(), 2);
        assert_eq!(a.availability(), Some(0.0));
        assert_eq!(a.unmonitored_ms, H);
    }

    #[test]
    fn offline_without_reason_is_unspecified() {
        let ivs = [iv("a", State::Offline, None, from(), t("01:00:00"))];
        let a = camera("a", &ivs, from(), to());
        assert_eq!(a.main_reason(), Some(UNSPECIFIED_REASON));
        assert_eq!(a.outages[0].reason_str(), UNSPECIFIED_REASON);
    }

    #[test]
    fn per_camera_splits_and_sorts_by_id() {
        let ivs = [
            on("b", from(), to()),
            off("a", Reason::Auth, from(), to()),
            on("c", t("12:00:00"), to()),
        ];
        let all = per_camera(&ivs, from(), to());
        let ids: Vec<_> = all.iter().map(|c| c.camera_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(all[0].availability(), Some(0.0));
        assert_eq!(all[1].availability(), Some(1.0));
        assert_eq!(all[2].unmonitored_ms, 12 * H);
        assert_eq!(all[2].availability(), Some(1.0));
    }

    fn groups(region: &str) -> Groups {
        Groups {
            region: region.into(),
            unit: "u".into(),
            class: "1".into(),
            maintainer: "m".into(),
        }
    }

    #[test]
    fn group_rate_is_time_weighted_and_counts_target() {
        let ivs = [
            // a: 75 % over a full day.
            on("a", from(), t("18:00:00")),
            off("a", Reason::Refused, t("18:00:00"), to()),
            // b: 100 % over a full day.
            on("b", from(), to()),
            // c: 0 % over 2 hours only (the rest unmonitored).
            off("c", Reason::Auth, t("10:00:00"), t("12:00:00")),
            // d: only connecting: no availability.
            conn("d", from(), t("00:10:00")),
            // e: other region, exactly at target (98 %).
            on("e", from(), parse_time("2024-05-01T23:31:12Z")),
            off(
                "e",
                Reason::Stalled,
                parse_time("2024-05-01T23:31:12Z"),
                to(),
            ),
        ];
        let cams = per_camera(&ivs, from(), to());
        assert_eq!(cams[4].availability(), Some(0.98));
        let map: HashMap<String, Groups> = [
            ("a", "城关镇"),
            ("b", "城关镇"),
            ("c", "城关镇"),
            ("d", "城关镇"),
            ("e", "东城街道"),
        ]
        .into_iter()
        .map(|(id, r)| (id.to_string(), groups(r)))
        .collect();
        let by = by_dimension(&cams, &map, GroupBy::Region, DEFAULT_TARGET);
        assert_eq!(by.len(), 2);
        let (east, town) = (&by[0], &by[1]);
        assert_eq!(east.group, "东城街道");
        assert_eq!(
            (east.cameras, east.meeting_target, east.below_target),
            (1, 1, 0)
        );
        assert_eq!(town.group, "城关镇");
        assert_eq!(town.cameras, 4);
        assert_eq!(town.measured, 3);
        assert_eq!((town.meeting_target, town.below_target), (1, 2));
        assert_eq!(town.online_ms, 18 * H + 24 * H);
        assert_eq!(town.offline_ms, 6 * H + 2 * H);
        // Time-weighted: 42 / 50, not the mean of 75 %, 100 %, 0 %.
        assert_eq!(town.rate(), Some(42.0 / 50.0));
        assert_eq!(town.outages, 2);
        assert_eq!(town.main_reason(), Some("refused"));
        assert_eq!(town.connecting_ms, 10 * 60_000);

        let fleet = summarize("total", &cams, DEFAULT_TARGET);
        assert_eq!(fleet.cameras, 5);
        assert_eq!(fleet.measured, 4);
        assert_eq!(fleet.meeting_target + fleet.below_target, fleet.measured);
        assert_eq!(fleet.online_ms, town.online_ms + east.online_ms);
        assert_eq!(fleet.outages, 3);
    }

    #[test]
    fn unknown_cameras_and_empty_values_are_unassigned() {
        let cams = per_camera(
            &[on("x", from(), to()), on("y", from(), to())],
            from(),
            to(),
        );
        let map: HashMap<String, Groups> = [("y".to_string(), groups(""))].into();
        let by = by_dimension(&cams, &map, GroupBy::Region, DEFAULT_TARGET);
        assert_eq!(by.len(), 1);
        assert_eq!(by[0].group, UNASSIGNED);
        assert_eq!(by[0].cameras, 2);
        assert_eq!(group_value(None, GroupBy::Unit), UNASSIGNED);
        assert_eq!(group_value(Some(&groups("r")), GroupBy::Class), "1");
    }

    #[test]
    fn empty_set_has_no_rate() {
        let g = summarize("total", &[], DEFAULT_TARGET);
        assert_eq!(g.rate(), None);
        assert_eq!(g.cameras, 0);
        assert_eq!(g.main_reason(), None);
        assert!(by_group(&[], |c| c.camera_id.clone(), DEFAULT_TARGET).is_empty());
    }

    // -----------------------------------------------------------------------------------------
    // 完好率.

    fn q(cam: &str, faults: &[&str], start: Time, end: Time) -> QualityInterval {
        QualityInterval {
            camera_id: cam.into(),
            ok: faults.is_empty(),
            faults: faults.iter().map(|f| f.to_string()).collect(),
            start,
            end,
        }
    }

    /// The invariants every camera's figures keep.
    fn check(a: &CameraAvailability) {
        assert_eq!(a.intact_ms + a.fault_ms, a.online_ms, "{a:?}");
        assert!(a.unchecked_ms <= a.intact_ms, "{a:?}");
        assert!(a.intact_rate() <= a.availability(), "{a:?}");
        for ms in a.fault_ms_by_fault.values() {
            assert!(*ms <= a.fault_ms, "{a:?}");
        }
    }

    #[test]
    fn ten_hours_online_with_two_hours_black_is_80_percent() {
        let ivs = [on("a", from(), t("10:00:00"))];
        let qs = [
            q("a", &[], from(), t("04:00:00")),
            q("a", &["too_dark"], t("04:00:00"), t("06:00:00")),
            q("a", &[], t("06:00:00"), t("10:00:00")),
        ];
        let a = camera_with_quality("a", &ivs, &qs, from(), to());
        check(&a);
        assert_eq!((a.online_ms, a.offline_ms), (10 * H, 0));
        assert_eq!((a.intact_ms, a.fault_ms, a.unchecked_ms), (8 * H, 2 * H, 0));
        assert_eq!(a.availability(), Some(1.0));
        assert_eq!(a.intact_rate(), Some(0.8));
        assert_eq!(
            a.fault_ms_by_fault,
            BTreeMap::from([("too_dark".into(), 2 * H)])
        );
        assert_eq!(a.main_fault(), Some("too_dark"));
        assert_eq!(a.meets(DEFAULT_TARGET), Some(true));
        assert_eq!(a.meets_intact(DEFAULT_TARGET), Some(false));
        assert_eq!(a.meets_intact(0.8), Some(true));
        // The 14 unmonitored hours are not in either rate.
        assert_eq!(a.unmonitored_ms, 14 * H);
    }

    #[test]
    fn a_fault_while_offline_does_not_count_twice() {
        // Online 00–06, offline 06–10, online 10–12; the picture is frozen 05–11.
        let ivs = [
            on("a", from(), t("06:00:00")),
            off("a", Reason::Refused, t("06:00:00"), t("10:00:00")),
            on("a", t("10:00:00"), t("12:00:00")),
        ];
        let qs = [
            q("a", &[], from(), t("05:00:00")),
            q("a", &["frozen"], t("05:00:00"), t("11:00:00")),
            q("a", &[], t("11:00:00"), t("12:00:00")),
        ];
        let a = camera_with_quality("a", &ivs, &qs, from(), to());
        check(&a);
        assert_eq!((a.online_ms, a.offline_ms), (8 * H, 4 * H));
        // Only 05–06 and 10–11 are picture-fault time; 06–10 is an outage, counted once.
        assert_eq!(a.fault_ms, 2 * H);
        assert_eq!(a.fault_ms_by_fault["frozen"], 2 * H);
        assert_eq!(a.intact_ms, 6 * H);
        assert_eq!(a.intact_rate(), Some(0.5));
        assert_eq!(a.availability(), Some(8.0 / 12.0));
        // Offline all the time under a faulty verdict: 0 % intact, no fault time.
        let b = camera_with_quality(
            "b",
            &[off("b", Reason::Stalled, from(), t("05:00:00"))],
            &[q("b", &["blur"], from(), to())],
            from(),
            to(),
        );
        check(&b);
        assert_eq!((b.intact_ms, b.fault_ms), (0, 0));
        assert_eq!(b.intact_rate(), Some(0.0));
        assert_eq!(b.main_fault(), None);
    }

    #[test]
    fn unknown_quality_counts_as_intact() {
        // Online 00–10; a verdict only for 02–04 (ok); connecting and unmonitored time under
        // a faulty verdict counts nowhere.
        let ivs = [
            conn("a", t("00:00:00"), t("00:10:00")),
            on("a", t("00:10:00"), t("10:10:00")),
        ];
        let qs = [
            q("a", &["blur"], from(), t("00:10:00")),
            q("a", &[], t("02:00:00"), t("04:00:00")),
            q("a", &["blur"], t("10:10:00"), t("12:00:00")),
        ];
        let a = camera_with_quality("a", &ivs, &qs, from(), to());
        check(&a);
        assert_eq!(a.online_ms, 10 * H);
        assert_eq!(a.intact_ms, 10 * H);
        assert_eq!(a.unchecked_ms, 8 * H);
        assert_eq!(a.fault_ms, 0);
        assert_eq!(a.intact_rate(), Some(1.0));
        // No verdict at all: as without quality, everything online is intact and unchecked.
        let plain = camera("a", &ivs, from(), to());
        assert_eq!(plain.intact_ms, plain.online_ms);
        assert_eq!(plain.unchecked_ms, plain.online_ms);
        assert_eq!(plain.intact_rate(), plain.availability());
        // Nothing observed: no rate.
        let none = camera_with_quality("a", [], &qs, from(), to());
        assert_eq!((none.intact_rate(), none.meets_intact(0.5)), (None, None));
    }

    #[test]
    fn several_faults_count_under_each_and_ties_follow_fault_order() {
        let ivs = [on("a", from(), to())];
        let qs = [
            // Listed out of order and duplicated: counted once per name.
            q(
                "a",
                &["frozen", "too_dark", "frozen"],
                t("01:00:00"),
                t("02:00:00"),
            ),
            q("a", &["blur"], t("03:00:00"), t("04:00:00")),
            q("a", &["zzz_new"], t("05:00:00"), t("05:30:00")),
            // Faulty without a name.
            QualityInterval {
                ok: false,
                faults: vec![],
                ..q("a", &[], t("06:00:00"), t("06:15:00"))
            },
        ];
        let a = camera_with_quality("a", &ivs, &qs, from(), to());
        check(&a);
        assert_eq!(a.fault_ms, H + H + H / 2 + H / 4);
        assert_eq!(
            a.fault_ms_by_fault,
            BTreeMap::from([
                ("blur".into(), H),
                ("frozen".into(), H),
                ("too_dark".into(), H),
                ("zzz_new".into(), H / 2),
                (UNSPECIFIED_FAULT.into(), H / 4),
            ])
        );
        // Three at one hour: too_dark comes first in Fault::ALL.
        assert_eq!(a.main_fault(), Some("too_dark"));
        assert_eq!(fault_rank("too_dark"), 0);
        assert!(fault_rank("scene_change") < fault_rank("zzz_new"));
        assert!(fault_rank("zzz_new") < fault_rank(UNSPECIFIED_FAULT));
        // Among unknown names of equal time, the first alphabetically.
        let by = BTreeMap::from([("b_new".to_string(), H), ("a_new".to_string(), H)]);
        assert_eq!(main_fault(&by), Some("a_new"));
    }

    #[test]
    fn quality_is_clipped_and_overlaps_are_not_double_counted() {
        let ivs = [on("a", from(), to())];
        let qs = [
            // From the day before into this one: 2 h counted.
            q(
                "a",
                &["stripes"],
                parse_time("2024-04-30T20:00:00Z"),
                t("02:00:00"),
            ),
            // Overlapping the next one by an hour: the earlier wins the overlap.
            q("a", &["blur"], t("10:00:00"), t("12:00:00")),
            q("a", &[], t("11:00:00"), t("13:00:00")),
            q("a", &["snow_noise"], t("12:30:00"), t("14:00:00")),
            // Into the next day: 1 h counted.
            q(
                "a",
                &["frozen"],
                t("23:00:00"),
                parse_time("2024-05-02T05:00:00Z"),
            ),
            // Empty and inverted ones count nothing.
            q("a", &["blur"], t("20:00:00"), t("20:00:00")),
            q("a", &["blur"], t("21:00:00"), t("20:30:00")),
        ];
        let a = camera_with_quality("a", &ivs, &qs, from(), to());
        check(&a);
        assert_eq!(a.fault_ms_by_fault["stripes"], 2 * H);
        assert_eq!(a.fault_ms_by_fault["blur"], 2 * H);
        // 13:00–14:00 only: 12:30–13:00 belongs to the earlier ok verdict.
        assert_eq!(a.fault_ms_by_fault["snow_noise"], H);
        assert_eq!(a.fault_ms_by_fault["frozen"], H);
        assert_eq!(a.fault_ms, 6 * H);
        assert_eq!(a.unchecked_ms, DAY_MS - 6 * H - H);
        assert_eq!(a.intact_ms, DAY_MS - 6 * H);
    }

    #[test]
    fn per_camera_with_quality_matches_verdicts_to_cameras() {
        let ivs = [
            on("b", from(), t("10:00:00")),
            on("a", from(), t("10:00:00")),
        ];
        let qs = [
            q("a", &["too_dark"], t("04:00:00"), t("06:00:00")),
            q("b", &["occlusion"], t("00:00:00"), t("01:00:00")),
            // No status interval: ignored, no line for it.
            q("z", &["blur"], from(), to()),
        ];
        let all = per_camera_with_quality(&ivs, &qs, from(), to());
        let ids: Vec<_> = all.iter().map(|c| c.camera_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(all[0].intact_rate(), Some(0.8));
        assert_eq!(all[1].intact_rate(), Some(0.9));
        assert_eq!(all[1].main_fault(), Some("occlusion"));
        // Without verdicts, per_camera counts every online moment as intact.
        assert!(
            per_camera(&ivs, from(), to())
                .iter()
                .all(|c| c.intact_ms == c.online_ms)
        );
    }

    #[test]
    fn group_intact_rate_is_time_weighted_and_counts_its_own_target() {
        let ivs = [
            // a: online 10 h, 2 h too_dark → 80 % intact, 100 % up.
            on("a", from(), t("10:00:00")),
            // b: online 20 h, no verdict → 100 % intact.
            on("b", from(), t("20:00:00")),
            // c: online 5 h, offline 5 h, 1 h frozen while online → 40 % intact, 50 % up.
            on("c", from(), t("05:00:00")),
            off("c", Reason::Auth, t("05:00:00"), t("10:00:00")),
            // d: only connecting: unmeasured.
            conn("d", from(), t("01:00:00")),
        ];
        let qs = [
            q("a", &["too_dark"], t("04:00:00"), t("06:00:00")),
            q("c", &["frozen"], t("04:00:00"), t("08:00:00")),
            q("d", &["blur"], from(), to()),
        ];
        let cams = per_camera_with_quality(&ivs, &qs, from(), to());
        for c in &cams {
            check(c);
        }
        let targets = Targets {
            online: 0.5,
            intact: 0.9,
        };
        let g = summarize("total", &cams, targets);
        assert_eq!((g.cameras, g.measured), (4, 3));
        assert_eq!((g.meeting_target, g.below_target), (3, 0));
        assert_eq!((g.meeting_intact_target, g.below_intact_target), (1, 2));
        assert_eq!(g.online_ms, 35 * H);
        assert_eq!(g.intact_ms, 8 * H + 20 * H + 4 * H);
        assert_eq!(g.fault_ms, 3 * H);
        assert_eq!(g.unchecked_ms, 8 * H + 20 * H + 4 * H);
        // Time-weighted: 32 / 40, not the mean of 80 %, 100 % and 40 %.
        assert_eq!(g.intact_rate(), Some(0.8));
        assert_eq!(g.rate(), Some(35.0 / 40.0));
        assert_eq!(g.main_fault(), Some("too_dark"));
        assert_eq!(g.fault_ms_by_fault["frozen"], H);
        // A bare f64 is the same target for both rates.
        let same = summarize("total", &cams, 0.9);
        assert_eq!((same.meeting_target, same.meeting_intact_target), (2, 1));
        assert_eq!(Targets::from(0.9), Targets::same(0.9));
        assert_eq!(Targets::default(), Targets::same(DEFAULT_TARGET));
        // Per group the same sums.
        let by = by_group(&cams, |c| (c.camera_id == "b").to_string(), targets);
        assert_eq!(by[0].intact_rate(), Some(12.0 / 20.0));
        assert_eq!(by[1].intact_rate(), Some(1.0));
        assert_eq!(by[1].main_fault(), None);
    }

    // -----------------------------------------------------------------------------------------
    // Excused time (maintenance windows).

    #[test]
    fn windows_excuse_offline_and_fault_time_only() {
        // 00–06 online (02–04 faulty picture), 06–12 offline, 12–24 online.
        let ivs = [
            on("a", t("00:00:00"), t("06:00:00")),
            off("a", Reason::Refused, t("06:00:00"), t("12:00:00")),
            on("a", t("12:00:00"), to()),
        ];
        let qs = [q("a", &["blur"], t("02:00:00"), t("04:00:00"))];
        // Windows 03–08 and 07–10 (overlapping): excuse 03–04 fault, 06–10 offline.
        let w = [
            (t("07:00:00"), t("10:00:00")),
            (t("03:00:00"), t("08:00:00")),
        ];
        let a = camera_assessed("a", &ivs, &qs, &w, from(), to());
        check(&a);
        let h = 3_600_000;
        assert_eq!(a.excused_offline_ms, 4 * h);
        assert_eq!(a.excused_fault_ms, h);
        assert_eq!(a.availability(), Some(18.0 / 24.0));
        assert_eq!(a.assessed_availability(), Some(18.0 / 20.0));
        assert_eq!(a.intact_rate(), Some(16.0 / 24.0));
        assert_eq!(a.assessed_intact_rate(), Some(16.0 / 19.0));
        // Without windows, nothing is excused and assessed == raw.
        let raw = camera_with_quality("a", &ivs, &qs, from(), to());
        assert_eq!(raw.excused_offline_ms + raw.excused_fault_ms, 0);
        assert_eq!(raw.assessed_availability(), raw.availability());
        // Groups sum the excused time.
        let mut map = HashMap::new();
        map.insert("a".to_string(), w.to_vec());
        let cams = per_camera_assessed(&ivs, &qs, &map, from(), to());
        let g = summarize("all", &cams, 0.98);
        assert_eq!(g.excused_ms(), 5 * h);
        assert_eq!(g.assessed_rate(), Some(18.0 / 20.0));
        assert_eq!(g.assessed_intact_rate(), Some(16.0 / 19.0));
    }

    #[test]
    fn a_camera_down_only_inside_its_window_is_fully_available_assessed() {
        let ivs = [
            on("a", t("00:00:00"), t("10:00:00")),
            off("a", Reason::Unreachable, t("10:00:00"), t("11:00:00")),
            on("a", t("11:00:00"), to()),
        ];
        let w = [(t("09:30:00"), t("11:30:00"))];
        let a = camera_assessed("a", &ivs, [], &w, from(), to());
        assert_eq!(a.assessed_availability(), Some(1.0));
        assert!(a.availability().unwrap() < 1.0);
        // All of the observed time offline and excused: nothing left to assess.
        let down = [off("b", Reason::Unreachable, from(), to())];
        let b = camera_assessed("b", &down, [], &[(from(), to())], from(), to());
        assert_eq!(b.assessed_availability(), None);
        assert_eq!(b.availability(), Some(0.0));
    }

    #[test]
    fn merge_spans_unions_and_drops_empty() {
        let m = merge_spans(&[
            (t("05:00:00"), t("06:00:00")),
            (t("01:00:00"), t("02:00:00")),
            (t("01:30:00"), t("03:00:00")),
            (t("04:00:00"), t("04:00:00")),
        ]);
        assert_eq!(
            m,
            [
                (t("01:00:00"), t("03:00:00")),
                (t("05:00:00"), t("06:00:00"))
            ]
        );
    }
}
