//! The one lifecycle behind every alert: a condition held for a while.
//!
//! A [`ConditionState`] is driven by `(time, observation)` calls and never reads a clock, so
//! the whole lifecycle is testable on a manual clock. The condition bad for `after` (measured
//! from its first bad observation) starts an alert ([`Phase::New`], `started_at` = that first
//! observation); a material change of its evidence while it lasts is an [`Phase::Update`] (at
//! most one per `update_interval`); the condition good for `hold_off` ends it ([`Phase::End`]).
//! A bad observation during the hold-off cancels the end; a good one before `after` resets
//! the start. [`ConditionState::pause`] (schedule off, camera gone) ends an open alert at
//! once. Observations older than the previous one are ignored.
//!
//! Each rule kind is this machine plus what decides "bad": crowding a median-smoothed people
//! count at or above `min_people` ([`crate::rules::crowding`]), the truck rule `k` of the last
//! `n` samples positive ([`crate::rules::truck`]), and the two camera-health conditions here.
//!
//! # Video loss and abnormal picture
//!
//! ```toml
//! [[rules]]
//! kind = "video_loss"
//! cameras = ["*"]
//! after = "5m"        # offline this long starts the alert
//! hold_off = "1m"     # online this long ends it (default 0: the first online observation)
//!
//! [[rules]]
//! kind = "video_abnormal"
//! cameras = ["*"]
//! faults = ["too_dark", "frozen", "occlusion"]   # optional; default every fault
//! after = "10m"
//! ```
//!
//! For `video_abnormal` an `Update` is emitted when the set of faults changes (throttled like
//! crowding); its `count` is the number of faults.

use std::time::Duration;

use crate::clock::Time;

/// Where a message sits in its alert's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The alert starts (always `seq` 0).
    New,
    /// The alert goes on with new evidence.
    Update,
    /// The alert is over (`ended_at` set).
    End,
}

impl Phase {
    /// The snake_case name used in JSON and in the CloudEvent `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::New => "new",
            Phase::Update => "update",
            Phase::End => "end",
        }
    }
}

/// What a state machine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// New, update or end.
    pub phase: Phase,
    /// The evidence now: the smoothed people count for crowding, the number of faults for an
    /// abnormal picture, 0 or 1 for video loss (1 while lost).
    pub count: usize,
    /// The highest count reported or seen while active (crowding), for the end message.
    pub peak: usize,
    /// When the condition began (the first observation of the episode that started it).
    pub started_at: Time,
    /// The observation time that caused this transition.
    pub at: Time,
}

/// Elapsed time from `since` to `at`, zero if `at` is earlier.
pub(crate) fn elapsed(since: Time, at: Time) -> Duration {
    (at - since).to_std().unwrap_or(Duration::ZERO)
}

/// Parameters of a condition: how long it must hold to start and to end an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConditionParams {
    /// The bad condition must last this long before `New`.
    pub after: Duration,
    /// The good condition must last this long before `End`.
    pub hold_off: Duration,
    /// At most one `Update` per this interval.
    pub update_interval: Duration,
}

/// A bad condition held for a while: the one lifecycle of every rule (crowding, uncovered
/// truck, video loss, abnormal picture). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct ConditionState {
    params: ConditionParams,
    last_at: Option<Time>,
    bad_since: Option<Time>,
    active: Option<ConditionActive>,
}

#[derive(Debug, Clone)]
struct ConditionActive {
    started_at: Time,
    reported: u64,
    reported_count: usize,
    reported_at: Time,
    peak: usize,
    good_since: Option<Time>,
}

impl ConditionState {
    /// A fresh machine (condition good, no alert).
    pub fn new(params: ConditionParams) -> Self {
        Self {
            params,
            last_at: None,
            bad_since: None,
            active: None,
        }
    }

    /// Whether an alert is open.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Whether an observation at `at` would be taken (none older than the previous one is).
    pub fn accepts(&self, at: Time) -> bool {
        self.last_at.is_none_or(|last| at >= last)
    }

    /// Feeds one observation: whether the condition is `bad` now, and the evidence reported
    /// with it: `count` (people, faults, trucks) and `detail`, which identifies it (for
    /// `video_abnormal` a bit set of the faults). A change of `count` or `detail` while active
    /// is an `Update` (throttled by `update_interval`). An `End` carries the `count` of the
    /// observation that ended it.
    pub fn observe(
        &mut self,
        at: Time,
        bad: bool,
        count: usize,
        detail: u64,
    ) -> Option<Transition> {
        if !self.accepts(at) {
            return None;
        }
        self.last_at = Some(at);
        let p = self.params;
        match &mut self.active {
            None => {
                if !bad {
                    self.bad_since = None;
                    return None;
                }
                let since = *self.bad_since.get_or_insert(at);
                if elapsed(since, at) < p.after {
                    return None;
                }
                self.bad_since = None;
                self.active = Some(ConditionActive {
                    started_at: since,
                    reported: detail,
                    reported_count: count,
                    reported_at: at,
                    peak: count,
                    good_since: None,
                });
                Some(Transition {
                    phase: Phase::New,
                    count,
                    peak: count,
                    started_at: since,
                    at,
                })
            }
            Some(a) => {
                if !bad {
                    let since = *a.good_since.get_or_insert(at);
                    if elapsed(since, at) < p.hold_off {
                        return None;
                    }
                    let t = Transition {
                        phase: Phase::End,
                        count,
                        peak: a.peak,
                        started_at: a.started_at,
                        at,
                    };
                    self.active = None;
                    return Some(t);
                }
                a.good_since = None;
                a.peak = a.peak.max(count);
                if (detail == a.reported && count == a.reported_count)
                    || elapsed(a.reported_at, at) < p.update_interval
                {
                    return None;
                }
                a.reported = detail;
                a.reported_count = count;
                a.reported_at = at;
                Some(Transition {
                    phase: Phase::Update,
                    count,
                    peak: a.peak,
                    started_at: a.started_at,
                    at,
                })
            }
        }
    }

    /// The rule stops watching: ends an open alert at once (its `End` reporting `count`) and
    /// forgets any pending start.
    pub fn pause(&mut self, at: Time, count: usize) -> Option<Transition> {
        self.bad_since = None;
        self.last_at = self.last_at.max(Some(at));
        self.active.take().map(|a| Transition {
            phase: Phase::End,
            count,
            peak: a.peak,
            started_at: a.started_at,
            at,
        })
    }
}

/// `video_loss`: a camera offline for longer than a threshold.
#[derive(Debug, Clone)]
pub struct LossState(ConditionState);

impl LossState {
    /// A fresh machine.
    pub fn new(params: ConditionParams) -> Self {
        Self(ConditionState::new(params))
    }

    /// Feeds the camera's state at `at`: `online` is `true` for
    /// [`State::Online`](crate::health::status::State::Online). Callers decide what
    /// `Connecting` means (the daemon treats it as not yet known and does not call).
    pub fn observe(&mut self, at: Time, online: bool) -> Option<Transition> {
        self.0
            .observe(at, !online, usize::from(!online), u64::from(!online))
    }

    /// Whether an alert is open.
    pub fn is_active(&self) -> bool {
        self.0.is_active()
    }

    /// Ends an open alert at once (schedule off, camera removed).
    pub fn pause(&mut self, at: Time) -> Option<Transition> {
        self.0.pause(at, 0)
    }
}

/// `video_abnormal`: a picture-quality fault for longer than a threshold.
#[derive(Debug, Clone)]
pub struct AbnormalState {
    state: ConditionState,
    /// Faults that count; empty means all.
    watched: Vec<crate::vision::quality::Fault>,
}

impl AbnormalState {
    /// A fresh machine watching `faults` (empty: every fault).
    pub fn new(params: ConditionParams, faults: Vec<crate::vision::quality::Fault>) -> Self {
        Self {
            state: ConditionState::new(params),
            watched: faults,
        }
    }

    /// Feeds the faults diagnosed on the picture sampled at `at` (empty: picture fine).
    /// An `Update` is emitted when the set of watched faults changes.
    pub fn observe(
        &mut self,
        at: Time,
        faults: &[crate::vision::quality::Fault],
    ) -> Option<Transition> {
        let mut bits = 0u64;
        for f in faults {
            if self.watched.is_empty() || self.watched.contains(f) {
                bits |= 1 << (*f as u32);
            }
        }
        self.state
            .observe(at, bits != 0, bits.count_ones() as usize, bits)
    }

    /// Whether an alert is open.
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    /// Ends an open alert at once (schedule off, camera offline, camera removed).
    pub fn pause(&mut self, at: Time) -> Option<Transition> {
        self.state.pause(at, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::quality::Fault;
    use chrono::TimeZone;

    const S: Duration = Duration::from_secs(1);

    fn t0() -> Time {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
    }

    fn cond() -> ConditionParams {
        ConditionParams {
            after: 60 * S,
            hold_off: 20 * S,
            update_interval: 30 * S,
        }
    }

    #[test]
    fn video_loss_lifecycle() {
        let at = |n: i64| t0() + chrono::TimeDelta::seconds(n);
        let mut s = LossState::new(cond());
        assert_eq!(s.observe(at(0), true), None);
        assert_eq!(s.observe(at(10), false), None);
        assert_eq!(
            s.observe(at(50), true),
            None,
            "a short outage starts nothing"
        );
        assert_eq!(s.observe(at(60), false), None);
        let new = s.observe(at(120), false).unwrap();
        assert_eq!(
            (new.phase, new.started_at, new.count),
            (Phase::New, at(60), 1)
        );
        assert_eq!(s.observe(at(500), false), None, "no updates while lost");
        assert_eq!(s.observe(at(510), true), None);
        assert_eq!(s.observe(at(520), false), None, "flap inside hold-off");
        assert_eq!(s.observe(at(530), true), None);
        let end = s.observe(at(550), true).unwrap();
        assert_eq!((end.phase, end.started_at), (Phase::End, at(60)));
        assert!(!s.is_active());
        s.observe(at(600), false);
        s.observe(at(700), false);
        assert!(s.is_active());
        assert_eq!(s.pause(at(701)).unwrap().phase, Phase::End);
    }

    #[test]
    fn video_abnormal_lifecycle() {
        let at = |n: i64| t0() + chrono::TimeDelta::seconds(n);
        let mut s = AbnormalState::new(cond(), vec![Fault::TooDark, Fault::Frozen]);
        assert_eq!(s.observe(at(0), &[Fault::Blur]), None);
        assert_eq!(
            s.observe(at(100), &[Fault::Blur]),
            None,
            "blur is not watched"
        );
        assert!(!s.is_active());
        s.observe(at(100), &[Fault::TooDark]);
        let new = s.observe(at(160), &[Fault::TooDark, Fault::Blur]).unwrap();
        assert_eq!((new.phase, new.count), (Phase::New, 1));
        assert_eq!(
            s.observe(at(170), &[Fault::TooDark, Fault::Frozen]),
            None,
            "throttled"
        );
        let up = s
            .observe(at(190), &[Fault::TooDark, Fault::Frozen])
            .unwrap();
        assert_eq!((up.phase, up.count, up.peak), (Phase::Update, 2, 2));
        assert_eq!(s.observe(at(230), &[Fault::TooDark, Fault::Frozen]), None);
        // Same number, different fault: material.
        let up = s.observe(at(260), &[Fault::Frozen, Fault::TooDark]);
        assert_eq!(up, None, "same set in another order");
        let up = s.observe(at(261), &[Fault::TooDark]).unwrap();
        assert_eq!(up.count, 1);
        assert_eq!(s.observe(at(300), &[]), None);
        let end = s.observe(at(320), &[Fault::Blur]).unwrap();
        assert_eq!(
            (end.phase, end.started_at, end.peak),
            (Phase::End, at(100), 2)
        );
    }
}
