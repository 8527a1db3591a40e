//! Prometheus metrics. Names follow the Prometheus conventions: base units, `_total` counters,
//! one 0/1 `up`-style gauge per camera, low-cardinality labels beyond the camera id.
//!
//! Event counters and the set-up histogram live in a [`prometheus::Registry`]. Per-camera
//! series and the online ratios are built from the fleet at scrape time ([`Metrics::render`]),
//! so the frame path never touches a label map.

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// A function that renders metric families at scrape time (the fleet's per-camera series, the
/// alert engine's and each sink's figures): stages register one with the wiring, and
/// [`Metrics::render`] calls them; the registry knows no stage.
pub type MetricSource = std::sync::Arc<dyn Fn() -> Vec<MetricFamily> + Send + Sync + 'static>;

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    /// `sharpeyes_state_changes_total{to,reason}`.
    pub state_changes: IntCounterVec,
    /// `sharpeyes_reconnects_total{reason}`.
    pub reconnects: IntCounterVec,
    /// `sharpeyes_session_setup_seconds{mode}`.
    pub setup_seconds: HistogramVec,
    /// `sharpeyes_reconnect_delay_seconds`: the jittered waits before reconnects.
    pub reconnect_delay: prometheus::Histogram,
    /// `sharpeyes_samples_processed_total`: samples decoded and diagnosed.
    pub samples_processed: prometheus::IntCounter,
    /// `sharpeyes_snapshots_encoded_total`: samples encoded as JPEG (JPEGs are made lazily).
    pub snapshots_encoded: prometheus::IntCounter,
    /// `sharpeyes_sample_errors_total{stage}`.
    pub sample_errors: IntCounterVec,
    /// `sharpeyes_sample_decode_seconds`.
    pub decode_seconds: prometheus::Histogram,
    /// `sharpeyes_detect_seconds`: one detector call (a batch).
    pub detect_seconds: prometheus::Histogram,
    /// `sharpeyes_detect_batch_size`: frames per detector call.
    pub detect_batch: prometheus::Histogram,
    /// `sharpeyes_detections_total{class}`.
    pub detections: IntCounterVec,
    /// `sharpeyes_shard_info{shard,shards}`: always 1; says which slice of the fleet this is.
    pub shard: prometheus::IntGaugeVec,
    /// `sharpeyes_inventory_reloads_total{result}`: `applied` or `rejected`.
    pub reloads: IntCounterVec,
    /// `sharpeyes_http_connections_total{result}`: see `crate::http::serve::Counters`.
    pub http_connections: IntCounterVec,
    /// `sharpeyes_storage_damaged_total{file}`: damaged databases moved aside at start.
    pub storage_damaged: IntCounterVec,
    /// `sharpeyes_local_failures_total`: session attempts that failed for the daemon's own
    /// lack of resources (EMFILE, ENOMEM …), not counted against any camera.
    pub local_failures: prometheus::IntCounter,
    /// `sharpeyes_supervisor_restarts_total`: camera supervisors restarted after a panic.
    pub supervisor_restarts: prometheus::IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let state_changes = IntCounterVec::new(
            Opts::new(
                "sharpeyes_state_changes_total",
                "Camera status transitions, by state entered and reason (empty unless offline).",
            ),
            &["to", "reason"],
        )
        .expect("valid metric");
        let reconnects = IntCounterVec::new(
            Opts::new(
                "sharpeyes_reconnects_total",
                "Reconnect attempts scheduled after a failed attempt or a lost session, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let setup_seconds = HistogramVec::new(
            HistogramOpts::new(
                "sharpeyes_session_setup_seconds",
                "Time from DESCRIBE to the PLAY answer of successful session set-ups.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["mode"],
        )
        .expect("valid metric");
        let reconnect_delay = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "sharpeyes_reconnect_delay_seconds",
                "Backoff waits drawn before reconnecting (full jitter spreads them).",
            )
            .buckets(vec![0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )
        .expect("valid metric");
        let samples_processed = prometheus::IntCounter::new(
            "sharpeyes_samples_processed_total",
            "Sampled keyframes decoded and diagnosed.",
        )
        .expect("valid metric");
        let snapshots_encoded = prometheus::IntCounter::new(
            "sharpeyes_snapshots_encoded_total",
            "Samples encoded as JPEG snapshots: those someone looked at, faulty ones and the detector's.",
        )
        .expect("valid metric");
        let sample_errors = IntCounterVec::new(
            Opts::new(
                "sharpeyes_sample_errors_total",
                "Samples that could not be processed, by stage.",
            ),
            &["stage"],
        )
        .expect("valid metric");
        let decode_seconds = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "sharpeyes_sample_decode_seconds",
                "Time to decode one sampled keyframe.",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]),
        )
        .expect("valid metric");
        let detect_seconds = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "sharpeyes_detect_seconds",
                "Time of one detector call (a batch of samples).",
            )
            .buckets(vec![0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0]),
        )
        .expect("valid metric");
        let detect_batch = prometheus::Histogram::with_opts(
            HistogramOpts::new("sharpeyes_detect_batch_size", "Samples per detector call.")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0]),
        )
        .expect("valid metric");
        let detections = IntCounterVec::new(
            Opts::new("sharpeyes_detections_total", "Objects detected, by class."),
            &["class"],
        )
        .expect("valid metric");
        let shard = prometheus::IntGaugeVec::new(
            Opts::new(
                "sharpeyes_shard_info",
                "Always 1: this instance's shard index and the number of shards.",
            ),
            &["shard", "shards"],
        )
        .expect("valid metric");
        let reloads = IntCounterVec::new(
            Opts::new(
                "sharpeyes_inventory_reloads_total",
                "Inventory reloads (SIGHUP or file change), by result: applied or rejected.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let http_connections = IntCounterVec::new(
            Opts::new(
                "sharpeyes_http_connections_total",
                "HTTP connections by what became of them: accepted, evicted (waited longest \
                 for a request when a newer one came), refused (connection cap), accept_error.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let storage_damaged = IntCounterVec::new(
            Opts::new(
                "sharpeyes_storage_damaged_total",
                "Damaged databases found at start and moved aside (a fresh one was started).",
            ),
            &["file"],
        )
        .expect("valid metric");
        let local_failures = prometheus::IntCounter::new(
            "sharpeyes_local_failures_total",
            "Session attempts that failed for lack of local resources (file descriptors, memory, \
             buffers): the daemon's fault, not counted against any camera.",
        )
        .expect("valid metric");
        let supervisor_restarts = prometheus::IntCounter::new(
            "sharpeyes_supervisor_restarts_total",
            "Camera supervisors restarted after a panic (a bug: report it).",
        )
        .expect("valid metric");
        for c in [
            Box::new(state_changes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reconnects.clone()),
            Box::new(setup_seconds.clone()),
            Box::new(reconnect_delay.clone()),
            Box::new(samples_processed.clone()),
            Box::new(snapshots_encoded.clone()),
            Box::new(sample_errors.clone()),
            Box::new(decode_seconds.clone()),
            Box::new(detect_seconds.clone()),
            Box::new(detect_batch.clone()),
            Box::new(detections.clone()),
            Box::new(shard.clone()),
            Box::new(reloads.clone()),
            Box::new(http_connections.clone()),
            Box::new(storage_damaged.clone()),
            Box::new(local_failures.clone()),
            Box::new(supervisor_restarts.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        Self {
            registry,
            state_changes,
            reconnects,
            setup_seconds,
            reconnect_delay,
            samples_processed,
            snapshots_encoded,
            sample_errors,
            decode_seconds,
            detect_seconds,
            detect_batch,
            detections,
            shard,
            reloads,
            http_connections,
            storage_damaged,
            local_failures,
            supervisor_restarts,
        }
    }

    /// Adds a collector whose series are built at scrape time (e.g. the alert sinks').
    pub fn register_collector(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> prometheus::Result<()> {
        self.registry.register(collector)
    }

    /// The text exposition of every metric, fleet series included.
    ///
    /// Families without a sample (a sink's counters before it has one, the outbox figures when
    /// rules run without a sink) are left out: the text encoder refuses them, and one refused
    /// family must never cost Prometheus the whole instance. An encoding error, should another
    /// one appear, is returned, not panicked on.
    pub fn render(&self, sources: &[MetricSource]) -> Result<String, prometheus::Error> {
        let mut families = self.registry.gather();
        for source in sources {
            families.extend(source());
        }
        families.sort_by(|a, b| a.name().cmp(b.name()));
        // Sources may each render part of one family (a sink each): one family per name.
        families.dedup_by(|later, first| {
            if later.name() != first.name() {
                return false;
            }
            let extra = later.take_metric();
            first.mut_metric().extend(extra);
            true
        });
        families.retain(|f| !f.get_metric().is_empty());
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

pub fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

pub fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = LabelPair::default();
            l.set_name(k.to_string());
            l.set_value(v.to_string());
            l
        })
        .collect()
}

pub fn gauge(pairs: &[(&str, &str)], v: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(v);
    let mut m = Metric::default();
    m.set_label(labels(pairs));
    m.set_gauge(g);
    m
}

pub fn counter(pairs: &[(&str, &str)], v: f64) -> Metric {
    let mut c = Counter::default();
    c.set_value(v);
    let mut m = Metric::default();
    m.set_label(labels(pairs));
    m.set_counter(c);
    m
}
