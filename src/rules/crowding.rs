//! Crowding in a zone: the people count, smoothed, as a [condition](crate::rules::condition).
//!
//! ```toml
//! [[rules]]
//! name = "square-crowding"
//! kind = "crowding"
//! cameras = ["c00*"]
//! zone = [[0,0],[1,0],[1,1],[0,1]]
//! min_people = 5          # smoothed count at or above this ...
//! dwell = "10s"           # ... for this long starts the alert
//! hold_off = "30s"        # smoothed count below min_people this long ends it
//! smoothing = 5           # median of the last 5 samples (1 = no smoothing)
//! update_interval = "30s" # at most one `update` per 30 s, and only when the count changed
//! min_score = 0.5         # not counted below; default: the model's [thresholds] (CenterNet 0.35)
//! ```
//!
//! * **Counting**: [`count_in_zone`] counts detections of the rule's class (`person`) with a
//!   score at or above `min_score` whose foot point (bottom centre of the box) lies in the
//!   zone.
//! * **Smoothing**: the **median of the last `smoothing` samples** (by sample, not time; the
//!   lower median for an even number, e.g. while the window fills). A median drops single-frame
//!   detector misses and false positives entirely, where an EMA would smear a spike of 20
//!   phantom people over the following samples and could still cross the threshold.
//! * **Start**: the smoothed count is at or above `min_people` on every sample for at least
//!   `dwell` (measured from the first such sample); `New` carries the count and `started_at`
//!   = that first sample's time. A dip below resets the dwell.
//! * **Update**: while active and at or above the threshold, when the smoothed count differs
//!   from the last one reported and at least `update_interval` has passed since the last
//!   `New`/`Update`. Counts during a dip (below the threshold, waiting for `hold_off`) are not
//!   reported.
//! * **End**: the smoothed count stays below `min_people` on every sample for `hold_off`
//!   (measured from the first sample below). A rise back to the threshold cancels the end.
//! * **Schedule off, camera gone**: [`CrowdingState::pause`] ends an active alert at once and
//!   forgets the samples; the machine starts afresh (dwell included) on the next sample.
//! * Samples older than the previous one are ignored.
use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::Time;
use crate::rules::condition::{ConditionParams, ConditionState, Transition};
use crate::rules::zones::{Polygon, foot_point};
use crate::vision::detect::Detection;
use crate::vision::detect::DetectionsView;

/// Parameters of a crowding rule.
#[derive(Debug, Clone, PartialEq)]
pub struct CrowdingParams {
    /// Where people are counted.
    pub zone: Polygon,
    /// Detection class counted; `person` by default.
    pub class: String,
    /// Detections below this score are not counted; `None`: the model's recommended
    /// threshold for `class` (its manifest's `[thresholds]`), else [`DEFAULT_MIN_SCORE`].
    pub min_score: Option<f32>,
    /// Smoothed count at or above this is a crowd (at least 1).
    pub min_people: usize,
    /// The crowd must last this long before `New`.
    pub dwell: Duration,
    /// The count must stay below `min_people` this long before `End`.
    pub hold_off: Duration,
    /// Samples in the median (at least 1).
    pub smoothing: usize,
    /// At most one `Update` per this interval.
    pub update_interval: Duration,
    /// How often the rule's cameras are sampled; `None`: `[detect] interval`.
    pub sample_interval: Option<Duration>,
}

impl Default for CrowdingParams {
    fn default() -> Self {
        Self {
            zone: Polygon::whole_frame(),
            class: "person".into(),
            min_score: None,
            min_people: 5,
            dwell: Duration::from_secs(10),
            hold_off: Duration::from_secs(30),
            smoothing: 5,
            update_interval: Duration::from_secs(30),
            sample_interval: None,
        }
    }
}

impl CrowdingParams {
    /// Objects of the rule's class, scored at least `min_score` (or `recommended` when the
    /// rule sets none, or [`DEFAULT_MIN_SCORE`]), standing in the zone.
    pub fn count(
        &self,
        objects: &[Detection],
        width: u32,
        height: u32,
        recommended: Option<f32>,
    ) -> usize {
        let min_score = self.min_score.or(recommended).unwrap_or(DEFAULT_MIN_SCORE);
        count_in_zone(&self.zone, &self.class, min_score, objects, width, height)
    }

    /// [`CrowdingParams::count`] on a camera's latest detections, with the detector's
    /// recommended threshold for the class.
    pub fn count_view(&self, view: &DetectionsView) -> usize {
        let recommended = view.thresholds.get(&self.class).copied();
        self.count(&view.objects, view.width, view.height, recommended)
    }
}

/// The score threshold of a crowding rule that sets none, on a model that recommends none.
pub const DEFAULT_MIN_SCORE: f32 = 0.5;

/// Counts detections of `class` with `score >= min_score` whose foot point (bottom centre of
/// the box, normalised by `width` × `height`) lies in `zone` (boundary included).
pub fn count_in_zone(
    zone: &Polygon,
    class: &str,
    min_score: f32,
    objects: &[Detection],
    width: u32,
    height: u32,
) -> usize {
    objects
        .iter()
        .filter(|d| d.class == class && d.score >= min_score)
        .filter_map(|d| foot_point(d.bbox, width, height))
        .filter(|&(x, y)| zone.contains(x, y))
        .count()
}

/// The crowding state machine of one rule on one camera: a median window over the samples
/// and a [`ConditionState`] whose condition is "smoothed count at or above `min_people`".
/// See the [module docs](self).
#[derive(Debug, Clone)]
pub struct CrowdingState {
    params: CrowdingParams,
    samples: VecDeque<usize>,
    condition: ConditionState,
}

impl CrowdingState {
    /// A fresh machine (idle, no samples). `smoothing` and `min_people` below 1 count as 1.
    pub fn new(mut params: CrowdingParams) -> Self {
        params.smoothing = params.smoothing.max(1);
        params.min_people = params.min_people.max(1);
        Self {
            samples: VecDeque::with_capacity(params.smoothing),
            condition: ConditionState::new(ConditionParams {
                after: params.dwell,
                hold_off: params.hold_off,
                update_interval: params.update_interval,
            }),
            params,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &CrowdingParams {
        &self.params
    }

    /// Whether an alert is open.
    pub fn is_active(&self) -> bool {
        self.condition.is_active()
    }

    /// The current smoothed count (lower median of the window), 0 without samples.
    pub fn smoothed(&self) -> usize {
        if self.samples.is_empty() {
            return 0;
        }
        let mut v: Vec<usize> = self.samples.iter().copied().collect();
        v.sort_unstable();
        v[(v.len() - 1) / 2]
    }

    /// Feeds one sample: `people_in_zone` counted on the picture sampled at `at`.
    pub fn observe(&mut self, at: Time, people_in_zone: usize) -> Option<Transition> {
        if !self.condition.accepts(at) {
            return None;
        }
        if self.samples.len() == self.params.smoothing {
            self.samples.pop_front();
        }
        self.samples.push_back(people_in_zone);
        let count = self.smoothed();
        let crowd = count >= self.params.min_people;
        self.condition.observe(at, crowd, count, count as u64)
    }

    /// The rule stops watching (schedule off, camera offline, rule removed): ends an open alert
    /// at once and forgets the samples and any dwell in progress.
    pub fn pause(&mut self, at: Time) -> Option<Transition> {
        let count = self.smoothed();
        self.samples.clear();
        self.condition.pause(at, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::rules::condition::Phase;
    use chrono::TimeZone;

    const S: Duration = Duration::from_secs(1);

    fn t0() -> Time {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
    }

    fn params(smoothing: usize) -> CrowdingParams {
        CrowdingParams {
            min_people: 5,
            dwell: 10 * S,
            hold_off: 30 * S,
            smoothing,
            update_interval: 20 * S,
            ..CrowdingParams::default()
        }
    }

    /// Feeds `counts`, one sample every 5 s, and returns the transitions with their second.
    fn run(
        state: &mut CrowdingState,
        clock: &ManualClock,
        counts: &[usize],
    ) -> Vec<(i64, Phase, usize)> {
        let mut out = Vec::new();
        for &c in counts {
            if let Some(t) = state.observe(clock.now(), c) {
                out.push(((t.at - t0()).num_seconds(), t.phase, t.count));
            }
            clock.advance(5 * S);
        }
        out
    }

    #[test]
    fn starts_only_after_dwell() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        let got = run(&mut s, &clock, &[0, 6, 6, 6, 6]);
        // Above from t=5; dwell 10 s → New at t=15, started_at t=5.
        assert_eq!(got, [(15, Phase::New, 6)]);
        assert!(s.is_active());
    }

    #[test]
    fn new_carries_start_of_crowd() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        s.observe(clock.now(), 7);
        clock.advance(10 * S);
        let t = s.observe(clock.now(), 7).unwrap();
        assert_eq!(t.phase, Phase::New);
        assert_eq!(t.started_at, t0());
        assert_eq!(t.at, t0() + chrono::TimeDelta::seconds(10));
    }

    #[test]
    fn dwell_zero_starts_at_once() {
        let mut p = params(1);
        p.dwell = Duration::ZERO;
        let mut s = CrowdingState::new(p);
        assert_eq!(s.observe(t0(), 5).unwrap().phase, Phase::New);
    }

    #[test]
    fn dip_before_dwell_resets_it() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        let got = run(&mut s, &clock, &[6, 6, 2, 6, 6, 6]);
        // Restarted at t=15, New at t=25.
        assert_eq!(got, [(25, Phase::New, 6)]);
    }

    #[test]
    fn brief_spikes_do_not_start_it() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(5));
        // Isolated spikes (one or two samples out of five) vanish in the median.
        let got = run(&mut s, &clock, &[1, 30, 1, 1, 40, 2, 1, 25, 25, 1, 1, 1, 1]);
        assert_eq!(got, []);
        assert!(!s.is_active());
    }

    #[test]
    fn median_smoothing() {
        let mut s = CrowdingState::new(params(5));
        for (i, c) in [3, 9, 4].into_iter().enumerate() {
            s.observe(t0() + chrono::TimeDelta::seconds(i as i64), c);
        }
        assert_eq!(s.smoothed(), 4);
        s.observe(t0() + chrono::TimeDelta::seconds(3), 10);
        assert_eq!(s.smoothed(), 4, "lower median of 3 4 9 10");
        s.observe(t0() + chrono::TimeDelta::seconds(4), 10);
        s.observe(t0() + chrono::TimeDelta::seconds(5), 10);
        assert_eq!(s.smoothed(), 10, "window 9 4 10 10 10");
    }

    #[test]
    fn brief_dips_do_not_end_it() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        // New at 10; dips of 25 s (< hold_off 30 s) twice, then steady.
        let got = run(
            &mut s,
            &clock,
            &[6, 6, 6, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 6, 6],
        );
        assert_eq!(got, [(10, Phase::New, 6)]);
        assert!(s.is_active());
    }

    #[test]
    fn ends_after_hold_off() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        // New at 10; below from 15; End once 30 s below: at 45.
        let got = run(&mut s, &clock, &[6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(got, [(10, Phase::New, 6), (45, Phase::End, 1)]);
        assert!(!s.is_active());
        // It can start again, dwell included.
        let got = run(&mut s, &clock, &[7, 7, 7]);
        assert_eq!(got, [(65, Phase::New, 7)]);
    }

    #[test]
    fn end_reports_peak_and_start() {
        let mut p = params(1);
        p.dwell = Duration::ZERO;
        p.hold_off = Duration::ZERO;
        p.update_interval = Duration::ZERO;
        let mut s = CrowdingState::new(p);
        let at = |n: i64| t0() + chrono::TimeDelta::seconds(n);
        assert_eq!(s.observe(at(0), 5).unwrap().phase, Phase::New);
        assert_eq!(s.observe(at(1), 9).unwrap().phase, Phase::Update);
        assert_eq!(s.observe(at(2), 6).unwrap().count, 6);
        let end = s.observe(at(3), 0).unwrap();
        assert_eq!(
            end,
            Transition {
                phase: Phase::End,
                count: 0,
                peak: 9,
                started_at: at(0),
                at: at(3)
            }
        );
    }

    #[test]
    fn updates_are_throttled_and_only_on_change() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        // New at 10 (count 6). Changes at 15, 20 are within 20 s of the New: held back.
        // At 30 the count (8) differs from the reported 6 and 20 s passed: Update.
        // 35..45 no change; 50: 9 but only 20 s after the update at 30 → Update at 50.
        let got = run(
            &mut s,
            &clock,
            &[6, 6, 6, 7, 8, 8, 8, 8, 8, 8, 9, 6, 6, 6, 6, 6],
        );
        assert_eq!(
            got,
            [
                (10, Phase::New, 6),
                (30, Phase::Update, 8),
                (50, Phase::Update, 9),
                (70, Phase::Update, 6),
            ]
        );
    }

    #[test]
    fn same_count_never_updates() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        let got = run(&mut s, &clock, &[6; 40]);
        assert_eq!(got, [(10, Phase::New, 6)]);
    }

    #[test]
    fn dip_counts_are_not_updates() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        // New at 10; a dip to 2 for 25 s; back to 6: nothing but the New.
        let got = run(&mut s, &clock, &[6, 6, 6, 2, 2, 2, 2, 2, 6, 6, 6, 6, 6, 6]);
        assert_eq!(got, [(10, Phase::New, 6)]);
    }

    #[test]
    fn schedule_off_ends_and_does_not_start() {
        let clock = ManualClock::new(t0());
        let mut s = CrowdingState::new(params(1));
        run(&mut s, &clock, &[6, 6, 6]);
        assert!(s.is_active());
        let end = s.pause(clock.now()).unwrap();
        assert_eq!(end.phase, Phase::End);
        assert_eq!(end.peak, 6);
        assert!(!s.is_active());
        assert_eq!(s.pause(clock.now()), None, "pausing twice ends nothing");
        // Schedule off while a crowd builds: the dwell starts over when it is back on.
        run(&mut s, &clock, &[6, 6]);
        assert_eq!(s.pause(clock.now()), None);
        let got = run(&mut s, &clock, &[6, 6, 6]);
        assert_eq!(got, [(35, Phase::New, 6)]);
    }

    #[test]
    fn old_samples_are_ignored() {
        let mut s = CrowdingState::new(params(1));
        let at = |n: i64| t0() + chrono::TimeDelta::seconds(n);
        s.observe(at(10), 6);
        assert_eq!(s.observe(at(5), 100), None);
        assert_eq!(s.smoothed(), 6);
    }

    fn det(class: &str, score: f32, bbox: [f32; 4]) -> Detection {
        Detection {
            class: class.into(),
            class_id: if class == "person" { 0 } else { 2 },
            score,
            bbox,
        }
    }

    #[test]
    fn counts_people_by_foot_point() {
        // Zone: the lower half of a 200×100 picture.
        let zone = Polygon::new(vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]).unwrap();
        let objects = [
            det("person", 0.9, [10.0, 10.0, 30.0, 80.0]), // feet at y 0.8: in
            det("person", 0.9, [10.0, 0.0, 30.0, 40.0]),  // feet at y 0.4: out (head region)
            det("person", 0.3, [50.0, 50.0, 60.0, 90.0]), // low score
            det("car", 0.9, [50.0, 50.0, 90.0, 90.0]),    // not a person
            det("person", 0.5, [100.0, 20.0, 120.0, 100.0]), // at threshold, feet on edge: in
        ];
        assert_eq!(count_in_zone(&zone, "person", 0.5, &objects, 200, 100), 2);
        let p = CrowdingParams {
            zone,
            ..CrowdingParams::default()
        };
        assert_eq!(p.count(&objects, 200, 100, None), 2);
        let mut view = DetectionsView {
            at: t0(),
            width: 200,
            height: 100,
            counts: Default::default(),
            objects: objects.to_vec(),
            thresholds: Default::default(),
        };
        assert_eq!(p.count_view(&view), 2);
        // The model recommends 0.3 for people and the rule sets none: the low-score one counts.
        view.thresholds = std::sync::Arc::new([("person".to_string(), 0.3)].into());
        assert_eq!(p.count_view(&view), 3);
        // A rule's own min_score wins.
        let strict = CrowdingParams {
            min_score: Some(0.5),
            ..p.clone()
        };
        assert_eq!(strict.count_view(&view), 2);
    }
}
