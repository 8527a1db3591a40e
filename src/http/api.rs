//! The HTTP API, `/metrics` and health checks, on one listener (axum).
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/cameras` | JSON array of cameras (`state`, `reason`, `since`, groups, counters) |
//! | `GET /api/cameras/{id}` | one camera, 404 if unknown |
//! | `GET /api/cameras/{id}/snapshot.jpg` | the camera's picture: the stored one if under 30 s old, else a fresh sample (held cameras, up to 6 s); 404 without one |
//! | `GET /api/groups[?by=region]` | live online rate and 完好率 of the fleet and every group |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /healthz` | 200 while the process serves and its ticker runs, else 503 |
//! | `/api/alerts...` | alert review: list, one, snapshot, acknowledge (see [`alerts`]) |
//! | `GET /readyz` | 200 once every held camera has been tried at least once (patrol cameras wait for their round), else 503 |
//! | `GET /api/wall`, `GET /api/events` | the status wall's rows and their live updates (SSE), see `web::wall` |
//! | `GET /api/cameras/{id}/history`, `GET /api/report` | ledger history and daily report, see `web::history` |
//! | `POST /api/login`, `POST /api/logout`, `GET /api/session`, `GET /api/settings` | access control and the page's settings, see `web::auth` |
//! | `GET /` | the ops page (login form without a session) |
//!
//! [`app`] puts everything behind the access layer (`web::auth::layer`): sessions or trusted
//! proxy headers, roles, CSRF. Without users on a loopback listener it serves everyone as
//! [`actor::Actor::anonymous`] and says so loudly in the log; without users on another address
//! the daemon refuses to start.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::config::inventory::GroupBy;
use crate::fleet::Fleet;
use crate::health::status::{self, Mode};
use crate::http::alerts;
use crate::http::error::not_found;
pub use crate::http::services::Services;

/// The daemon's whole HTTP service: [`router`], the ops page and its endpoints, behind the
/// access layer. Fails when the access-control settings are unusable (no users on a
/// non-loopback address, a malformed password hash).
pub fn app(services: Services, ctx: &crate::http::WebContext) -> anyhow::Result<Router> {
    let auth = Arc::new(crate::http::auth::Auth::new(&ctx.auth, ctx.addr)?);
    let fleet = services.fleet.clone();
    Ok(router(services)
        .merge(crate::http::routes(fleet, ctx, auth.clone()))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            crate::http::auth::layer,
        )))
}

/// Builds the router (no access control: see [`app`]).
pub fn router(services: Services) -> Router {
    Router::new()
        .route("/api/cameras", get(cameras))
        .route("/api/cameras/{id}", get(camera))
        .route("/api/cameras/{id}/snapshot.jpg", get(snapshot))
        .route("/api/groups", get(groups))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(alerts::routes())
        .merge(crate::http::tickets::routes())
        .with_state(services)
}

async fn cameras(State(fleet): State<Arc<Fleet>>) -> Response {
    let entries = fleet.entries();
    let views: Vec<_> = entries.iter().map(|e| fleet.view(e)).collect();
    Json(views).into_response()
}

async fn camera(State(fleet): State<Arc<Fleet>>, Path(id): Path<String>) -> Response {
    match fleet.get(&id) {
        Some(e) => Json(fleet.view(&e)).into_response(),
        None => not_found(format!("no camera {id:?}")),
    }
}

/// A stored snapshot younger than this is served as it is; for an older one (or none) the
/// camera's session samples its next keyframe first.
const FRESH_SNAPSHOT: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// How long a snapshot request waits for that sample (the next keyframe, decoded, encoded).
const SNAPSHOT_WAIT: std::time::Duration = std::time::Duration::from_secs(6);

/// `GET /api/cameras/{id}/snapshot.jpg`. JPEGs are made lazily (`pipeline::workers`): asking
/// for one makes the camera's samples JPEG-encoded for the next minutes, and takes a fresh
/// sample of a held camera when the stored picture is older than [`FRESH_SNAPSHOT`].
async fn snapshot(State(fleet): State<Arc<Fleet>>, Path(id): Path<String>) -> Response {
    let Some(e) = fleet.get(&id) else {
        return not_found(format!("no camera {id:?}"));
    };
    let stored = || {
        let v = e.vision.lock().unwrap();
        (v.snapshot.clone(), v.snapshot_at)
    };
    let asked = fleet.stamp();
    // Registered before the sample is asked for, so its wake-up cannot be missed.
    let taken = e.snapshot_taken.notified();
    tokio::pin!(taken);
    taken.as_mut().enable();
    let (mut jpeg, mut at) = stored();
    let fresh = at.is_some_and(|t| asked.wall - t < FRESH_SNAPSHOT);
    let sample = !fresh && e.takes_snapshots() && e.status().state == status::State::Online;
    e.stats.want_snapshot(asked.mono, sample);
    if sample && tokio::time::timeout(SNAPSHOT_WAIT, taken).await.is_ok() {
        (jpeg, at) = stored();
    }
    match (jpeg, at) {
        (Some(bytes), Some(at)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg".to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
                (
                    header::HeaderName::from_static("x-snapshot-taken"),
                    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ),
            ],
            bytes.as_ref().clone(),
        )
            .into_response(),
        _ => not_found(format!(
            "no snapshot of {id:?} yet (sampling off, camera not online, or no keyframe within {} s)",
            SNAPSHOT_WAIT.as_secs()
        )),
    }
}

#[derive(Deserialize)]
struct GroupsQuery {
    by: Option<GroupBy>,
}

async fn groups(State(fleet): State<Arc<Fleet>>, Query(q): Query<GroupsQuery>) -> Response {
    let mut rates = fleet.live_rates();
    if let Some(by) = q.by {
        rates.groups.retain(|g| g.by == by);
    }
    Json(rates).into_response()
}

/// `GET /metrics`. Rendering reads the alert outbox (SQLite), so it runs on a blocking thread,
/// never on a runtime worker; a failure is a 500 naming it, never a panic.
async fn metrics(State(svc): State<Services>) -> Response {
    let rendered =
        tokio::task::spawn_blocking(move || svc.fleet.metrics().render(&svc.metric_sources)).await;
    match rendered {
        Ok(Ok(body)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot render /metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot render metrics: {e}\n"),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("metrics rendering failed: {e}\n"),
        )
            .into_response(),
    }
}

/// `GET /healthz`: 200 while the process serves and its ticker (stall detection, ledger
/// heartbeats) runs; 503 when the ticker has stopped, so an orchestrator restarts the daemon.
async fn healthz(State(fleet): State<Arc<Fleet>>) -> Response {
    if fleet.ticker_alive() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the ticker stopped: stalls are not detected and the history gets no heartbeat\n",
        )
            .into_response()
    }
}

async fn readyz(State(fleet): State<Arc<Fleet>>) -> Response {
    let pending = fleet
        .entries()
        .iter()
        .filter(|e| e.camera.enabled && e.mode == Mode::Hold && e.stats.attempts.load(Relaxed) == 0)
        .count();
    if pending == 0 {
        (StatusCode::OK, "ready\n".to_string()).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{pending} cameras not tried yet\n"),
        )
            .into_response()
    }
}
