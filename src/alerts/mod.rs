//! Alerts: events with a stable id and a lifecycle, a durable outbox, the alert records
//! operators review (with snapshots), and the sinks that deliver messages.

pub mod engine;
pub mod event;
pub mod metrics;
pub mod mqtt;
pub mod outbox;
pub mod store;
