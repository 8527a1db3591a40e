//! The one error answer of the HTTP service (`{"error": "..."}` with a status code) and the one
//! way a handler runs blocking work (SQLite, files) off the async runtime.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": message.to_string() })),
    )
        .into_response()
}

/// 404 with `message`.
pub fn not_found(message: impl std::fmt::Display) -> Response {
    error(StatusCode::NOT_FOUND, message)
}

/// 500 for an unexpected failure, logged with its whole cause chain.
pub fn internal(e: anyhow::Error) -> Response {
    tracing::error!("HTTP handler failed: {e:#}");
    error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
}

/// Runs `f` on the blocking pool (never on a runtime worker); its error, or a panic, becomes a
/// 500.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e.into())),
    }
}
