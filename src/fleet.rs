//! The fleet's shared state: every camera's status machine, counters and the live view.
//!
//! Supervisors feed events in; the metrics collector and the HTTP API read snapshots out. The
//! hot path (a frame) touches only atomics; the status machine's lock is taken a few times
//! per second per camera at most.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use crate::clock::{Clock, Time};
use crate::config::inventory::{Camera, Groups};
use crate::health::rates::{self, LiveRates};
use crate::health::status::{Event, Mode, State, Status, StatusConfig, StatusMachine, Transition};
use crate::metrics::Metrics;
use crate::redact::url_for_display;
use crate::vision::worker::{QualityView, VisionState};

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

/// Counters of one camera, updated lock-free by its session task.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Video frames received.
    pub frames: AtomicU64,
    /// Video payload bytes received.
    pub bytes: AtomicU64,
    /// Keyframes (IDR) received.
    pub keyframes: AtomicU64,
    /// Unix ms of the last frame; 0 = never.
    pub last_frame_ms: AtomicI64,
    /// Unix ms of the last keyframe; 0 = never.
    pub last_keyframe_ms: AtomicI64,
    /// Frames from one keyframe to the next, last measured (the GOP length).
    pub gop_frames: AtomicU32,
    /// Milliseconds from one keyframe to the next, last measured.
    pub keyframe_interval_ms: AtomicU32,
    /// Frames since the last keyframe (session task only).
    pub frames_since_key: AtomicU32,
    /// Session attempts (hold) or probes (patrol).
    pub attempts: AtomicU64,
    /// Attempts that failed or sessions that ended, followed by a reconnect.
    pub reconnects: AtomicU64,
    /// Milliseconds DESCRIBE..PLAY took on the last successful set-up.
    pub last_setup_ms: AtomicU32,
}

impl CameraStats {
    /// Records a frame received at `now_ms`.
    pub fn on_frame(&self, keyframe: bool, bytes: usize, now_ms: i64) {
        self.frames.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes as u64, Relaxed);
        self.last_frame_ms.store(now_ms, Relaxed);
        let since = self.frames_since_key.fetch_add(1, Relaxed) + 1;
        if keyframe {
            self.keyframes.fetch_add(1, Relaxed);
            let prev = self.last_keyframe_ms.swap(now_ms, Relaxed);
            if prev != 0 {
                self.gop_frames.store(since, Relaxed);
                self.keyframe_interval_ms
                    .store((now_ms - prev).clamp(0, u32::MAX as i64) as u32, Relaxed);
            }
            self.frames_since_key.store(0, Relaxed);
        }
    }

    /// A new session starts: keyframe spacing must not span sessions.
    pub fn on_session_start(&self) {
        self.last_keyframe_ms.store(0, Relaxed);
        self.frames_since_key.store(0, Relaxed);
    }
}

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
    machine: Mutex<StatusMachine>,
    /// Monotonic ms of the last `Media` event given to the machine (throttling; 0: none yet).
    last_media_event_ms: AtomicI64,
}

impl CameraEntry {
    /// The live status.
    pub fn status(&self) -> Status {
        self.machine.lock().unwrap().status().clone()
    }
}

/// A camera as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Stream URL without credentials.
    pub url: String,
    /// Region.
    pub region: String,
    /// Unit.
    pub unit: String,
    /// Class.
    pub class: String,
    /// Extra inventory columns.
    pub labels: BTreeMap<String, String>,
    /// hold or patrol.
    pub mode: Mode,
    /// connecting, online or offline.
    pub state: State,
    /// Why offline (latest failure).
    pub reason: Option<String>,
    /// The failure message.
    pub detail: Option<String>,
    /// When the current state began.
    pub since: Time,
    /// Codec of the last session.
    pub codec: Option<String>,
    /// Counters.
    pub counters: CountersView,
    /// Latest picture-quality verdict, when a sample was diagnosed.
    pub quality: Option<QualityView>,
    /// 完好: online and no picture fault in the latest verdict.
    pub intact: bool,
    /// Whether a snapshot is available at `/api/cameras/{id}/snapshot.jpg`.
    pub snapshot: bool,
    /// Latest detections, when detection runs.
    pub detections: Option<crate::vision::detector_pool::DetectionsView>,
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
}

/// 完好: the camera is online and its latest diagnosed picture has no fault. A camera not
/// yet diagnosed counts on its online state alone (no known fault).
pub fn is_intact(state: State, quality: Option<&QualityView>) -> bool {
    state == State::Online && quality.is_none_or(|q| q.ok)
}

/// The fleet.
pub struct Fleet {
    clock: Arc<dyn Clock>,
    cameras: RwLock<BTreeMap<String, Arc<CameraEntry>>>,
    history: Option<Arc<dyn History>>,
    metrics: Arc<Metrics>,
    /// Minimum spacing of `Media` events to a machine.
    media_event_ms: i64,
    /// The sample queue, when sampling is on (for its metrics).
    samples: std::sync::OnceLock<Arc<crate::camera::sampler::SampleQueue>>,
    /// The alert engine, when rules are configured.
    alerts: std::sync::OnceLock<Arc<crate::alerts::engine::AlertEngine>>,
    /// More metric families rendered at scrape time (alert sinks, ...).
    metric_sources: Mutex<Vec<MetricSource>>,
    /// Monotonic ms of the last [`Fleet::tick`] (0: none yet): `/healthz` fails when the
    /// ticker that finds stalls and writes heartbeats has stopped.
    last_tick_ms: AtomicI64,
}

/// `/healthz` fails when no tick came for this long (the ticker runs every 250 ms).
pub const TICK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// A function that renders metric families at scrape time.
pub type MetricSource =
    Arc<dyn Fn() -> Vec<prometheus::proto::MetricFamily> + Send + Sync + 'static>;

impl Fleet {
    /// An empty fleet.
    pub fn new(
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        history: Option<Arc<dyn History>>,
    ) -> Self {
        Self {
            clock,
            cameras: RwLock::new(BTreeMap::new()),
            history,
            metrics,
            media_event_ms: 200,
            samples: std::sync::OnceLock::new(),
            alerts: std::sync::OnceLock::new(),
            metric_sources: Mutex::new(Vec::new()),
            last_tick_ms: AtomicI64::new(0),
        }
    }

    /// Whether the ticker ran within [`TICK_DEADLINE`] (true before its first tick, while the
    /// daemon starts).
    pub fn ticker_alive(&self) -> bool {
        let last = self.last_tick_ms.load(Relaxed);
        last == 0 || self.clock.monotonic().as_millis() - last <= TICK_DEADLINE.as_millis() as i64
    }

    /// Adds families rendered at every scrape of `/metrics`.
    pub fn add_metric_source(&self, source: MetricSource) {
        self.metric_sources.lock().unwrap().push(source);
    }

    /// The extra metric sources.
    pub fn metric_sources(&self) -> Vec<MetricSource> {
        self.metric_sources.lock().unwrap().clone()
    }

    /// Registers the alert engine that rules observations go to.
    pub fn set_alerts(&self, engine: Arc<crate::alerts::engine::AlertEngine>) {
        let _ = self.alerts.set(engine);
    }

    /// The alert engine, when rules are configured.
    pub fn alerts(&self) -> Option<&Arc<crate::alerts::engine::AlertEngine>> {
        self.alerts.get()
    }

    /// Registers the sample queue so its counters show in the metrics.
    pub fn set_samples(&self, q: Arc<crate::camera::sampler::SampleQueue>) {
        let _ = self.samples.set(q);
    }

    /// The sample queue, when sampling is on.
    pub fn samples(&self) -> Option<&Arc<crate::camera::sampler::SampleQueue>> {
        self.samples.get()
    }

    /// The clock everything is dated with.
    pub fn now(&self) -> Time {
        self.clock.now()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
            last_media_event_ms: AtomicI64::new(0),
        });
        if let Some(h) = &self.history {
            h.begin(&entry.camera.id, State::Connecting, now);
        }
        self.cameras
            .write()
            .unwrap()
            .insert(entry.camera.id.clone(), entry.clone());
        entry
    }

    /// Stops tracking a camera (its history intervals are closed now).
    pub fn remove(&self, id: &str) -> Option<Arc<CameraEntry>> {
        let e = self.cameras.write().unwrap().remove(id)?;
        if let Some(h) = &self.history {
            h.stop(id, self.now());
        }
        Some(e)
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
        self.clock.stamp()
    }

    /// Applies an event that happened now to a camera's status machine.
    pub fn apply(&self, entry: &CameraEntry, event: Event) -> Option<Transition> {
        let now = self.stamp();
        self.apply_at(entry, now, event)
    }

    /// Applies an event that happened at `at`.
    pub fn apply_at(
        &self,
        entry: &CameraEntry,
        at: crate::clock::Stamp,
        event: Event,
    ) -> Option<Transition> {
        let t = entry.machine.lock().unwrap().handle(at, event)?;
        let reason = t.reason.map(|r| r.as_str()).unwrap_or("");
        self.metrics
            .state_changes
            .with_label_values(&[t.to.as_str(), reason])
            .inc();
        match t.to {
            State::Offline => tracing::warn!(
                camera = %entry.camera.id, reason, detail = t.detail.as_deref().unwrap_or(""),
                "camera offline"
            ),
            _ => tracing::info!(camera = %entry.camera.id, state = t.to.as_str(), "camera state"),
        }
        if let Some(h) = &self.history {
            h.record(&entry.camera.id, &t);
        }
        Some(t)
    }

    /// Records a frame received now; feeds the status machine at most every 200 ms.
    pub fn on_frame(&self, entry: &CameraEntry, keyframe: bool, bytes: usize) {
        let now = self.stamp();
        entry
            .stats
            .on_frame(keyframe, bytes, now.wall.timestamp_millis());
        // Throttled on the monotonic clock: a backward wall step must not silence a camera.
        let ms = now.mono.as_millis();
        let last = entry.last_media_event_ms.load(Relaxed);
        if last == 0 || ms - last >= self.media_event_ms {
            entry.last_media_event_ms.store(ms.max(1), Relaxed);
            self.apply_at(entry, now, Event::Media);
        }
    }

    /// Marks that a session just started (resets media throttling and keyframe spacing).
    pub fn on_session_started(&self, entry: &CameraEntry) {
        entry.last_media_event_ms.store(0, Relaxed);
        entry.stats.on_session_start();
        self.apply(entry, Event::SessionStarted);
    }

    /// Records a changed picture verdict (ok, or a new set of faults) in the history.
    pub fn record_quality(&self, camera: &str, at: Time, faults: &[crate::vision::quality::Fault]) {
        tracing::info!(camera, ?faults, "picture verdict changed");
        if let Some(h) = &self.history {
            h.quality(
                camera,
                at,
                faults.is_empty(),
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
    pub fn view(&self, e: &CameraEntry) -> CameraView {
        let s = e.status();
        let st = &e.stats;
        let ms_time = |ms: i64| {
            (ms != 0)
                .then(|| chrono::DateTime::from_timestamp_millis(ms))
                .flatten()
        };
        let nz = |v: u32| (v != 0).then_some(v);
        let (quality, snapshot, detections) = {
            let v = e.vision.lock().unwrap();
            (
                v.quality.clone(),
                v.snapshot.is_some(),
                v.detections.clone(),
            )
        };
        CameraView {
            intact: is_intact(s.state, quality.as_ref()),
            quality,
            snapshot,
            detections,
            id: e.camera.id.clone(),
            name: e.camera.name.clone(),
            url: url_for_display(e.camera.url.as_str()),
            region: e.camera.groups.region.clone(),
            unit: e.camera.groups.unit.clone(),
            class: e.camera.groups.class.clone(),
            labels: e.camera.labels.clone(),
            mode: e.mode,
            state: s.state,
            reason: s.reason.map(|r| r.as_str().to_string()),
            detail: s.detail,
            since: s.since,
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
            },
        }
    }

    /// Live online rates of the enabled cameras.
    pub fn live_rates(&self) -> LiveRates {
        let entries = self.entries();
        let states: Vec<(Groups, State, bool)> = entries
            .iter()
            .filter(|e| e.camera.enabled)
            .map(|e| {
                let state = e.status().state;
                let intact = is_intact(state, e.vision.lock().unwrap().quality.as_ref());
                (e.camera.groups.clone(), state, intact)
            })
            .collect();
        rates::live(states.iter().map(|(g, s, i)| (g, *s, *i)))
    }
}
