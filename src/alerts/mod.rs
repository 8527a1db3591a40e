//! Alerts: events with a stable id and a lifecycle, a durable outbox, and sinks (being built).

pub mod engine;
pub mod event;
pub mod mqtt;
pub mod outbox;
