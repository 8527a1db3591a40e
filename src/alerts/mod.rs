//! Alerts: events with a stable id and a lifecycle, a durable outbox, and the sinks that
//! deliver it (MQTT, an HTTP webhook, Kafka, a JSON-lines log; see `docs/alerts.md`).

pub mod engine;
pub mod event;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod log_sink;
pub mod mqtt;
pub mod outbox;
pub mod sink;
pub mod sinks;
pub mod webhook;
