//! Every offline reason produced by a real fault against a real RTSP server
//! (gst-rtsp-server via `sharpeyes sim`), and recovery bringing cameras back online.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;

/// A TCP server that accepts and never answers (a device that hangs): `unreachable`.
fn silent_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

/// A TCP server that answers RTSP with garbage (a misconfigured port): `protocol`.
fn garbage_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n\r\n");
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    port
}

#[test]
fn every_reason_comes_from_a_real_fault_and_recovery_brings_cameras_back() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_port_range(6);
    // Sim A: one port per camera so `refuse` can close a single camera's port.
    let a = Sim::start(
        dir.path(),
        "a",
        6,
        base,
        &["--port-per-camera", "--fault", "a0003=no_video"],
    );
    // Sim B: a whole server to SIGSTOP (stalled) and kill (refused).
    let b = Sim::start(dir.path(), "b", 2, free_port(), &[]);
    let inventory = dir.path().join("fleet.csv");
    merge_inventories(&inventory, &[&a.inventory, &b.inventory]);
    let closed = free_port(); // nothing listens here
    let silent = silent_server();
    let garbage = garbage_server();
    append_rows(
        &inventory,
        &[
            format!(
                "wrongpw,wrong password,rtsp://127.0.0.1:{base}/a0001,admin,not-the-password,城关镇,交警大队,1"
            ),
            format!(
                "nopath,wrong path,rtsp://127.0.0.1:{base}/no-such-stream,admin,sim-pass,城关镇,交警大队,1"
            ),
            format!(
                "closed,closed port,rtsp://127.0.0.1:{closed}/x,admin,sim-pass,南湖镇,城管局,3"
            ),
            format!("silent,hangs,rtsp://127.0.0.1:{silent}/x,admin,sim-pass,南湖镇,城管局,3"),
            format!("garbage,not rtsp,rtsp://127.0.0.1:{garbage}/x,admin,sim-pass,南湖镇,城管局,3"),
        ],
    );
    let d = Daemon::start_fast_auth(
        dir.path(),
        &inventory,
        &[
            "--stall-timeout",
            "2",
            "--recovery-hold",
            "1",
            "--connect-timeout",
            "2",
        ],
    );
    let t = Duration::from_secs(20);
    for id in ["a0001", "a0002", "a0004", "a0005", "b0001", "b0002"] {
        d.wait_state(id, "online", None, t);
    }
    d.wait_state("a0003", "offline", Some("no_video"), t);
    d.wait_state("wrongpw", "offline", Some("auth"), t);
    d.wait_state("nopath", "offline", Some("not_found"), t);
    d.wait_state("closed", "offline", Some("refused"), t);
    d.wait_state("silent", "offline", Some("unreachable"), t);
    d.wait_state("garbage", "offline", Some("protocol"), t);

    // Faults switched at run time on single cameras.
    assert_eq!(a.fault("a0002", "refuse"), 200);
    d.wait_state("a0002", "offline", Some("refused"), t);
    assert_eq!(a.fault("a0004", "auth"), 200);
    d.wait_state("a0004", "offline", Some("auth"), t);
    assert_eq!(a.fault("a0005", "stall"), 200);
    d.wait_state("a0005", "offline", Some("stalled"), Duration::from_secs(4));
    for id in ["a0002", "a0004", "a0005"] {
        assert_eq!(a.fault(id, "none"), 200);
    }
    for id in ["a0002", "a0004", "a0005"] {
        d.wait_state(id, "online", None, Duration::from_secs(60));
    }

    // The whole server frozen (SIGSTOP): sessions stay up, media stops.
    b.proc.signal(libc::SIGSTOP);
    for id in ["b0001", "b0002"] {
        d.wait_state(id, "offline", Some("stalled"), Duration::from_secs(4));
    }
    b.proc.signal(libc::SIGCONT);
    for id in ["b0001", "b0002"] {
        d.wait_state(id, "online", None, Duration::from_secs(60));
    }
    // Killed: the port is closed.
    let port_b = b.port;
    drop(b);
    for id in ["b0001", "b0002"] {
        d.wait_state(id, "offline", Some("refused"), t);
    }
    // ... and back: a new server on the same port brings the cameras back.
    let b2 = Sim::start(dir.path(), "b", 2, port_b, &[]);
    for id in ["b0001", "b0002"] {
        d.wait_state(id, "online", None, Duration::from_secs(60));
    }

    // The metrics and groups agree with the API.
    let m = d.metrics();
    assert!(m.contains("sharpeyes_camera_up{camera=\"a0001\""), "{m}");
    assert!(m.contains("sharpeyes_state_changes_total{reason=\"stalled\",to=\"offline\"}"));
    assert!(m.contains("sharpeyes_session_setup_seconds_bucket"));
    for (reason, n) in [
        ("auth", 1),
        ("not_found", 1),
        ("refused", 1),
        ("no_video", 1),
    ] {
        let line = format!("sharpeyes_cameras_offline{{reason=\"{reason}\"}} {n}");
        assert!(m.contains(&line), "{line} missing:\n{m}");
    }
    let groups = get_json(&format!("{}/api/groups", d.base));
    let total = groups["fleet"]["total"].as_u64().unwrap();
    let online = groups["fleet"]["online"].as_u64().unwrap();
    assert_eq!(total, 13);
    assert_eq!(online, 7, "{groups}"); // a0001 a0002 a0004 a0005 a0006 b0001 b0002
    // No password anywhere in what the daemon shows or logs.
    let api = http_get(&format!("{}/api/cameras", d.base)).unwrap().1;
    let log = std::fs::read_to_string(&d.log).unwrap();
    for text in [&api, &m, &log] {
        assert!(!text.contains("sim-pass") && !text.contains("not-the-password"));
    }
    drop(b2);
}

/// `max_frame_bytes` (a byte cap on access units): a camera whose frames are above it is ended
/// as a `protocol` failure naming the cap, rather than its frames being held; the default cap
/// (8 MiB) keeps the same camera online (every other test).
#[test]
fn an_access_unit_above_the_cap_ends_the_session_as_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "big", 1, free_port(), &[]);
    let config = dir.path().join("sharpeyes.toml");
    std::fs::write(&config, "max_frame_bytes = 200\n").unwrap();
    let d = Daemon::start(
        dir.path(),
        &sim.inventory,
        &[
            "--config",
            config.to_str().unwrap(),
            "--sample-interval",
            "0",
        ],
    );
    d.wait_state(
        "big0001",
        "offline",
        Some("protocol"),
        Duration::from_secs(30),
    );
    let cam = &d.cameras()["big0001"];
    assert!(
        cam.to_string().contains("above max_frame_bytes (200)"),
        "the cap is named: {cam}"
    );
}

/// A "camera" that answers every request with an RTSP head announcing a 2 GB body and then
/// streams filler for up to 20 s. Returns its port and the bytes of body it managed to send
/// (the kernel's socket buffers take a few MiB before a reader must keep up).
fn huge_answer_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let total = sent.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let total = total.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let cseq = text
                    .lines()
                    .find_map(|l| l.strip_prefix("CSeq:"))
                    .map(str::trim)
                    .unwrap_or("1")
                    .to_string();
                let head = format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n\
                     Content-Length: 2000000000\r\n\r\n"
                );
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
                let chunk = vec![b'a'; 64 << 10];
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                while std::time::Instant::now() < deadline {
                    match s.write(&chunk) {
                        Ok(n) if n > 0 => total.fetch_add(n as u64, Ordering::Relaxed),
                        _ => return,
                    };
                }
            });
        }
    });
    (port, sent)
}

/// `max_rtsp_message_bytes` (256 KiB by default): a camera announcing a 2 GB DESCRIBE answer is
/// ended as `protocol` at the head, naming the limit, instead of its body being buffered; a
/// camera of the same fleet stays online.
#[test]
fn an_rtsp_answer_above_the_cap_ends_set_up_as_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "ok", 1, free_port(), &[]);
    let (port, sent) = huge_answer_server();
    append_rows(
        &sim.inventory,
        &[format!(
            "huge,huge answer,rtsp://127.0.0.1:{port}/x,admin,sim-pass,南湖镇,城管局,3"
        )],
    );
    let d = Daemon::start(dir.path(), &sim.inventory, &["--sample-interval", "0"]);
    d.wait_state("huge", "offline", Some("protocol"), Duration::from_secs(30));
    d.wait_state("ok0001", "online", None, Duration::from_secs(30));
    let cam = &d.cameras()["huge"];
    assert!(
        cam.to_string().contains("message-too-large"),
        "the limit is named: {cam}"
    );
    // The daemon stopped reading at the head: what the server could push is what the socket
    // buffers hold, not the announced 2 GB.
    std::thread::sleep(Duration::from_secs(3));
    let pushed = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(pushed < 32 << 20, "{pushed} bytes of body pushed");
}
