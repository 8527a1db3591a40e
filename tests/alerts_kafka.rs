//! Alert delivery to a real Kafka-protocol broker through the durable outbox and the Kafka
//! sink (`rdkafka`, bundled librdkafka), read back with an rdkafka consumer.
//!
//! The broker is Tansu 0.6.0 (`vendor/tansu/tansu`, put there by `scripts/fetch-tansu.sh`;
//! see `docs/alerts.md` for why), started here on a free loopback port with in-memory
//! storage. Scenario (every wait bounded):
//!
//! 1. 30 messages of 5 cameras are enqueued and delivered; all 30 are read back, keyed by
//!    their camera id, each camera's messages in one partition and in order;
//! 2. the broker is killed; 10 messages enqueued during the outage stay pending; the broker
//!    restarts on the same port (empty: memory storage), the topic is created again, and the
//!    10 messages arrive;
//! 3. the producer side restarts: the sink is stopped, 5 messages are enqueued with no sink
//!    running, a new sink on the same outbox delivers them.
//!
//! Duplicates are allowed only as copies of one CloudEvent id with identical bytes.
#![cfg(feature = "kafka")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Proc, free_port, tansu_with};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sharpeyes::alerts::event::AlertEvent;
use sharpeyes::alerts::outbox::Outbox;
use sharpeyes::alerts::sinks::driver::{self, DriverOptions, SinkHandle};
use sharpeyes::alerts::sinks::kafka::{self, KafkaConfig, KafkaSink};
use tokio::sync::watch;

const TOPIC: &str = "sharpeyes.alerts";
const PARTITIONS: i32 = 3;
const CAMERAS: u32 = 5;

fn make_event(i: u32) -> AlertEvent {
    common::video_loss_event(i, &camera_of(i))
}

fn camera_of(i: u32) -> String {
    format!("cam-{}", i % CAMERAS)
}

fn start_tansu(port: u16, log: &Path) -> Proc {
    tansu_with(port, port, log, &["--storage-engine", "memory://tansu/"])
}

async fn create_topic(brokers: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let r = admin
            .create_topics(
                &[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(5))),
            )
            .await;
        match r {
            Ok(v)
                if v.iter().all(|x| {
                    matches!(x, Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)))
                }) =>
            {
                return;
            }
            other => {
                assert!(
                    t0.elapsed() < Duration::from_secs(15),
                    "cannot create the topic: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// One record read back.
#[derive(Debug, Clone)]
struct Record {
    partition: i32,
    key: String,
    id: String,
    payload: String,
}

/// Reads the topic from the beginning until every id in `want` was seen (or panics after
/// `timeout`); returns every record read, in partition then offset order.
fn read_back(brokers: &str, want: &BTreeSet<String>, timeout: Duration) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "sharpeyes-test")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out: Vec<(i32, i64, Record)> = Vec::new();
    let t0 = Instant::now();
    loop {
        let seen: BTreeSet<&String> = out.iter().map(|(_, _, r)| &r.id).collect();
        if want.iter().all(|w| seen.contains(w)) {
            break;
        }
        assert!(
            t0.elapsed() < timeout,
            "timed out reading back; missing {:?}",
            want.iter()
                .filter(|w| !seen.contains(w))
                .collect::<Vec<_>>()
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let payload = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
            out.push((
                m.partition(),
                m.offset(),
                Record {
                    partition: m.partition(),
                    key: String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap(),
                    id: v["id"].as_str().unwrap().to_string(),
                    payload,
                },
            ));
        }
    }
    out.sort_by_key(|(p, o, _)| (*p, *o));
    out.into_iter().map(|(_, _, r)| r).collect()
}

/// Checks keys, duplicates and per-camera order; returns the distinct ids.
fn check(records: &[Record]) -> BTreeSet<String> {
    let mut by_id: BTreeMap<&str, &str> = BTreeMap::new();
    let mut partition_of: BTreeMap<&str, i32> = BTreeMap::new();
    let mut order: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for r in records {
        let v: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
        assert_eq!(r.key, v["subject"].as_str().unwrap(), "keyed by camera id");
        let i: u32 = r.id["alert-".len()..r.id.len() - 2].parse().unwrap();
        assert_eq!(r.key, camera_of(i));
        if let Some(prev) = by_id.insert(&r.id, &r.payload) {
            assert_eq!(prev, r.payload, "copies of {} differ", r.id);
        }
        let p = *partition_of.entry(&r.key).or_insert(r.partition);
        assert_eq!(p, r.partition, "one camera, one partition");
        let o = order.entry(&r.key).or_default();
        if !o.contains(&i) {
            o.push(i);
        }
    }
    for (cam, ids) in &order {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{cam} out of order: {ids:?}"
        );
    }
    by_id.keys().map(|s| s.to_string()).collect()
}

fn start_sink(brokers: &str, outbox: &Outbox, stop: watch::Receiver<bool>) -> SinkHandle {
    let mut cfg = KafkaConfig::new(brokers, TOPIC);
    cfg.delivery_timeout = Duration::from_secs(5);
    let sink = KafkaSink::new(cfg).unwrap();
    outbox.register_sink(kafka::SINK_NAME).unwrap();
    let options = DriverOptions {
        batch: 16,
        poll_interval: Duration::from_millis(200),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
    };
    driver::spawn(sink, outbox.clone(), options, stop)
}

async fn drained(outbox: &Outbox, handle: &SinkHandle, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    while !outbox.pending(kafka::SINK_NAME, 1).unwrap().is_empty() {
        assert!(
            t0.elapsed() < timeout,
            "{} still pending after {timeout:?}; sink: {:?}",
            outbox.pending(kafka::SINK_NAME, 1000).unwrap().len(),
            handle.metrics().snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t0.elapsed()
}

fn ids(range: std::ops::Range<u32>) -> BTreeSet<String> {
    range.map(|i| make_event(i).event_id()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_sink_survives_broker_and_producer_restarts() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sharpeyes=debug".into()),
        )
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let broker = start_tansu(port, &dir.path().join("tansu-1.log"));
    create_topic(&brokers).await;

    let outbox = Outbox::open(&dir.path().join("data")).unwrap();
    let (stop, rx) = watch::channel(false);
    let handle = start_sink(&brokers, &outbox, rx);

    // 1. 30 messages, delivered and read back.
    for i in 0..30 {
        outbox.enqueue(&make_event(i)).unwrap();
    }
    let took = drained(&outbox, &handle, Duration::from_secs(30)).await;
    let b = brokers.clone();
    let records =
        tokio::task::spawn_blocking(move || read_back(&b, &ids(0..30), Duration::from_secs(20)))
            .await
            .unwrap();
    assert_eq!(check(&records), ids(0..30));
    let m = handle.metrics().snapshot();
    assert_eq!(m.delivered_total, 30, "{m:?}");
    assert!(m.up);
    eprintln!(
        "kafka: 30 messages delivered in {took:?} ({} records read back)",
        records.len()
    );

    // 2. Broker outage: messages wait in the outbox, then arrive at the restarted broker.
    drop(broker);
    for i in 30..40 {
        outbox.enqueue(&make_event(i)).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        outbox.pending(kafka::SINK_NAME, 100).unwrap().len(),
        10,
        "nothing is marked delivered without a broker"
    );
    let t_restart = Instant::now();
    let _broker = start_tansu(port, &dir.path().join("tansu-2.log"));
    create_topic(&brokers).await;
    let took = drained(&outbox, &handle, Duration::from_secs(60)).await;
    let b = brokers.clone();
    let records =
        tokio::task::spawn_blocking(move || read_back(&b, &ids(30..40), Duration::from_secs(20)))
            .await
            .unwrap();
    assert_eq!(
        check(&records),
        ids(30..40),
        "the restarted broker is empty"
    );
    let m = handle.metrics().snapshot();
    assert!(m.delivered_total >= 40, "{m:?}");
    eprintln!(
        "kafka: outage backlog of 10 delivered {:?} after the broker restart \
         (drain wait {took:?}); failures {}, retries {}",
        t_restart.elapsed(),
        m.failures_total,
        m.retries_total
    );

    // 3. Producer restart: stopped sink, messages enqueued meanwhile, a new sink sends them.
    stop.send(true).unwrap();
    handle.join(Duration::from_secs(5)).await;
    for i in 40..45 {
        outbox.enqueue(&make_event(i)).unwrap();
    }
    assert_eq!(outbox.pending(kafka::SINK_NAME, 100).unwrap().len(), 5);
    let (stop2, rx2) = watch::channel(false);
    let handle2 = start_sink(&brokers, &outbox, rx2);
    drained(&outbox, &handle2, Duration::from_secs(30)).await;
    let b = brokers.clone();
    let records =
        tokio::task::spawn_blocking(move || read_back(&b, &ids(30..45), Duration::from_secs(20)))
            .await
            .unwrap();
    assert_eq!(check(&records), ids(30..45));
    assert_eq!(handle2.metrics().snapshot().delivered_total, 5);
    stop2.send(true).unwrap();
    handle2.join(Duration::from_secs(5)).await;
}
