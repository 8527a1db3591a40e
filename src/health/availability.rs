//! Historical availability (在线率 over a period): pure maths over status intervals.
//!
//! Input: the status history as [`Interval`]s (one per camera and state, as the
//! [`ledger`](crate::health::ledger) stores them) and a window `[from, to)`. Output: per camera
//! ([`CameraAvailability`]) the time spent `online`, `offline`, `connecting` and unmonitored,
//! the outages, and the availability; per group value ([`GroupAvailability`]) the
//! time-weighted online rate and how many cameras meet the target.
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
    /// Of which with availability < the target. `cameras - measured - meeting - below`
    /// is always 0; unmeasured cameras are in neither count.
    pub below_target: usize,
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

    fn add(&mut self, cam: &CameraAvailability, target: f64) {
        self.cameras += 1;
        match cam.meets(target) {
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
    }
}

/// Per-camera figures over `[from, to)` for every camera that has an interval in `intervals`
/// (in any order), sorted by camera id.
///
/// Intervals are clipped to the window. Overlapping intervals of one camera (which a sane
/// ledger never has) are not double-counted: the earlier one wins the overlap.
pub fn per_camera(intervals: &[Interval], from: Time, to: Time) -> Vec<CameraAvailability> {
    let mut by_camera: BTreeMap<&str, Vec<&Interval>> = BTreeMap::new();
    for iv in intervals {
        by_camera.entry(iv.camera_id.as_str()).or_default().push(iv);
    }
    by_camera
        .into_iter()
        .map(|(id, ivs)| camera(id, ivs, from, to))
        .collect()
}

/// One camera's figures over `[from, to)` from its intervals (in any order; intervals of
/// other cameras must not be passed).
pub fn camera<'a>(
    camera_id: &str,
    intervals: impl IntoIterator<Item = &'a Interval>,
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
            State::Online => out.online_ms += ms,
            State::Connecting => out.connecting_ms += ms,
            State::Offline => {
                out.offline_ms += ms;
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
    out
}

/// Sums a set of cameras into one [`GroupAvailability`] named `group`.
pub fn summarize<'a>(
    group: impl Into<String>,
    cameras: impl IntoIterator<Item = &'a CameraAvailability>,
    target: f64,
) -> GroupAvailability {
    let mut g = GroupAvailability {
        group: group.into(),
        ..GroupAvailability::default()
    };
    for cam in cameras {
        g.add(cam, target);
    }
    g
}

/// Groups cameras by `key` (the group value of each camera) and sums each group; sorted by
/// group value.
pub fn by_group(
    cameras: &[CameraAvailability],
    key: impl Fn(&CameraAvailability) -> String,
    target: f64,
) -> Vec<GroupAvailability> {
    let mut groups: BTreeMap<String, GroupAvailability> = BTreeMap::new();
    for cam in cameras {
        let k = key(cam);
        groups
            .entry(k.clone())
            .or_insert_with(|| GroupAvailability {
                group: k,
                ..GroupAvailability::default()
            })
            .add(cam, target);
    }
    groups.into_values().collect()
}

/// Groups cameras by one [`GroupBy`] dimension of their [`Groups`]; a camera missing from
/// `groups` (or with an empty value) falls under [`UNASSIGNED`].
pub fn by_dimension(
    cameras: &[CameraAvailability],
    groups: &HashMap<String, Groups>,
    by: GroupBy,
    target: f64,
) -> Vec<GroupAvailability> {
    by_group(
        cameras,
        |c| group_value(groups.get(&c.camera_id), by).to_string(),
        target,
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

fn ratio(online_ms: i64, offline_ms: i64) -> Option<f64> {
    let observed = online_ms + offline_ms;
    (observed > 0).then(|| online_ms as f64 / observed as f64)
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
}
