//! Alerts: events with a stable id and a lifecycle, a durable outbox, the alert records
//! operators review (with snapshots), and the sinks that deliver messages (MQTT, an HTTP
//! webhook, Kafka, a JSON-lines log; see `docs/alerts.md`).

pub mod engine;
pub mod event;
pub mod metrics;
pub mod outbox;
pub mod review;
pub mod sinks;
pub mod store;
