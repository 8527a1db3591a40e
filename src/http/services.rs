//! What the HTTP handlers answer from, given by the wiring (`cmd::run`): the HTTP layer
//! reaches no stage by itself.

use std::sync::Arc;

use crate::alerts::engine::AlertEngine;
use crate::fleet::Fleet;
use crate::telemetry::MetricSource;

/// What the API answers from: the fleet, the alert engine when rules run, and the sources of
/// `/metrics` (given by the wiring; the HTTP layer knows no stage's figures).
#[derive(Clone)]
pub struct Services {
    /// The live fleet.
    pub fleet: Arc<Fleet>,
    /// The alert engine, when rules are configured.
    pub alerts: Option<Arc<AlertEngine>>,
    /// Families rendered at every scrape besides the registry's.
    pub metric_sources: Arc<Vec<MetricSource>>,
    /// Repair tickets, unless `[tickets] enabled = false`.
    pub tickets: Option<Arc<crate::assessment::tickets::TicketService>>,
}

impl Services {
    /// The fleet alone (no alerts, no extra metric sources).
    pub fn fleet_only(fleet: Arc<Fleet>) -> Self {
        let fleet_source: MetricSource = {
            let fleet = fleet.clone();
            Arc::new(move || crate::fleet::metrics::families(&fleet))
        };
        Self {
            fleet,
            alerts: None,
            metric_sources: Arc::new(vec![fleet_source]),
            tickets: None,
        }
    }
}

impl axum::extract::FromRef<Services> for Arc<Fleet> {
    fn from_ref(s: &Services) -> Self {
        s.fleet.clone()
    }
}
