//! Hostile HTTP clients cannot take the daemon down, bend the online rate or lock out the
//! operator: thousands of idle (half-open) connections and hundreds of parallel bad logins
//! from many addresses, while `/healthz` keeps answering, memory stays bounded, no camera
//! changes state and the operator still logs in.
//!
//! Clients bind distinct loopback addresses (127.0.x.y) so the daemon sees many clients.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

async fn connect_from(local: Ipv4Addr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(IpAddr::V4(local), 0))?;
    s.connect(server).await
}

/// One request on a fresh connection from `local`; the status code (0 when it failed).
async fn request(local: Ipv4Addr, server: SocketAddr, method: &str, path: &str, body: &str) -> u16 {
    let attempt = async {
        let mut s = connect_from(local, server).await.ok()?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        text.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(20), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0.0)
}

#[test]
fn half_open_floods_and_login_storms_change_nothing() {
    let nofile = raise_nofile();
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "hl", 3, free_port(), &[]);
    let cfg = write_file(
        dir.path(),
        "sharpeyes.toml",
        format!(
            "[auth]\nmax_failures = 5\nfailure_window = \"5m\"\n[[auth.users]]\nname = \"op\"\n\
             role = \"operator\"\npassword_hash = \"{}\"\n",
            hash_password("op-pass-1")
        ),
    );
    let d = Daemon::start(
        dir.path(),
        &sim.inventory,
        &["--config", cfg.to_str().unwrap(), "--sample-interval", "0"],
    );
    // /api needs a login here; /metrics is open and counts cameras by state.
    let online = |d: &Daemon| metric(&d.metrics(), "sharpeyes_cameras{state=\"online\"}");
    wait_for(Duration::from_secs(30), "three cameras online", || {
        (online(&d) == 3.0).then_some(())
    });
    let server: SocketAddr = d.base.trim_start_matches("http://").parse().unwrap();
    let pid = d.proc.child.id();
    let rt = runtime();
    let login =
        |user: &str, password: &str| format!(r#"{{"user":"{user}","password":"{password}"}}"#);
    // The operator's own login, from `from`: its status.
    let op_login = |from: Ipv4Addr| {
        let body = login("op", "op-pass-1");
        rt.block_on(request(from, server, "POST", "/api/login", &body))
    };
    let office = Ipv4Addr::new(127, 0, 0, 9);
    // The operator has logged in from the office before.
    let first = op_login(office);
    assert_eq!(first, 200);
    let changes_before = metric(
        &d.metrics(),
        "sharpeyes_state_changes_total{reason=\"\",to=\"online\"}",
    );
    let rss_before = rss_kib(pid);

    // 1. Idle connections that never send a request, from 20 addresses.
    let want = 5000.min(nofile.saturating_sub(200) as usize);
    let idle: Vec<TcpStream> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..want {
            let local = Ipv4Addr::new(127, 0, 2, 1 + (i % 20) as u8);
            if let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_secs(2), connect_from(local, server)).await
            {
                v.push(s);
            }
        }
        v
    });
    // Held idle: a connection is evictable once it has waited a second without a request.
    std::thread::sleep(Duration::from_millis(1500));
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let status = rt.block_on(request(
            Ipv4Addr::new(127, 0, 0, 1),
            server,
            "GET",
            "/healthz",
            "",
        ));
        latencies.push(t.elapsed());
        assert_eq!(status, 200, "/healthz during the flood");
    }
    latencies.sort();
    let m = d.metrics();
    let evicted = metric(&m, "sharpeyes_http_connections_total{result=\"evicted\"}");
    println!(
        "half-open flood: {} idle connections opened (of {want}), {evicted} evicted; /healthz \
         median {:?}, max {:?}; daemon RSS {} KiB -> {} KiB",
        idle.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        rss_before,
        rss_kib(pid)
    );
    assert!(idle.len() >= 1000, "the flood could not even connect");
    assert!(
        evicted > 0.0,
        "waiting connections beyond max_pending are dropped"
    );
    drop(idle);

    // 2. 500 bad logins for the operator's name, in parallel, from 50 addresses.
    let started = Instant::now();
    let statuses: Vec<u16> = rt.block_on(async {
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                let local = Ipv4Addr::new(127, 0, 3, 1 + (i % 50) as u8);
                let body = login("op", &format!("guess-{i}"));
                tokio::spawn(
                    async move { request(local, server, "POST", "/api/login", &body).await },
                )
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    let rss_after = rss_kib(pid);
    println!(
        "login storm: 500 bad logins in {:?}: {} refused as wrong (401), {} throttled (429), {} \
         busy (503), {} failed; daemon RSS {} KiB -> {} KiB",
        started.elapsed(),
        count(401),
        count(429),
        count(503),
        count(0),
        rss_before,
        rss_after
    );
    assert_eq!(count(200), 0);
    assert_eq!(count(0), 0, "every bad login got an answer");
    assert!(
        count(401) <= 250,
        "at most max_failures checked per address"
    );
    assert!(
        rss_after < rss_before + 150 * 1024,
        "memory bounded: {rss_before} KiB -> {rss_after} KiB"
    );

    // 3. The operator still logs in from the office; a stranger's first try for that name is
    //    refused (failures from 50 addresses lock the name, except for known clients).
    let again = op_login(office);
    assert_eq!(again, 200, "the operator is locked out");
    let stranger = op_login(Ipv4Addr::new(127, 0, 4, 1));
    assert_eq!(stranger, 429);

    // 4. Nothing of it reached the cameras.
    assert_eq!(online(&d), 3.0, "a camera went offline");
    let changes_after = metric(
        &d.metrics(),
        "sharpeyes_state_changes_total{reason=\"\",to=\"online\"}",
    );
    assert_eq!(changes_before, changes_after, "a camera changed state");
}
