//! What the fleet keeps of each camera's vision results: the latest verdict, snapshot and
//! detections (what the API, page and metrics show), and the confirmation of a changed verdict
//! before it reaches the history.

use std::sync::Arc;

use crate::clock::Time;
use crate::vision::detect::DetectionsView;
use crate::vision::quality::{Fault, QualityView};

/// What vision knows of one camera.
#[derive(Default)]
pub struct VisionState {
    /// When the last sample was diagnosed.
    pub last_sample: Option<Time>,
    /// Picture size of the last sample.
    pub size: Option<(u32, u32)>,
    /// The latest verdict.
    pub quality: Option<QualityView>,
    /// The latest sample encoded as JPEG (not every sample is: see `pipeline::workers`).
    pub snapshot: Option<Arc<Vec<u8>>>,
    /// When the sample of `snapshot` was taken.
    pub snapshot_at: Option<Time>,
    /// The latest detections.
    pub detections: Option<DetectionsView>,
    /// What the history holds for this camera, and a different verdict waiting for
    /// confirmation (its faults, its first sample's time, how many samples agreed).
    recorded: Option<Vec<Fault>>,
    candidate: Option<(Vec<Fault>, Time, u32)>,
}

impl VisionState {
    /// Feeds one verdict; returns the verdict and time to record in the history when the
    /// history must change (see `QualityConfig::confirm_samples`).
    pub fn confirm(
        &mut self,
        faults: &[Fault],
        at: Time,
        needed: u32,
    ) -> Option<(Vec<Fault>, Time)> {
        match &self.recorded {
            None => {
                // The first verdict of a camera: nothing to flip from.
                self.recorded = Some(faults.to_vec());
                self.candidate = None;
                return Some((faults.to_vec(), at));
            }
            Some(r) if r.as_slice() == faults => {
                self.candidate = None;
                return None;
            }
            Some(_) => {}
        }
        let (first, seen) = match &mut self.candidate {
            Some((f, first, n)) if f.as_slice() == faults => {
                *n += 1;
                (*first, *n)
            }
            _ => {
                self.candidate = Some((faults.to_vec(), at, 1));
                (at, 1)
            }
        };
        if seen >= needed.max(1) {
            self.recorded = Some(faults.to_vec());
            self.candidate = None;
            Some((faults.to_vec(), first))
        } else {
            None
        }
    }
}

impl crate::fleet::Fleet {
    /// Stores a camera's new picture verdict (and snapshot); a verdict that differs from the
    /// history's is recorded there once `confirm` samples agreed, dated at the first.
    pub fn store_verdict(
        &self,
        entry: &crate::fleet::CameraEntry,
        at: Time,
        quality: QualityView,
        size: (u32, u32),
        snapshot: Option<Arc<Vec<u8>>>,
        confirm: u32,
    ) {
        let ok = quality.ok;
        let taken = snapshot.is_some();
        let (change, shown) = {
            let mut v = entry.vision.lock().unwrap();
            let change = v.confirm(&quality.faults, at, confirm);
            // What the page and the MQTT status show: the verdict, and whether a snapshot exists.
            let shown = v.quality.as_ref().map(|q| &q.faults) != Some(&quality.faults)
                || (v.snapshot.is_none() && snapshot.is_some());
            v.last_sample = Some(at);
            v.size = Some(size);
            v.quality = Some(quality);
            if snapshot.is_some() {
                v.snapshot = snapshot;
                v.snapshot_at = Some(at);
            }
            (change, shown)
        };
        if taken {
            entry.snapshot_taken.notify_waiters();
        }
        if shown {
            self.picture_changed(&entry.camera.id);
        }
        // Outside the camera's lock: the history's queue may be full.
        if let Some((faults, at)) = change {
            // The confirmed faults are this sample's, so its `ok` is theirs.
            self.record_quality(&entry.camera.id, at, &faults, ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_verdict_is_recorded_after_confirmation_dated_at_its_first_sample() {
        let t = |s: i64| {
            crate::clock::parse_time("2026-11-23T08:00:00Z") + chrono::Duration::seconds(s)
        };
        let mut v = VisionState::default();
        let blur = [Fault::Blur];
        assert_eq!(
            v.confirm(&[], t(0), 2),
            Some((vec![], t(0))),
            "the first verdict at once"
        );
        assert_eq!(v.confirm(&blur, t(60), 2), None, "one odd sample");
        assert_eq!(v.confirm(&[], t(120), 2), None, "back: nothing to record");
        assert_eq!(v.confirm(&blur, t(180), 2), None);
        assert_eq!(
            v.confirm(&blur, t(240), 2),
            Some((blur.to_vec(), t(180))),
            "confirmed, dated at its first sample"
        );
        assert_eq!(v.confirm(&blur, t(300), 2), None);
        assert_eq!(
            v.confirm(&[], t(360), 1),
            Some((vec![], t(360))),
            "confirm 1: at once"
        );
    }
}
