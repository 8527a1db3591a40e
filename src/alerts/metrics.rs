//! Alert figures for `/metrics`, rendered at scrape time from the engine and the outbox.
//!
//! | family | labels | meaning |
//! |---|---|---|
//! | `sharpeyes_alerts_open` | `kind` | alerts raised and not ended |
//! | `sharpeyes_alerts_unacknowledged` | `kind` | open alerts no operator has acknowledged |
//! | `sharpeyes_alert_messages_total` | `kind`, `phase` | messages written to the outbox since start (`phase="failed"`: could not be stored) |
//! | `sharpeyes_alert_retry_pending` | | messages the outbox refused, retried every second |
//! | `sharpeyes_alert_outbox_pending` | `sink` | messages not yet delivered to the sink |
//! | `sharpeyes_alert_outbox_oldest_pending_seconds` | `sink` | age of the oldest of them |
//! | `sharpeyes_alert_outbox_pending_messages` | | messages pending for at least one sink (what the cap bounds) |
//! | `sharpeyes_alert_outbox_max_pending` | | the cap |
//! | `sharpeyes_alert_outbox_stored_messages` | | messages in the outbox, delivered or not |
//! | `sharpeyes_alert_outbox_dropped_total` | | undelivered messages dropped by the cap (alert on any increase) |

use prometheus::proto::{MetricFamily, MetricType};

use crate::alerts::engine::AlertEngine;
use crate::alerts::event::AlertKind;
use crate::telemetry::{counter, family, gauge};

/// The alert families of one engine.
pub fn families(engine: &AlertEngine) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    let outbox = engine.outbox();
    match outbox.alert_counts() {
        Ok(rows) => {
            let count = |kind: &str, pick: fn(&(String, u64, u64)) -> u64| {
                rows.iter().find(|r| r.0 == kind).map_or(0, pick)
            };
            let open = AlertKind::ALL
                .iter()
                .map(|k| gauge(&[("kind", k.as_str())], count(k.as_str(), |r| r.1) as f64))
                .collect();
            let unacked = AlertKind::ALL
                .iter()
                .map(|k| gauge(&[("kind", k.as_str())], count(k.as_str(), |r| r.2) as f64))
                .collect();
            out.push(family(
                "sharpeyes_alerts_open",
                "Alerts raised and not ended.",
                MetricType::GAUGE,
                open,
            ));
            out.push(family(
                "sharpeyes_alerts_unacknowledged",
                "Open alerts no operator has acknowledged.",
                MetricType::GAUGE,
                unacked,
            ));
        }
        Err(e) => tracing::warn!("alert metrics: {e:#}"),
    }
    let messages = engine
        .message_counts()
        .into_iter()
        .map(|((kind, phase), n)| counter(&[("kind", kind), ("phase", phase)], n as f64))
        .collect::<Vec<_>>();
    if !messages.is_empty() {
        out.push(family(
            "sharpeyes_alert_messages_total",
            "Alert messages written to the outbox since start (phase=\"failed\": a write \
             refused and kept for a retry; phase=\"dropped\": the retry queue overflowed).",
            MetricType::COUNTER,
            messages,
        ));
    }
    out.push(family(
        "sharpeyes_alert_retry_pending",
        "Alert messages the outbox refused, held in memory and retried every second.",
        MetricType::GAUGE,
        vec![gauge(&[], engine.retrying() as f64)],
    ));
    match outbox.stats() {
        Ok(s) => {
            out.push(family(
                "sharpeyes_alert_outbox_pending",
                "Alert messages not yet delivered to the sink.",
                MetricType::GAUGE,
                s.sinks
                    .iter()
                    .map(|k| gauge(&[("sink", &k.sink)], k.pending as f64))
                    .collect(),
            ));
            out.push(family(
                "sharpeyes_alert_outbox_oldest_pending_seconds",
                "Age of the oldest message not yet delivered to the sink (0 when none).",
                MetricType::GAUGE,
                s.sinks
                    .iter()
                    .map(|k| gauge(&[("sink", &k.sink)], k.oldest_pending_age_seconds))
                    .collect(),
            ));
            let single = |name: &str, help: &str, kind: MetricType, v: u64| {
                let m = match kind {
                    MetricType::COUNTER => counter(&[], v as f64),
                    _ => gauge(&[], v as f64),
                };
                family(name, help, kind, vec![m])
            };
            out.push(single(
                "sharpeyes_alert_outbox_pending_messages",
                "Alert messages pending for at least one sink (what the cap bounds).",
                MetricType::GAUGE,
                s.pending_events,
            ));
            out.push(single(
                "sharpeyes_alert_outbox_max_pending",
                "The outbox cap: beyond it the oldest undelivered messages are dropped.",
                MetricType::GAUGE,
                s.max_pending,
            ));
            out.push(single(
                "sharpeyes_alert_outbox_stored_messages",
                "Alert messages in the outbox, delivered or not.",
                MetricType::GAUGE,
                s.stored_events,
            ));
            out.push(single(
                "sharpeyes_alert_outbox_dropped_total",
                "Undelivered alert messages dropped because the outbox was full.",
                MetricType::COUNTER,
                s.dropped_total,
            ));
        }
        Err(e) => tracing::warn!("alert outbox metrics: {e:#}"),
    }
    out
}
