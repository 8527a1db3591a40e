//! The ops page served by the daemon itself: status wall, online rate and 完好率, camera
//! detail, alerts; access control (users with Argon2 passwords, or trusted proxy headers),
//! sessions and CSRF. See `docs/page.md`.

pub mod actor;
pub mod alerts;
pub mod api;
pub mod assets;
pub mod auth;
pub mod config;
pub mod error;
pub mod first_login;
pub mod history;
pub mod login_guard;
pub mod maintenance;
pub mod password;
pub mod serve;
pub mod services;
pub mod session;
pub mod tickets;
pub mod wall;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::fleet::Fleet;

/// What the page needs besides the fleet.
#[derive(Debug, Clone)]
pub struct WebContext {
    /// The address the daemon listens on (open mode only on loopback).
    pub addr: SocketAddr,
    /// Where the ledger lives.
    pub data_dir: PathBuf,
    /// `[web]`.
    pub web: config::WebSettings,
    /// `[auth]`.
    pub auth: config::AuthSettings,
    /// `[maintenance] late_grace`: declarations starting more than this before now are late.
    pub late_grace: std::time::Duration,
    /// `[maintenance] count_late`: whether late windows excuse in full in the assessed rates.
    pub count_late: bool,
}

/// The page's routes and the ledger endpoints, without the access layer.
pub fn routes(fleet: Arc<Fleet>, ctx: &WebContext, auth: Arc<auth::Auth>) -> Router {
    let ledger = Arc::new(history::LedgerContext {
        data_dir: ctx.data_dir.clone(),
        target: ctx.web.target,
        report_days: ctx.web.report_days,
        count_late: ctx.count_late,
        clock: fleet.clock().clone(),
    });
    let maintenance = Arc::new(maintenance::MaintenanceContext {
        data_dir: ctx.data_dir.clone(),
        late_grace: ctx.late_grace,
        clock: fleet.clock().clone(),
    });
    let settings = serde_json::json!({
        "target_pct": (ctx.web.target * 10000.0).round() / 100.0,
        "report_days": ctx.web.report_days,
    });
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route(
            "/api/settings",
            get(move || {
                let s = settings.clone();
                async move { axum::Json(s) }
            }),
        )
        .merge(
            Router::new()
                .route("/api/login", post(auth::login))
                .route("/api/logout", post(auth::logout))
                .route("/api/session", get(auth::session))
                .with_state(auth.clone()),
        )
        .merge(
            Router::new()
                .route("/api/wall", get(wall::wall))
                .with_state(fleet.clone()),
        )
        .merge(
            Router::new()
                .route("/api/events", get(wall::events))
                .with_state((fleet, auth.clone())),
        )
        .merge(
            Router::new()
                .route("/api/cameras/{id}/history", get(history::history))
                .route("/api/report", get(history::report))
                .route("/api/report/month", get(history::month_report))
                .with_state(ledger),
        )
        .merge(maintenance::routes(maintenance))
}
