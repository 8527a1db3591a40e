//! Alert delivery to a real MQTT broker (Debian's mosquitto, started here on a free loopback
//! port) through the durable outbox, across a broker outage and a `kill -9` of the publisher.
//!
//! The publisher is this test binary itself, run as a child process on the ignored test
//! [`child_publisher`] (so it can be `kill -9`ed): it opens the outbox in a data dir, runs the
//! MQTT sink, enqueues alert messages when told on stdin and prints its counters on stdout.
//!
//! Scenario of [`alerts_survive_broker_outage_and_kill_9`] (every wait bounded; about 4 s):
//!
//! 1. broker up, a subscriber on `sharpeyes/#`; child 1 enqueues messages 0..10, which arrive
//!    and are marked delivered;
//! 2. the broker is killed; child 1 notices, enqueues messages 10..20 (pending in the outbox:
//!    no broker) and is killed with SIGKILL; the broker stays down 3 s in all (short on
//!    purpose, to keep the test fast; the backoff is capped at 0.5 s here);
//! 3. the broker comes back on the same port (no persistence: its sessions and retained
//!    messages are gone), the subscriber reconnects and subscribes again, and only then child 2
//!    starts on the same data dir, enqueueing nothing: it delivers the 10 pending messages.
//!
//! Checked: all 20 CloudEvent ids arrive, nothing else does, copies of one id are
//! byte-identical; `sharpeyes/available` is `online` and retained after the reconnect, the
//! camera status is retained, and the last will `offline` is published when child 2 is killed
//! while connected.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::TimeZone;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use sharpeyes::alerts::event::{
    AlertCamera, AlertEvent, AlertKind, Evidence, EvidenceObject, Phase, Severity, alert_id_for,
};
use sharpeyes::alerts::outbox::{Outbox, OutboxOptions};
use sharpeyes::alerts::sinks::mqtt::{MqttConfig, MqttSink};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const SOURCE: &str = "/sharpeyes/test";
const ENV_DIR: &str = "SHARPEYES_ALERTS_CHILD_DIR";
const ENV_PORT: &str = "SHARPEYES_ALERTS_CHILD_PORT";
const OUTAGE: Duration = Duration::from_secs(3);

/// Message `i` of the test: alert `i / 5` goes through new, update ×3, end.
fn make_event(i: u32) -> AlertEvent {
    let a = i / 5;
    let seq = i % 5;
    let camera_id = format!("cam-{a}");
    let rule = "test-rule";
    let started = chrono::Utc
        .timestamp_opt(1_795_000_000 + a as i64 * 60, 0)
        .unwrap();
    let updated = started + chrono::Duration::seconds(seq as i64 * 10);
    let phase = match seq {
        0 => Phase::New,
        4 => Phase::End,
        _ => Phase::Update,
    };
    let alert_id = alert_id_for(&camera_id, rule, started);
    AlertEvent {
        snapshot_url: Some(format!(
            "http://127.0.0.1:9090/api/alerts/{alert_id}/snapshot/{seq}.jpg"
        )),
        alert_id,
        seq,
        phase,
        kind: AlertKind::ALL[a as usize % AlertKind::ALL.len()],
        severity: Severity::Warning,
        rule: rule.into(),
        camera: AlertCamera {
            id: camera_id,
            name: format!("测试点位 {a}"),
            region: "城关镇".into(),
            unit: "交警大队".into(),
            class: "1".into(),
            maintainer: "华安运维".into(),
        },
        started_at: started,
        updated_at: updated,
        ended_at: (phase == Phase::End).then_some(updated),
        evidence: Evidence {
            count: seq + 1,
            frame_width: 1920,
            frame_height: 1080,
            objects: vec![EvidenceObject {
                class: "person".into(),
                score: 0.75,
                bbox: [10.0, 20.0, 110.0, 320.0],
                uncovered: None,
            }],
        },
    }
}

/// The child process: see the module docs. Does nothing when run without its env vars.
#[test]
#[ignore = "child process of alerts_survive_broker_outage_and_kill_9"]
fn child_publisher() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let port: u16 = std::env::var(ENV_PORT).unwrap().parse().unwrap();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("sharpeyes=warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = common::runtime();
    rt.block_on(async move {
        let outbox = Outbox::open_with(
            Path::new(&dir),
            OutboxOptions {
                source: SOURCE.into(),
                max_pending: 1000,
            },
        )
        .unwrap();
        let mut cfg = MqttConfig::new(
            &format!("mqtt://127.0.0.1:{port}"),
            "sharpeyes",
            "sharpeyes-test-child",
        );
        cfg.backoff_min = Duration::from_millis(100);
        cfg.backoff_max = Duration::from_millis(500);
        cfg.keep_alive = Duration::from_secs(2);
        cfg.poll_interval = Duration::from_millis(200);
        let sink = MqttSink::start(cfg, outbox.clone()).unwrap();
        sink.publish_status("cam-0", &json!({"state": "online"}));

        let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(16);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                line = lines.recv() => {
                    let Some(line) = line else { break };
                    let words: Vec<&str> = line.split_whitespace().collect();
                    if let ["enqueue", from, count] = words[..] {
                        let (from, count): (u32, u32) = (from.parse().unwrap(), count.parse().unwrap());
                        for i in from..from + count {
                            assert!(outbox.enqueue(&make_event(i)).unwrap());
                        }
                        println!("CHILD enqueued {from} {count}");
                    }
                }
                _ = tick.tick() => {
                    let m = sink.metrics();
                    println!(
                        "CHILD stats connected={} published={} delivered={} pending={}",
                        m.connected as u8,
                        m.published_total,
                        m.delivered_total,
                        outbox.pending_events()
                    );
                }
            }
        }
        sink.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------
// Harness

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A mosquitto on loopback with its own config; killed on drop.
struct Broker {
    child: Option<Child>,
    conf: PathBuf,
    log: PathBuf,
    port: u16,
}

impl Broker {
    fn start(dir: &Path, port: u16) -> Broker {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
            ),
        )
        .unwrap();
        let mut b = Broker {
            child: None,
            conf,
            log: dir.join("mosquitto.log"),
            port,
        };
        b.restart();
        b
    }

    fn restart(&mut self) {
        assert!(self.child.is_none());
        for attempt in 0..20 {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap();
            let mut child = Command::new(MOSQUITTO)
                .arg("-c")
                .arg(&self.conf)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("mosquitto (Debian package mosquitto) must be installed");
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.child = Some(child);
                    return;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    // Port still held (e.g. a lingering socket): try again shortly.
                    eprintln!("mosquitto exited ({status}) on attempt {attempt}; retrying");
                    break;
                }
                assert!(Instant::now() < deadline, "mosquitto did not listen");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "mosquitto would not start: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug, Clone)]
struct Msg {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    at: Instant,
}

/// An MQTT subscriber on its own thread that (re)subscribes after every connect.
struct Subscriber {
    msgs: Arc<Mutex<Vec<Msg>>>,
    subacks: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Subscriber {
    fn start(port: u16, client_id: &str, topics: &[&str]) -> Subscriber {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut conn) = Client::new(o, 64);
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let subacks = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let (m, s, st) = (msgs.clone(), subacks.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok(ev) = conn.recv() else { break };
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for t in &topics {
                            client.try_subscribe(t.clone(), QoS::AtLeastOnce).unwrap();
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        s.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => m.lock().unwrap().push(Msg {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                        at: Instant::now(),
                    }),
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Subscriber {
            msgs,
            subacks,
            stop,
        }
    }

    fn msgs(&self) -> Vec<Msg> {
        self.msgs.lock().unwrap().clone()
    }

    fn on(&self, topic: &str) -> Vec<Msg> {
        self.msgs()
            .into_iter()
            .filter(|m| m.topic == topic)
            .collect()
    }

    /// Distinct CloudEvent ids received on the events topic.
    fn event_ids(&self) -> BTreeSet<String> {
        self.on("sharpeyes/events")
            .iter()
            .map(|m| serde_json::from_slice::<Value>(&m.payload).unwrap()["id"].to_string())
            .map(|s| s.trim_matches('"').to_string())
            .collect()
    }

    fn subacks(&self) -> u64 {
        self.subacks.load(Ordering::SeqCst)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Default, Clone)]
struct ChildState {
    connected: bool,
    published: u64,
    delivered: u64,
    pending: u64,
    enqueued: Vec<(u32, u32)>,
}

/// The publisher child process; SIGKILLed on drop.
struct Publisher {
    child: Child,
    stdin: ChildStdin,
    state: Arc<Mutex<ChildState>>,
}

impl Publisher {
    fn start(dir: &Path, port: u16) -> Publisher {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "child_publisher", "--nocapture"])
            .env(ENV_DIR, dir)
            .env(ENV_PORT, port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let state = Arc::new(Mutex::new(ChildState::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Some(rest) = line.strip_prefix("CHILD ") else {
                    continue;
                };
                let mut s = st.lock().unwrap();
                let words: Vec<&str> = rest.split_whitespace().collect();
                match words[..] {
                    ["enqueued", from, count] => s
                        .enqueued
                        .push((from.parse().unwrap(), count.parse().unwrap())),
                    ["stats", ..] => {
                        for w in &words[1..] {
                            let (k, v) = w.split_once('=').unwrap();
                            let v: u64 = v.parse().unwrap();
                            match k {
                                "connected" => s.connected = v == 1,
                                "published" => s.published = v,
                                "delivered" => s.delivered = v,
                                "pending" => s.pending = v,
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
        });
        Publisher {
            child,
            stdin,
            state,
        }
    }

    fn state(&self) -> ChildState {
        self.state.lock().unwrap().clone()
    }

    /// Waits (10 s at most) until the child has nothing pending and `delivered` delivered.
    fn wait_delivered(&self, delivered: u64, what: &str) {
        wait_until(Duration::from_secs(10), what, || {
            let s = self.state();
            s.pending == 0 && s.delivered == delivered
        });
    }

    fn enqueue(&mut self, from: u32, count: u32) {
        writeln!(self.stdin, "enqueue {from} {count}").unwrap();
        self.stdin.flush().unwrap();
        wait_until(Duration::from_secs(10), "child enqueued", || {
            self.state().enqueued.contains(&(from, count))
        });
    }

    fn kill_9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        let status = self.child.wait().unwrap();
        assert!(!status.success());
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------

#[test]
fn alerts_survive_broker_outage_and_kill_9() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let mut broker = Broker::start(tmp.path(), port);
    let sub = Subscriber::start(port, "test-sub", &["sharpeyes/#"]);
    wait_until(Duration::from_secs(5), "subscriber subscribed", || {
        sub.subacks() >= 1
    });
    let expected: BTreeSet<String> = (0..20).map(|i| make_event(i).event_id()).collect();
    assert_eq!(expected.len(), 20);
    let first_half: BTreeSet<String> = (0..10).map(|i| make_event(i).event_id()).collect();

    // 1. Broker up: messages 0..10 are delivered and marked delivered.
    let mut child1 = Publisher::start(&data, port);
    wait_until(Duration::from_secs(10), "child 1 connected", || {
        child1.state().connected
    });
    child1.enqueue(0, 10);
    wait_until(Duration::from_secs(10), "messages 0..10 received", || {
        sub.event_ids() == first_half
    });
    child1.wait_delivered(10, "messages 0..10 acknowledged");
    eprintln!("[{:?}] phase 1: 10 delivered", t0.elapsed());

    // 2. Broker down: 10 more enqueued (pending), then the publisher is killed with SIGKILL.
    broker.kill();
    let outage = Instant::now();
    wait_until(
        Duration::from_secs(5),
        "child 1 sees the broker gone",
        || !child1.state().connected,
    );
    child1.enqueue(10, 10);
    wait_until(Duration::from_secs(5), "10 pending in child 1", || {
        child1.state().pending == 10
    });
    child1.kill_9();
    eprintln!(
        "[{:?}] phase 2: broker down, 10 pending, child 1 killed",
        t0.elapsed()
    );
    assert_eq!(
        sub.event_ids(),
        first_half,
        "nothing more arrives without a broker"
    );
    std::thread::sleep(OUTAGE.saturating_sub(outage.elapsed()));

    // 3. Broker back (no persistence), subscriber back, then a new publisher on the same data.
    let subacks_before = sub.subacks();
    broker.restart();
    wait_until(
        Duration::from_secs(10),
        "subscriber subscribed again",
        || sub.subacks() > subacks_before,
    );
    let restarted = Instant::now();
    let child2 = Publisher::start(&data, port);
    wait_until(Duration::from_secs(15), "all 20 messages received", || {
        sub.event_ids() == expected
    });
    child2.wait_delivered(10, "child 2 acknowledged the 10");
    eprintln!(
        "[{:?}] phase 3: all 20 received ({:?} after the broker came back); child 2 {:?}",
        t0.elapsed(),
        restarted.elapsed(),
        child2.state()
    );

    // Every message on the events topic is one of ours, a valid CloudEvent, and copies of an id
    // are byte-identical.
    let mut by_id: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for m in sub.on("sharpeyes/events") {
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["source"], SOURCE);
        assert_eq!(v["datacontenttype"], "application/json");
        let id = v["id"].as_str().unwrap().to_string();
        assert!(expected.contains(&id), "unexpected message {id}");
        assert_eq!(
            id,
            format!(
                "{}-{}",
                v["data"]["alert_id"].as_str().unwrap(),
                v["data"]["seq"]
            )
        );
        assert!(
            v["type"]
                .as_str()
                .unwrap()
                .starts_with("cn.sharpeyes.alert.")
        );
        assert_eq!(v["subject"], v["data"]["camera"]["id"]);
        by_id.entry(id).or_default().push(m.payload);
    }
    assert_eq!(by_id.len(), 20);
    let mut duplicates = 0;
    for (id, copies) in &by_id {
        duplicates += copies.len() - 1;
        assert!(
            copies.iter().all(|c| c == &copies[0]),
            "copies of {id} differ"
        );
    }
    eprintln!("messages: 20 ids, {duplicates} duplicate copies (same id, same bytes)");

    // Availability is `online` and retained after the reconnect; the camera status is retained.
    let late = Subscriber::start(
        port,
        "test-late",
        &["sharpeyes/available", "sharpeyes/cameras/+/status"],
    );
    wait_until(
        Duration::from_secs(5),
        "retained availability and status",
        || {
            late.on("sharpeyes/available").len() == 1
                && late.on("sharpeyes/cameras/cam-0/status").len() == 1
        },
    );
    let avail = &late.on("sharpeyes/available")[0];
    assert!(avail.retain);
    assert_eq!(avail.payload, b"online");
    let status = &late.on("sharpeyes/cameras/cam-0/status")[0];
    assert!(status.retain);
    let status: Value = serde_json::from_slice(&status.payload).unwrap();
    assert_eq!(status["state"], "online");
    drop(late);

    // The last will: `offline` when the connected publisher is killed.
    let mut child2 = child2;
    let killed = Instant::now();
    child2.kill_9();
    wait_until(Duration::from_secs(5), "last will offline", || {
        sub.on("sharpeyes/available")
            .iter()
            .any(|m| m.at >= killed && m.payload == b"offline")
    });
    assert_eq!(sub.event_ids(), expected);
    eprintln!("[{:?}] done", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(60));
}

// ---------------------------------------------------------------------------------------
// A scripted broker: acknowledges only what the test says, to show that a message is marked
// delivered on the PUBACK of its own packet and on nothing else, and that what was not
// acknowledged when a connection drops is published again, byte for byte.

/// One PUBLISH the scripted broker received.
#[derive(Debug, Clone)]
struct Received {
    pkid: u16,
    topic: String,
    retain: bool,
    payload: Vec<u8>,
}

fn read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    use std::io::Read;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).ok()?;
    let (mut len, mut mult) = (0usize, 1usize);
    loop {
        let mut d = [0u8; 1];
        s.read_exact(&mut d).ok()?;
        len += (d[0] & 0x7f) as usize * mult;
        mult *= 128;
        if d[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((b[0], body))
}

fn puback(s: &Mutex<TcpStream>, pkid: u16) {
    let [hi, lo] = pkid.to_be_bytes();
    s.lock().unwrap().write_all(&[0x40, 0x02, hi, lo]).unwrap();
}

#[test]
fn delivered_only_on_the_puback_of_that_packet() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let disconnected = Arc::new(AtomicBool::new(false));
    let writer: Arc<Mutex<Option<Arc<Mutex<TcpStream>>>>> = Arc::default();
    {
        let (got, disconnected, writer) = (got.clone(), disconnected.clone(), writer.clone());
        std::thread::spawn(move || {
            // One connection at a time; the test may cut one to force a reconnection.
            for conn in listener.incoming() {
                let mut s = conn.unwrap();
                let w = Arc::new(Mutex::new(s.try_clone().unwrap()));
                *writer.lock().unwrap() = Some(w.clone());
                while let Some((h, body)) = read_packet(&mut s) {
                    match h >> 4 {
                        1 => w.lock().unwrap().write_all(&[0x20, 0x02, 0, 0]).unwrap(),
                        3 => {
                            let tl = u16::from_be_bytes([body[0], body[1]]) as usize;
                            let topic = String::from_utf8(body[2..2 + tl].to_vec()).unwrap();
                            assert_eq!((h >> 1) & 3, 1, "QoS 1");
                            let pkid = u16::from_be_bytes([body[2 + tl], body[3 + tl]]);
                            let r = Received {
                                pkid,
                                retain: h & 1 == 1,
                                payload: body[4 + tl..].to_vec(),
                                topic,
                            };
                            // Availability is acknowledged at once; events only when told.
                            if r.topic == "p/available" {
                                puback(&w, pkid);
                            }
                            got.lock().unwrap().push(r);
                        }
                        12 => w.lock().unwrap().write_all(&[0xd0, 0]).unwrap(),
                        14 => {
                            disconnected.store(true, Ordering::SeqCst);
                            return;
                        }
                        _ => {}
                    }
                }
            }
        });
    }
    let events = |got: &Mutex<Vec<Received>>| -> Vec<(u16, String)> {
        got.lock()
            .unwrap()
            .iter()
            .filter(|r| r.topic == "p/events")
            .map(|r| {
                let v: Value = serde_json::from_slice(&r.payload).unwrap();
                (r.pkid, v["id"].as_str().unwrap().to_string())
            })
            .collect()
    };

    let tmp = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(tmp.path()).unwrap();
    let rt = common::runtime();
    let _guard = rt.enter();
    let mut cfg = MqttConfig::new(&format!("mqtt://127.0.0.1:{port}"), "p", "scripted");
    cfg.poll_interval = Duration::from_millis(100);
    cfg.backoff_min = Duration::from_millis(50);
    let sink = MqttSink::start(cfg, outbox.clone()).unwrap();
    let ids: Vec<String> = (0..3).map(|i| make_event(i).event_id()).collect();
    for i in 0..3 {
        outbox.enqueue(&make_event(i)).unwrap();
    }
    wait_until(Duration::from_secs(5), "3 events published", || {
        events(&got).len() == 3
    });
    let sent = events(&got);
    assert_eq!(
        sent.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(),
        ids,
        "published in enqueue order"
    );
    let online = got.lock().unwrap()[0].clone();
    assert_eq!(
        (
            online.topic.as_str(),
            online.payload.as_slice(),
            online.retain
        ),
        ("p/available", &b"online"[..], true)
    );

    // No PUBACK yet: nothing is delivered, however long we wait.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(outbox.pending_events(), 3);
    assert_eq!(sink.delivered_total(), 0);
    assert_eq!(sink.published_total(), 3);

    // Acknowledge the middle one only: exactly that one is marked delivered.
    let w = writer.lock().unwrap().clone().unwrap();
    puback(&w, sent[1].0);
    wait_until(Duration::from_secs(5), "middle one delivered", || {
        sink.delivered_total() == 1
    });
    let pending: Vec<String> = outbox
        .pending("mqtt", 10)
        .unwrap()
        .into_iter()
        .map(|p| p.event_id)
        .collect();
    assert_eq!(pending, [ids[0].clone(), ids[2].clone()]);

    // The connection drops before the other two are acknowledged: after reconnecting, the
    // sink publishes them again, byte for byte, and nothing else.
    w.lock()
        .unwrap()
        .shutdown(std::net::Shutdown::Both)
        .unwrap();
    wait_until(Duration::from_secs(5), "2 published again", || {
        events(&got).len() == 5
    });
    let again = events(&got)[3..].to_vec();
    assert_eq!(
        again.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(),
        [ids[0].clone(), ids[2].clone()]
    );
    {
        let got = got.lock().unwrap();
        let copies = |id: &str| -> Vec<Vec<u8>> {
            got.iter()
                .filter(|r| r.topic == "p/events")
                .filter(|r| serde_json::from_slice::<Value>(&r.payload).unwrap()["id"] == id)
                .map(|r| r.payload.clone())
                .collect()
        };
        for id in [&ids[0], &ids[2]] {
            let c = copies(id);
            assert_eq!(c.len(), 2);
            assert_eq!(c[0], c[1], "a redelivery is byte-identical");
        }
        assert_eq!(copies(&ids[1]).len(), 1);
        let onlines = got
            .iter()
            .filter(|r| r.topic == "p/available" && r.payload == b"online")
            .count();
        assert_eq!(onlines, 2, "online published on each connect");
    }
    assert_eq!(sink.metrics().connects_total, 2);
    assert_eq!(outbox.pending_events(), 2);

    // Acknowledge them on the new connection, then a clean stop: `offline` retained and a
    // DISCONNECT (so no last will).
    let w = writer.lock().unwrap().clone().unwrap();
    puback(&w, again[0].0);
    puback(&w, again[1].0);
    wait_until(Duration::from_secs(5), "all delivered", || {
        outbox.pending_events() == 0 && sink.delivered_total() == 3
    });
    assert_eq!(sink.metrics().in_flight, 0);
    assert_eq!(sink.published_total(), 5);
    rt.block_on(sink.shutdown());
    wait_until(Duration::from_secs(5), "disconnect", || {
        disconnected.load(Ordering::SeqCst)
    });
    let last = got.lock().unwrap().last().unwrap().clone();
    assert_eq!(
        (last.topic.as_str(), last.payload.as_slice(), last.retain),
        ("p/available", &b"offline"[..], true)
    );
    assert_eq!(events(&got).len(), 5);
}

/// Two sinks on one outbox, each with its own broker and delivery state: one broker down does
/// not hold back the other, and its messages wait for it.
#[test]
fn two_sinks_keep_their_own_delivery_state() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let _broker_a = Broker::start(&dir_a, port_a);
    let sub_a = Subscriber::start(port_a, "sub-a", &["a/events"]);
    wait_until(Duration::from_secs(5), "subscriber a", || {
        sub_a.subacks() >= 1
    });

    let outbox = Outbox::open(&tmp.path().join("data")).unwrap();
    let rt = common::runtime();
    let _guard = rt.enter();
    let config = |port: u16, name: &str| {
        let mut c = MqttConfig::new(&format!("mqtt://127.0.0.1:{port}"), name, name);
        c.sink_name = format!("mqtt-{name}");
        c.backoff_min = Duration::from_millis(50);
        c.backoff_max = Duration::from_millis(200);
        c.poll_interval = Duration::from_millis(100);
        c
    };
    let sink_a = MqttSink::start(config(port_a, "a"), outbox.clone()).unwrap();
    let sink_b = MqttSink::start(config(port_b, "b"), outbox.clone()).unwrap();
    let ids: BTreeSet<String> = (0..5).map(|i| make_event(i).event_id()).collect();
    for i in 0..5 {
        outbox.enqueue(&make_event(i)).unwrap();
    }
    let pending_of = |sink: &str| {
        outbox
            .stats()
            .unwrap()
            .sinks
            .into_iter()
            .find(|s| s.sink == sink)
            .unwrap()
            .pending
    };
    wait_until(Duration::from_secs(10), "sink a delivered", || {
        sink_a.delivered_total() == 5 && pending_of("mqtt-a") == 0
    });
    assert_eq!(
        sub_a
            .on("a/events")
            .iter()
            .map(
                |m| serde_json::from_slice::<Value>(&m.payload).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            )
            .collect::<BTreeSet<_>>(),
        ids
    );
    assert!(!sink_b.is_connected());
    assert_eq!(pending_of("mqtt-b"), 5);
    assert_eq!(outbox.pending_events(), 5);

    // Broker b comes up: sink b catches up on its own.
    let _broker_b = Broker::start(&dir_b, port_b);
    wait_until(Duration::from_secs(10), "sink b delivered", || {
        sink_b.delivered_total() == 5 && pending_of("mqtt-b") == 0
    });
    assert_eq!(outbox.pending_events(), 0);
    assert_eq!(sink_a.delivered_total(), 5, "sink a sent nothing twice");
    rt.block_on(async {
        sink_a.shutdown().await;
        sink_b.shutdown().await;
    });
}
