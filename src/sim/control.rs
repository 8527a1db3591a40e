//! The HTTP control API: list cameras, switch a camera's fault while it runs.
//!
//! - `GET /healthz` → `ok`
//! - `GET /cameras` → `[{"id","url","codec","fault"}]` (`codec`: `h264` or `h265`)
//! - `GET /cameras/{id}` → `{"id","url","codec","fault"}`
//! - `PUT /cameras/{id}/fault` with the fault name as a plain-text body → 200 and the new state;
//!   404 for an unknown camera, 400 for an unknown fault (the valid ones listed), 409 for
//!   `refuse` without `--port-per-camera`. Errors are `{"error": "..."}`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use futures::future::BoxFuture;
use serde::Serialize;

use super::codec::Codec;
use super::faults::Fault;
use super::fleet::SimCamera;
use super::routing::Routing;
use super::server::ApplyError;

/// Applies a fault to a camera index on the RTSP side; resolves to the previous fault.
pub type Apply =
    Box<dyn Fn(usize, Fault) -> BoxFuture<'static, Result<Fault, ApplyError>> + Send + Sync>;

/// One camera as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CameraState {
    /// Camera id.
    pub id: String,
    /// Stream URL, without credentials.
    pub url: String,
    /// What the camera's video is encoded with (fixed for the simulator's life).
    pub codec: Codec,
    /// Current fault.
    pub fault: Fault,
}

struct Inner {
    routing: Arc<Routing>,
    /// (id, url, codec) by camera index.
    cameras: Vec<(String, String, Codec)>,
    apply: Apply,
    /// Serialises changes so concurrent requests for one camera do not interleave.
    lock: tokio::sync::Mutex<()>,
}

/// The control API's shared state.
#[derive(Clone)]
pub struct Control(Arc<Inner>);

impl Control {
    /// A control API over `cameras` (in index order, reached on `host`) that applies changes
    /// with `apply`.
    pub fn new(routing: Arc<Routing>, cameras: &[SimCamera], host: IpAddr, apply: Apply) -> Self {
        Control(Arc::new(Inner {
            routing,
            cameras: cameras
                .iter()
                .map(|c| (c.id.clone(), c.url(host), c.codec))
                .collect(),
            apply,
            lock: tokio::sync::Mutex::new(()),
        }))
    }

    fn state(&self, index: usize) -> Option<CameraState> {
        let (id, url, codec) = self.0.cameras.get(index)?;
        Some(CameraState {
            id: id.clone(),
            url: url.clone(),
            codec: *codec,
            fault: self.0.routing.faults.get(index),
        })
    }

    /// The axum router for the API.
    pub fn router(self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/cameras", get(list))
            .route("/cameras/{id}", get(one))
            .route("/cameras/{id}/fault", put(set_fault).get(get_fault))
            .with_state(self)
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct Body {
        error: String,
    }
    (
        status,
        Json(Body {
            error: message.into(),
        }),
    )
        .into_response()
}

fn unknown_camera(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("unknown camera {id:?}"))
}

async fn list(State(c): State<Control>) -> Json<Vec<CameraState>> {
    Json((0..c.0.cameras.len()).filter_map(|i| c.state(i)).collect())
}

async fn one(State(c): State<Control>, Path(id): Path<String>) -> Response {
    match c.0.routing.index(&id).and_then(|i| c.state(i)) {
        Some(s) => Json(s).into_response(),
        None => unknown_camera(&id),
    }
}

async fn get_fault(State(c): State<Control>, Path(id): Path<String>) -> Response {
    match c.0.routing.index(&id) {
        Some(i) => format!("{}\n", c.0.routing.faults.get(i)).into_response(),
        None => unknown_camera(&id),
    }
}

async fn set_fault(State(c): State<Control>, Path(id): Path<String>, body: String) -> Response {
    let Some(index) = c.0.routing.index(&id) else {
        return unknown_camera(&id);
    };
    let fault = match body.parse::<Fault>() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let _guard = c.0.lock.lock().await;
    match (c.0.apply)(index, fault).await {
        Ok(_) => match c.state(index) {
            Some(s) => Json(s).into_response(),
            None => unknown_camera(&id),
        },
        Err(e @ ApplyError::NeedsPortPerCamera) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ ApplyError::Stopped) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
