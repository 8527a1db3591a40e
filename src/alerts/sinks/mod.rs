//! The alert sinks, one file per receiver, as Vector's `src/sinks/*`: [`mqtt`] (its own loop
//! for the packet-id bookkeeping), [`webhook`], [`kafka`] and [`log`] (JSON lines), all driven
//! from the outbox; [`driver`] is the one delivery loop and retry policy the outbox-driven ones
//! share (the backoff is [`crate::backoff`], the same one the camera supervisors use);
//! [`config`] holds their settings sections. This file starts the configured sinks and
//! exports their metrics.
//!
//! Every configured sink is registered in the outbox under its name (`webhook`, `kafka`,
//! `log`) and runs its own [`driver`] loop with its own delivery state.
//! A known sink that is registered in the outbox (by an earlier run) but no longer configured
//! is unregistered, so its pending messages do not hold the outbox's cap for ever.
//!
//! ## Metrics (scraped from `/metrics`, label `sink`)
//!
//! | series | |
//! |---|---|
//! | `sharpeyes_alert_sink_up` | 1 when the last delivery attempt reached the receiver |
//! | `sharpeyes_alert_sink_delivered_total` | messages acknowledged and marked delivered |
//! | `sharpeyes_alert_sink_dead_lettered_total` | messages the receiver refused for good |
//! | `sharpeyes_alert_sink_failures_total` | failed attempts |
//! | `sharpeyes_alert_sink_retries_total` | attempts after a failure |
//! | `sharpeyes_alert_sink_consecutive_failures` | failed attempts since the last success |
//! | `sharpeyes_alert_sink_pending` | messages waiting for the sink (every registered sink, MQTT included) |
//! | `sharpeyes_alert_sink_oldest_pending_age_seconds` | age of the oldest of them |

pub mod config;
pub mod driver;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod log;
pub mod mqtt;
pub mod tls;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use tokio::sync::watch;

use crate::alerts::outbox::Outbox;
use crate::alerts::sinks::config::SinkSettings;
use crate::alerts::sinks::driver::{DriverOptions, SinkHandle, SinkMetrics};

/// Sink names this module (and the daemon's MQTT sink) manage; a registered one that is not
/// configured is unregistered at start.
pub const KNOWN_SINKS: &[&str] = &["mqtt", "webhook", "kafka", "log"];

/// How long [`SinkSet::shutdown`] waits for each loop.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether any sink (MQTT included) is configured.
pub fn any_configured(settings: &SinkSettings) -> bool {
    settings.mqtt.url.is_some()
        || settings.webhook.url.is_some()
        || settings.kafka.brokers.is_some()
        || settings.log_sink.enabled
}

/// The names of the sinks `settings` configure (MQTT included).
pub fn configured_names(settings: &SinkSettings) -> Vec<&'static str> {
    let mut v = Vec::new();
    if settings.mqtt.url.is_some() {
        v.push("mqtt");
    }
    if settings.webhook.url.is_some() {
        v.push(crate::alerts::sinks::webhook::SINK_NAME);
    }
    if settings.kafka.brokers.is_some() {
        v.push("kafka");
    }
    if settings.log_sink.enabled {
        v.push(crate::alerts::sinks::log::SINK_NAME);
    }
    v
}

/// The running sinks.
#[derive(Debug)]
pub struct SinkSet {
    handles: Vec<SinkHandle>,
    outbox: Outbox,
}

impl SinkSet {
    /// The names of the running sinks.
    pub fn names(&self) -> Vec<&str> {
        self.handles.iter().map(|h| h.name()).collect()
    }

    /// The live metrics of the sink named `name`.
    pub fn metrics(&self, name: &str) -> Option<&Arc<SinkMetrics>> {
        self.handles
            .iter()
            .find(|h| h.name() == name)
            .map(|h| h.metrics())
    }

    /// A collector exporting the `sharpeyes_alert_sink_*` series, for a Prometheus registry.
    pub fn collector(&self) -> SinkCollector {
        SinkCollector::new(
            self.handles
                .iter()
                .map(|h| (h.name().to_string(), h.metrics().clone()))
                .collect(),
            self.outbox.clone(),
        )
    }

    /// Waits for every loop to end (send the shutdown signal first); messages not yet
    /// acknowledged stay pending for the next start.
    pub async fn shutdown(self) {
        for h in self.handles {
            h.join(STOP_TIMEOUT).await;
        }
    }
}

/// Reads the webhook secret from its env var or file.
fn webhook_secret(settings: &SinkSettings) -> anyhow::Result<Option<Vec<u8>>> {
    let w = &settings.webhook;
    match (&w.secret_env, &w.secret_file) {
        (Some(_), Some(_)) => bail!("webhook: set secret_env or secret_file, not both"),
        (Some(var), None) => {
            let v = std::env::var(var).with_context(|| {
                format!("webhook: secret_env names {var}, which is not set (or not UTF-8)")
            })?;
            if v.is_empty() {
                bail!("webhook: {var} is empty");
            }
            Ok(Some(v.into_bytes()))
        }
        (None, Some(path)) => {
            let mut v = std::fs::read(path)
                .with_context(|| format!("webhook: cannot read secret_file {}", path.display()))?;
            while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                v.pop();
            }
            if v.is_empty() {
                bail!("webhook: secret_file {} is empty", path.display());
            }
            Ok(Some(v))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(feature = "kafka")]
fn kafka_sink(
    settings: &SinkSettings,
    brokers: &str,
) -> anyhow::Result<crate::alerts::sinks::kafka::KafkaSink> {
    let k = &settings.kafka;
    let mut cfg = crate::alerts::sinks::kafka::KafkaConfig::new(brokers, &k.topic);
    cfg.options = k.options.clone();
    if let Some(var) = &k.sasl_password_env {
        if cfg.options.contains_key("sasl.password") {
            bail!("[kafka]: sasl.password is in options and sasl_password_env is set; keep one");
        }
        let password = std::env::var(var)
            .with_context(|| format!("[kafka]: sasl_password_env {var:?} is not set"))?;
        cfg.options.insert("sasl.password".into(), password);
    }
    cfg.delivery_timeout = k.delivery_timeout;
    crate::alerts::sinks::kafka::KafkaSink::new(cfg)
}

/// Starts every sink `settings` configure besides MQTT, over `outbox`, until `shutdown`
/// turns `true`; unregisters known sinks that are no longer configured. Fails on a bad
/// config (including `[kafka]` in a build without the `kafka` feature).
pub fn start_configured(
    settings: &SinkSettings,
    outbox: &Outbox,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<SinkSet> {
    start_with(settings, outbox, DriverOptions::default(), shutdown)
}

/// [`start_configured`] with explicit loop settings.
pub fn start_with(
    settings: &SinkSettings,
    outbox: &Outbox,
    options: DriverOptions,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<SinkSet> {
    // Build everything first: a bad config starts nothing.
    let webhook = match &settings.webhook.url {
        Some(url) => {
            let w = &settings.webhook;
            let mut cfg = crate::alerts::sinks::webhook::WebhookConfig::new(url);
            cfg.timeout = w.timeout;
            cfg.headers = w.headers.clone().into_iter().collect();
            cfg.secret = webhook_secret(settings)?;
            cfg.tls = w.tls();
            Some(crate::alerts::sinks::webhook::WebhookSink::new(cfg)?)
        }
        None => None,
    };
    #[cfg(feature = "kafka")]
    let kafka = match &settings.kafka.brokers {
        Some(b) => Some(kafka_sink(settings, b)?),
        None => None,
    };
    #[cfg(not(feature = "kafka"))]
    if settings.kafka.brokers.is_some() {
        bail!(
            "[kafka] is configured but this sharpeyes was built without Kafka support \
             (cargo feature `kafka`); rebuild with `--features kafka` or remove [kafka]"
        );
    }
    let log = settings.log_sink.enabled.then(|| {
        crate::alerts::sinks::log::LogSink::new(settings.log_sink.path.clone().unwrap_or_else(
            || {
                settings
                    .data_dir
                    .join(crate::alerts::sinks::log::DEFAULT_FILE)
            },
        ))
    });

    let wanted = configured_names(settings);
    for name in outbox.sinks()? {
        if KNOWN_SINKS.contains(&name.as_str()) && !wanted.contains(&name.as_str()) {
            outbox.unregister_sink(&name)?;
            tracing::info!(sink = %name, "alert sink no longer configured: its pending messages are dropped");
        }
    }
    let mut handles = Vec::new();
    if let Some(s) = webhook {
        outbox.register_sink(driver::Sink::name(&s))?;
        tracing::info!(sink = "webhook", endpoint = %s.endpoint(), "alert sink started");
        handles.push(driver::spawn(s, outbox.clone(), options, shutdown.clone()));
    }
    #[cfg(feature = "kafka")]
    if let Some(s) = kafka {
        outbox.register_sink(driver::Sink::name(&s))?;
        tracing::info!(sink = "kafka", topic = %settings.kafka.topic, "alert sink started");
        handles.push(driver::spawn(s, outbox.clone(), options, shutdown.clone()));
    }
    if let Some(s) = log {
        outbox.register_sink(driver::Sink::name(&s))?;
        tracing::info!(sink = "log", path = %s.path().display(), "alert sink started");
        handles.push(driver::spawn(s, outbox.clone(), options, shutdown.clone()));
    }
    Ok(SinkSet {
        handles,
        outbox: outbox.clone(),
    })
}

/// Exports the `sharpeyes_alert_sink_*` series (see the module docs) at scrape time.
pub struct SinkCollector {
    sinks: Vec<(String, Arc<SinkMetrics>)>,
    outbox: Outbox,
    descs: Vec<Desc>,
}

const FAMILIES: &[(&str, &str)] = &[
    (
        "sharpeyes_alert_sink_up",
        "1 when the sink's last delivery attempt reached its receiver.",
    ),
    (
        "sharpeyes_alert_sink_delivered_total",
        "Alert messages the sink's receiver acknowledged.",
    ),
    (
        "sharpeyes_alert_sink_dead_lettered_total",
        "Alert messages the sink's receiver refused for good (not retried).",
    ),
    (
        "sharpeyes_alert_sink_failures_total",
        "Failed delivery attempts.",
    ),
    (
        "sharpeyes_alert_sink_retries_total",
        "Delivery attempts made after a failure.",
    ),
    (
        "sharpeyes_alert_sink_consecutive_failures",
        "Failed delivery attempts since the last success.",
    ),
    (
        "sharpeyes_alert_sink_pending",
        "Alert messages waiting in the outbox for the sink.",
    ),
    (
        "sharpeyes_alert_sink_oldest_pending_age_seconds",
        "Age of the oldest alert message waiting for the sink.",
    ),
];

impl SinkCollector {
    fn new(sinks: Vec<(String, Arc<SinkMetrics>)>, outbox: Outbox) -> Self {
        let descs = FAMILIES
            .iter()
            .map(|(n, h)| {
                Desc::new(
                    n.to_string(),
                    h.to_string(),
                    vec!["sink".into()],
                    Default::default(),
                )
                .expect("valid metric name")
            })
            .collect();
        Self {
            sinks,
            outbox,
            descs,
        }
    }

    /// The families, as scraped now.
    pub fn families(&self) -> Vec<MetricFamily> {
        let snaps: Vec<_> = self
            .sinks
            .iter()
            .map(|(n, m)| (n.as_str(), m.snapshot()))
            .collect();
        type Read = fn(&driver::SinkMetricsSnapshot) -> f64;
        let per_sink: [(MetricType, Read); 6] = [
            (MetricType::GAUGE, |s| s.up as u8 as f64),
            (MetricType::COUNTER, |s| s.delivered_total as f64),
            (MetricType::COUNTER, |s| s.dead_lettered_total as f64),
            (MetricType::COUNTER, |s| s.failures_total as f64),
            (MetricType::COUNTER, |s| s.retries_total as f64),
            (MetricType::GAUGE, |s| s.consecutive_failures as f64),
        ];
        let mut out: Vec<MetricFamily> = (per_sink.iter().enumerate())
            .map(|(i, (kind, read))| {
                let counter = *kind == MetricType::COUNTER;
                let metrics = snaps.iter().map(|(n, s)| metric(n, read(s), counter));
                family(i, *kind, metrics.collect())
            })
            .collect();
        match self.outbox.stats() {
            Ok(stats) => {
                out.push(family(
                    6,
                    MetricType::GAUGE,
                    stats
                        .sinks
                        .iter()
                        .map(|s| metric(&s.sink, s.pending as f64, false))
                        .collect(),
                ));
                out.push(family(
                    7,
                    MetricType::GAUGE,
                    stats
                        .sinks
                        .iter()
                        .map(|s| metric(&s.sink, s.oldest_pending_age_seconds, false))
                        .collect(),
                ));
            }
            Err(e) => tracing::warn!("alert sink metrics: cannot read the outbox: {e:#}"),
        }
        out.retain(|f| !f.get_metric().is_empty());
        out
    }
}

impl Collector for SinkCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.families()
    }
}

fn family(i: usize, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(FAMILIES[i].0.to_string());
    f.set_help(FAMILIES[i].1.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn metric(sink: &str, v: f64, counter: bool) -> Metric {
    let mut l = LabelPair::default();
    l.set_name("sink".to_string());
    l.set_value(sink.to_string());
    let mut m = Metric::default();
    m.set_label(vec![l]);
    if counter {
        let mut c = Counter::default();
        c.set_value(v);
        m.set_counter(c);
    } else {
        let mut g = Gauge::default();
        g.set_value(v);
        m.set_gauge(g);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn log_sink_started_stale_sinks_forgotten_metrics_exported() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.register_sink("webhook").unwrap(); // left by an earlier run
        ob.register_sink("other").unwrap(); // not ours: kept
        let mut s = SinkSettings {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        s.log_sink.enabled = true;
        let (stop, rx) = watch::channel(false);
        let set = start_configured(&s, &ob, rx).unwrap();
        assert_eq!(set.names(), ["log"]);
        assert_eq!(ob.sinks().unwrap(), ["log", "other"]);
        ob.enqueue_payload("a-0", "a", "info", r#"{"id":"a-0"}"#, chrono::Utc::now())
            .unwrap();
        let t0 = std::time::Instant::now();
        while !ob.pending("log", 1).unwrap().is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let line = std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap();
        assert_eq!(line, "{\"id\":\"a-0\"}\n");

        let reg = prometheus::Registry::new();
        reg.register(Box::new(set.collector())).unwrap();
        let mut out = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &reg.gather(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        for want in [
            "sharpeyes_alert_sink_delivered_total{sink=\"log\"} 1",
            "sharpeyes_alert_sink_up{sink=\"log\"} 1",
            "sharpeyes_alert_sink_pending{sink=\"log\"} 0",
            "sharpeyes_alert_sink_pending{sink=\"other\"} 1",
            "sharpeyes_alert_sink_dead_lettered_total{sink=\"log\"} 0",
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
        stop.send(true).unwrap();
        set.shutdown().await;
    }

    #[test]
    fn bad_configs_fail_before_anything_starts() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        let (_stop, rx) = watch::channel(false);
        let mut s = SinkSettings::default();
        s.webhook.url = Some("http://127.0.0.1:9/x".into());
        s.webhook.secret_env = Some("SHARPEYES_TEST_SURELY_UNSET_VAR".into());
        let e = start_configured(&s, &ob, rx.clone()).unwrap_err();
        assert!(format!("{e:#}").contains("not set"), "{e:#}");
        s.webhook.secret_env = None;
        s.webhook.url = Some("https://127.0.0.1:9/x".into());
        s.webhook.ca_file = Some(dir.path().join("no-such-ca.pem"));
        let e = start_configured(&s, &ob, rx.clone()).unwrap_err();
        assert!(format!("{e:#}").contains("no-such-ca.pem"), "{e:#}");
        assert!(ob.sinks().unwrap().is_empty(), "nothing registered");
        #[cfg(not(feature = "kafka"))]
        {
            let mut s = SinkSettings::default();
            s.kafka.brokers = Some("127.0.0.1:9092".into());
            let e = start_configured(&s, &ob, rx).unwrap_err();
            assert!(e.to_string().contains("without Kafka support"), "{e}");
        }
    }
}
