//! Alerts: events with a stable id and a lifecycle, a durable outbox, the alert records
//! operators review (with snapshots), and the sinks that deliver messages (MQTT, an HTTP
//! webhook, Kafka, a JSON-lines log; see `docs/alerts.md`).

pub mod engine;
pub mod event;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod log_sink;
pub mod metrics;
pub mod mqtt;
pub mod outbox;
pub mod review;
pub mod sink;
pub mod sink_config;
pub mod sinks;
pub mod store;
pub mod webhook;
