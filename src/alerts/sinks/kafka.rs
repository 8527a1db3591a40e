//! The Kafka sink (cargo feature `kafka`): every alert message is produced to one topic,
//! **keyed by the camera id** (the CloudEvent `subject`), so one camera's messages land in
//! one partition, in order. The value is the CloudEvent JSON exactly as stored in the outbox
//! (structured mode, header `content-type: application/cloudevents+json`).
//!
//! ## Delivery
//!
//! The producer is idempotent (`enable.idempotence=true`, hence `acks=all`): the broker
//! writes each produced message once even when librdkafka retries it internally. A message is
//! marked delivered in the outbox **only when its delivery report says the broker stored
//! it**; a report with an error, or none within [`KafkaConfig::delivery_timeout`]
//! (`message.timeout.ms`), leaves it pending and the sink retries the batch with backoff. A
//! message can thus reach the topic twice (a report lost with a crash, or a retry after a
//! timeout) but always with the same CloudEvent `id`. After a retry an older message can
//! follow a newer one of the same camera; consumers order by the CloudEvent `time`.
//!
//! After a failed attempt the producer is replaced by a fresh one before the next try: in the
//! tests, a producer whose broker restarted with empty storage (so without the idempotent
//! producer's state) timed out for ever otherwise.
//!
//! ## Transport security
//!
//! librdkafka is built with OpenSSL, so its own properties apply in `[kafka] options`:
//! `security.protocol = "ssl"` (or `"sasl_ssl"`), `ssl.ca.location`, and for mutual TLS
//! `ssl.certificate.location` / `ssl.key.location`; SASL with `sasl.mechanisms` (`PLAIN`,
//! `SCRAM-SHA-256`, `SCRAM-SHA-512`), `sasl.username`, and the password from the environment
//! variable `[kafka] sasl_password_env` names rather than the file. The broker's host name is
//! checked against its certificate (librdkafka's default). Values of keys that hold secrets
//! (`*password*`, `*secret*`, `ssl.key.*`) are never shown by `Debug`. A plain-text
//! `security.protocol` to a broker off this machine is warned about at start.
//!
//! ## Library
//!
//! `rdkafka` with librdkafka built from source (`cmake-build`, librdkafka 2.12, with `ssl`):
//! Debian 12's librdkafka 2.0.2 fails the `ApiVersions` handshake of the broker the tests use.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::alerts::outbox::PendingEvent;
use crate::alerts::sinks::driver::{Attempt, Sink};

/// The outbox sink name the Kafka sink uses unless told otherwise.
pub const SINK_NAME: &str = "kafka";

/// librdkafka properties the sink sets itself; a config cannot override them.
const FIXED: &[&str] = &[
    "bootstrap.servers",
    "enable.idempotence",
    "acks",
    "message.timeout.ms",
];

/// Settings of the Kafka sink.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic alert messages are produced to.
    pub topic: String,
    /// Further librdkafka producer properties (`client.id`, `compression.type`,
    /// `security.protocol`, `linger.ms`, ...); the delivery-related ones in the module docs
    /// are fixed.
    pub options: BTreeMap<String, String>,
    /// How long librdkafka may try one message before reporting it failed.
    pub delivery_timeout: Duration,
    /// The outbox sink name.
    pub sink_name: String,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options = crate::alerts::sinks::config::redacted(&self.options);
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("options", &options)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("sink_name", &self.sink_name)
            .finish()
    }
}

impl KafkaConfig {
    /// Defaults (30 s delivery timeout, no extra options) for `brokers` and `topic`.
    pub fn new(brokers: &str, topic: &str) -> Self {
        Self {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            options: BTreeMap::new(),
            delivery_timeout: Duration::from_secs(30),
            sink_name: SINK_NAME.to_string(),
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("client.id", "sharpeyes");
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c.set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().max(1).to_string(),
            );
        c
    }
}

/// The Kafka sink. See the module docs.
pub struct KafkaSink {
    config: KafkaConfig,
    producer: Mutex<FutureProducer>,
}

impl KafkaSink {
    /// Checks the config and creates the producer (it connects in the background; an
    /// unreachable broker shows as failed deliveries, not here).
    pub fn new(config: KafkaConfig) -> anyhow::Result<Self> {
        if config.brokers.trim().is_empty() {
            bail!("kafka: no brokers");
        }
        if config.topic.is_empty()
            || config.topic.len() > 249
            || !config
                .topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            bail!("kafka: bad topic name {:?}", config.topic);
        }
        if let Some(k) = config.options.keys().find(|k| FIXED.contains(&k.as_str())) {
            bail!("kafka: option {k:?} is set by the sink and cannot be configured");
        }
        let protocol = config
            .options
            .get("security.protocol")
            .map(|p| p.to_ascii_lowercase());
        let encrypted = matches!(protocol.as_deref(), Some("ssl" | "sasl_ssl"));
        let local = (config.brokers.split(',')).all(|b| crate::netaddr::is_loopback_host(b.trim()));
        if !encrypted && !local {
            tracing::warn!(
                brokers = %config.brokers,
                "kafka: plain text to brokers off this machine: alerts (and any SASL password) \
                 cross the network in clear; set [kafka.options] security.protocol = \"ssl\""
            );
        }
        let producer = create(&config)?;
        Ok(Self {
            config,
            producer: Mutex::new(producer),
        })
    }

    fn producer(&self) -> FutureProducer {
        self.producer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// After a failed attempt (every report in: nothing is in flight), the producer is
    /// replaced by a fresh one — new connections, metadata and idempotent-producer id —
    /// whether or not librdkafka declared it fatally broken: in the tests, a producer whose
    /// broker restarted with empty storage kept timing out until it was replaced.
    fn renew(&self) {
        if let Some((code, reason)) = self.producer().client().fatal_error() {
            tracing::warn!(sink = %self.config.sink_name, ?code, %reason, "kafka producer fatal error");
        }
        match create(&self.config) {
            Ok(fresh) => *self.producer.lock().unwrap_or_else(|e| e.into_inner()) = fresh,
            Err(e) => tracing::error!(sink = %self.config.sink_name, "kafka producer: {e:#}"),
        }
    }
}

fn create(config: &KafkaConfig) -> anyhow::Result<FutureProducer> {
    config
        .client_config()
        .create()
        .context("kafka: cannot create the producer")
}

/// The record key: the CloudEvent `subject` (the camera id), empty when there is none.
pub fn key_of(payload: &str) -> String {
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("subject").and_then(|s| s.as_str()).map(String::from))
        .unwrap_or_default()
}

impl Sink for KafkaSink {
    fn name(&self) -> &str {
        &self.config.sink_name
    }

    async fn deliver(&self, batch: &[PendingEvent]) -> Attempt {
        let producer = self.producer();
        let mut waits = Vec::with_capacity(batch.len());
        let mut attempt = Attempt::default();
        for e in batch {
            let key = key_of(&e.payload);
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "content-type",
                    value: Some("application/cloudevents+json"),
                })
                .insert(Header {
                    key: "ce_id",
                    value: Some(e.event_id.as_str()),
                });
            let record = FutureRecord::to(&self.config.topic)
                .key(&key)
                .payload(&e.payload)
                .headers(headers);
            match producer.send_result(record) {
                Ok(f) => waits.push((e.event_id.clone(), f)),
                Err((err, _)) => {
                    // Local queue full or the like: what was queued is still awaited.
                    attempt.error = Some(format!("kafka: cannot queue message: {err}"));
                    break;
                }
            }
        }
        for (id, f) in waits {
            match f.await {
                Ok(Ok(_)) => attempt.acked.push(id),
                Ok(Err((err, _))) => {
                    attempt.error.get_or_insert_with(|| format!("kafka: {err}"));
                }
                Err(_) => {
                    attempt
                        .error
                        .get_or_insert_with(|| "kafka: delivery report lost".to_string());
                }
            }
        }
        if attempt.error.is_some() {
            self.renew();
        }
        attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_the_subject() {
        assert_eq!(key_of(r#"{"id":"a-0","subject":"c001"}"#), "c001");
        assert_eq!(key_of(r#"{"id":"a-0"}"#), "");
        assert_eq!(key_of("not json"), "");
    }

    #[test]
    fn config_checks() {
        assert!(KafkaSink::new(KafkaConfig::new("", "t")).is_err());
        assert!(KafkaSink::new(KafkaConfig::new("127.0.0.1:9", "bad topic")).is_err());
        let mut c = KafkaConfig::new("127.0.0.1:9", "alerts");
        c.options.insert("acks".into(), "1".into());
        assert!(KafkaSink::new(c).is_err());
        let mut c = KafkaConfig::new("127.0.0.1:9", "alerts");
        c.options.insert("linger.ms".into(), "5".into());
        let s = KafkaSink::new(c).unwrap();
        assert_eq!(s.name(), "kafka");
    }

    #[test]
    fn debug_hides_secret_options() {
        let mut c = KafkaConfig::new("10.0.0.5:9093", "alerts");
        c.options
            .insert("security.protocol".into(), "sasl_ssl".into());
        c.options
            .insert("sasl.mechanisms".into(), "SCRAM-SHA-256".into());
        c.options.insert("sasl.username".into(), "ops".into());
        c.options
            .insert("sasl.password".into(), "hunter2-kafka".into());
        c.options
            .insert("ssl.key.password".into(), "keypw-77".into());
        let d = format!("{c:?}");
        assert!(d.contains("sasl_ssl") && d.contains("ops"), "{d}");
        assert!(!d.contains("hunter2") && !d.contains("keypw"), "{d}");
        assert!(KafkaSink::new(c).is_ok(), "SSL and SASL are built in");
    }
}
