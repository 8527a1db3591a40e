//! The maintenance-window API (报备).
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/maintenance[?from=&to=][&deleted=true]` | windows overlapping `[from, to)` (RFC 3339), oldest start first; deleted ones only with `deleted=true` |
//! | `POST /api/maintenance` | declares a window: body `{"cameras": ["c1"], "start": …, "end": …, "reason": "…"}` or `{"group": {"by": "region", "value": "城关镇"}, …}`; answers 201 with the window |
//! | `GET /api/maintenance/{id}` | one window, 404 if unknown |
//! | `PUT /api/maintenance/{id}` | replaces its declaration (same body); the audit keeps the old one |
//! | `DELETE /api/maintenance/{id}` | deletes it (it stops excusing; row and audit stay) |
//! | `GET /api/maintenance/{id}/audit` | the window's audit trail: who declared, edited, deleted, when, before and after |
//!
//! Changing methods need the operator role (the access layer refuses viewers); the declaring
//! user is the request's [`Actor`]. See [`crate::assessment::windows`] for late declarations.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::assessment::windows::{WindowError, WindowSpec, WindowStore};
use crate::clock::{Clock, Time};
use crate::http::actor::Actor;
use crate::http::error::{blocking, error};

/// What the maintenance endpoints need.
#[derive(Debug, Clone)]
pub struct MaintenanceContext {
    /// The daemon's data directory (holding `maintenance.db`).
    pub data_dir: PathBuf,
    /// `[maintenance] late_grace`.
    pub late_grace: Duration,
    /// The daemon's clock (declaration times).
    pub clock: Arc<dyn Clock>,
}

/// The routes, over their context.
pub fn routes(ctx: Arc<MaintenanceContext>) -> Router {
    Router::new()
        .route("/api/maintenance", get(list).post(declare))
        .route("/api/maintenance/{id}", get(one).put(edit).delete(delete))
        .route("/api/maintenance/{id}/audit", get(audit))
        .with_state(ctx)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    from: Option<Time>,
    to: Option<Time>,
    deleted: Option<bool>,
}

fn answer(e: WindowError) -> Response {
    match e {
        WindowError::Invalid(m) => error(StatusCode::BAD_REQUEST, m),
        WindowError::NotFound(_) => error(StatusCode::NOT_FOUND, e),
        WindowError::Deleted(_) => error(StatusCode::CONFLICT, e),
        WindowError::Storage(e) => crate::http::error::internal(e),
    }
}

/// Runs `f` on the blocking pool with the store opened read-only (`None` before any
/// declaration).
async fn read<T: Send + 'static>(
    ctx: &Arc<MaintenanceContext>,
    f: impl FnOnce(Option<&WindowStore>) -> Result<T, WindowError> + Send + 'static,
) -> Result<T, Response> {
    let ctx = ctx.clone();
    blocking(move || Ok(f(WindowStore::open_read_only(&ctx.data_dir)?.as_ref())))
        .await?
        .map_err(answer)
}

/// Runs `f` on the blocking pool with the store opened for writing.
async fn write<T: Send + 'static>(
    ctx: &Arc<MaintenanceContext>,
    f: impl FnOnce(&mut WindowStore) -> Result<T, WindowError> + Send + 'static,
) -> Result<T, Response> {
    let ctx = ctx.clone();
    blocking(move || Ok(f(&mut WindowStore::open(&ctx.data_dir, ctx.late_grace)?)))
        .await?
        .map_err(answer)
}

async fn list(
    State(ctx): State<Arc<MaintenanceContext>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let deleted = q.deleted.unwrap_or(false);
    match read(&ctx, move |s| match s {
        None => Ok(Vec::new()),
        Some(s) => s.list(q.from, q.to, deleted),
    })
    .await
    {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

fn parse_spec(body: &Bytes) -> Result<WindowSpec, String> {
    serde_json::from_slice(body).map_err(|e| {
        format!(
                "body must be JSON like {{\"cameras\": [\"c1\"], \"start\": \"2026-11-10T09:00:00+08:00\", \
                 \"end\": \"2026-11-10T12:00:00+08:00\", \"reason\": \"道路施工\"}}: {e}"
        )
    })
}

fn user(actor: Option<Extension<Actor>>) -> String {
    actor.map_or_else(|| Actor::anonymous().user, |Extension(a)| a.user)
}

async fn declare(
    State(ctx): State<Arc<MaintenanceContext>>,
    actor: Option<Extension<Actor>>,
    body: Bytes,
) -> Response {
    save(ctx, None, actor, body).await
}

/// Declares (`id` none: 201) or edits a window from a JSON body, as the logged-in user.
async fn save(
    ctx: Arc<MaintenanceContext>,
    id: Option<i64>,
    actor: Option<Extension<Actor>>,
    body: Bytes,
) -> Response {
    let spec = match parse_spec(&body) {
        Ok(s) => s,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let who = user(actor);
    let now = ctx.clock.now();
    let saved = write(&ctx, move |s| match id {
        None => s.declare(spec, &who, now),
        Some(id) => s.edit(id, spec, &who, now),
    });
    match saved.await {
        Ok(w) if id.is_none() => (StatusCode::CREATED, Json(w)).into_response(),
        Ok(w) => Json(w).into_response(),
        Err(r) => r,
    }
}

async fn one(State(ctx): State<Arc<MaintenanceContext>>, Path(id): Path<i64>) -> Response {
    match read(&ctx, move |s| match s {
        None => Ok(None),
        Some(s) => s.get(id),
    })
    .await
    {
        Ok(Some(w)) => Json(w).into_response(),
        Ok(None) => answer(WindowError::NotFound(id)),
        Err(r) => r,
    }
}

async fn edit(
    State(ctx): State<Arc<MaintenanceContext>>,
    Path(id): Path<i64>,
    actor: Option<Extension<Actor>>,
    body: Bytes,
) -> Response {
    save(ctx, Some(id), actor, body).await
}

async fn delete(
    State(ctx): State<Arc<MaintenanceContext>>,
    Path(id): Path<i64>,
    actor: Option<Extension<Actor>>,
) -> Response {
    let who = user(actor);
    let now = ctx.clock.now();
    match write(&ctx, move |s| s.delete(id, &who, now)).await {
        Ok(w) => Json(w).into_response(),
        Err(r) => r,
    }
}

async fn audit(State(ctx): State<Arc<MaintenanceContext>>, Path(id): Path<i64>) -> Response {
    match read(&ctx, move |s| {
        let s = s.ok_or(WindowError::NotFound(id))?;
        s.get(id)?.ok_or(WindowError::NotFound(id))?;
        s.audit(Some(id))
    })
    .await
    {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}
