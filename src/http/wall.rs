//! The status wall's data: a compact row per camera (`GET /api/wall`) and live updates over
//! Server-Sent Events (`GET /api/events`).
//!
//! The event stream starts with a `wall` event (every row) and a `rates` event (live rates),
//! then at most once a second sends `update` (the rows that changed), `removed` (ids no longer
//! in the fleet) and `rates` (when they changed). It follows the fleet's change stream
//! (`Fleet::subscribe`): only the cameras named there are rebuilt, nothing re-diffs the fleet;
//! a stream that falls behind sends a full `wall` again. A reconnecting `EventSource` starts
//! over with a full `wall`, so a client never has to reconcile.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::fleet::{CameraChange, CameraEntry, CameraSnapshot, ChangeKind, Fleet};

/// Every enabled camera's wall row: its [`CameraSnapshot`].
fn rows(entries: &[Arc<CameraEntry>]) -> Vec<CameraSnapshot<'_>> {
    entries
        .iter()
        .filter(|e| e.camera.enabled)
        .map(|e| e.snapshot())
        .collect()
}

/// `GET /api/wall`: every enabled camera's wall row.
pub async fn wall(State(fleet): State<Arc<Fleet>>) -> Response {
    Json(rows(&fleet.entries())).into_response()
}

struct Cursor {
    fleet: Arc<Fleet>,
    changes: tokio::sync::broadcast::Receiver<CameraChange>,
    first: bool,
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
        changes: fleet.subscribe(),
        fleet,
        first: true,
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
        let mut out = Vec::new();
        let (changed, removed, lagged) = drain(&mut c.changes);
        if c.first || lagged {
            out.push(json_event("wall", &rows(&c.fleet.entries())));
        } else {
            let entries: Vec<_> = changed.iter().filter_map(|id| c.fleet.get(id)).collect();
            let updated = rows(&entries);
            if !updated.is_empty() {
                out.push(json_event("update", &updated));
            }
            if !removed.is_empty() {
                let removed: Vec<&str> = removed.iter().map(|id| &**id).collect();
                out.push(json_event("removed", &removed));
            }
            if changed.is_empty() && removed.is_empty() {
                // Nothing changed: the rates cannot have either.
                c.first = false;
                return Some((
                    futures::stream::iter(out.into_iter().map(Ok::<Event, Infallible>)),
                    c,
                ));
            }
        }
        let rates = serde_json::to_string(&c.fleet.live_rates()).unwrap_or_default();
        if c.rates.as_deref() != Some(rates.as_str()) {
            out.push(Event::default().event("rates").data(rates.clone()));
            c.rates = Some(rates);
        }
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

/// The cameras named on the change stream since the last call: changed (still there), removed,
/// and whether the stream fell behind (then the caller resends everything).
fn drain(
    changes: &mut tokio::sync::broadcast::Receiver<CameraChange>,
) -> (BTreeSet<Arc<str>>, BTreeSet<Arc<str>>, bool) {
    use tokio::sync::broadcast::error::TryRecvError;
    let (mut changed, mut removed, mut lagged) = (BTreeSet::new(), BTreeSet::new(), false);
    loop {
        match changes.try_recv() {
            Ok(c) if c.kind == ChangeKind::Removed => {
                changed.remove(&c.camera);
                removed.insert(c.camera);
            }
            Ok(c) => {
                removed.remove(&c.camera);
                changed.insert(c.camera);
            }
            Err(TryRecvError::Lagged(_)) => lagged = true,
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    (changed, removed, lagged)
}
