//! End to end through `sharpeyes run`: a simulated camera that answers `404` goes offline, a
//! `video_loss` rule raises an alert, and the daemon delivers it at once to a real HTTP
//! receiver (axum, here, checking the HMAC signature), to the JSON-lines log, and (with the
//! `kafka` feature) to a real Kafka-protocol broker (Tansu) read back by key. Also checked:
//! the per-sink series on `/metrics`, and that the webhook secret never reaches the log.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use serde_json::Value;
use sharpeyes::alerts::sinks::webhook;

const SECRET: &str = "e2e-webhook-secret-9f1c";

type Received = Arc<Mutex<Vec<(Value, bool)>>>;

async fn hook(State(got): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let ok = headers
        .get(webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        == Some(webhook::signature(SECRET.as_bytes(), &body).as_str());
    got.lock()
        .unwrap()
        .push((serde_json::from_slice(&body).unwrap(), ok));
    StatusCode::NO_CONTENT
}

/// Starts the receiver on its own thread and runtime; returns its URL and what it received.
fn start_receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let state = got.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route("/alerts", axum::routing::post(hook))
                .with_state(state);
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(l, app).await;
        });
    });
    (url, got)
}

#[cfg(feature = "kafka")]
fn start_kafka(dir: &std::path::Path) -> (Proc, String) {
    let port = free_port();
    let p = tansu(port, port, &dir.join("tansu.log"));
    let brokers = format!("127.0.0.1:{port}");
    kafka_create_topic(&kafka_client(&brokers), "e2e-alerts");
    (p, brokers)
}

#[cfg(feature = "kafka")]
fn kafka_client(brokers: &str) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    c
}

#[test]
fn a_video_loss_alert_reaches_every_sink() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = start_receiver();
    let secret_file = dir.path().join("webhook.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    #[cfg(feature = "kafka")]
    let (_broker, brokers) = start_kafka(dir.path());
    #[cfg_attr(not(feature = "kafka"), allow(unused_mut))]
    let mut config = format!(
        "[webhook]\nurl = \"{url}\"\ntimeout = \"2s\"\nsecret_file = \"{}\"\n\
         [log_sink]\nenabled = true\n",
        secret_file.display()
    );
    #[cfg(feature = "kafka")]
    config.push_str(&format!(
        "[kafka]\nbrokers = \"{brokers}\"\ntopic = \"e2e-alerts\"\ndelivery_timeout = \"5s\"\n"
    ));
    let config_path = write_file(dir.path(), "sharpeyes.toml", config);
    let rules = v0001_loss_rules(dir.path());

    let sim = Sim::start_v0001_lost(dir.path());
    let d = Daemon::start_alerting(dir.path(), &sim.inventory, &config_path, &rules);

    let ev = wait_for(Duration::from_secs(60), "the alert at the webhook", || {
        received.lock().unwrap().first().cloned()
    });
    let (ev, signed) = ev;
    assert!(signed, "signature verifies");
    assert_eq!(ev["subject"], "v0001");
    assert_eq!(ev["data"]["phase"], "new");
    assert!(ev["type"].as_str().unwrap().contains("video_loss"), "{ev}");
    let id = ev["id"].as_str().unwrap().to_string();

    let log = dir.path().join("data/alerts.jsonl");
    let line = wait_for(Duration::from_secs(10), "the alert in alerts.jsonl", || {
        std::fs::read_to_string(&log)
            .ok()?
            .lines()
            .next()
            .map(String::from)
    });
    let logged: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(logged, ev, "same CloudEvent in the log file");

    #[cfg(feature = "kafka")]
    {
        let k = kafka_read_keyed(&kafka_client(&brokers), "e2e-alerts", "v0001");
        assert_eq!(k, ev, "same CloudEvent on Kafka, keyed by camera id");
    }

    let metrics = wait_for(Duration::from_secs(10), "sink metrics", || {
        let m = d.metrics();
        let all = ["webhook", "log"]
            .iter()
            .all(|s| m.contains(&format!("sharpeyes_alert_sink_pending{{sink=\"{s}\"}} 0")));
        all.then_some(m)
    });
    for s in ["webhook", "log"] {
        assert!(
            metrics.contains(&format!("sharpeyes_alert_sink_up{{sink=\"{s}\"}} 1")),
            "{s} up:\n{metrics}"
        );
        assert!(
            !metrics.contains(&format!(
                "sharpeyes_alert_sink_delivered_total{{sink=\"{s}\"}} 0"
            )),
            "{s} delivered"
        );
    }
    #[cfg(feature = "kafka")]
    assert!(metrics.contains("sharpeyes_alert_sink_up{sink=\"kafka\"} 1"));
    drop(d);
    let text = std::fs::read_to_string(dir.path().join("daemon-0.log")).unwrap();
    assert!(!text.contains(SECRET), "the secret leaked into the log");
    println!("alert {id} delivered to every sink");
}
