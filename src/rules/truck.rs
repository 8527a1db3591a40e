//! The uncovered-dump-truck rule (渣土车未覆盖): two stages and a k-of-n confirmation.
//!
//! 1. Stage one is the detector: boxes of `class` (COCO `truck`) scored at least `min_score`
//!    whose foot point lies in the zone.
//! 2. Stage two crops each box's cargo area ([`cargo_crop`], `cargo` as fractions of the box)
//!    and asks the rule's [`CoverClassifier`] how likely the load is uncovered; a crop scored
//!    at or above the classifier's threshold is an uncovered truck.
//! 3. A sample is *positive* when it holds at least one uncovered truck. The alert starts
//!    when at least `k` of the last `n` samples were positive (`confirm = [k, n]`), and ends
//!    when that has not been true for `hold_off`. Updates report a changed count (throttled by
//!    `update_interval`). One noisy sample neither raises nor ends an alert.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Time;
use crate::rules::condition::{ConditionParams, ConditionState, Transition};
use crate::rules::zones::{Polygon, foot_point};
use crate::vision::cover::{CoverClassifier, cargo_crop};
use crate::vision::detect::Detection;
use crate::vision::frame::RgbFrame;

/// Which cover classifier a rule uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassifierChoice {
    /// The documented colour-and-texture baseline ([`BaselineCover`](crate::vision::cover::BaselineCover)).
    Baseline,
    /// A trained model: the path of its classifier manifest.
    Model(PathBuf),
}

/// Parameters of an `uncovered_truck` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TruckParams {
    /// Where trucks are watched (their foot point).
    pub zone: Polygon,
    /// Detection class of stage one; `truck` by default.
    pub class: String,
    /// Detections below this score are ignored.
    /// `None`: the model's recommended threshold for `class`, else [`DEFAULT_TRUCK_SCORE`].
    pub min_score: Option<f32>,
    /// The cover classifier.
    pub classifier: ClassifierChoice,
    /// The cargo area as fractions of the truck box, `[x1, y1, x2, y2]`.
    pub cargo: [f32; 4],
    /// Positive samples needed among the last `confirm_n`.
    pub confirm_k: usize,
    /// Samples in the confirmation window.
    pub confirm_n: usize,
    /// How long the confirmation must fail before the alert ends.
    pub hold_off: Duration,
    /// At most one `Update` per this interval.
    pub update_interval: Duration,
    /// How often the rule's cameras are sampled; `None`: `[detect] interval`.
    pub sample_interval: Option<Duration>,
}

impl Default for TruckParams {
    fn default() -> Self {
        Self {
            zone: Polygon::whole_frame(),
            class: "truck".into(),
            min_score: None,
            classifier: ClassifierChoice::Baseline,
            cargo: [0.0, 0.0, 1.0, 0.5],
            confirm_k: 3,
            confirm_n: 5,
            hold_off: Duration::from_secs(30),
            update_interval: Duration::from_secs(30),
            sample_interval: None,
        }
    }
}

/// One truck judged by stage two.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgedTruck {
    /// The detection.
    pub detection: Detection,
    /// The classifier's uncovered score.
    pub uncovered: f32,
}

/// The truck score threshold of a rule that sets none, on a model that recommends none.
pub const DEFAULT_TRUCK_SCORE: f32 = 0.4;

impl TruckParams {
    /// Stage one and two on one picture: every truck in the zone with its uncovered score
    /// (trucks whose cargo crop is too small, or whose classification failed, are left out).
    pub fn judge(
        &self,
        frame: &RgbFrame,
        objects: &[Detection],
        classifier: &dyn CoverClassifier,
        recommended: Option<f32>,
    ) -> Vec<JudgedTruck> {
        let min_score = self
            .min_score
            .or(recommended)
            .unwrap_or(DEFAULT_TRUCK_SCORE);
        objects
            .iter()
            .filter(|d| d.class == self.class && d.score >= min_score)
            .filter(|d| {
                foot_point(d.bbox, frame.width, frame.height)
                    .is_some_and(|(x, y)| self.zone.contains(x, y))
            })
            .filter_map(|d| {
                let crop = cargo_crop(frame, d.bbox, self.cargo)?;
                match classifier.classify(&crop) {
                    Ok(v) => Some(JudgedTruck {
                        detection: d.clone(),
                        uncovered: v.uncovered,
                    }),
                    Err(e) => {
                        tracing::warn!("cover classifier {}: {e:#}", classifier.name());
                        None
                    }
                }
            })
            .collect()
    }
}

/// The state of one `uncovered_truck` rule on one camera.
#[derive(Debug, Clone)]
pub struct TruckState {
    k: usize,
    window: VecDeque<usize>,
    n: usize,
    condition: ConditionState,
}

impl TruckState {
    /// A fresh state.
    pub fn new(p: &TruckParams) -> Self {
        Self {
            k: p.confirm_k.max(1),
            n: p.confirm_n.max(p.confirm_k).max(1),
            window: VecDeque::new(),
            condition: ConditionState::new(ConditionParams {
                after: Duration::ZERO,
                hold_off: p.hold_off,
                update_interval: p.update_interval,
            }),
        }
    }

    /// Whether an alert is open.
    pub fn is_active(&self) -> bool {
        self.condition.is_active()
    }

    /// Feeds one sample: `uncovered` trucks seen in it.
    pub fn observe(&mut self, at: Time, uncovered: usize) -> Option<Transition> {
        self.window.push_back(uncovered);
        while self.window.len() > self.n {
            self.window.pop_front();
        }
        let positives = self.window.iter().filter(|&&c| c > 0).count();
        let count = if positives >= self.k {
            // Report the most trucks seen at once in the window.
            self.window.iter().copied().max().unwrap_or(0).max(1)
        } else {
            0
        };
        self.condition.observe(at, count > 0, count, count as u64)
    }

    /// The rule stops watching: ends an open alert.
    pub fn pause(&mut self, at: Time) -> Option<Transition> {
        self.window.clear();
        self.condition.pause(at, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::condition::Phase;
    use crate::vision::cover::{BaselineCover, CoverVerdict};

    fn t(s: i64) -> Time {
        chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn three_of_five_raise_and_hold_off_ends() {
        let p = TruckParams {
            hold_off: Duration::from_secs(10),
            ..TruckParams::default()
        };
        let mut s = TruckState::new(&p);
        // Two positives among noise: nothing.
        let mut out = Vec::new();
        for (i, c) in [1, 0, 1, 0, 0, 0].iter().enumerate() {
            out.push(s.observe(t(i as i64 * 2), *c));
        }
        assert!(out.iter().all(Option::is_none));
        // Third positive within five samples: new.
        assert!(
            s.observe(t(12), 1).is_none(),
            "window 0,1,0,0,0 → 1,0,0,0,1? no"
        );
        assert!(s.observe(t(14), 1).is_none());
        let tr = s.observe(t(16), 1).expect("3 of the last 5");
        assert_eq!(tr.phase, Phase::New);
        assert_eq!(tr.started_at, t(16));
        // One negative sample does not end it; hold_off of no confirmation does.
        assert!(s.observe(t(18), 0).is_none());
        assert!(s.is_active());
        let mut end = None;
        for i in 0..20 {
            if let Some(tr) = s.observe(t(20 + i * 2), 0) {
                end = Some(tr);
                break;
            }
        }
        let end = end.unwrap();
        assert_eq!(end.phase, Phase::End);
        assert!(end.at >= t(28) + chrono::Duration::seconds(10) - chrono::Duration::seconds(8));
    }

    struct Fixed(f32);
    impl CoverClassifier for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn threshold(&self) -> f32 {
            0.5
        }
        fn classify(&self, _: &RgbFrame) -> anyhow::Result<CoverVerdict> {
            Ok(CoverVerdict {
                uncovered: self.0,
                measures: vec![],
            })
        }
    }

    #[test]
    fn judge_keeps_trucks_in_the_zone_with_a_big_enough_crop() {
        let frame = RgbFrame::filled(400, 200, [100, 100, 100]);
        let det = |class: &str, score: f32, bbox: [f32; 4]| Detection {
            class: class.into(),
            class_id: 7,
            score,
            bbox,
        };
        let p = TruckParams {
            zone: Polygon::new(vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]).unwrap(),
            ..TruckParams::default()
        };
        let objects = vec![
            det("truck", 0.9, [10.0, 20.0, 150.0, 190.0]), // in the zone
            det("truck", 0.9, [250.0, 20.0, 390.0, 190.0]), // foot point outside
            det("truck", 0.2, [10.0, 20.0, 150.0, 190.0]), // too weak
            det("car", 0.9, [10.0, 20.0, 150.0, 190.0]),   // not a truck
            det("truck", 0.9, [10.0, 150.0, 30.0, 170.0]), // crop too small
        ];
        let judged = p.judge(&frame, &objects, &Fixed(0.8), None);
        assert_eq!(judged.len(), 1);
        assert_eq!(judged[0].uncovered, 0.8);
        assert_eq!(judged[0].detection.bbox[0], 10.0);
        // The baseline on a flat grey cargo area: covered (no texture).
        let judged = p.judge(&frame, &objects, &BaselineCover::new(), None);
        assert!(judged[0].uncovered < 0.5, "{judged:?}");
    }
}
