//! The fleet's shared state: every camera's status machine, counters and the live view.
//!
//! Supervisors feed events in; the metrics collector and the HTTP API read snapshots out. The
//! hot path (a frame) touches only atomics; the status machine's lock is taken a few times
//! per second per camera at most.

pub mod metrics;
pub mod snapshot;
pub mod vision;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use crate::camera::port::CameraPort;
use crate::clock::{Clock, Time};
use crate::config::inventory::Camera;
use crate::health::rates::{self, LiveRates};
use crate::health::status::{Event, Mode, State, Status, StatusConfig, StatusMachine, Transition};
use crate::redact::url_for_display;
use crate::telemetry::Metrics;
use crate::vision::detect::DetectionsView;
use crate::vision::quality::QualityView;
pub use snapshot::{CameraSnapshot, Condition};
use vision::VisionState;

/// Where status transitions are persisted (the ledger in production).
pub trait History: Send + Sync {
    /// A camera starts being watched, in `state`.
    fn begin(&self, camera: &str, state: State, at: Time);
    /// A camera changed state.
    fn record(&self, camera: &str, transition: &Transition);
    /// The daemon is alive at `at` (so a crash gap can be told from monitored time).
    fn heartbeat(&self, at: Time);
    /// Clean shutdown at `at`: close every open interval.
    fn close_all(&self, at: Time);
    /// A camera stops being watched at `at` (removed from the inventory, or restarting).
    fn stop(&self, camera: &str, at: Time);
    /// A camera's picture verdict changed (ok, or the set of faults) at `at`.
    fn quality(&self, camera: &str, at: Time, ok: bool, faults: Vec<String>);
}

pub use crate::camera::stats::CameraStats;

/// One camera in the fleet.
pub struct CameraEntry {
    /// The inventory row.
    pub camera: Camera,
    /// How it is watched.
    pub mode: Mode,
    /// How often a keyframe is sampled (zero: never).
    pub sample_interval: std::time::Duration,
    /// Lock-free counters.
    pub stats: CameraStats,
    /// Codec of the last session (`h264`, `h265`).
    pub codec: Mutex<Option<String>>,
    /// Latest sample, quality verdict and snapshot.
    pub vision: Mutex<VisionState>,
    /// Woken (every waiter) when `vision` gets a new snapshot: a snapshot request waits on it.
    pub snapshot_taken: tokio::sync::Notify,
    machine: Mutex<StatusMachine>,
    /// Monotonic ms of the last `Media` event given to the machine (throttling; 0: none yet).
    last_media_event_ms: AtomicI64,
    /// What every camera reports to: clock, history, metrics.
    core: Arc<Core>,
}

/// What the fleet's cameras share: the clock they are dated with, the history their
/// transitions go to, the metrics they count in.
struct Core {
    clock: Arc<dyn Clock>,
    history: Option<Arc<dyn History>>,
    metrics: Arc<Metrics>,
    /// Minimum spacing of `Media` events to a machine.
    media_event_ms: i64,
    /// Every camera change, for the stages that follow the fleet (MQTT statuses, the page's
    /// event streams, the video-loss rules) instead of polling it.
    changes: tokio::sync::broadcast::Sender<CameraChange>,
}

/// Changes kept for a slow subscriber; one that falls further behind is told it lagged and
/// resynchronises from the fleet.
pub const CHANGES_CAPACITY: usize = 4096;

/// One camera changed.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraChange {
    /// The camera's id.
    pub camera: Arc<str>,
    /// What changed.
    pub kind: ChangeKind,
}

/// What changed of a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// It started being watched.
    Added,
    /// Its status changed (a transition to this state).
    Status(State),
    /// Its picture verdict or snapshot changed.
    Picture,
    /// It stopped being watched.
    Removed,
}

impl CameraEntry {
    /// The live status.
    pub fn status(&self) -> Status {
        self.machine.lock().unwrap().status().clone()
    }

    /// Applies an event that happened now to the status machine.
    pub fn apply(&self, event: Event) -> Option<Transition> {
        let now = self.core.clock.stamp();
        self.apply_at(now, event)
    }

    /// Applies an event that happened at `at`; counts, logs and records the transition.
    pub fn apply_at(&self, at: crate::clock::Stamp, event: Event) -> Option<Transition> {
        let t = {
            let mut m = self.machine.lock().unwrap();
            let reason = m.status().reason;
            match m.handle(at, event) {
                Some(t) => t,
                None => {
                    // A further failure while offline updates the live reason: no transition,
                    // but what the page and the MQTT status show changed.
                    let now = m.status();
                    if now.reason != reason {
                        let state = now.state;
                        drop(m);
                        self.core
                            .publish(&self.camera.id, ChangeKind::Status(state));
                    }
                    return None;
                }
            }
        };
        let reason = t.reason.map(|r| r.as_str()).unwrap_or("");
        self.core
            .metrics
            .state_changes
            .with_label_values(&[t.to.as_str(), reason])
            .inc();
        match t.to {
            State::Offline => tracing::warn!(
                camera = %self.camera.id, reason, detail = t.detail.as_deref().unwrap_or(""),
                "camera offline"
            ),
            _ => tracing::info!(camera = %self.camera.id, state = t.to.as_str(), "camera state"),
        }
        if let Some(h) = &self.core.history {
            h.record(&self.camera.id, &t);
        }
        self.core.publish(&self.camera.id, ChangeKind::Status(t.to));
        Some(t)
    }
}

impl CameraPort for CameraEntry {
    fn camera(&self) -> &Camera {
        &self.camera
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn sample_interval(&self) -> std::time::Duration {
        self.sample_interval
    }

    fn stats(&self) -> &CameraStats {
        &self.stats
    }

    fn on_setup(&self, codec: &str) {
        *self.codec.lock().unwrap() = Some(codec.to_string());
    }

    fn on_session_started(&self) {
        self.last_media_event_ms.store(0, Relaxed);
        self.stats.on_session_start();
        self.apply(Event::SessionStarted);
    }

    /// Counts the frame; feeds the status machine at most every 200 ms.
    fn on_frame(&self, keyframe: bool, bytes: usize, media_ms: Option<i64>) {
        let now = self.core.clock.stamp();
        self.stats
            .on_frame(keyframe, bytes, now.wall.timestamp_millis(), media_ms);
        // Throttled on the monotonic clock: a backward wall step must not silence a camera.
        let ms = now.mono.as_millis();
        let last = self.last_media_event_ms.load(Relaxed);
        if last == 0 || ms - last >= self.core.media_event_ms {
            self.last_media_event_ms.store(ms.max(1), Relaxed);
            self.apply_at(now, Event::Media);
        }
    }

    fn on_event(&self, event: Event) {
        self.apply(event);
    }
}

/// A camera as the API shows it: its [`CameraSnapshot`] (the fields the wall and the MQTT
/// status carry) plus the detail only the camera page needs.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView<'a> {
    /// Identity, groups and condition.
    #[serde(flatten)]
    pub camera: CameraSnapshot<'a>,
    /// Stream URL without credentials.
    pub url: String,
    /// Extra inventory columns.
    pub labels: &'a BTreeMap<String, String>,
    /// hold or patrol.
    pub mode: Mode,
    /// How often its picture is sampled (diagnosis, and detection where the detector looks
    /// at it); `None`: never.
    pub sample_interval_seconds: Option<f64>,
    /// The failure message.
    pub detail: Option<String>,
    /// Codec of the last session.
    pub codec: Option<String>,
    /// Counters.
    pub counters: CountersView,
    /// Latest picture-quality verdict, when a sample was diagnosed.
    pub quality: Option<QualityView>,
    /// Latest detections, when detection runs.
    pub detections: Option<DetectionsView>,
}

/// Counters as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct CountersView {
    /// Video frames received.
    pub frames: u64,
    /// Video payload bytes received.
    pub bytes: u64,
    /// Keyframes received.
    pub keyframes: u64,
    /// Session attempts or probes.
    pub attempts: u64,
    /// Reconnects after failures.
    pub reconnects: u64,
    /// Time of the last frame.
    pub last_frame_at: Option<Time>,
    /// Frames between the last two keyframes.
    pub gop_frames: Option<u32>,
    /// Seconds between the last two keyframes.
    pub keyframe_interval_seconds: Option<f64>,
    /// Last DESCRIBE..PLAY time in seconds.
    pub setup_seconds: Option<f64>,
    /// 时钟偏差: the camera's clock minus ours, seconds, from its last RTCP sender report
    /// (positive = the camera is ahead); `None` before the first report.
    pub clock_offset_seconds: Option<f64>,
}

/// 完好: the camera is online and its latest diagnosed picture has no fault. A camera not
/// yet diagnosed counts on its online state alone (no known fault).
pub fn is_intact(state: State, quality: Option<&QualityView>) -> bool {
    state == State::Online && quality.is_none_or(|q| q.ok)
}

impl Core {
    fn publish(&self, camera: &str, kind: ChangeKind) {
        // No subscriber is fine: nothing follows the fleet yet.
        let _ = self.changes.send(CameraChange {
            camera: camera.into(),
            kind,
        });
    }
}

/// The fleet.
pub struct Fleet {
    core: Arc<Core>,
    cameras: RwLock<BTreeMap<String, Arc<CameraEntry>>>,
    /// Monotonic ms of the last [`Fleet::tick`] (0: none yet): `/healthz` fails when the
    /// ticker that finds stalls and writes heartbeats has stopped.
    last_tick_ms: AtomicI64,
}

/// `/healthz` fails when no tick came for this long (the ticker runs every 250 ms).
pub const TICK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

impl Fleet {
    /// An empty fleet.
    pub fn new(
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        history: Option<Arc<dyn History>>,
    ) -> Self {
        Self {
            core: Arc::new(Core {
                clock,
                history,
                metrics,
                media_event_ms: 200,
                changes: tokio::sync::broadcast::channel(CHANGES_CAPACITY).0,
            }),
            cameras: RwLock::new(BTreeMap::new()),
            last_tick_ms: AtomicI64::new(0),
        }
    }

    /// Whether the ticker ran within [`TICK_DEADLINE`] (true before its first tick, while the
    /// daemon starts).
    pub fn ticker_alive(&self) -> bool {
        let last = self.last_tick_ms.load(Relaxed);
        last == 0
            || self.core.clock.monotonic().as_millis() - last <= TICK_DEADLINE.as_millis() as i64
    }

    /// The daemon's clock, for the stages that date or measure things.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.core.clock
    }

    /// The clock everything is dated with.
    pub fn now(&self) -> Time {
        self.core.clock.now()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.core.metrics
    }

    /// Adds a camera, in state `connecting` from now, and returns its entry.
    pub fn add(
        &self,
        camera: Camera,
        mode: Mode,
        sample_interval: std::time::Duration,
        status: StatusConfig,
    ) -> Arc<CameraEntry> {
        let now = self.now();
        let entry = Arc::new(CameraEntry {
            machine: Mutex::new(StatusMachine::new(StatusConfig { mode, ..status }, now)),
            camera,
            mode,
            sample_interval,
            stats: CameraStats::default(),
            codec: Mutex::new(None),
            vision: Mutex::new(VisionState::default()),
            snapshot_taken: tokio::sync::Notify::new(),
            last_media_event_ms: AtomicI64::new(0),
            core: self.core.clone(),
        });
        if let Some(h) = &self.core.history {
            h.begin(&entry.camera.id, State::Connecting, now);
        }
        self.cameras
            .write()
            .unwrap()
            .insert(entry.camera.id.clone(), entry.clone());
        self.core.publish(&entry.camera.id, ChangeKind::Added);
        entry
    }

    /// Stops tracking a camera (its history intervals are closed now).
    pub fn remove(&self, id: &str) -> Option<Arc<CameraEntry>> {
        let e = self.cameras.write().unwrap().remove(id)?;
        if let Some(h) = &self.core.history {
            h.stop(id, self.now());
        }
        self.core.publish(id, ChangeKind::Removed);
        Some(e)
    }

    /// Every camera change from now on ([`ChangeKind`]). A receiver that falls more than
    /// [`CHANGES_CAPACITY`] changes behind gets `Lagged` and must resynchronise from
    /// [`Fleet::entries`].
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<CameraChange> {
        self.core.changes.subscribe()
    }

    /// Tells the subscribers that a camera's picture changed (see `fleet::vision`).
    pub(crate) fn picture_changed(&self, camera: &str) {
        self.core.publish(camera, ChangeKind::Picture);
    }

    /// One camera.
    pub fn get(&self, id: &str) -> Option<Arc<CameraEntry>> {
        self.cameras.read().unwrap().get(id).cloned()
    }

    /// Every camera, by id.
    pub fn entries(&self) -> Vec<Arc<CameraEntry>> {
        self.cameras.read().unwrap().values().cloned().collect()
    }

    /// Both clock readings of now (see [`crate::clock`]).
    pub fn stamp(&self) -> crate::clock::Stamp {
        self.core.clock.stamp()
    }

    /// Applies an event that happened now to a camera's status machine.
    pub fn apply(&self, entry: &CameraEntry, event: Event) -> Option<Transition> {
        entry.apply(event)
    }

    /// Applies an event that happened at `at`.
    pub fn apply_at(
        &self,
        entry: &CameraEntry,
        at: crate::clock::Stamp,
        event: Event,
    ) -> Option<Transition> {
        entry.apply_at(at, event)
    }

    /// Records a changed picture verdict (ok, or a new set of faults) in the history.
    pub fn record_quality(
        &self,
        camera: &str,
        at: Time,
        faults: &[crate::vision::quality::Fault],
        ok: bool,
    ) {
        tracing::info!(camera, ?faults, "picture verdict changed");
        if let Some(h) = &self.core.history {
            h.quality(
                camera,
                at,
                ok,
                faults.iter().map(|f| f.as_str().to_string()).collect(),
            );
        }
    }

    /// Lets every hold-mode machine notice stalls.
    pub fn tick(&self) {
        let now = self.stamp();
        self.last_tick_ms
            .store(now.mono.as_millis().max(1), Relaxed);
        for e in self.entries() {
            if e.mode == Mode::Hold {
                self.apply_at(&e, now, Event::Tick);
            }
        }
    }

    /// The API view of one camera.
    pub fn view<'a>(&self, e: &'a CameraEntry) -> CameraView<'a> {
        let st = &e.stats;
        let ms_time = |ms: i64| {
            (ms != 0)
                .then(|| chrono::DateTime::from_timestamp_millis(ms))
                .flatten()
        };
        let nz = |v: u32| (v != 0).then_some(v);
        let (quality, detections) = {
            let v = e.vision.lock().unwrap();
            (v.quality.clone(), v.detections.clone())
        };
        CameraView {
            camera: e.snapshot(),
            quality,
            detections,
            url: url_for_display(e.camera.url.as_str()),
            labels: &e.camera.labels,
            mode: e.mode,
            sample_interval_seconds: (!e.sample_interval.is_zero())
                .then_some(e.sample_interval.as_secs_f64()),
            detail: e.status().detail,
            codec: e.codec.lock().unwrap().clone(),
            counters: CountersView {
                frames: st.frames.load(Relaxed),
                bytes: st.bytes.load(Relaxed),
                keyframes: st.keyframes.load(Relaxed),
                attempts: st.attempts.load(Relaxed),
                reconnects: st.reconnects.load(Relaxed),
                last_frame_at: ms_time(st.last_frame_ms.load(Relaxed)),
                gop_frames: nz(st.gop_frames.load(Relaxed)),
                keyframe_interval_seconds: nz(st.keyframe_interval_ms.load(Relaxed))
                    .map(|v| f64::from(v) / 1000.0),
                setup_seconds: nz(st.last_setup_ms.load(Relaxed)).map(|v| f64::from(v) / 1000.0),
                clock_offset_seconds: st.clock_offset_s(),
            },
        }
    }

    /// Live online rates of the enabled cameras.
    pub fn live_rates(&self) -> LiveRates {
        let entries = self.entries();
        rates::live(entries.iter().filter(|e| e.camera.enabled).map(|e| {
            let now = e.condition();
            (&e.camera.groups, now.state, now.intact)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::health::status::Reason;

    fn fleet() -> Fleet {
        Fleet::new(
            Arc::new(ManualClock::new(crate::clock::parse_time(
                "2026-11-23T08:00:00Z",
            ))),
            Arc::new(Metrics::new()),
            None,
        )
    }

    /// Adds the first camera of an inventory `csv` in hold mode.
    fn add(fleet: &Fleet, csv: &str) -> Arc<CameraEntry> {
        let cam = crate::config::inventory::parse_csv(csv).unwrap().cameras[0].clone();
        let hold = std::time::Duration::ZERO;
        fleet.add(cam, Mode::Hold, hold, StatusConfig::default())
    }

    fn failed(reason: Reason) -> Event {
        Event::Failed {
            reason,
            detail: "x".into(),
        }
    }

    #[test]
    fn every_change_is_published_once_and_a_new_reason_too() {
        let fleet = fleet();
        let mut rx = fleet.subscribe();
        let e = add(&fleet, "id,url\nc1,rtsp://10.0.0.1/x\n");
        e.on_event(failed(Reason::Refused));
        e.on_event(failed(Reason::Refused)); // same reason: nothing shown changed
        e.on_event(failed(Reason::Unreachable)); // not a transition, but the reason changed
        fleet.picture_changed("c1");
        fleet.remove("c1");
        let kinds: Vec<ChangeKind> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|c| {
                assert_eq!(&*c.camera, "c1");
                c.kind
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ChangeKind::Added,
                ChangeKind::Status(State::Offline),
                ChangeKind::Status(State::Offline),
                ChangeKind::Picture,
                ChangeKind::Removed,
            ]
        );
    }

    #[test]
    fn one_snapshot_behind_the_wall_the_status_topic_and_the_api_view() {
        let fleet = fleet();
        let e = add(
            &fleet,
            "id,name,url,username,password,region,unit,class,maintainer\nc1,东门,rtsp://10.0.0.1/x,u,secret,城关镇,交警,1,甲公司\n",
        );
        e.on_event(failed(Reason::Auth));
        let snap = serde_json::to_value(e.snapshot()).unwrap();
        let keys: Vec<&str> = snap
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut want = [
            "id",
            "name",
            "region",
            "unit",
            "class",
            "maintainer",
            "state",
            "reason",
            "since",
            "faults",
            "intact",
            "snapshot",
        ];
        want.sort();
        assert_eq!(keys, want, "{snap}");
        assert_eq!(snap["state"], "offline");
        assert_eq!(snap["reason"], "auth");
        assert_eq!(snap["maintainer"], "甲公司");
        assert!(snap["faults"].is_null(), "not diagnosed yet: {snap}");
        // The API view starts with the same fields, and adds the detail; no password anywhere.
        let view = serde_json::to_value(fleet.view(&e)).unwrap();
        for k in want {
            assert_eq!(view[k], snap[k], "{k}");
        }
        assert_eq!(view["detail"], "x");
        assert!(!view.to_string().contains("secret"), "{view}");
    }
}
