//! The repair-ticket API (工单).
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/tickets[?state=open\|acknowledged\|resolved\|closed][&maintainer=…][&month=YYYY-MM]` | tickets, newest first |
//! | `GET /api/tickets/kpis[?month=YYYY-MM]` | per maintainer: tickets opened, outstanding, mean time to acknowledge and to repair (minutes), breaches and breach rate, over the tickets opened in the month (default: this month, UTC+08:00) |
//! | `POST /api/tickets/{id}/ack` | acknowledges a ticket not yet acknowledged; answers the ticket |
//!
//! A user with the `maintainer` role sees only its own maintainer's tickets and KPIs and may
//! acknowledge only those (anyone else's ticket reads as unknown); operators see and
//! acknowledge all. With `[tickets] enabled = false` the lists are empty.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::assessment::tickets::{TicketQuery, TicketState, kpis};
use crate::clock::{Time, china};
use crate::http::actor::{Actor, Role};
use crate::http::error::{blocking, error};
use crate::http::services::Services;

/// The ticket routes.
pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/tickets", get(list))
        .route("/api/tickets/kpis", get(kpi))
        .route("/api/tickets/{id}/ack", post(ack))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    maintainer: Option<String>,
    month: Option<String>,
}

/// The maintainer a request is limited to (its own for the maintainer role).
fn scope(actor: &Option<Extension<Actor>>, asked: Option<String>) -> Option<String> {
    match actor {
        Some(Extension(a)) if a.role == Role::Maintainer => a.maintainer.clone(),
        _ => asked,
    }
}

fn month_span(month: Option<&str>, now: Time) -> Result<(Option<Time>, Option<Time>), String> {
    let first = match month {
        None => return Ok((None, None)),
        Some("this") => crate::report::month::this_month(now, china()),
        Some(m) => crate::report::month::parse_month(m)?,
    };
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or("month out of range")?;
    let at = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(china()).single())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    Ok((at(first), at(next)))
}

async fn list(
    State(svc): State<Services>,
    actor: Option<Extension<Actor>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let state = match q.state.as_deref() {
        None => None,
        Some(s @ ("open" | "acknowledged" | "resolved" | "closed")) => Some(TicketState::parse(s)),
        Some(s) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("state={s:?}: use open, acknowledged, resolved or closed"),
            );
        }
    };
    let (from, to) = match month_span(q.month.as_deref(), svc.fleet.clock().now()) {
        Ok(span) => span,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let maintainer = scope(&actor, q.maintainer);
    let Some(desk) = svc.tickets.clone() else {
        return Json(Vec::<()>::new()).into_response();
    };
    let query = TicketQuery {
        from,
        to,
        maintainer,
        state,
    };
    match blocking(move || desk.tickets(&query)).await {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KpiQuery {
    month: Option<String>,
}

async fn kpi(
    State(svc): State<Services>,
    actor: Option<Extension<Actor>>,
    Query(q): Query<KpiQuery>,
) -> Response {
    let (from, to) = match month_span(
        Some(q.month.as_deref().unwrap_or("this")),
        svc.fleet.clock().now(),
    ) {
        Ok(span) => span,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let maintainer = scope(&actor, None);
    let Some(desk) = svc.tickets.clone() else {
        return Json(Vec::<()>::new()).into_response();
    };
    match blocking(move || {
        Ok(kpis(&desk.tickets(&TicketQuery {
            from,
            to,
            maintainer,
            state: None,
        })?))
    })
    .await
    {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn ack(
    State(svc): State<Services>,
    Path(id): Path<i64>,
    actor: Option<Extension<Actor>>,
) -> Response {
    let actor = actor.map(|Extension(a)| a).unwrap_or_else(Actor::anonymous);
    let own =
        (actor.role == Role::Maintainer).then(|| actor.maintainer.clone().unwrap_or_default());
    let Some(desk) = svc.tickets.clone() else {
        return error(StatusCode::NOT_FOUND, format!("no open ticket {id}"));
    };
    let now = svc.fleet.clock().now();
    match blocking(move || desk.acknowledge(id, &actor.user, own.as_deref(), now)).await {
        Ok(Some(t)) => Json(t).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no open, unacknowledged ticket {id} of yours"),
        ),
        Err(r) => r,
    }
}
