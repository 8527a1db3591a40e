//! Nothing lost: the daemon raises alerts from the simulated fleet (crowding from the clip,
//! video loss from cameras faulted in the simulator) while the MQTT broker is stopped for 30 s,
//! and is `kill -9`ed in the middle. After both come back, every message in the outbox reaches
//! the subscriber — none lost, duplicates only with the same id — and every alert's lifecycle
//! is whole: one id across the crash, `seq` without gaps, an `end` for each condition that
//! cleared.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn start_broker(conf: &Path, port: u16) -> Proc {
    let child = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto installed (scripts/setup.sh)");
    wait_for(Duration::from_secs(10), "mosquitto", || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
    Proc {
        child,
        name: "mosquitto".into(),
    }
}

/// Every message in the outbox: event id → (alert id, seq, phase).
fn outbox_messages(db: &Path) -> BTreeMap<String, (String, u64, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut st = conn
        .prepare("SELECT event_id, payload FROM events")
        .unwrap();
    st.query_map([], |r| {
        let id: String = r.get(0)?;
        let p: String = r.get(1)?;
        Ok((id, p))
    })
    .unwrap()
    .map(|r| {
        let (id, p) = r.unwrap();
        let v: Value = serde_json::from_str(&p).unwrap();
        let d = &v["data"];
        (
            id,
            (
                d["alert_id"].as_str().unwrap().to_string(),
                d["seq"].as_u64().unwrap(),
                d["phase"].as_str().unwrap().to_string(),
            ),
        )
    })
    .collect()
}

fn pending(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("SELECT COUNT(*) FROM pending", [], |r| r.get(0))
        .unwrap()
}

fn alerts(d: &Daemon, q: &str) -> Vec<Value> {
    get_json(&format!("{}/api/alerts?{q}", d.base))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn broker_down_30s_and_daemon_killed_loses_no_alert() {
    assert!(
        Path::new("vendor/onnxruntime/libonnxruntime.so.1.31.1").exists(),
        "ONNX Runtime is missing: run scripts/setup.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("mosquitto.conf");
    // Persistent broker (`user root`: it would drop to `mosquitto`, which cannot write the
    // test's directory): the subscriber's session (clean_session = false) and its queued QoS 1
    // messages survive the broker's restart, as a production broker's would.
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nautosave_interval 1\nuser root\nlog_dest file {}/mosquitto.log\n\
             log_type all\n",
            dir.path().display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let mut broker = Some(start_broker(&conf, port));

    // The operations centre's subscriber: a persistent session, QoS 1.
    let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    {
        let received = received.clone();
        let mut opts = rumqttc::MqttOptions::new("ops-centre", "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        opts.set_clean_session(false);
        let (client, mut connection) = rumqttc::Client::new(opts, 256);
        client
            .subscribe("sharpeyes/events", rumqttc::QoS::AtLeastOnce)
            .unwrap();
        std::thread::spawn(move || {
            let _client = client;
            for ev in connection.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let v: Value = serde_json::from_slice(&p.payload).unwrap();
                        let id = v["id"].as_str().unwrap().to_string();
                        received.lock().unwrap().push((id, v));
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        });
    }

    let sim = Sim::start(dir.path(), "k", 4, free_port(), &[]);
    let rules = "[[rules]]\nname = \"crowd\"\nkind = \"crowding\"\ncameras = [\"k0001\"]\n\
         min_people = 3\nmin_score = 0.3\ndwell = \"2s\"\nhold_off = \"10s\"\nsmoothing = 1\n\
         update_interval = \"5s\"\n\n\
         [[rules]]\nname = \"loss\"\nkind = \"video_loss\"\ncameras = [\"k0002\", \"k0003\"]\n\
         after = \"2s\"\nhold_off = \"2s\"\nseverity = \"critical\"\n";
    let cfg = fast_auth_retry_config(dir.path());
    let mqtt = format!("mqtt://127.0.0.1:{port}");
    let args = ["--config", cfg.to_str().unwrap(), "--mqtt", &mqtt];
    let start = || Daemon::start_detecting(dir.path(), &sim.inventory, rules, &args);
    let db = dir.path().join("data/alerts.db");
    let d = start();
    wait_for(
        Duration::from_secs(60),
        "the crowding alert at the subscriber",
        || {
            received
                .lock()
                .unwrap()
                .iter()
                .any(|(_, v)| v["type"] == "cn.sharpeyes.alert.crowding.new")
                .then_some(())
        },
    );

    // The broker goes away for 30 s.
    let down = Instant::now();
    let mut b = broker.take().unwrap();
    b.signal(libc::SIGTERM);
    let _ = b.child.wait();
    println!("broker stopped");

    // Two cameras lose their video while it is down.
    assert_eq!(sim.fault("k0002", "auth"), 200);
    assert_eq!(sim.fault("k0003", "auth"), 200);
    let open_loss = |d: &Daemon| alerts(d, "kind=video_loss&state=open").len();
    wait_for(Duration::from_secs(20), "two video-loss alerts", || {
        (open_loss(&d) == 2).then_some(())
    });
    let before_kill = outbox_messages(&db);
    println!(
        "{} messages in the outbox before kill -9",
        before_kill.len()
    );

    // kill -9 in the middle of both alerts; k0002 comes back while the daemon is dead.
    d.proc.signal(libc::SIGKILL);
    drop(d);
    assert_eq!(sim.fault("k0002", "none"), 200);
    let d = start();
    // k0003 is still down: its alert continues under the same id. k0002 is back: its alert
    // ends once the rule has had time to raise it again and did not.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(sim.fault("k0003", "none"), 200);

    // The broker comes back after 30 s.
    let wait = Duration::from_secs(30).saturating_sub(down.elapsed());
    std::thread::sleep(wait);
    println!(
        "broker restarted after {:.1} s",
        down.elapsed().as_secs_f64()
    );
    let _broker = start_broker(&conf, port);

    // Both loss alerts end (k0002's after its rule's 2 s + the 30 s restore grace).
    wait_for(
        Duration::from_secs(60),
        "both video-loss alerts ended",
        || (open_loss(&d) == 0 && alerts(&d, "kind=video_loss").len() == 2).then_some(()),
    );
    // Stop raising: every message there is must now reach the subscriber.
    wait_for(Duration::from_secs(60), "the outbox drained", || {
        (pending(&db) == 0).then_some(())
    });
    let stored = outbox_messages(&db);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got: BTreeSet<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let missing: Vec<&String> = stored.keys().filter(|id| !got.contains(*id)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "delivered to the broker but never at the subscriber: {missing:?} (got {got:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(d);

    let got = received.lock().unwrap().clone();
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (id, v) in &got {
        by_id.entry(id.clone()).or_default().push(v.clone());
    }
    let dups: usize = by_id.values().map(|v| v.len() - 1).sum();
    println!(
        "{} messages stored, {} received ({} duplicates, each with its id)",
        stored.len(),
        got.len(),
        dups
    );
    for (id, copies) in &by_id {
        assert!(
            copies.iter().all(|c| c == &copies[0]),
            "duplicates of {id} are the same message"
        );
        assert!(stored.contains_key(id), "{id} received but never stored");
    }
    for id in before_kill.keys() {
        assert!(
            by_id.contains_key(id),
            "{id}, written before kill -9, arrived"
        );
    }

    // Lifecycles: seq 0..n without gaps, `new` first, at most one `end`, last.
    let mut lifecycles: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for (alert, seq, phase) in stored.values() {
        lifecycles
            .entry(alert.clone())
            .or_default()
            .push((*seq, phase.clone()));
    }
    for (alert, msgs) in &mut lifecycles {
        msgs.sort();
        println!("alert {alert}: {msgs:?}");
        for (i, (seq, phase)) in msgs.iter().enumerate() {
            assert_eq!(*seq, i as u64, "{alert}: no gap in seq");
            let want = if i == 0 {
                "new"
            } else if phase == "end" {
                "end"
            } else {
                "update"
            };
            assert_eq!(phase, want, "{alert}: {msgs:?}");
            if phase == "end" {
                assert_eq!(i, msgs.len() - 1, "{alert}: end is last");
            }
        }
    }
    // One video-loss alert per camera across the crash, each ended; k0003's went on under the
    // same id (new, update after the restart, end).
    let loss: Vec<&Value> = got
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["data"]["kind"] == "video_loss")
        .collect();
    for cam in ["k0002", "k0003"] {
        let ids: BTreeSet<&str> = loss
            .iter()
            .filter(|v| v["subject"] == cam)
            .map(|v| v["data"]["alert_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 1, "{cam}: one alert across the crash: {ids:?}");
        let phases: BTreeSet<&str> = loss
            .iter()
            .filter(|v| v["subject"] == cam)
            .map(|v| v["data"]["phase"].as_str().unwrap())
            .collect();
        assert!(
            phases.contains("new") && phases.contains("end"),
            "{cam}: {phases:?}"
        );
    }
    let k3: BTreeSet<&str> = loss
        .iter()
        .filter(|v| v["subject"] == "k0003")
        .map(|v| v["data"]["phase"].as_str().unwrap())
        .collect();
    assert!(
        k3.contains("update"),
        "k0003 continued after the restart: {k3:?}"
    );
}
