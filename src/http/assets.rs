//! The page's files, embedded in the binary (no CDN, works offline).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The page.
pub const INDEX_HTML: &str = include_str!("assets/index.html");
/// The login form (served for the page's URLs when nobody is logged in).
pub const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const I18N_JS: &str = include_str!("assets/i18n.js");
const LOGIN_JS: &str = include_str!("assets/login.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// Security headers on every HTML answer: scripts and styles only from the daemon itself, and
/// never in a frame (an acknowledge button must not be clickjacked).
pub const HTML_HEADERS: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// `GET /assets/{name}`.
pub async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, ty) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "i18n.js" => (I18N_JS, "text/javascript; charset=utf-8"),
        "login.js" => (LOGIN_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the page (the access layer has already served the login form to strangers).
pub async fn index() -> Response {
    (
        HTML_HEADERS,
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(INDEX_HTML),
    )
        .into_response()
}
