//! The alert review API.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/alerts` | JSON array of alert records, newest first; filters `camera`, `kind`, `state` (`open`/`ended`), `acked` (`true`/`false`), `since`/`until` (RFC 3339, on the start), `limit` (default 500) |
//! | `GET /api/alerts/{id}` | one record, 404 if unknown |
//! | `GET /api/alerts/{id}/snapshot.jpg` | the picture the alert was raised on (its boxes are the record's `evidence`) |
//! | `POST /api/alerts/{id}/ack` | acknowledges (optional JSON body `{"note": "..."}`); answers the record |
//!
//! Without a rules file there are no alerts: the list is empty and every id is unknown. The
//! acknowledging user is the request's [`Actor`] (set by access control).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::alerts::store::{AlertQuery, snapshot_path};
use crate::http::actor::Actor;
use crate::http::error::{blocking, error};
use crate::http::services::Services;

/// The alert routes, over the alert engine (which holds the outbox).
pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/alerts", get(list))
        .route("/api/alerts/{id}", get(one))
        .route("/api/alerts/{id}/snapshot.jpg", get(snapshot))
        .route("/api/alerts/{id}/ack", post(ack))
}

/// Query string of `GET /api/alerts`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    camera: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    acked: Option<bool>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
}

fn parse_time(name: &str, v: &Option<String>) -> Result<Option<crate::clock::Time>, String> {
    match v {
        None => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&chrono::Utc)))
            .map_err(|_| {
                format!("{name}={s:?} is not an RFC 3339 time (e.g. 2026-11-23T08:00:00+08:00)")
            }),
    }
}

async fn list(
    State(svc): State<Services>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let open = match q.state.as_deref() {
        None => None,
        Some("open") => Some(true),
        Some("ended") => Some(false),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("state={other:?}: use open or ended"),
            );
        }
    };
    if let Some(k) = &q.kind
        && crate::alerts::event::AlertKind::parse(k).is_none()
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("kind={k:?}: use crowding, uncovered_truck, video_loss or video_abnormal"),
        );
    }
    let (since, until) = match (parse_time("since", &q.since), parse_time("until", &q.until)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(m), _) | (_, Err(m)) => return error(StatusCode::BAD_REQUEST, m),
    };
    let Some(engine) = svc.alerts.clone() else {
        return Json(Vec::<()>::new()).into_response();
    };
    let query = AlertQuery {
        camera: q.camera,
        kind: q.kind,
        open,
        acked: q.acked,
        since,
        until,
        limit: q.limit,
    };
    match blocking(move || engine.outbox().alerts(&query)).await {
        Ok(rows) => Json(rows).into_response(),
        Err(r) => r,
    }
}

fn unknown(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no alert {id:?}"))
}

async fn one(State(svc): State<Services>, Path(id): Path<String>) -> Response {
    let Some(engine) = svc.alerts.clone() else {
        return unknown(&id);
    };
    let key = id.clone();
    match blocking(move || engine.outbox().alert(&key)).await {
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => unknown(&id),
        Err(r) => r,
    }
}

async fn snapshot(State(svc): State<Services>, Path(id): Path<String>) -> Response {
    let Some(dir) = svc.alerts.as_ref().and_then(|e| e.snapshot_dir()) else {
        return unknown(&id);
    };
    // Ids are 16 hex digits; anything else never names a file.
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return unknown(&id);
    }
    let path = snapshot_path(dir, &id);
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                // An alert's picture never changes.
                (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
            ],
            bytes,
        )
            .into_response(),
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no snapshot of alert {id:?}"),
        ),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AckBody {
    note: Option<String>,
}

async fn ack(
    State(svc): State<Services>,
    Path(id): Path<String>,
    actor: Option<Extension<Actor>>,
    body: Bytes,
) -> Response {
    let body: AckBody = if body.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("body must be JSON like {{\"note\": \"...\"}}: {e}"),
                );
            }
        }
    };
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return error(StatusCode::BAD_REQUEST, "note longer than 1000 characters");
    }
    let Some(engine) = svc.alerts.clone() else {
        return unknown(&id);
    };
    let actor = actor.map(|Extension(a)| a).unwrap_or_else(Actor::anonymous);
    let key = id.clone();
    let done = blocking(move || {
        engine.outbox().acknowledge(
            &key,
            &actor.user,
            body.note.as_deref(),
            engine.outbox().now(),
        )
    })
    .await;
    match done {
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => unknown(&id),
        Err(r) => r,
    }
}
