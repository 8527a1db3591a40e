//! The alert engine: feeds each camera's detections, status and picture verdicts to the rules
//! that apply to it and turns their transitions into [`AlertEvent`]s in the durable outbox.
//!
//! One state per (rule, camera). An alert's id is derived from its camera, rule and start, so it
//! is stable across its lifecycle and across redelivery; `seq` counts its messages.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::alerts::event::{
    AlertCamera, AlertEvent, AlertKind, Evidence, EvidenceObject, Phase, Severity, alert_id_for,
};
use crate::alerts::outbox::Outbox;
use crate::clock::Time;
use crate::fleet::CameraEntry;
use crate::rules::config::{RuleConfig, RuleKind, RulesFile, Severity as RuleSeverity};
use crate::rules::crowding::{AbnormalState, CrowdingState, LossState, Transition};
use crate::vision::detector_pool::DetectionsView;
use crate::vision::quality::Fault;

enum RuleState {
    Crowding(CrowdingState),
    Loss(LossState),
    Abnormal(AbnormalState),
}

struct Open {
    alert_id: String,
    seq: u32,
}

struct Slot {
    state: RuleState,
    open: Option<Open>,
}

/// Rules → alerts → outbox.
pub struct AlertEngine {
    rules: RulesFile,
    outbox: Outbox,
    slots: Mutex<HashMap<(String, String), Slot>>,
    /// Base URL of this instance's API, for snapshot links (e.g. `http://10.0.0.5:9090`).
    api_base: String,
}

/// What a rule observes.
pub enum Observation<'a> {
    /// The latest detections of a sampled picture.
    Detections(&'a DetectionsView),
    /// Whether the camera is online (sent periodically).
    Online(bool),
    /// The faults of the latest diagnosed picture.
    Faults(&'a [Fault]),
}

impl AlertEngine {
    /// An engine over validated rules writing to `outbox`.
    pub fn new(rules: RulesFile, outbox: Outbox, api_base: String) -> Self {
        Self {
            rules,
            outbox,
            slots: Mutex::new(HashMap::new()),
            api_base,
        }
    }

    /// The outbox alerts go to.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Feeds one observation of a camera made at `at`; enqueues any alert messages it causes.
    pub fn observe(&self, entry: &CameraEntry, at: Time, obs: Observation<'_>) {
        let id = entry.camera.id.as_str();
        let mut slots = self.slots.lock().unwrap();
        for rule in self.rules.rules_for(id) {
            let fits = matches!(
                (&rule.kind, &obs),
                (RuleKind::Crowding(_), Observation::Detections(_))
                    | (RuleKind::VideoLoss(_), Observation::Online(_))
                    | (RuleKind::VideoAbnormal { .. }, Observation::Faults(_))
            );
            if !fits {
                continue;
            }
            let slot = slots
                .entry((rule.name.clone(), id.to_string()))
                .or_insert_with(|| Slot {
                    state: new_state(rule),
                    open: None,
                });
            let t = if !rule.active(at) {
                pause(&mut slot.state, at)
            } else {
                match (&mut slot.state, &obs) {
                    (RuleState::Crowding(s), Observation::Detections(v)) => {
                        let n = match &rule.kind {
                            RuleKind::Crowding(p) => p.count_view(v),
                            _ => 0,
                        };
                        s.observe(at, n)
                    }
                    (RuleState::Loss(s), Observation::Online(on)) => s.observe(at, *on),
                    (RuleState::Abnormal(s), Observation::Faults(f)) => s.observe(at, f),
                    _ => None,
                }
            };
            if let Some(t) = t {
                let evidence = match &obs {
                    Observation::Detections(v) => evidence_of(rule, v, t.count),
                    _ => Evidence {
                        count: t.count as u32,
                        ..Evidence::default()
                    },
                };
                self.emit(entry, rule, slot, &t, evidence);
            }
        }
    }

    fn emit(
        &self,
        entry: &CameraEntry,
        rule: &RuleConfig,
        slot: &mut Slot,
        t: &Transition,
        evidence: Evidence,
    ) {
        let cam = &entry.camera;
        let phase = t.phase;
        let open = match (phase, slot.open.as_mut()) {
            (Phase::New, _) | (_, None) => slot.open.insert(Open {
                alert_id: alert_id_for(&cam.id, &rule.name, t.started_at),
                seq: 0,
            }),
            (_, Some(o)) => {
                o.seq += 1;
                o
            }
        };
        let event = AlertEvent {
            alert_id: open.alert_id.clone(),
            seq: open.seq,
            phase,
            kind: kind_of(rule),
            severity: severity_of(rule.severity),
            rule: rule.name.clone(),
            camera: AlertCamera {
                id: cam.id.clone(),
                name: cam.name.clone(),
                region: cam.groups.region.clone(),
                unit: cam.groups.unit.clone(),
                class: cam.groups.class.clone(),
            },
            started_at: t.started_at,
            updated_at: t.at,
            ended_at: (phase == Phase::End).then_some(t.at),
            evidence,
            snapshot_url: Some(format!(
                "{}/api/cameras/{}/snapshot.jpg",
                self.api_base, cam.id
            )),
        };
        if phase == Phase::End {
            slot.open = None;
        }
        tracing::info!(
            alert = %event.alert_id, camera = %cam.id, rule = %rule.name,
            phase = ?phase, count = event.evidence.count, "alert"
        );
        if let Err(e) = self.outbox.enqueue(&event) {
            tracing::error!(alert = %event.alert_id, "alert not written to the outbox: {e:#}");
        }
    }
}

fn new_state(rule: &RuleConfig) -> RuleState {
    match &rule.kind {
        RuleKind::Crowding(p) => RuleState::Crowding(CrowdingState::new(p.clone())),
        RuleKind::VideoLoss(p) => RuleState::Loss(LossState::new(*p)),
        RuleKind::VideoAbnormal { params, faults } => {
            RuleState::Abnormal(AbnormalState::new(*params, faults.clone()))
        }
    }
}

fn pause(state: &mut RuleState, at: Time) -> Option<Transition> {
    match state {
        RuleState::Crowding(s) => s.pause(at),
        RuleState::Loss(s) => s.pause(at),
        RuleState::Abnormal(s) => s.pause(at),
    }
}

fn kind_of(rule: &RuleConfig) -> AlertKind {
    match rule.kind {
        RuleKind::Crowding(_) => AlertKind::Crowding,
        RuleKind::VideoLoss(_) => AlertKind::VideoLoss,
        RuleKind::VideoAbnormal { .. } => AlertKind::VideoAbnormal,
    }
}

/// The rules file has five levels, the alert envelope three: info; warning and minor → warning;
/// major and critical → critical.
fn severity_of(s: RuleSeverity) -> Severity {
    match s {
        RuleSeverity::Info => Severity::Info,
        RuleSeverity::Warning | RuleSeverity::Minor => Severity::Warning,
        RuleSeverity::Major | RuleSeverity::Critical => Severity::Critical,
    }
}

fn evidence_of(rule: &RuleConfig, v: &DetectionsView, count: usize) -> Evidence {
    let objects = match &rule.kind {
        RuleKind::Crowding(p) => v
            .objects
            .iter()
            .filter(|d| p.count(std::slice::from_ref(*d), v.width, v.height) == 1)
            .map(EvidenceObject::from)
            .collect(),
        _ => Vec::new(),
    };
    Evidence {
        count: count as u32,
        frame_width: v.width,
        frame_height: v.height,
        objects,
    }
}
