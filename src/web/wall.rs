//! The status wall's data: a compact row per camera (`GET /api/wall`) and live updates over
//! Server-Sent Events (`GET /api/events`).
//!
//! The event stream starts with a `wall` event (every row) and a `rates` event (live rates),
//! then once a second sends `update` (the rows that changed), `removed` (ids no longer in the
//! fleet) and `rates` (when they changed). A reconnecting `EventSource` starts over with a full
//! `wall`, so a client never has to reconcile.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::clock::Time;
use crate::fleet::{CameraEntry, Fleet, is_intact};

/// One camera on the wall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WallRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Unit.
    pub unit: String,
    /// Class.
    pub class: String,
    /// connecting, online, offline.
    pub state: &'static str,
    /// Why offline.
    pub reason: Option<&'static str>,
    /// Picture faults of the latest verdict (empty: none or not diagnosed).
    pub faults: Vec<String>,
    /// 完好.
    pub intact: bool,
    /// A snapshot exists.
    pub snapshot: bool,
    /// When the current state began.
    pub since: Time,
}

/// The wall row of one camera.
pub fn row(e: &CameraEntry) -> WallRow {
    let s = e.status();
    let (faults, intact, snapshot) = {
        let v = e.vision.lock().unwrap();
        (
            v.quality
                .as_ref()
                .map(|q| q.faults.iter().map(|f| f.as_str().to_string()).collect())
                .unwrap_or_default(),
            is_intact(s.state, v.quality.as_ref()),
            v.snapshot.is_some(),
        )
    };
    WallRow {
        id: e.camera.id.clone(),
        name: e.camera.name.clone(),
        region: e.camera.groups.region.clone(),
        unit: e.camera.groups.unit.clone(),
        class: e.camera.groups.class.clone(),
        state: s.state.as_str(),
        reason: s.reason.map(|r| r.as_str()),
        faults,
        intact,
        snapshot,
        since: s.since,
    }
}

fn rows(fleet: &Fleet) -> Vec<WallRow> {
    fleet
        .entries()
        .iter()
        .filter(|e| e.camera.enabled)
        .map(|e| row(e))
        .collect()
}

/// `GET /api/wall`: every enabled camera's wall row.
pub async fn wall(State(fleet): State<Arc<Fleet>>) -> Response {
    Json(rows(&fleet)).into_response()
}

struct Cursor {
    fleet: Arc<Fleet>,
    first: bool,
    last: HashMap<String, WallRow>,
    rates: Option<String>,
    auth: Arc<super::auth::Auth>,
    session: Option<super::auth::SessionId>,
    _slot: super::auth::StreamSlot,
}

fn json_event(name: &str, v: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(v).unwrap_or_else(|_| "null".into()))
}

/// `GET /api/events`: the wall's live updates (see the module docs). At most
/// [`super::auth::MAX_STREAMS`] streams are open at once (503 beyond), and a stream ends
/// within a second of its session's logout or expiry.
pub async fn events(
    State((fleet, auth)): State<(Arc<Fleet>, Arc<super::auth::Auth>)>,
    session: Option<axum::Extension<super::auth::SessionId>>,
) -> Response {
    let Some(slot) = auth.open_stream() else {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too many open event streams\n",
        )
            .into_response();
    };
    let cursor = Cursor {
        fleet,
        first: true,
        last: HashMap::new(),
        rates: None,
        auth,
        session: session.map(|s| s.0),
        _slot: slot,
    };
    let stream = futures::stream::unfold(cursor, |mut c| async move {
        if !c.first {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if !c.auth.session_alive(c.session.as_ref()) {
            return None;
        }
        let now_rows = rows(&c.fleet);
        let mut out = Vec::new();
        if c.first {
            out.push(json_event("wall", &now_rows));
        } else {
            let changed: Vec<&WallRow> = now_rows
                .iter()
                .filter(|r| c.last.get(&r.id) != Some(*r))
                .collect();
            if !changed.is_empty() {
                out.push(json_event("update", &changed));
            }
            let ids: std::collections::HashSet<&str> =
                now_rows.iter().map(|r| r.id.as_str()).collect();
            let removed: Vec<&String> = c
                .last
                .keys()
                .filter(|k| !ids.contains(k.as_str()))
                .collect();
            if !removed.is_empty() {
                out.push(json_event("removed", &removed));
            }
        }
        let rates = serde_json::to_string(&c.fleet.live_rates()).unwrap_or_default();
        if c.rates.as_deref() != Some(rates.as_str()) {
            out.push(Event::default().event("rates").data(rates.clone()));
            c.rates = Some(rates);
        }
        c.last = now_rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        c.first = false;
        Some((
            futures::stream::iter(out.into_iter().map(Ok::<Event, Infallible>)),
            c,
        ))
    });
    Sse::new(futures::StreamExt::flatten(stream))
        .keep_alive(KeepAlive::default())
        .into_response()
}
