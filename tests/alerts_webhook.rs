//! Alert delivery to a real HTTP receiver (an axum server on a loopback port, in this test)
//! through the durable outbox, the webhook sink and the sink driver.
//!
//! The receiver answers the first two requests with `503`, lets the third run past the
//! client's timeout, answers `400` to one poisoned message, and `200` to everything else; it
//! verifies every request's `X-Sharpeyes-Signature` (HMAC-SHA256 with the shared secret), the
//! content type and an extra configured header. Checked: every good message arrives, in enqueue
//! order of first arrival, with a valid signature; the poisoned one is dead-lettered (not
//! retried) and counted; the failures are counted; nothing stays pending.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::video_loss_event;
use sharpeyes::alerts::outbox::Outbox;
use sharpeyes::alerts::sinks::driver::{self, DriverOptions};
use sharpeyes::alerts::sinks::webhook::{self, WebhookConfig, WebhookSink};
use tokio::sync::watch;

const SECRET: &[u8] = b"county-7-shared-secret";

#[derive(Default)]
struct Receiver {
    requests: usize,
    /// Ids of messages answered 200, in arrival order.
    delivered: Vec<String>,
    /// Ids answered 400.
    rejected: Vec<String>,
    bad_signatures: usize,
    bad_headers: usize,
}

async fn hook(
    State(state): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        let sig = headers
            .get(webhook::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if sig != webhook::signature(SECRET, &body) {
            s.bad_signatures += 1;
        }
        if headers.get("content-type").map(|v| v.as_bytes())
            != Some(b"application/cloudevents+json")
            || headers.get("x-tenant").map(|v| v.as_bytes()) != Some(b"county-7")
        {
            s.bad_headers += 1;
        }
        s.requests
    };
    match n {
        1 | 2 => return StatusCode::SERVICE_UNAVAILABLE,
        3 => {
            // Past the client's 400 ms timeout: the client gives up, the message stays pending.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            return StatusCode::OK;
        }
        _ => {}
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    let mut s = state.lock().unwrap();
    if v["subject"] == "poison" {
        s.rejected.push(id);
        StatusCode::BAD_REQUEST
    } else {
        s.delivered.push(id);
        StatusCode::OK
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_signs_and_dead_letters() {
    let state = Arc::new(Mutex::new(Receiver::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path()).unwrap();
    outbox.register_sink(webhook::SINK_NAME).unwrap();
    let n = 20;
    let mut want = Vec::new();
    for i in 0..n {
        let camera = if i == 7 { "poison" } else { "c001" };
        let e = video_loss_event(i, camera);
        outbox.enqueue(&e).unwrap();
        if i != 7 {
            want.push(e.event_id());
        }
    }

    let mut cfg = WebhookConfig::new(&format!("http://127.0.0.1:{}/hook", addr.port()));
    cfg.timeout = Duration::from_millis(400);
    cfg.secret = Some(SECRET.to_vec());
    cfg.headers = vec![("X-Tenant".into(), "county-7".into())];
    let sink = WebhookSink::new(cfg).unwrap();
    let (stop, rx) = watch::channel(false);
    let options = DriverOptions {
        batch: 8,
        poll_interval: Duration::from_millis(100),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    };
    let t0 = Instant::now();
    let handle = driver::spawn(sink, outbox.clone(), options, rx);

    // Messages enqueued while the sink runs go out too.
    let late = video_loss_event(100, "c002");
    outbox.enqueue(&late).unwrap();
    want.push(late.event_id());

    while !outbox.pending(webhook::SINK_NAME, 1).unwrap().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "still pending: {:?}",
            outbox.pending(webhook::SINK_NAME, 50).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t0.elapsed();
    let m = handle.metrics().snapshot();
    stop.send(true).unwrap();
    handle.join(Duration::from_secs(3)).await;
    server.abort();

    let s = state.lock().unwrap();
    let got: BTreeSet<&String> = s.delivered.iter().collect();
    let want_set: BTreeSet<&String> = want.iter().collect();
    assert_eq!(got, want_set, "every good message arrives");
    let mut first = Vec::new();
    for id in &s.delivered {
        if !first.contains(id) {
            first.push(id.clone());
        }
    }
    assert_eq!(first, want, "first arrivals in enqueue order");
    assert_eq!(
        s.rejected,
        ["alert-7-0"],
        "the poisoned message is sent once"
    );
    assert_eq!(s.bad_signatures, 0, "every signature verifies");
    assert_eq!(
        s.bad_headers, 0,
        "content type and extra header on every request"
    );
    assert_eq!(m.delivered_total, want.len() as u64, "{m:?}");
    assert_eq!(m.dead_lettered_total, 1, "{m:?}");
    assert_eq!(m.failures_total, 3, "503, 503, timeout: {m:?}");
    assert_eq!(m.retries_total, 3, "{m:?}");
    assert!(m.up && m.consecutive_failures == 0, "{m:?}");
    let err = m.last_error.unwrap();
    assert!(err.contains("http://127.0.0.1:"), "{err}");
    eprintln!(
        "webhook: {} messages delivered, 1 dead-lettered, {} requests, {} failures, in {took:?}",
        want.len(),
        s.requests,
        m.failures_total
    );
}
