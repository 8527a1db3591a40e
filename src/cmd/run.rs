//! `sharpeyes run`: the daemon. Loads the inventory, starts one supervisor per camera, serves
//! `/metrics` and the API, records history, and shuts down cleanly on SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Semaphore, watch};

use crate::alerts::engine::AlertEngine;
use crate::camera::sampler::SampleQueue;
use crate::camera::session::RetinaOpener;
use crate::camera::supervisor::SupervisorContext;
use crate::clock::SystemClock;
use crate::clock::Time;
use crate::config::inventory;
use crate::fleet::{Fleet, History};
use crate::health::ledger::{Ledger, LedgerSender, LedgerWriter};
use crate::health::status::{Mode, State, StatusConfig, Transition};
use crate::pipeline::detector::DetectQueue;
use crate::reload::Reconciler;
use crate::settings::{Settings, TransportKind, parse_duration};
use crate::telemetry::{MetricSource, Metrics};

/// Arguments of `sharpeyes run`. Flags override the config file; no config file is needed.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Inventory file (CSV, or TOML when it ends in `.toml`).
    #[arg(long)]
    pub inventory: PathBuf,
    /// Settings file (TOML); every key is optional.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address for /metrics, /api and health checks [default: 127.0.0.1:9090].
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory for the status history database [default: data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seconds without media on an open session before a camera is `stalled` [default: 10].
    #[arg(long, value_parser = parse_duration)]
    pub stall_timeout: Option<Duration>,
    /// Seconds media must flow before an offline camera is online again [default: 10].
    #[arg(long, value_parser = parse_duration)]
    pub recovery_hold: Option<Duration>,
    /// Drain each held session's socket this often; 0 reads at every packet [default: 0.2].
    #[arg(long, value_parser = parse_duration)]
    pub read_pace: Option<Duration>,
    /// Seconds allowed for DESCRIBE..PLAY [default: 10].
    #[arg(long, value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// RTP transport [default: tcp].
    #[arg(long, value_enum)]
    pub transport: Option<TransportKind>,
    /// Watch every camera in this mode, whatever the config says.
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<Mode>,
    /// Seconds between patrol rounds of one camera [default: 300].
    #[arg(long, value_parser = parse_duration)]
    pub patrol_interval: Option<Duration>,
    /// Sample one keyframe per held camera this often for picture diagnosis; 0 turns quality
    /// sampling off [default: 120].
    #[arg(long, value_parser = parse_duration)]
    pub sample_interval: Option<Duration>,
    /// Sample the cameras the detector looks at this often [default: 5].
    #[arg(long, value_parser = parse_duration)]
    pub detect_interval: Option<Duration>,
    /// Run object detection on the samples (needs ONNX Runtime).
    #[arg(long)]
    pub detect: bool,
    /// Alert rules file (`[[rules]]`: crowding, video_loss, video_abnormal).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// MQTT broker for alerts, e.g. `mqtt://127.0.0.1:1883`.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// HTTP webhook for alerts, e.g. `http://127.0.0.1:8080/alerts` (`[webhook]` for more).
    #[arg(long)]
    pub webhook: Option<String>,
    /// Kafka brokers for alerts, e.g. `127.0.0.1:9092` (`[kafka]` for the topic and more).
    #[arg(long)]
    pub kafka: Option<String>,
    /// Append every alert message as a JSON line to `<data_dir>/alerts.jsonl`.
    #[arg(long)]
    pub alert_log: bool,
    /// Watch only the cameras this instance owns: `I/N` (rendezvous hash of the camera id), or
    /// `pod/N` to take I from a StatefulSet pod name ($POD_NAME, else $HOSTNAME).
    #[arg(long, value_parser = crate::config::shard::parse_arg)]
    pub shard: Option<crate::config::shard::Shard>,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "hold" => Ok(Mode::Hold),
        "patrol" => Ok(Mode::Patrol),
        _ => Err(format!("unknown mode {s:?} (hold or patrol)")),
    }
}

impl RunArgs {
    /// The settings in force: the config file (or defaults) with flags applied on top.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = match &self.config {
            Some(p) => Settings::load(p)?,
            None => Settings::default(),
        };
        if let Some(v) = &self.listen {
            s.listen = v.clone();
        }
        if let Some(v) = &self.data_dir {
            s.data_dir = v.clone();
        }
        if let Some(v) = self.stall_timeout {
            s.stall_timeout = v;
        }
        if let Some(v) = self.recovery_hold {
            s.recovery_hold = v;
        }
        if let Some(v) = self.connect_timeout {
            s.connect_timeout = v;
        }
        if let Some(v) = self.transport {
            s.transport = v;
        }
        if let Some(v) = self.patrol_interval {
            s.patrol.interval = v;
        }
        if let Some(v) = &self.rules {
            s.alerts.rules = Some(v.clone());
        }
        if let Some(v) = &self.mqtt {
            s.mqtt.url = Some(v.clone());
        }
        if let Some(v) = &self.webhook {
            s.webhook.url = Some(v.clone());
        }
        if let Some(v) = &self.kafka {
            s.kafka.brokers = Some(v.clone());
        }
        if self.alert_log {
            s.log_sink.enabled = true;
        }
        if self.detect {
            s.detect.enabled = true;
        }
        if let Some(v) = self.sample_interval {
            s.vision.sample_interval = v;
        }
        if let Some(v) = self.read_pace {
            s.read_pace = v;
        }
        if let Some(v) = self.detect_interval {
            s.detect.interval = v;
        }
        if let Some(m) = self.mode {
            s.default_mode = m;
            for g in &mut s.groups {
                g.mode = None;
            }
        }
        Ok(s)
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut settings = args.settings()?;
    let _data_dir_lock = crate::datadir::lock(&settings.data_dir)?;
    let mut damaged = Vec::new();
    for db in [
        crate::health::ledger::db_path(&settings.data_dir),
        crate::alerts::outbox::db_path(&settings.data_dir),
        crate::assessment::windows::db_path(&settings.data_dir),
        crate::assessment::tickets::db_path(&settings.data_dir),
    ] {
        if crate::datadir::heal(&db)?.is_some() {
            damaged.push(
                db.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into()),
            );
        }
    }
    crate::http::first_login::apply(&mut settings.auth, &settings.data_dir)?;
    let settings = Arc::new(settings);
    let inv = inventory::load(&args.inventory)?;
    for r in &inv.rejected {
        tracing::warn!(inventory = %args.inventory.display(), "skipped row: {r}");
    }
    let shard = args.shard.unwrap_or(crate::config::shard::Shard::ALL);
    anyhow::ensure!(
        inv.enabled().next().is_some(),
        "no usable camera in {} ({} rows rejected)",
        args.inventory.display(),
        inv.rejected.len()
    );
    if !inv.enabled().any(|c| shard.owns(&c.id)) {
        tracing::warn!(%shard, "this shard owns none of the inventory's cameras");
    }

    // A socket per session, plus files and listeners.
    crate::fdlimit::raise(inv.cameras.len() + 256, "daemon");
    let writer = open_history(&settings)?;
    let history: Arc<dyn History> = Arc::new(writer.sender().clone());
    let metrics = Arc::new(Metrics::new());
    for file in &damaged {
        metrics.storage_damaged.with_label_values(&[file]).inc();
    }
    metrics
        .shard
        .with_label_values(&[&shard.index.to_string(), &shard.count.to_string()])
        .set(1);
    let fleet = Arc::new(Fleet::new(
        Arc::new(SystemClock),
        metrics,
        Some(history.clone()),
    ));
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut metric_sources: Vec<MetricSource> = vec![{
        let fleet = fleet.clone();
        Arc::new(move || crate::fleet::metrics::families(&fleet))
    }];
    let (engine, mqtt, sinks) = start_alerts(
        &settings,
        &inv,
        shard,
        &fleet,
        addr,
        &shutdown_rx,
        &mut metric_sources,
    )?;
    let tickets = crate::cmd::ticketing::start(
        &settings,
        &fleet,
        engine.as_ref().map(|e| e.outbox().clone()),
        format!("/sharpeyes/{}", shard),
        shutdown_rx.clone(),
    )?;
    if let Some(t) = &tickets {
        metric_sources.push(crate::cmd::ticketing::metric_source(t.clone()));
    }
    if let Some(sink) = &mqtt {
        tokio::spawn(publish_statuses(
            fleet.clone(),
            sink.status_publisher(),
            shutdown_rx.clone(),
        ));
    }
    let samples = settings
        .any_sampling()
        .then(|| Arc::new(SampleQueue::new(settings.vision.queue)));
    if let Some(q) = &samples {
        metric_sources.push(crate::camera::sampler::metric_source(q.clone()));
    }
    let app = crate::http::api::app(
        crate::http::api::Services {
            fleet: fleet.clone(),
            alerts: engine.clone(),
            metric_sources: Arc::new(metric_sources),
            tickets,
        },
        &web_context(&settings, addr),
    )?;
    let (updates_tx, updates_rx) = std::sync::mpsc::sync_channel(crate::pipeline::UPDATE_QUEUE);
    let router = crate::pipeline::router::spawn(
        fleet.clone(),
        engine.clone(),
        updates_rx,
        settings.quality.confirm_samples,
        crate::pipeline::router::ClockCheck::from_config(&settings.quality),
        shutdown_rx.clone(),
    )?;
    let detect_queue = match (&samples, settings.detect.enabled) {
        (Some(_), true) => {
            let d = &settings.detect;
            // The detector keeps rows down to the lowest threshold anything asks for (a rule's
            // min_score, a [detect] thresholds entry), even under the manifest's floor.
            let lowest = engine
                .as_ref()
                .and_then(|e| e.rules().lowest_min_score())
                .into_iter()
                .chain(d.thresholds.values().copied())
                .min_by(f32::total_cmp);
            let plan = crate::vision::detect_plan::DetectPlan::load(
                &d.manifests(),
                &crate::vision::detect::DetectorOptions {
                    threads: d.threads,
                    device: d.device.parse()?,
                    score_threshold: lowest,
                    ..Default::default()
                },
                d.tiling(),
                d.merge,
                &d.thresholds,
            )
            .context("detection is enabled but the detector cannot start")?;
            let q = Arc::new(DetectQueue::new(d.queue));
            let t = crate::pipeline::detector::spawn(
                plan,
                targeting(settings.clone(), fleet.clone(), engine.clone()),
                q.clone(),
                fleet.metrics().clone(),
                updates_tx.clone(),
                d.max_batch,
            );
            Some((q, t))
        }
        (None, true) => anyhow::bail!(
            "detection needs sampling: set a non-zero [detect] interval or sample interval"
        ),
        _ => None,
    };
    let workers = match &samples {
        Some(q) => crate::pipeline::workers::spawn(
            settings.vision.workers,
            q.clone(),
            fleet.metrics().clone(),
            settings.quality.clone(),
            detect_queue
                .as_ref()
                .map(|(q, _)| (q.clone(), detect_filter(&settings, engine.clone()))),
            updates_tx.clone(),
        ),
        None => Vec::new(),
    };
    // The workers and the detector hold the only senders: the router ends after them.
    drop(updates_tx);
    let ctx = SupervisorContext {
        clock: Arc::new(SystemClock),
        metrics: fleet.metrics().clone(),
        opener: Arc::new(
            RetinaOpener::new(settings.transport, settings.connect_timeout)
                .max_frame_bytes(settings.max_frame_bytes)
                .max_message_bytes(settings.max_rtsp_message_bytes),
        ),
        settings: Arc::new(settings.supervisor()),
        patrol_slots: Arc::new(Semaphore::new(settings.patrol.max_concurrent.max(1))),
        setup_slots: Arc::new(Semaphore::new(
            settings.backoff.max_concurrent_setups.max(1),
        )),
        shutdown: shutdown_rx.clone(),
        samples: samples.clone(),
    };
    let status_cfg = StatusConfig {
        stall_timeout: settings.stall_timeout,
        recovery_hold: settings.recovery_hold,
        mode: Mode::Hold,
    };
    let mut reconciler = Reconciler::new(
        ctx,
        fleet.clone(),
        settings.clone(),
        shard,
        status_cfg,
        writer.sender().clone(),
    );
    if detect_queue.is_some() {
        reconciler.set_detection(detection_cadence(&settings, engine.clone()));
    }
    reconciler.apply(&inv.cameras);
    reconciler.set_rejected(inv.rejected.len());
    let (held, patrolled) = reconciler.counts();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(reconciler.run(args.inventory.clone(), shutdown_rx.clone()));
    tasks.spawn(ticker(fleet.clone(), history.clone(), shutdown_rx.clone()));
    tasks.spawn(ledger_retention(
        fleet.clone(),
        writer.sender().clone(),
        settings.history.clone(),
        shutdown_rx.clone(),
    ));

    println!(
        "sharpeyes: shard {shard}: watching {} cameras ({held} hold, {patrolled} patrol; {} rows rejected)\n  \
         metrics  http://{addr}/metrics\n  cameras  http://{addr}/api/cameras\n  groups   http://{addr}/api/groups",
        held + patrolled,
        inv.rejected.len(),
    );
    crate::http::serve::serve(
        listener,
        app,
        settings.web.limits(),
        fleet.metrics().http_connections.clone(),
        stop_signal(),
    )
    .await;

    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    while tasks.join_next().await.is_some() {}
    if let Some(q) = &samples {
        q.close();
    }
    for w in workers {
        let _ = tokio::task::spawn_blocking(move || w.join()).await;
    }
    if let Some((q, t)) = detect_queue {
        q.close();
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    let _ = tokio::task::spawn_blocking(move || router.join()).await;
    if let Some(sink) = mqtt {
        sink.shutdown().await;
    }
    if let Some(sinks) = sinks {
        sinks.shutdown().await;
    }
    let now = fleet.now();
    tokio::task::spawn_blocking(move || writer.shutdown(now)).await?;
    Ok(())
}

/// Deletes ledger intervals past `[history]` retention a minute after start, then daily
/// (queued to the ledger's writer thread: no disk I/O here).
async fn ledger_retention(
    fleet: Arc<Fleet>,
    ledger: LedgerSender,
    keep: crate::settings::HistorySettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = fleet.now();
        let before = |d: Duration| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        };
        ledger.purge(before(keep.retention), before(keep.quality_retention));
        wait = Duration::from_secs(86_400);
    }
}

/// Notices stalls (every 250 ms) and writes the ledger heartbeat (every 5 s).
async fn ticker(fleet: Arc<Fleet>, history: Arc<dyn History>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        fleet.tick();
        n += 1;
        if n.is_multiple_of(20) {
            history.heartbeat(fleet.now());
        }
    }
}

impl History for LedgerSender {
    fn begin(&self, camera: &str, state: State, at: Time) {
        LedgerSender::begin(self, camera, state, at);
    }
    fn record(&self, camera: &str, transition: &Transition) {
        LedgerSender::record(self, camera, transition.clone());
    }
    fn heartbeat(&self, at: Time) {
        LedgerSender::heartbeat(self, at);
    }
    fn close_all(&self, at: Time) {
        LedgerSender::close_all(self, at);
    }
    fn stop(&self, camera: &str, at: Time) {
        LedgerSender::stop(self, camera, at);
    }
    fn quality(&self, camera: &str, at: Time, ok: bool, faults: Vec<String>) {
        LedgerSender::quality(self, camera, at, ok, faults);
    }
}

/// The alert engine and the sinks it feeds, when rules are configured.
type Alerting = (
    Option<Arc<AlertEngine>>,
    Option<crate::alerts::sinks::mqtt::MqttSink>,
    Option<crate::alerts::sinks::SinkSet>,
);

/// Loads and validates the rules (errors name the line), opens the outbox and starts the MQTT
/// sink and the other configured sinks (`alerts::sinks`). No rules file: no alerts.
fn start_alerts(
    settings: &Settings,
    inv: &crate::config::inventory::Inventory,
    shard: crate::config::shard::Shard,
    fleet: &Arc<Fleet>,
    addr: std::net::SocketAddr,
    shutdown: &watch::Receiver<bool>,
    metric_sources: &mut Vec<MetricSource>,
) -> anyhow::Result<Alerting> {
    let Some(path) = &settings.alerts.rules else {
        anyhow::ensure!(
            !crate::alerts::sinks::any_configured(&settings.sinks()),
            "an alert sink (MQTT, webhook, Kafka or log) is configured but no alert rules \
             (--rules FILE)"
        );
        return Ok((None, None, None));
    };
    let rules = crate::rules::config::RulesFile::load(path)?;
    let ids: Vec<&str> = inv.cameras.iter().map(|c| c.id.as_str()).collect();
    rules
        .validate(&ids)
        .map_err(|e| anyhow::anyhow!("rules {}: {e}", path.display()))?;
    let outbox = crate::alerts::outbox::Outbox::open_on(
        &settings.data_dir,
        crate::alerts::outbox::OutboxOptions {
            source: format!("/sharpeyes/{}", shard),
            max_pending: settings.alerts.max_pending,
        },
        fleet.clock().clone(),
    )?;
    let sink = match &settings.mqtt.url {
        Some(url) => {
            let client_id = settings
                .mqtt
                .client_id
                .clone()
                .unwrap_or_else(|| format!("sharpeyes-{}-{}", shard.index, std::process::id()));
            let mut cfg = crate::alerts::sinks::mqtt::MqttConfig::new(
                url,
                &settings.mqtt.topic_prefix,
                &client_id,
            );
            cfg.tls = settings.mqtt.tls();
            // Each shard its own availability (and last will): one shard lost is not all.
            cfg.shard = (shard.count > 1).then_some(shard.index);
            let sink = crate::alerts::sinks::mqtt::MqttSink::start(cfg, outbox.clone())?;
            metric_sources.push(sink.metric_source());
            Some(sink)
        }
        None => None,
    };
    let snapshots = settings
        .alerts
        .snapshots
        .then(|| crate::alerts::store::snapshot_dir(&settings.data_dir));
    tokio::spawn(retention(
        outbox.clone(),
        snapshots.clone(),
        settings.alerts.retention,
    ));
    let sinks =
        crate::alerts::sinks::start_configured(&settings.sinks(), &outbox, shutdown.clone())?;
    fleet
        .metrics()
        .register_collector(Box::new(sinks.collector()))?;
    let engine = Arc::new(AlertEngine::new(
        rules,
        outbox,
        format!("http://{addr}"),
        snapshots,
    )?);
    metric_sources.push({
        let engine = engine.clone();
        Arc::new(move || crate::alerts::metrics::families(&engine))
    });
    Ok((Some(engine), sink, Some(sinks)))
}

/// Publishes each camera's status (retained, `<prefix>/cameras/<id>/status`) when it changes:
/// state, reason, since and 完好. Follows the fleet's change stream (every camera once at start
/// and after falling behind it); the sink re-publishes every camera's latest status after each
/// reconnection.
async fn publish_statuses(
    fleet: Arc<Fleet>,
    publisher: crate::alerts::sinks::mqtt::StatusPublisher,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = fleet.subscribe();
    let mut sent = std::collections::HashMap::new();
    for e in fleet.entries() {
        publish_status(&e, &publisher, &mut sent);
    }
    loop {
        let change = tokio::select! {
            c = changes.recv() => c,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match change {
            Ok(c) if c.kind == crate::fleet::ChangeKind::Removed => {
                sent.remove(&*c.camera);
            }
            Ok(c) => {
                if let Some(e) = fleet.get(&c.camera) {
                    publish_status(&e, &publisher, &mut sent);
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "MQTT statuses fell behind the fleet; resynchronising"
                );
                for e in fleet.entries() {
                    publish_status(&e, &publisher, &mut sent);
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Publishes one camera's status (its [`crate::fleet::CameraSnapshot`]) unless its condition
/// is the one last sent.
fn publish_status(
    e: &crate::fleet::CameraEntry,
    publisher: &crate::alerts::sinks::mqtt::StatusPublisher,
    sent: &mut std::collections::HashMap<String, crate::fleet::Condition>,
) {
    let snap = e.snapshot();
    if sent.get(snap.id) == Some(&snap.now) {
        return;
    }
    let status = serde_json::to_value(&snap).unwrap_or_default();
    publisher.publish(snap.id, &status);
    sent.insert(snap.id.to_string(), snap.now);
}

/// Deletes ended alerts (with their snapshots) and delivered messages older than `keep`, at
/// start and then hourly.
async fn retention(
    outbox: crate::alerts::outbox::Outbox,
    snapshots: Option<std::path::PathBuf>,
    keep: Duration,
) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        let (outbox, snapshots) = (outbox.clone(), snapshots.clone());
        let done = tokio::task::spawn_blocking(move || {
            let cutoff =
                outbox.now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
            outbox.purge_alerts_before(cutoff, snapshots.as_deref())
        })
        .await;
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("alert retention failed: {e:#}"),
            Err(e) => tracing::warn!("alert retention task failed: {e}"),
        }
    }
}

/// Which cameras' samples the detector gets (`[detect] cameras`).
fn detect_filter(
    settings: &Settings,
    engine: Option<Arc<AlertEngine>>,
) -> crate::pipeline::workers::DetectFilter {
    use crate::settings::DetectScope;
    let scope = settings.detect.cameras;
    Arc::new(move |camera: &str| {
        let rules = engine.as_ref().map(|e| e.rules());
        match scope {
            DetectScope::All => true,
            DetectScope::Rules => rules.is_some_and(|r| r.has_detection_rule(camera)),
            DetectScope::Auto => match rules {
                Some(r) if r.any_detection_rule() => r.has_detection_rule(camera),
                _ => true,
            },
        }
    })
}

/// How often each camera the detector looks at is sampled for it: its detection rules'
/// `sample_interval` (shortest), else `[detect] interval`; `None` for the others.
fn detection_cadence(
    settings: &Settings,
    engine: Option<Arc<AlertEngine>>,
) -> crate::reload::DetectionCadence {
    let every = settings.detect.interval;
    let looks = detect_filter(settings, engine.clone());
    Arc::new(move |camera: &str| {
        if !looks(camera) {
            return None;
        }
        // Cameras the scope adds without a rule (`all`, or `auto` without detection rules)
        // get the default.
        let rules = engine.as_ref().map(|e| e.rules());
        Some(
            rules
                .and_then(|r| r.detection_interval(camera, every))
                .unwrap_or(every),
        )
    })
}

/// Where the detector looks on each camera: its rules' zones (when `zone_crop`) and its
/// group's tiling.
fn targeting(
    settings: Arc<Settings>,
    fleet: Arc<Fleet>,
    engine: Option<Arc<AlertEngine>>,
) -> crate::pipeline::detector::Targeting {
    Arc::new(move |camera: &str| {
        let zone = if settings.detect.zone_crop {
            engine
                .as_ref()
                .and_then(|e| e.rules().detection_zone(camera, 0.05))
        } else {
            None
        };
        let tiles = fleet
            .get(camera)
            .and_then(|e| settings.tiles_for(&e.camera));
        (zone, tiles)
    })
}

/// What the page needs of the settings and the bound address.
fn web_context(s: &Settings, addr: std::net::SocketAddr) -> crate::http::WebContext {
    crate::http::WebContext {
        addr,
        data_dir: s.data_dir.clone(),
        web: s.web.clone(),
        auth: s.auth.clone(),
        late_grace: s.maintenance.late_grace,
        count_late: s.maintenance.count_late,
    }
}

/// Opens the history under the data dir (recovering after a crash) and starts its writer.
fn open_history(settings: &Settings) -> anyhow::Result<LedgerWriter> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create data dir {}", settings.data_dir.display()))?;
    let ledger = Ledger::open(&settings.data_dir)?;
    LedgerWriter::spawn(ledger)
}

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
