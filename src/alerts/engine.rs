//! The alert engine: feeds each camera's detections, status and picture verdicts to the rules
//! that apply to it and turns their transitions into [`AlertEvent`]s in the durable outbox.
//!
//! One state per (rule, camera). An alert's id is derived from its camera, rule and start, so it
//! is stable across its lifecycle and across redelivery; `seq` counts its messages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;

use crate::alerts::event::{
    AlertCamera, AlertEvent, AlertKind, Evidence, EvidenceObject, Phase, Severity, alert_id_for,
};
use crate::alerts::outbox::Outbox;
use crate::alerts::store::{AlertQuery, AlertRecord};
use crate::clock::Time;
use crate::config::inventory::Camera;
use crate::rules::condition::{AbnormalState, LossState, Transition};
use crate::rules::config::{RuleConfig, RuleKind, RulesFile, Severity as RuleSeverity};
use crate::rules::crowding::CrowdingState;
use crate::rules::truck::{ClassifierChoice, JudgedTruck, TruckState};
use crate::vision::cover::{BaselineCover, CoverClassifier, OnnxCover};
use crate::vision::detect::DetectionsView;
use crate::vision::frame::RgbFrame;
use crate::vision::quality::Fault;

enum RuleState {
    Crowding(CrowdingState),
    Truck(TruckState),
    Loss(LossState),
    Abnormal(AbnormalState),
}

struct Open {
    alert_id: String,
    seq: u32,
    /// When the alert started.
    started_at: Time,
    /// Whether a snapshot of this alert is stored.
    has_snapshot: bool,
    /// Set for an alert still open when the process last stopped: it continues (same id,
    /// `update`) if its rule raises again within the grace, and is ended otherwise.
    restored: Option<Restored>,
}

/// An open alert found in the outbox at start-up.
struct Restored {
    /// When this process took it over (its first sweep).
    since: Option<Time>,
    /// Its record, for the `end` message if its rule no longer exists.
    record: AlertRecord,
}

/// One camera's rule states, by rule name.
type CameraSlots = std::sync::Arc<Mutex<HashMap<String, Slot>>>;

struct Slot {
    state: RuleState,
    open: Option<Open>,
}

/// Rules → alerts → outbox.
pub struct AlertEngine {
    rules: RulesFile,
    outbox: Outbox,
    /// Per camera (by id), its rules' states (by rule name): one lock per camera.
    slots: std::sync::RwLock<HashMap<String, CameraSlots>>,
    /// Base URL of this instance's API, for snapshot links (e.g. `http://10.0.0.5:9090`).
    api_base: String,
    /// Where alert snapshots are stored; `None`: no snapshots.
    snapshots: Option<PathBuf>,
    /// Cover classifiers of the `uncovered_truck` rules, by rule name.
    classifiers: HashMap<String, std::sync::Arc<dyn CoverClassifier>>,
    /// Messages written to the outbox by (kind, phase), and enqueue failures.
    counts: Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
    /// Messages the outbox refused (disk full, busy, I/O error), in order, retried before any
    /// newer message and on every sweep: at-least-once survives a failing disk.
    retry: Mutex<std::collections::VecDeque<AlertEvent>>,
}

/// Messages held for a retry at most; beyond, the oldest is dropped and counted (an outbox
/// that refuses writes for hours at alert rates of a whole district).
pub const MAX_RETRY: usize = 10_000;

/// What a rule observes.
pub enum Observation<'a> {
    /// The latest detections of a sampled picture, and that picture as JPEG.
    Detections {
        /// What the detector found.
        view: &'a DetectionsView,
        /// The picture the boxes refer to, as JPEG (for the alert's snapshot).
        picture: Option<&'a [u8]>,
        /// The decoded picture (for rules that look closer, e.g. a truck's cargo area).
        frame: Option<&'a RgbFrame>,
    },
    /// Whether the camera is online (sent periodically), and its last sampled picture (what
    /// an alert raised on it keeps).
    Online {
        /// Online now.
        online: bool,
        /// The camera's last snapshot, as JPEG.
        picture: Option<&'a [u8]>,
    },
    /// The faults of the latest diagnosed picture, and that picture as JPEG.
    Faults {
        /// The picture's faults.
        faults: &'a [Fault],
        /// The picture.
        picture: Option<&'a [u8]>,
    },
}

impl AlertEngine {
    /// An engine over validated rules writing to `outbox`; `snapshots` is the directory for
    /// the picture each alert is raised on (`None`: none kept). Loads the cover classifiers of
    /// `uncovered_truck` rules (one per distinct manifest); fails if one cannot be loaded.
    pub fn new(
        rules: RulesFile,
        outbox: Outbox,
        api_base: String,
        snapshots: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let mut classifiers: HashMap<String, std::sync::Arc<dyn CoverClassifier>> = HashMap::new();
        let mut by_model: HashMap<PathBuf, std::sync::Arc<dyn CoverClassifier>> = HashMap::new();
        for rule in &rules.rules {
            if let RuleKind::UncoveredTruck(p) = &rule.kind {
                let c: std::sync::Arc<dyn CoverClassifier> = match &p.classifier {
                    ClassifierChoice::Baseline => std::sync::Arc::new(BaselineCover::new()),
                    ClassifierChoice::Model(m) => match by_model.get(m) {
                        Some(c) => c.clone(),
                        None => {
                            let c: std::sync::Arc<dyn CoverClassifier> =
                                std::sync::Arc::new(OnnxCover::new(m).with_context(|| {
                                    format!(
                                        "rule {:?} (line {}): cover classifier",
                                        rule.name, rule.line
                                    )
                                })?);
                            by_model.insert(m.clone(), c.clone());
                            c
                        }
                    },
                };
                tracing::info!(rule = %rule.name, classifier = c.name(), "uncovered-truck rule ready");
                classifiers.insert(rule.name.clone(), c);
            }
        }
        let slots = restore(&rules, &outbox);
        Ok(Self {
            rules,
            outbox,
            slots: std::sync::RwLock::new(slots),
            api_base,
            snapshots,
            classifiers,
            counts: Mutex::default(),
            retry: Mutex::default(),
        })
    }

    /// Messages waiting for the outbox to accept them again.
    pub fn retrying(&self) -> usize {
        self.retry.lock().unwrap().len()
    }

    /// Messages enqueued since start by (kind, phase); phase `failed` counts messages the
    /// outbox could not store.
    pub fn message_counts(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.counts
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// Writes `event` to the outbox behind any message still waiting for a retry, so one
    /// alert's messages keep their order.
    fn enqueue(&self, event: &AlertEvent) {
        let mut queue = self.retry.lock().unwrap();
        queue.push_back(event.clone());
        self.flush(&mut queue);
    }

    /// Writes waiting messages in order until the outbox refuses one.
    fn flush(&self, queue: &mut std::collections::VecDeque<AlertEvent>) {
        while let Some(event) = queue.front() {
            let phase = match self.outbox.enqueue(event) {
                Ok(_) => event.phase.as_str(),
                Err(e) => {
                    tracing::error!(
                        alert = %event.alert_id, waiting = queue.len(),
                        "alert not written to the outbox, kept for a retry: {e:#}"
                    );
                    "failed"
                }
            };
            self.count(event.kind.as_str(), phase);
            if phase == "failed" {
                while queue.len() > MAX_RETRY {
                    if let Some(lost) = queue.pop_front() {
                        tracing::error!(alert = %lost.alert_id, "retry queue full: message dropped");
                        self.count(lost.kind.as_str(), "dropped");
                    }
                }
                return;
            }
            queue.pop_front();
        }
    }

    fn count(&self, kind: &'static str, phase: &'static str) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry((kind, phase))
            .or_default() += 1;
    }

    /// Retries the messages the outbox refused (the daemon: every second, from `sweep`).
    pub fn retry_failed(&self) {
        let mut queue = self.retry.lock().unwrap();
        if !queue.is_empty() {
            self.flush(&mut queue);
        }
    }

    /// Ends the alerts restored at start-up whose rule has not raised them again within its
    /// grace (the rule's `dwell`/`after` plus [`RESTORE_GRACE`]), or whose rule or camera is
    /// gone. Called periodically (the daemon: every second).
    pub fn sweep(&self, at: Time) {
        self.retry_failed();
        let cameras: Vec<CameraSlots> = self.slots.read().unwrap().values().cloned().collect();
        for cell in cameras {
            let mut slots = cell.lock().unwrap();
            self.sweep_camera(&mut slots, at);
        }
    }

    fn sweep_camera(&self, slots: &mut HashMap<String, Slot>, at: Time) {
        for (rule_name, slot) in slots.iter_mut() {
            let Some(open) = &mut slot.open else { continue };
            let Some(r) = &mut open.restored else {
                continue;
            };
            let since = *r.since.get_or_insert(at);
            let rule = self.rules.rules.iter().find(|x| &x.name == rule_name);
            let grace = rule.map_or(Duration::ZERO, |x| raise_delay(x) + RESTORE_GRACE);
            let waited = (at - since).to_std().unwrap_or_default();
            if waited < grace || is_active(&slot.state) {
                continue;
            }
            let r = &r.record;
            let event = AlertEvent {
                alert_id: open.alert_id.clone(),
                seq: open.seq + 1,
                phase: Phase::End,
                kind: AlertKind::parse(&r.kind).unwrap_or(AlertKind::VideoAbnormal),
                severity: Severity::parse(&r.severity).unwrap_or(Severity::Warning),
                rule: r.rule.clone(),
                camera: r.camera.clone(),
                started_at: open.started_at,
                updated_at: at,
                ended_at: Some(at),
                evidence: Evidence::default(),
                snapshot_url: open.has_snapshot.then(|| {
                    format!(
                        "{}/api/alerts/{}/snapshot.jpg",
                        self.api_base, open.alert_id
                    )
                }),
            };
            tracing::info!(
                alert = %event.alert_id, camera = %r.camera.id, rule = %r.rule,
                "alert open before the restart not raised again: ended"
            );
            self.enqueue(&event);
            slot.open = None;
        }
    }

    /// The state cell of one camera, created on first use.
    fn slots_of(&self, camera: &str) -> CameraSlots {
        if let Some(c) = self.slots.read().unwrap().get(camera) {
            return c.clone();
        }
        self.slots
            .write()
            .unwrap()
            .entry(camera.to_string())
            .or_default()
            .clone()
    }

    /// The rules in force.
    pub fn rules(&self) -> &RulesFile {
        &self.rules
    }

    /// Where alert snapshots are stored.
    pub fn snapshot_dir(&self) -> Option<&Path> {
        self.snapshots.as_deref()
    }

    /// The outbox alerts go to.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Feeds one observation of a camera made at `at`; enqueues any alert messages it causes.
    ///
    /// Only this camera's state is locked (other cameras are observed meanwhile): the cover
    /// classifier, the snapshot write and the outbox commit never hold up the whole fleet.
    pub fn observe(&self, camera: &Camera, at: Time, obs: Observation<'_>) {
        let id = camera.id.as_str();
        let cell = self.slots_of(id);
        let mut slots = cell.lock().unwrap();
        for rule in self.rules.rules_for(id) {
            let fits = matches!(
                (&rule.kind, &obs),
                (RuleKind::Crowding(_), Observation::Detections { .. })
                    | (RuleKind::UncoveredTruck(_), Observation::Detections { .. })
                    | (RuleKind::VideoLoss(_), Observation::Online { .. })
                    | (RuleKind::VideoAbnormal { .. }, Observation::Faults { .. })
            );
            if !fits {
                continue;
            }
            let slot = slots.entry(rule.name.clone()).or_insert_with(|| Slot {
                state: new_state(rule),
                open: None,
            });
            let mut trucks: Vec<(JudgedTruck, bool)> = Vec::new();
            let t = if !rule.active(at) {
                pause(&mut slot.state, at)
            } else {
                match (&mut slot.state, &obs) {
                    (RuleState::Crowding(s), Observation::Detections { view: v, .. }) => {
                        let n = match &rule.kind {
                            RuleKind::Crowding(p) => p.count_view(v),
                            _ => 0,
                        };
                        s.observe(at, n)
                    }
                    (
                        RuleState::Truck(s),
                        Observation::Detections {
                            view,
                            frame: Some(frame),
                            ..
                        },
                    ) => {
                        let judged = self.judge_trucks(rule, view, frame);
                        let n = judged.iter().filter(|j| j.1).count();
                        trucks = judged;
                        s.observe(at, n)
                    }
                    (RuleState::Loss(s), Observation::Online { online, .. }) => {
                        s.observe(at, *online)
                    }
                    (RuleState::Abnormal(s), Observation::Faults { faults: f, .. }) => {
                        s.observe(at, f)
                    }
                    _ => None,
                }
            };
            if let Some(t) = t {
                let (evidence, picture) = match &obs {
                    Observation::Detections { .. } if !trucks.is_empty() || is_truck(rule) => {
                        let (picture, w, h) = match &obs {
                            Observation::Detections { picture, view, .. } => {
                                (*picture, view.width, view.height)
                            }
                            _ => (None, 0, 0),
                        };
                        let mut e = truck_evidence(&trucks, t.count);
                        (e.frame_width, e.frame_height) = (w, h);
                        (e, picture)
                    }
                    Observation::Detections { view, picture, .. } => {
                        (evidence_of(rule, view, t.count), *picture)
                    }
                    Observation::Faults { picture, .. } => (count_only(t.count), *picture),
                    Observation::Online { picture, .. } => (count_only(t.count), *picture),
                };
                self.emit(camera, rule, slot, &t, evidence, picture);
            }
        }
    }

    /// Stage one and two of an uncovered-truck rule: each truck in the zone, and whether its
    /// cover classifier judged it uncovered.
    fn judge_trucks(
        &self,
        rule: &RuleConfig,
        view: &DetectionsView,
        frame: &RgbFrame,
    ) -> Vec<(JudgedTruck, bool)> {
        let (RuleKind::UncoveredTruck(p), Some(c)) = (&rule.kind, self.classifiers.get(&rule.name))
        else {
            return Vec::new();
        };
        p.judge(
            frame,
            &view.objects,
            c.as_ref(),
            view.thresholds.get(&p.class).copied(),
        )
        .into_iter()
        .map(|j| {
            let bad = j.uncovered >= c.threshold();
            (j, bad)
        })
        .collect()
    }

    fn emit(
        &self,
        cam: &Camera,
        rule: &RuleConfig,
        slot: &mut Slot,
        t: &Transition,
        evidence: Evidence,
        picture: Option<&[u8]>,
    ) {
        let mut phase = t.phase;
        let open = match (phase, slot.open.as_mut()) {
            // Raised again after a restart: the alert goes on.
            (Phase::New, Some(o)) if o.restored.is_some() => {
                o.restored = None;
                o.seq += 1;
                phase = Phase::Update;
                o
            }
            (Phase::New, _) | (_, None) => slot.open.insert(Open {
                alert_id: alert_id_for(&cam.id, &rule.name, t.started_at),
                seq: 0,
                started_at: t.started_at,
                has_snapshot: false,
                restored: None,
            }),
            (_, Some(o)) => {
                o.seq += 1;
                o
            }
        };
        // The picture is written before the message that links it is enqueued.
        if !open.has_snapshot
            && phase != Phase::End
            && let (Some(dir), Some(jpeg)) = (&self.snapshots, picture)
        {
            match crate::alerts::store::write_snapshot(dir, &open.alert_id, jpeg) {
                Ok(()) => open.has_snapshot = true,
                Err(e) => tracing::warn!(alert = %open.alert_id, "snapshot not stored: {e:#}"),
            }
        }
        let event = AlertEvent {
            alert_id: open.alert_id.clone(),
            seq: open.seq,
            phase,
            kind: kind_of(rule),
            severity: severity_of(rule.severity),
            rule: rule.name.clone(),
            camera: AlertCamera::from(cam),
            started_at: open.started_at,
            updated_at: t.at,
            ended_at: (phase == Phase::End).then_some(t.at),
            evidence,
            // The alert's picture, from the first message that had one on: the boxes drawn
            // on it are that first message's evidence (the API record keeps them).
            snapshot_url: open.has_snapshot.then(|| {
                format!(
                    "{}/api/alerts/{}/snapshot.jpg",
                    self.api_base, open.alert_id
                )
            }),
        };
        if phase == Phase::End {
            slot.open = None;
        }
        tracing::info!(
            alert = %event.alert_id, camera = %cam.id, rule = %rule.name,
            phase = ?phase, count = event.evidence.count, "alert"
        );
        self.enqueue(&event);
    }
}

/// How long past a rule's own delay a restored alert waits to be raised again.
pub const RESTORE_GRACE: Duration = Duration::from_secs(30);

/// How long a rule needs to raise an alert from a fresh state.
fn raise_delay(rule: &RuleConfig) -> Duration {
    match &rule.kind {
        RuleKind::Crowding(p) => p.dwell,
        // Confirmation takes `k` samples; a sample every few seconds.
        RuleKind::UncoveredTruck(p) => Duration::from_secs(10 * p.confirm_n as u64),
        RuleKind::VideoLoss(p) => p.after,
        RuleKind::VideoAbnormal { params, .. } => params.after,
    }
}

fn is_active(state: &RuleState) -> bool {
    match state {
        RuleState::Truck(s) => s.is_active(),
        RuleState::Crowding(s) => s.is_active(),
        RuleState::Loss(s) => s.is_active(),
        RuleState::Abnormal(s) => s.is_active(),
    }
}

/// Slots for the alerts still open in the outbox (a restart, even after `kill -9`).
fn restore(rules: &RulesFile, outbox: &Outbox) -> HashMap<String, CameraSlots> {
    let open = match outbox.alerts(&AlertQuery {
        open: Some(true),
        limit: Some(100_000),
        ..AlertQuery::default()
    }) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("open alerts not restored: {e:#}");
            return HashMap::new();
        }
    };
    if !open.is_empty() {
        tracing::info!(
            open = open.len(),
            "alerts open before the restart taken over; they continue if raised again"
        );
    }
    let mut slots: HashMap<String, CameraSlots> = HashMap::new();
    for record in open {
        let state = match rules.rules.iter().find(|r| r.name == record.rule) {
            Some(rule) => new_state(rule),
            // The rule is gone: the sweep ends the alert at once (any state that is never
            // active will do).
            None => RuleState::Loss(LossState::new(crate::rules::condition::ConditionParams {
                after: Duration::ZERO,
                hold_off: Duration::ZERO,
                update_interval: Duration::MAX,
            })),
        };
        let cell = slots.entry(record.camera.id.clone()).or_default();
        cell.lock().unwrap().insert(
            record.rule.clone(),
            Slot {
                state,
                open: Some(Open {
                    alert_id: record.id.clone(),
                    seq: record.seq,
                    started_at: record.started_at,
                    has_snapshot: record.snapshot_url.is_some(),
                    restored: Some(Restored {
                        since: None,
                        record,
                    }),
                }),
            },
        );
    }
    slots
}

fn new_state(rule: &RuleConfig) -> RuleState {
    match &rule.kind {
        RuleKind::Crowding(p) => RuleState::Crowding(CrowdingState::new(p.clone())),
        RuleKind::UncoveredTruck(p) => RuleState::Truck(TruckState::new(p)),
        RuleKind::VideoLoss(p) => RuleState::Loss(LossState::new(*p)),
        RuleKind::VideoAbnormal { params, faults } => {
            RuleState::Abnormal(AbnormalState::new(*params, faults.clone()))
        }
    }
}

fn pause(state: &mut RuleState, at: Time) -> Option<Transition> {
    match state {
        RuleState::Truck(s) => s.pause(at),
        RuleState::Crowding(s) => s.pause(at),
        RuleState::Loss(s) => s.pause(at),
        RuleState::Abnormal(s) => s.pause(at),
    }
}

fn kind_of(rule: &RuleConfig) -> AlertKind {
    match rule.kind {
        RuleKind::Crowding(_) => AlertKind::Crowding,
        RuleKind::UncoveredTruck(_) => AlertKind::UncoveredTruck,
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

fn is_truck(rule: &RuleConfig) -> bool {
    matches!(rule.kind, RuleKind::UncoveredTruck(_))
}

/// Evidence of an uncovered-truck message: the trucks judged uncovered (else every truck
/// judged), each with the classifier's score.
fn truck_evidence(trucks: &[(JudgedTruck, bool)], count: usize) -> Evidence {
    let uncovered: Vec<&(JudgedTruck, bool)> = trucks.iter().filter(|t| t.1).collect();
    let shown: Vec<&(JudgedTruck, bool)> = if uncovered.is_empty() {
        trucks.iter().collect()
    } else {
        uncovered
    };
    Evidence {
        count: count as u32,
        frame_width: 0,
        frame_height: 0,
        objects: shown
            .iter()
            .map(|(t, _)| {
                let mut o = EvidenceObject::from(&t.detection);
                o.uncovered = Some(t.uncovered);
                o
            })
            .collect(),
    }
}

fn count_only(count: usize) -> Evidence {
    Evidence {
        count: count as u32,
        ..Evidence::default()
    }
}

fn evidence_of(rule: &RuleConfig, v: &DetectionsView, count: usize) -> Evidence {
    let objects = match &rule.kind {
        RuleKind::Crowding(p) => v
            .objects
            .iter()
            .filter(|d| {
                let recommended = v.thresholds.get(&p.class).copied();
                p.count(std::slice::from_ref(*d), v.width, v.height, recommended) == 1
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::clock::{Clock, ManualClock};
    use crate::fleet::{CameraEntry, Fleet};
    use crate::health::status::{Mode, StatusConfig};

    const RULES: &str = "[[rules]]\nname = \"loss\"\nkind = \"video_loss\"\ncameras = [\"*\"]\n\
                         after = \"10s\"\n";

    fn setup(dir: &Path) -> (Fleet, Arc<CameraEntry>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(crate::clock::parse_time(
            "2026-11-23T01:00:00Z",
        )));
        let fleet = Fleet::new(
            clock.clone(),
            Arc::new(crate::telemetry::Metrics::new()),
            None,
        );
        let inv = crate::config::inventory::parse_csv(
            "id,name,url,region\nc1,东门,rtsp://127.0.0.1:1/x,城关镇\n",
        )
        .unwrap();
        let e = fleet.add(
            inv.cameras[0].clone(),
            Mode::Hold,
            Duration::ZERO,
            StatusConfig::default(),
        );
        std::fs::create_dir_all(dir).unwrap();
        (fleet, e, clock)
    }

    fn engine(dir: &Path) -> AlertEngine {
        AlertEngine::new(
            RulesFile::parse(RULES).unwrap(),
            Outbox::open(dir).unwrap(),
            "http://x".into(),
            None,
        )
        .unwrap()
    }

    /// Feeds `seconds` one-second observations of the camera being online or not, sweeping
    /// after each when `sweep`.
    fn feed(
        eng: &AlertEngine,
        e: &CameraEntry,
        clock: &ManualClock,
        online: bool,
        seconds: usize,
        sweep: bool,
    ) {
        for _ in 0..seconds {
            let seen = Observation::Online {
                online,
                picture: None,
            };
            eng.observe(&e.camera, clock.now(), seen);
            if sweep {
                eng.sweep(clock.now());
            }
            clock.advance(Duration::from_secs(1));
        }
    }

    fn messages(ob: &Outbox) -> Vec<(String, String)> {
        ob.register_sink("t").ok();
        let conn = ob.conn();
        let mut st = conn
            .prepare("SELECT event_id, payload FROM events ORDER BY seq")
            .unwrap();
        st.query_map([], |r| {
            let p: String = r.get(1)?;
            let v: serde_json::Value = serde_json::from_str(&p).unwrap();
            Ok((r.get(0)?, v["data"]["phase"].as_str().unwrap().to_string()))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    #[test]
    fn an_alert_open_at_a_crash_continues_when_raised_again() {
        let dir = tempfile::tempdir().unwrap();
        let (_fleet, e, clock) = setup(dir.path());
        let first = engine(dir.path());
        feed(&first, &e, &clock, false, 12, false);
        let id = messages(first.outbox())[0].0.clone();
        drop(first); // the crash: no end was sent
        let second = engine(dir.path());
        feed(&second, &e, &clock, false, 12, true);
        feed(&second, &e, &clock, true, 3, false);
        let alert = id.trim_end_matches("-0");
        let got = messages(second.outbox());
        let want: Vec<(String, String)> = [("0", "new"), ("1", "update"), ("2", "end")]
            .iter()
            .map(|(s, p)| (format!("{alert}-{s}"), p.to_string()))
            .collect();
        assert_eq!(got, want, "one alert, one id, across the restart");
        let rec = second.outbox().alert(alert).unwrap().unwrap();
        assert_eq!(rec.state, "ended");
    }

    #[test]
    fn an_outbox_that_refuses_writes_loses_no_message() {
        let dir = tempfile::tempdir().unwrap();
        let (_fleet, e, clock) = setup(dir.path());
        let eng = engine(dir.path());
        // The disk refuses writes (SQLite read-only: what a full or failing disk looks like).
        eng.outbox()
            .conn()
            .execute_batch("PRAGMA query_only = ON")
            .unwrap();
        feed(&eng, &e, &clock, false, 12, true);
        feed(&eng, &e, &clock, true, 3, true);
        assert_eq!(eng.retrying(), 2, "new and end kept for a retry");
        assert!(
            eng.message_counts()
                .iter()
                .any(|((_, phase), n)| *phase == "failed" && *n > 0)
        );
        // The disk is back: the next sweep writes both, in order.
        eng.outbox()
            .conn()
            .execute_batch("PRAGMA query_only = OFF")
            .unwrap();
        eng.sweep(clock.now());
        assert_eq!(eng.retrying(), 0);
        let got = messages(eng.outbox());
        let phases: Vec<&str> = got.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(phases, ["new", "end"], "{got:?}");
        assert_eq!(got[0].0[..16], got[1].0[..16], "one alert");
    }

    #[test]
    fn an_alert_open_at_a_crash_ends_when_not_raised_again() {
        let dir = tempfile::tempdir().unwrap();
        let (_fleet, e, clock) = setup(dir.path());
        let first = engine(dir.path());
        feed(&first, &e, &clock, false, 12, false);
        drop(first);
        let second = engine(dir.path());
        let back = clock.now();
        // Online again after the restart: the alert ends after the rule's 10 s + the grace.
        let mut ended_after = None;
        for i in 0..60 {
            second.observe(
                &e.camera,
                clock.now(),
                Observation::Online {
                    online: true,
                    picture: None,
                },
            );
            second.sweep(clock.now());
            if ended_after.is_none() && messages(second.outbox()).len() == 2 {
                ended_after = Some(i);
            }
            clock.advance(Duration::from_secs(1));
        }
        let got = messages(second.outbox());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1].1, "end");
        assert_eq!(ended_after, Some(40), "10 s after + 30 s grace");
        let rec = second.outbox().alert(&got[0].0[..16]).unwrap().unwrap();
        assert_eq!(rec.state, "ended");
        assert!(rec.ended_at.unwrap() >= back + chrono::Duration::seconds(40));
    }
}
