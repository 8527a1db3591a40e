//! A camera as the stages outside the fleet see it now: its identity and one consistent read
//! of its status and latest picture verdict. The page's wall and its event stream, the MQTT
//! status topic, the API's camera view, `/metrics` and the live rates all read this one type,
//! so "what a camera looks like" is decided in one place.

use serde::Serialize;

use super::{CameraEntry, is_intact};
use crate::clock::Time;
use crate::config::inventory::Groups;
use crate::health::status::{Reason, State};
use crate::vision::quality::Fault;

/// A camera's condition now (no identity: cheap to read, compare and keep).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// connecting, online or offline.
    pub state: State,
    /// Why offline (the latest failure).
    pub reason: Option<Reason>,
    /// When the current state began.
    pub since: Time,
    /// Picture faults of the latest verdict; `None` while no sample was diagnosed.
    pub faults: Option<Vec<Fault>>,
    /// Whether the latest verdict counts as a usable picture (no fault, or only faults that do
    /// not count against 完好率, see `[quality] clock_drift_counts`); `None` while undiagnosed.
    /// Not serialized: `intact` says it for an online camera.
    #[serde(skip)]
    pub picture_ok: Option<bool>,
    /// 完好: online and no fault in the latest verdict.
    pub intact: bool,
    /// Whether a picture can be had at `/api/cameras/{id}/snapshot.jpg`: one is stored, or
    /// the camera is sampled and online (the request then takes one).
    pub snapshot: bool,
}

/// One camera, read once: identity and groups from the inventory, condition from the fleet.
/// Serialized as the wall row and the MQTT status (`id`, `name`, `region`, `unit`, `class`,
/// `maintainer`, then the condition's fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraSnapshot<'a> {
    /// Inventory id.
    pub id: &'a str,
    /// Human name.
    pub name: &'a str,
    /// Region, unit, class and maintainer.
    #[serde(flatten)]
    pub groups: &'a Groups,
    /// Its condition now.
    #[serde(flatten)]
    pub now: Condition,
}

impl CameraEntry {
    /// The camera's condition now: its status machine and vision state, each locked briefly.
    pub fn condition(&self) -> Condition {
        let s = self.status();
        let v = self.vision.lock().unwrap();
        let q = v.quality.as_ref();
        Condition {
            state: s.state,
            reason: s.reason,
            since: s.since,
            faults: q.map(|q| q.faults.clone()),
            picture_ok: q.map(|q| q.ok),
            intact: is_intact(s.state, q),
            snapshot: v.snapshot.is_some() || (self.takes_snapshots() && s.state == State::Online),
        }
    }

    /// Whether a snapshot request makes its session sample the next keyframe (held and
    /// sampled cameras).
    pub fn takes_snapshots(&self) -> bool {
        self.mode == crate::config::inventory::Mode::Hold && !self.sample_interval.is_zero()
    }

    /// The camera as the stages outside the fleet see it now.
    pub fn snapshot(&self) -> CameraSnapshot<'_> {
        CameraSnapshot {
            id: &self.camera.id,
            name: &self.camera.name,
            groups: &self.camera.groups,
            now: self.condition(),
        }
    }
}
