//! The repair-ticket wiring of `sharpeyes run` (see [`crate::assessment::tickets`]): a thread
//! that reads every camera's condition every `[tickets] tick` (5 s), moves the tickets, and publishes
//! their events through the alert outbox when one runs (CloudEvents `cn.sharpeyes.ticket.*`
//! on the sinks' event topic, and `sla_breach` alerts, raised at a breach and ended when the
//! ticket resolves).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::alerts::event::{
    AlertCamera, AlertEvent, AlertKind, Evidence, Phase, Severity, alert_id_for,
};
use crate::alerts::outbox::Outbox;
use crate::assessment::tickets::{
    Condition, Publisher, Ticket, TicketEvent, TicketEventKind, TicketService,
};
use crate::assessment::windows::{WindowStore, excused_by_camera};
use crate::clock::Time;
use crate::config::inventory::Groups;
use crate::fleet::Fleet;
use crate::health::status::State;
use crate::settings::Settings;

/// Opens the ticket service and starts its thread; `None` when `[tickets] enabled = false`.
pub fn start(
    settings: &Settings,
    fleet: &Arc<Fleet>,
    outbox: Option<Outbox>,
    source: String,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<Arc<TicketService>>> {
    if !settings.tickets.enabled {
        return Ok(None);
    }
    let publish: Publisher = match outbox {
        Some(outbox) => {
            let fleet = fleet.clone();
            Box::new(move |events| publish(&outbox, &fleet, &source, events))
        }
        None => Box::new(|_| {}),
    };
    let service = Arc::new(TicketService::open(
        &settings.data_dir,
        settings.tickets.clone(),
        publish,
    )?);
    let (svc, fleet, data_dir) = (service.clone(), fleet.clone(), settings.data_dir.clone());
    let on_fault = settings.tickets.on_picture_fault;
    let tick = settings.tickets.tick.max(Duration::from_millis(100));
    std::thread::Builder::new()
        .name("tickets".into())
        .spawn(move || {
            // Opened once the first window is declared, then kept.
            let mut windows: Option<WindowStore> = None;
            while !*shutdown.borrow() {
                let now = fleet.clock().now();
                if windows.is_none() {
                    windows = WindowStore::open_read_only(&data_dir).unwrap_or_else(|e| {
                        tracing::warn!("tickets: cannot open the maintenance windows: {e:#}");
                        None
                    });
                }
                let conditions = conditions(&fleet, windows.as_ref(), on_fault, now);
                if let Err(e) = svc.tick(&conditions, now) {
                    tracing::error!("tickets: cannot store ticket events: {e:#}");
                }
                std::thread::sleep(tick);
            }
        })?;
    Ok(Some(service))
}

/// `/metrics` families of the live tickets, low cardinality (maintainers × states):
/// `sharpeyes_tickets{maintainer,state}` and `sharpeyes_tickets_breached{maintainer}`.
pub fn metric_source(service: Arc<TicketService>) -> crate::telemetry::MetricSource {
    use prometheus::proto::MetricType;
    Arc::new(move || {
        let mut by_state: std::collections::BTreeMap<(String, &'static str), u64> =
            std::collections::BTreeMap::new();
        let mut breached: std::collections::BTreeMap<String, u64> = Default::default();
        for t in service.live() {
            *by_state
                .entry((t.maintainer.clone(), t.state.as_str()))
                .or_default() += 1;
            let b = breached.entry(t.maintainer.clone()).or_default();
            if t.respond_breached || t.repair_breached {
                *b += 1;
            }
        }
        vec![
            crate::telemetry::family(
                "sharpeyes_tickets",
                "Repair tickets not closed, per maintainer and state (open, acknowledged, resolved).",
                MetricType::GAUGE,
                by_state
                    .iter()
                    .map(|((m, s), n)| {
                        crate::telemetry::gauge(&[("maintainer", m), ("state", s)], *n as f64)
                    })
                    .collect(),
            ),
            crate::telemetry::family(
                "sharpeyes_tickets_breached",
                "Repair tickets not closed that missed a respond or repair deadline, per maintainer.",
                MetricType::GAUGE,
                breached
                    .iter()
                    .map(|(m, n)| crate::telemetry::gauge(&[("maintainer", m)], *n as f64))
                    .collect(),
            ),
        ]
    })
}

/// Every watched camera's condition at `now`.
fn conditions(
    fleet: &Fleet,
    windows: Option<&WindowStore>,
    on_fault: bool,
    now: Time,
) -> Vec<Condition> {
    let entries = fleet.entries();
    let groups: HashMap<String, Groups> = entries
        .iter()
        .map(|e| (e.camera.id.clone(), e.camera.groups.clone()))
        .collect();
    // Planned work opens no ticket, declared late or not.
    let active = windows.map(|store| {
        store.list(
            Some(now),
            Some(now + chrono::Duration::milliseconds(1)),
            false,
        )
    });
    let excused = match active {
        Some(Ok(w)) => excused_by_camera(&w, &groups, true),
        Some(Err(e)) => {
            tracing::warn!("tickets: cannot read the maintenance windows: {e}");
            HashMap::new()
        }
        None => HashMap::new(),
    };
    entries
        .iter()
        .filter(|e| e.camera.enabled)
        .map(|e| {
            let status = e.status();
            let verdict = e
                .vision
                .lock()
                .unwrap()
                .quality
                .as_ref()
                .map(|q| (q.ok, q.at));
            let fault_at = verdict.filter(|(ok, _)| on_fault && !ok).map(|(_, at)| at);
            let (down, up_since) = match status.state {
                State::Offline => (
                    Some((
                        status.since,
                        status
                            .reason
                            .map_or("offline".to_string(), |r| r.as_str().to_string()),
                    )),
                    None,
                ),
                State::Online if fault_at.is_some() => (
                    Some((fault_at.unwrap_or(now), "picture_fault".to_string())),
                    None,
                ),
                State::Online => (None, Some(status.since)),
                State::Connecting => (None, None),
            };
            Condition {
                camera_id: e.camera.id.clone(),
                maintainer: e.camera.groups.maintainer.clone(),
                class: e.camera.groups.class.clone(),
                down,
                up_since,
                excused: excused
                    .get(&e.camera.id)
                    .is_some_and(|spans| spans.iter().any(|(s, t)| *s <= now && now < *t)),
            }
        })
        .collect()
}

fn publish(outbox: &Outbox, fleet: &Fleet, source: &str, events: &[TicketEvent]) {
    for e in events {
        let t = &e.ticket;
        let severity = if e.kind.is_breach() {
            "critical"
        } else {
            "info"
        };
        let payload = e.to_cloudevent(source).to_string();
        if let Err(err) = outbox.enqueue_payload(
            &e.event_id(),
            &format!("ticket-{}", t.id),
            severity,
            &payload,
            e.at,
        ) {
            tracing::error!(
                ticket = t.id,
                "tickets: cannot queue the ticket event: {err:#}"
            );
        }
        let alerts: Vec<(&str, Phase, u32)> = match e.kind {
            TicketEventKind::RespondBreached => vec![("sla_respond", Phase::New, 0)],
            TicketEventKind::RepairBreached => vec![("sla_repair", Phase::New, 0)],
            TicketEventKind::Resolved => [
                t.respond_breached.then_some(("sla_respond", Phase::End, 1)),
                t.repair_breached.then_some(("sla_repair", Phase::End, 1)),
            ]
            .into_iter()
            .flatten()
            .collect(),
            _ => Vec::new(),
        };
        for (rule, phase, seq) in alerts {
            let alert = breach_alert(fleet, t, rule, phase, seq, e.at);
            if let Err(err) = outbox.enqueue(&alert) {
                tracing::error!(
                    ticket = t.id,
                    "tickets: cannot queue the sla_breach alert: {err:#}"
                );
            }
        }
    }
}

/// The `sla_breach` alert of a ticket's missed deadline (`rule` = `sla_respond`/`sla_repair`);
/// its id is stable per ticket and deadline.
fn breach_alert(
    fleet: &Fleet,
    t: &Ticket,
    rule: &str,
    phase: Phase,
    seq: u32,
    at: Time,
) -> AlertEvent {
    let deadline = if rule == "sla_respond" {
        t.respond_by
    } else {
        t.repair_by
    };
    let entry = fleet.get(&t.camera_id);
    let camera = match &entry {
        Some(e) => AlertCamera::from(&e.camera),
        None => AlertCamera {
            id: t.camera_id.clone(),
            name: t.camera_id.clone(),
            region: String::new(),
            unit: String::new(),
            class: t.class.clone(),
            maintainer: t.maintainer.clone(),
        },
    };
    AlertEvent {
        alert_id: alert_id_for(&t.camera_id, &format!("{rule}:{}", t.id), t.opened_at),
        seq,
        phase,
        kind: AlertKind::SlaBreach,
        severity: if t.major {
            Severity::Critical
        } else {
            Severity::Warning
        },
        rule: rule.to_string(),
        camera,
        started_at: deadline,
        updated_at: at,
        ended_at: (phase == Phase::End).then_some(at),
        // The figure: the ticket's id (the ticket itself is in the ticket events).
        evidence: Evidence {
            count: u32::try_from(t.id).unwrap_or(u32::MAX),
            ..Evidence::default()
        },
        snapshot_url: None,
    }
}
