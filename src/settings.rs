//! Daemon settings: `sharpeyes.toml`, every key optional; command-line flags override it.
//!
//! ```toml
//! listen = "127.0.0.1:9090"
//! data_dir = "data"
//! stall_timeout = "10s"     # no media this long on an open session = stalled
//! recovery_hold = "10s"     # media must flow this long before an offline camera is online
//! connect_timeout = "10s"   # DESCRIBE..PLAY must finish within this
//! read_pace = "200ms"       # held sessions' sockets drained this often ("0" = every packet)
//! transport = "tcp"         # or "udp"
//! max_frame_bytes = 8388608 # an access unit above this ends the session (reason protocol)
//! max_rtsp_message_bytes = 262144 # an RTSP answer announced above this ends set-up (protocol)
//! default_mode = "hold"     # or "patrol"
//!
//! [backoff]                 # exponential with full jitter
//! initial = "1s"
//! max = "30s"
//!
//! [patrol]
//! interval = "5m"           # one round per camera every interval
//! probe_timeout = "10s"     # connect..first keyframe must finish within this
//! max_concurrent = 64       # probes in flight at once per instance
//!
//! [vision]
//! sample_interval = "3m"    # picture diagnosis (完好率): one keyframe per camera this often
//!                           # ("0" = none; cameras with a detection rule see [detect] interval)
//! queue = 64                # samples waiting for decode; the oldest is dropped beyond
//! workers = 1               # decode + diagnosis threads
//!
//! [detect]                  # object detection on the samples of cameras with a detection rule
//! enabled = false
//! interval = "5s"           # those cameras are sampled this often (a rule's `sample_interval` beats it)
//! model = "models/centernet_coco.toml"
//! threads = 2
//! device = "cpu"            # "cuda" with a --features cuda build
//! max_batch = 4             # samples of several cameras in one call
//!
//! [alerts]
//! rules = "rules.toml"      # [[rules]] tables: crowding, video_loss, video_abnormal
//! max_pending = 100000      # undelivered messages kept per sink; the oldest dropped beyond
//! retention = "30d"         # ended alerts, their snapshots and delivered messages kept this long
//! snapshots = true          # keep the picture each alert was raised on
//!
//! [mqtt]
//! url = "mqtt://127.0.0.1:1883"
//! topic_prefix = "sharpeyes"
//!
//! [webhook]                 # HTTP POST of every alert message (see docs/alerts.md)
//! url = "http://127.0.0.1:8080/alerts"
//! timeout = "10s"
//! secret_env = "SHARPEYES_WEBHOOK_SECRET"   # or secret_file = "/run/secrets/webhook"
//! headers = { "X-Tenant" = "county-7" }
//!
//! [kafka]                   # needs a build with the `kafka` feature (the default)
//! brokers = "127.0.0.1:9092"
//! topic = "sharpeyes.alerts"
//! delivery_timeout = "30s"
//! options = { "compression.type" = "lz4" }  # further librdkafka producer properties
//!
//! [log_sink]                # every alert message as one JSON line
//! enabled = true
//! path = "/var/log/sharpeyes/alerts.jsonl"  # default <data_dir>/alerts.jsonl
//!
//! [[groups]]                # per-group settings; the first matching rule that sets a key wins
//! class = "3"               # match on region / unit / class (omitted = any)
//! mode = "patrol"           # a `mode` column in the inventory beats this
//! sample_interval = "30s"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub use crate::config::duration::{MAX_DURATION, duration, duration_from_secs, parse_duration};

use crate::config::inventory::Camera;
use crate::config::inventory::Mode;

pub use crate::camera::session::TransportKind;

pub use crate::camera::settings::{BackoffSettings, PatrolSettings, SupervisorSettings};

/// How often a held session's socket is drained by default (docs/benchmarks.md has the
/// figures: per-packet wakeups were most of a held camera's cost).
pub const DEFAULT_READ_PACE: Duration = Duration::from_millis(200);

/// How often a camera's picture is diagnosed by default: 3 minutes. Quality-inspection
/// platforms check each camera every few minutes, and a fault lasting minutes is what 完好率
/// counts (a fault reaches the ledger within two samples, 3-6 min; 480 samples a camera a day).
/// A sample costs ~12.5 ms of CPU, nearly all of it decoding the IDR: at 3 min the defaults
/// cost ~1.8x holding alone, at 2 min ~2.2x (docs/benchmarks.md, run E and F).
pub const DEFAULT_QUALITY_INTERVAL: Duration = Duration::from_secs(180);

/// How often a camera with a detection rule is sampled by default (crowds and trucks come
/// and go within a minute).
pub const DEFAULT_DETECT_INTERVAL: Duration = Duration::from_secs(5);

/// Sampling keyframes for picture-quality diagnosis and detection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionSettings {
    /// Take the next keyframe of a held session this often for picture diagnosis (完好率);
    /// patrol samples each round's keyframe. `0` turns quality sampling off. Cameras the
    /// detector watches are sampled at least as often as `[detect] interval`.
    #[serde(deserialize_with = "duration")]
    pub sample_interval: Duration,
    /// Samples waiting for the decoder at most; the oldest is dropped beyond.
    pub queue: usize,
    /// Decode/diagnosis threads.
    pub workers: usize,
}

impl Default for VisionSettings {
    fn default() -> Self {
        Self {
            sample_interval: DEFAULT_QUALITY_INTERVAL,
            queue: 64,
            workers: 1,
        }
    }
}

impl VisionSettings {
    /// Whether sampling is on.
    pub fn enabled(&self) -> bool {
        !self.sample_interval.is_zero()
    }
}

/// Alerts: the rules file and where alerts go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// The rules file (`[[rules]]` tables; see `rules::config`). No file: no alerts.
    pub rules: Option<PathBuf>,
    /// Alert messages kept undelivered at most (per sink); the oldest are dropped beyond.
    pub max_pending: usize,
    /// How long ended alerts, their snapshots and delivered messages are kept.
    #[serde(deserialize_with = "duration")]
    pub retention: Duration,
    /// Store a JPEG of the picture each alert was raised on (`<data_dir>/snapshots/`).
    pub snapshots: bool,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            rules: None,
            max_pending: 100_000,
            retention: Duration::from_secs(30 * 86_400),
            snapshots: true,
        }
    }
}

pub use crate::alerts::sinks::config::{
    KafkaSettings, LogSinkSettings, MqttSettings, SinkSettings, WebhookSettings,
};

/// Object detection on sampled pictures.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectSettings {
    /// Run the detector on every diagnosed sample (needs ONNX Runtime:
    /// `scripts/fetch-onnxruntime.sh`). Off by default.
    pub enabled: bool,
    /// The detector's manifest.
    pub model: PathBuf,
    /// ONNX Runtime intra-op threads.
    pub threads: usize,
    /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    pub device: String,
    /// Decoded samples waiting for the detector at most; the oldest is dropped beyond.
    pub queue: usize,
    /// Samples run in one detector call when several wait.
    pub max_batch: usize,
    /// Several manifests run as an ensemble on every picture (their boxes merged by
    /// `merge`); empty: `model` alone.
    pub models: Vec<PathBuf>,
    /// Tiles over each picture besides the whole, `"2x2"` (columns x rows, 1-4 each); none by
    /// default. Per group: `[[groups]] tiles`.
    pub tiles: Option<String>,
    /// Share of a tile that overlaps its neighbour (0..0.5).
    pub tile_overlap: f32,
    /// How boxes of tiles and models are merged: `"nms"` or `"wbf"` (weighted box fusion).
    pub merge: crate::vision::detect_plan::Merge,
    /// Recommended score thresholds by class, replacing the models' (measure an ensemble's
    /// with `sharpeyes eval`).
    pub thresholds: std::collections::BTreeMap<String, f32>,
    /// Look only at the bounding box of the detection rules' zones on a camera (plus 5 %).
    pub zone_crop: bool,
    /// Which sampled cameras the detector looks at (the detector is the costliest stage).
    pub cameras: DetectScope,
    /// Cameras the detector looks at are sampled this often (unless their quality interval
    /// is shorter, or a detection rule's `sample_interval` sets another); `0`: at their
    /// quality interval.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
}

/// Which cameras `[detect]` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectScope {
    /// The cameras a detection rule (crowding, uncovered truck) applies to when any such rule
    /// is loaded; every sampled camera when none is (nothing says which).
    #[default]
    Auto,
    /// Only the cameras a detection rule applies to (none without such rules).
    Rules,
    /// Every sampled camera (their detections shown by the API and page).
    All,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            model: PathBuf::from(crate::vision::detect::DEFAULT_MODEL),
            threads: 2,
            device: "cpu".into(),
            queue: 32,
            max_batch: 4,
            models: Vec::new(),
            tiles: None,
            tile_overlap: 0.25,
            merge: crate::vision::detect_plan::Merge::Nms,
            thresholds: Default::default(),
            zone_crop: true,
            cameras: DetectScope::Auto,
            interval: DEFAULT_DETECT_INTERVAL,
        }
    }
}

impl DetectSettings {
    /// The manifests that run: `models`, else `model`.
    pub fn manifests(&self) -> Vec<PathBuf> {
        if self.models.is_empty() {
            vec![self.model.clone()]
        } else {
            self.models.clone()
        }
    }

    /// The default tiling, parsed (validated at load).
    pub fn tiling(&self) -> Option<crate::vision::detect_plan::Tiling> {
        self.tiles
            .as_deref()
            .and_then(|t| parse_tiles(t, self.tile_overlap).ok())
    }
}

/// Parses a `tiles` value with an overlap.
pub fn parse_tiles(text: &str, overlap: f32) -> Result<crate::vision::detect_plan::Tiling, String> {
    let mut t = crate::vision::detect_plan::Tiling::parse(text)?;
    if !(0.0..0.5).contains(&overlap) {
        return Err(format!("tile_overlap = {overlap}: a share in 0..0.5"));
    }
    t.overlap = overlap;
    Ok(t)
}

/// Per-group settings: the cameras a rule matches (empty fields match anything) and what it
/// sets for them. For each setting, the first matching rule that sets it wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRule {
    /// Region to match.
    pub region: Option<String>,
    /// Unit to match.
    pub unit: Option<String>,
    /// Class to match.
    pub class: Option<String>,
    /// Watching mode for matching cameras.
    pub mode: Option<Mode>,
    /// Keyframe sampling interval for matching cameras (`"0"` = none).
    #[serde(default, deserialize_with = "opt_duration")]
    pub sample_interval: Option<Duration>,
    /// Detection tiles for matching cameras (`"2x2"`, `"1x1"` = none).
    pub tiles: Option<String>,
}

impl GroupRule {
    fn matches(&self, cam: &Camera) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        ok(&self.region, &cam.groups.region)
            && ok(&self.unit, &cam.groups.unit)
            && ok(&self.class, &cam.groups.class)
    }
}

/// All settings of `sharpeyes run`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// HTTP listener for /metrics, /api and health checks.
    pub listen: String,
    /// Where the SQLite history lives.
    pub data_dir: PathBuf,
    /// No media this long on an open session = `stalled`.
    #[serde(deserialize_with = "duration")]
    pub stall_timeout: Duration,
    /// Media must flow this long before an offline camera counts as online again.
    #[serde(deserialize_with = "duration")]
    pub recovery_hold: Duration,
    /// A held session's socket is drained this often (batched reads: a few wakeups a second
    /// per camera instead of one per packet); `0` reads at every packet. Capped at a quarter
    /// of `stall_timeout`. Frames are seen up to this late; the socket buffers them meanwhile.
    #[serde(deserialize_with = "duration")]
    pub read_pace: Duration,
    /// DESCRIBE through PLAY must finish within this, or the camera is `unreachable`.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// RTP transport for sessions.
    pub transport: TransportKind,
    /// The largest access unit (frame) a camera may send; a larger one ends the session as a
    /// `protocol` failure so a broken or hostile camera cannot make the daemon hold it.
    pub max_frame_bytes: usize,
    /// The largest RTSP message (head + announced body) a camera may send; a larger one ends
    /// set-up as a `protocol` failure before its body is buffered.
    pub max_rtsp_message_bytes: usize,
    /// Mode for cameras no rule or column decides.
    pub default_mode: Mode,
    /// Reconnect backoff.
    pub backoff: BackoffSettings,
    /// Patrol rounds.
    pub patrol: PatrolSettings,
    /// Per-group rules (mode, sampling interval), first match wins per setting.
    pub groups: Vec<GroupRule>,
    /// Keyframe sampling, quality diagnosis, detection.
    pub vision: VisionSettings,
    /// Picture-quality thresholds (see `vision::quality`).
    pub quality: crate::vision::quality::QualityConfig,
    /// Object detection.
    pub detect: DetectSettings,
    /// Alert rules and the outbox.
    pub alerts: AlertSettings,
    /// The MQTT sink.
    pub mqtt: MqttSettings,
    /// The HTTP webhook sink.
    pub webhook: WebhookSettings,
    /// The Kafka sink.
    pub kafka: KafkaSettings,
    /// The JSON-lines log sink.
    pub log_sink: LogSinkSettings,
    /// The ops page (`[web]`, see `web::config`).
    pub web: crate::http::config::WebSettings,
    /// Access control (`[auth]`, see `web::config`).
    pub auth: crate::http::config::AuthSettings,
    /// `[reload]`: when a changed inventory file is applied.
    pub reload: ReloadSettings,
    /// `[history]`: how long the ledger keeps intervals.
    pub history: HistorySettings,
    /// `[maintenance]`: maintenance windows (报备) and how late ones count.
    pub maintenance: MaintenanceSettings,
    /// `[tickets]`: repair tickets (工单) and their SLA.
    pub tickets: crate::assessment::tickets::TicketSettings,
}

/// `[maintenance]`: declarations of planned work (see `crate::assessment::windows`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceSettings {
    /// A window that starts more than this before it is declared is *late* (declared after
    /// the fact). Default 15 min.
    #[serde(deserialize_with = "duration")]
    pub late_grace: Duration,
    /// Whether late windows excuse in full in the assessed rates the page and API show
    /// (default false: only from when they were declared).
    pub count_late: bool,
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        Self {
            late_grace: crate::assessment::windows::DEFAULT_LATE_GRACE,
            count_late: false,
        }
    }
}

/// `[history]`: retention of the ledger (purged once a day by the daemon).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySettings {
    /// Status intervals (the online rate, daily and monthly reports) are kept this long.
    /// Default 400 days: a year of assessments plus a month of margin.
    #[serde(deserialize_with = "duration")]
    pub retention: Duration,
    /// Picture-verdict intervals (完好率) are kept this long. Default 400 days as well; shorten
    /// it where verdicts change often.
    #[serde(deserialize_with = "duration")]
    pub quality_retention: Duration,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(400 * 86_400),
            quality_retention: Duration::from_secs(400 * 86_400),
        }
    }
}

/// `[reload]`: guards on live inventory reloads (see `crate::reload`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadSettings {
    /// A reload that would stop more than this share of the watched cameras is refused unless
    /// forced (`kill -USR1`): a half-copied file must not stop the district.
    pub max_removed_share: f64,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        Self {
            max_removed_share: 0.5,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9090".into(),
            data_dir: PathBuf::from("data"),
            stall_timeout: Duration::from_secs(10),
            recovery_hold: Duration::from_secs(10),
            read_pace: DEFAULT_READ_PACE,
            connect_timeout: Duration::from_secs(10),
            transport: TransportKind::Tcp,
            max_frame_bytes: 8 << 20,
            max_rtsp_message_bytes: 256 << 10,
            default_mode: Mode::Hold,
            backoff: BackoffSettings::default(),
            patrol: PatrolSettings::default(),
            groups: Vec::new(),
            vision: VisionSettings::default(),
            quality: crate::vision::quality::QualityConfig::default(),
            detect: DetectSettings::default(),
            alerts: AlertSettings::default(),
            mqtt: MqttSettings::default(),
            webhook: WebhookSettings::default(),
            kafka: KafkaSettings::default(),
            log_sink: LogSinkSettings::default(),
            web: Default::default(),
            auth: Default::default(),
            reload: ReloadSettings::default(),
            history: HistorySettings::default(),
            maintenance: MaintenanceSettings::default(),
            tickets: Default::default(),
        }
    }
}

impl Settings {
    /// What the camera supervisors need: the stall and recovery timings, backoff, patrol.
    pub fn supervisor(&self) -> SupervisorSettings {
        SupervisorSettings {
            stall_timeout: self.stall_timeout,
            recovery_hold: self.recovery_hold,
            read_pace: self.read_pace.min(self.stall_timeout / 4),
            backoff: self.backoff.clone(),
            patrol: self.patrol.clone(),
        }
    }

    /// What the alert sinks need: their sections and the data directory.
    pub fn sinks(&self) -> SinkSettings {
        SinkSettings {
            mqtt: self.mqtt.clone(),
            webhook: self.webhook.clone(),
            kafka: self.kafka.clone(),
            log_sink: self.log_sink.clone(),
            data_dir: self.data_dir.clone(),
        }
    }

    /// Reads a settings file; errors name the line.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
    }

    /// Parses settings text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s: Self = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            }
        })?;
        s.quality.validate()?;
        for t in s
            .detect
            .tiles
            .iter()
            .chain(s.groups.iter().filter_map(|g| g.tiles.as_ref()))
        {
            parse_tiles(t, s.detect.tile_overlap)?;
        }
        for (class, t) in &s.detect.thresholds {
            if !(0.0..=1.0).contains(t) {
                return Err(format!("[detect] thresholds.{class} = {t} is outside 0..1"));
            }
        }
        if !(0.0..=1.0).contains(&s.reload.max_removed_share) {
            return Err(format!(
                "[reload] max_removed_share = {} is not a share between 0 and 1",
                s.reload.max_removed_share
            ));
        }
        Ok(s)
    }

    /// The mode a camera is watched in: its own column, else the first matching rule, else
    /// the default.
    pub fn mode_for(&self, cam: &Camera) -> Mode {
        cam.mode
            .or_else(|| {
                self.groups
                    .iter()
                    .filter(|r| r.matches(cam))
                    .find_map(|r| r.mode)
            })
            .unwrap_or(self.default_mode)
    }

    /// The detection tiling of a camera: the first matching group rule that sets `tiles`,
    /// else `[detect] tiles`.
    pub fn tiles_for(&self, cam: &Camera) -> Option<crate::vision::detect_plan::Tiling> {
        match self
            .groups
            .iter()
            .filter(|r| r.matches(cam))
            .find_map(|r| r.tiles.as_deref())
        {
            Some(t) => parse_tiles(t, self.detect.tile_overlap).ok(),
            None => self.detect.tiling(),
        }
    }

    /// How often a camera's picture is sampled for diagnosis: the first matching group rule
    /// that sets `sample_interval`, else `[vision] sample_interval`. Zero means never.
    pub fn quality_interval_for(&self, cam: &Camera) -> Duration {
        self.groups
            .iter()
            .filter(|r| r.matches(cam))
            .find_map(|r| r.sample_interval)
            .unwrap_or(self.vision.sample_interval)
    }

    /// How often a camera is sampled at all: the shorter of its quality interval and, when
    /// detection is on and the detector looks at the camera, its detection interval
    /// (`detect`: see [`crate::rules::config::RulesFile::detection_interval`]). Zero: never.
    pub fn sample_interval_for(&self, cam: &Camera, detect: Option<Duration>) -> Duration {
        let quality = self.quality_interval_for(cam);
        let detect = detect
            .filter(|_| self.detect.enabled)
            .unwrap_or(Duration::ZERO);
        shortest_nonzero(quality, detect)
    }

    /// Whether any camera is sampled (so the vision workers are needed).
    pub fn any_sampling(&self) -> bool {
        self.vision.enabled()
            || (self.detect.enabled && !self.detect.interval.is_zero())
            || self
                .groups
                .iter()
                .any(|r| r.sample_interval.is_some_and(|d| !d.is_zero()))
    }
}

/// The shorter of two intervals where zero means "never".
fn shortest_nonzero(a: Duration, b: Duration) -> Duration {
    match (a.is_zero(), b.is_zero()) {
        (true, _) => b,
        (_, true) => a,
        _ => a.min(b),
    }
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_or_negative_durations_are_errors_not_panics() {
        for text in [
            "stall_timeout = 1e20",
            "stall_timeout = \"1e20s\"",
            "stall_timeout = -1",
            "stall_timeout = \"1e300h\"",
            "[auth]\nsession_ttl = 1e20",
            "[auth]\nsession_ttl = \"99999d\"",
        ] {
            let e = Settings::parse(text).unwrap_err();
            assert!(
                ["duration", "seconds", "longer than the limit"]
                    .iter()
                    .any(|w| e.contains(w)),
                "{text}: {e}"
            );
        }
        assert!(parse_duration("3650d").is_ok());
        assert!(parse_duration("inf").is_err());
        assert!(parse_duration("NaN").is_err());
    }

    #[test]
    fn empty_config_is_all_defaults() {
        let s = Settings::parse("").unwrap();
        assert_eq!(s.listen, "127.0.0.1:9090");
        assert_eq!(s.stall_timeout, Duration::from_secs(10));
    }

    #[test]
    fn durations_and_rules() {
        let s = Settings::parse(
            "stall_timeout = \"2.5s\"\nrecovery_hold = 3\n[patrol]\ninterval = \"5m\"\n\
             [[groups]]\nclass = \"3\"\nmode = \"patrol\"\nsample_interval = \"30s\"\n\
             [[groups]]\nsample_interval = 0\n",
        )
        .unwrap();
        assert_eq!(s.stall_timeout, Duration::from_millis(2500));
        assert_eq!(s.recovery_hold, Duration::from_secs(3));
        assert_eq!(s.patrol.interval, Duration::from_secs(300));
        let inv = crate::config::inventory::parse_csv(
            "id,url,class,mode\na,rtsp://h/a,3,\nb,rtsp://h/b,1,\nc,rtsp://h/c,3,hold\n",
        )
        .unwrap();
        let modes: Vec<_> = inv.cameras.iter().map(|c| s.mode_for(c)).collect();
        assert_eq!(modes, [Mode::Patrol, Mode::Hold, Mode::Hold]);
        let every: Vec<_> = inv
            .cameras
            .iter()
            .map(|c| s.sample_interval_for(c, None))
            .collect();
        assert_eq!(
            every,
            [
                Duration::from_secs(30),
                Duration::ZERO,
                Duration::from_secs(30)
            ]
        );
        assert!(s.any_sampling());
    }

    #[test]
    fn cameras_the_detector_watches_are_sampled_at_the_detection_interval() {
        let inv =
            crate::config::inventory::parse_csv("id,url,class\na,rtsp://h/a,1\nb,rtsp://h/b,3\n")
                .unwrap();
        let (a, b) = (&inv.cameras[0], &inv.cameras[1]);
        let secs = Duration::from_secs;
        // Defaults: diagnosis every 3 minutes; detection off, so no camera is sampled faster.
        let s = Settings::parse("").unwrap();
        assert_eq!(s.sample_interval_for(a, None), secs(180));
        assert_eq!(s.sample_interval_for(a, Some(secs(5))), secs(180));
        // Detection on: a watched camera at its detection interval, the others at their
        // quality interval.
        let s = Settings::parse("[detect]\nenabled = true\n").unwrap();
        assert_eq!(s.detect.interval, secs(5));
        assert_eq!(s.sample_interval_for(a, Some(secs(5))), secs(5));
        assert_eq!(s.sample_interval_for(a, Some(secs(200))), secs(180));
        assert_eq!(s.sample_interval_for(b, None), secs(180));
        // A shorter quality interval wins; quality sampling off leaves detection sampling on.
        let s = Settings::parse(
            "[vision]\nsample_interval = 0\n[detect]\nenabled = true\n\
             [[groups]]\nclass = \"3\"\nsample_interval = \"1s\"\n",
        )
        .unwrap();
        assert_eq!(s.sample_interval_for(a, None), Duration::ZERO);
        assert_eq!(s.sample_interval_for(a, Some(secs(3))), secs(3));
        assert_eq!(s.sample_interval_for(b, Some(secs(3))), secs(1));
        assert!(s.any_sampling());
    }

    #[test]
    fn read_pace_defaults_to_200ms_and_stays_well_inside_the_stall_timeout() {
        let s = Settings::parse("").unwrap();
        assert_eq!(s.supervisor().read_pace, Duration::from_millis(200));
        let s = Settings::parse("stall_timeout = 0.4\nread_pace = 2\n").unwrap();
        assert_eq!(s.supervisor().read_pace, Duration::from_millis(100));
        let s = Settings::parse("read_pace = 0\n").unwrap();
        assert!(s.supervisor().read_pace.is_zero());
    }

    #[test]
    fn errors_name_the_line() {
        let e = Settings::parse("listen = \"x\"\n\nstall_timeout = \"ten\"\n").unwrap_err();
        assert!(e.starts_with("line 3"), "{e}");
        let e = Settings::parse("stal_timeout = 3\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("unknown field"), "{e}");
    }

    #[test]
    fn sink_sections() {
        let s = Settings::parse(
            "[webhook]\nurl = \"http://h/x\"\ntimeout = \"2s\"\nsecret_env = \"S\"\n\
             headers = { \"X-A\" = \"1\" }\n[kafka]\nbrokers = \"k:9092\"\n\
             options = { \"linger.ms\" = \"5\" }\n[log_sink]\nenabled = true\n",
        )
        .unwrap();
        assert_eq!(s.webhook.url.as_deref(), Some("http://h/x"));
        assert_eq!(s.webhook.timeout, Duration::from_secs(2));
        assert_eq!(s.webhook.headers["X-A"], "1");
        assert_eq!(s.kafka.brokers.as_deref(), Some("k:9092"));
        assert_eq!(s.kafka.topic, "sharpeyes.alerts");
        assert_eq!(s.kafka.options["linger.ms"], "5");
        assert!(s.log_sink.enabled && s.log_sink.path.is_none());
        let e = Settings::parse("[webhook]\nsecret = \"x\"\n").unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }
}
