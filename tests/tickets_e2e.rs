//! Repair tickets through the running daemon, real RTSP cameras (the simulator) and a real
//! MQTT broker: two cameras die → two tickets open (CloudEvents on the topic); one is
//! acknowledged through the API; the daemon is killed (SIGKILL) and restarted on the same data
//! directory and every ticket is still there, in the same state, and none is opened twice; the
//! second camera passes its repair deadline → an `sla_breach` alert arrives; the first camera
//! comes back → its ticket resolves.

mod common;

use std::time::{Duration, Instant};

use common::{
    Daemon, Sim, VIDEO_LOSS_AFTER_1H, free_port, get_json, http_post_json, mosquitto,
    mqtt_subscriber, wait_for, write_file,
};
use serde_json::Value;

fn ticket(d: &Daemon, camera: &str) -> Option<Value> {
    get_json(&format!("{}/api/tickets", d.base))
        .as_array()?
        .iter()
        .find(|t| t["camera_id"] == camera)
        .cloned()
}

/// Waits for a message of CloudEvents `type` (and `pred` on it) on the subscription.
fn wait_type(
    rx: &std::sync::mpsc::Receiver<(String, Vec<u8>)>,
    ty: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        if let Ok((_, p)) = rx.recv_timeout(Duration::from_millis(500)) {
            let v: Value = serde_json::from_slice(&p).unwrap();
            if v["type"] == ty && pred(&v) {
                return v;
            }
        }
    }
    panic!("no {ty} message within 40 s");
}

#[test]
fn tickets_survive_a_crash_breach_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, port) = mosquitto(dir.path());
    let rx = mqtt_subscriber(port, "tickets-e2e", "sharpeyes/events");
    let sim = Sim::start(
        dir.path(),
        "tk",
        2,
        free_port(),
        &["--fault", "tk0001=not_found", "--fault", "tk0002=auth"],
    );
    // Each camera its own maintainer; 乙运维 promises a 4 s repair (a test-sized SLA).
    let inv = dir.path().join("cams.csv");
    let text = std::fs::read_to_string(&sim.inventory).unwrap();
    let rows: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("tk0001,") {
                l.replace("华安运维", "甲运维")
                    .replace("天网科技", "甲运维")
            } else if l.starts_with("tk0002,") {
                l.replace("华安运维", "乙运维")
                    .replace("天网科技", "乙运维")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&inv, rows.join("\n") + "\n").unwrap();
    let rules = write_file(dir.path(), "rules.toml", VIDEO_LOSS_AFTER_1H);
    let cfg = write_file(
        dir.path(),
        "sharpeyes.toml",
        "recovery_hold = \"1s\"\n[backoff]\ninitial = \"500ms\"\nmax = \"2s\"\n[tickets]\nopen_after = \"1s\"\nhold = \"2s\"\ntick = \"500ms\"\n\
         respond = \"1h\"\nrepair = \"1h\"\n\
         [[tickets.sla]]\nmaintainer = \"乙运维\"\nrespond = \"1h\"\nrepair = \"8s\"\n",
    );
    let mqtt = format!("mqtt://127.0.0.1:{port}");
    let start = || Daemon::start_alerting_with(dir.path(), &inv, &cfg, &rules, &["--mqtt", &mqtt]);
    let d = start();

    // Both die → two tickets, each announced on the topic.
    let t1 = wait_for(Duration::from_secs(30), "a ticket for tk0001", || {
        ticket(&d, "tk0001")
    });
    let t2 = wait_for(Duration::from_secs(30), "a ticket for tk0002", || {
        ticket(&d, "tk0002")
    });
    assert_eq!(
        (t1["maintainer"].as_str(), t1["reason"].as_str()),
        (Some("甲运维"), Some("not_found"))
    );
    assert_eq!(t2["maintainer"], "乙运维");
    let id1 = t1["id"].as_i64().unwrap();
    let opened = wait_type(&rx, "cn.sharpeyes.ticket.opened", |v| {
        v["data"]["id"] == id1
    });
    assert_eq!(opened["subject"], "tk0001");

    // Acknowledged through the API (open mode on loopback: the anonymous operator).
    let (status, body) = http_post_json(&format!("{}/api/tickets/{id1}/ack", d.base), "");
    assert_eq!(status, 200, "{body}");
    wait_type(&rx, "cn.sharpeyes.ticket.acknowledged", |v| {
        v["data"]["id"] == id1
    });

    // A crash (SIGKILL) and a restart lose no ticket state and open nothing twice.
    drop(d);
    let d = start();
    let after = ticket(&d, "tk0001").expect("tk0001's ticket survives the crash");
    assert_eq!(after["id"], id1);
    assert_eq!(after["state"], "acknowledged");
    assert_eq!(after["acked_by"], "anonymous");
    std::thread::sleep(Duration::from_secs(3));
    let all = get_json(&format!("{}/api/tickets", d.base));
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    // tk0002 passes its 8 s repair deadline: an sla_breach alert (and the ticket event).
    let breach = wait_type(&rx, "cn.sharpeyes.alert.sla_breach.new", |v| {
        v["data"]["camera"]["id"] == "tk0002"
    });
    assert_eq!(breach["data"]["rule"], "sla_repair");
    assert_eq!(breach["data"]["camera"]["maintainer"], "乙运维");
    assert_eq!(ticket(&d, "tk0002").unwrap()["repair_breached"], true);

    // tk0001 comes back and stays up for the 2 s hold: resolved.
    assert_eq!(sim.fault("tk0001", "none"), 200);
    let resolved = wait_type(&rx, "cn.sharpeyes.ticket.resolved", |v| {
        v["data"]["id"] == id1
    });
    assert!(resolved["data"]["repaired_at"].is_string(), "{resolved}");
    assert_eq!(ticket(&d, "tk0001").unwrap()["state"], "resolved");
    assert_eq!(ticket(&d, "tk0001").unwrap()["repair_breached"], false);
}
