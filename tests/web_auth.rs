//! Access control of the page and `/api`, against the real daemon on loopback: login, logout,
//! session expiry, CSRF, roles, login throttling, trusted proxy headers and the open loopback
//! mode. (The camera is a closed port: these tests need no simulator.)

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, bin, hash_password, run_ok, write_file};
use serde_json::Value;

/// One HTTP answer.
struct Answer {
    status: u16,
    set_cookie: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn with_headers<B>(
    mut r: ureq::RequestBuilder<B>,
    headers: &[(&str, &str)],
) -> ureq::RequestBuilder<B> {
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let result = match method {
        "GET" => with_headers(agent.get(url), headers).call(),
        "DELETE" => with_headers(agent.delete(url), headers).call(),
        _ => {
            let r = if method == "PUT" {
                agent.put(url)
            } else {
                agent.post(url)
            };
            let r = with_headers(r, headers);
            match body {
                Some(b) => r.content_type("application/json").send(b),
                None => r.send_empty(),
            }
        }
    };
    let mut r = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    Answer {
        status: r.status().as_u16(),
        set_cookie: r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn inventory(dir: &Path) -> std::path::PathBuf {
    write_file(
        dir,
        "cams.csv",
        "id,name,url,region,unit,class\nc1,北门,rtsp://127.0.0.1:1/c1,城关镇,交警大队,1\n",
    )
}

fn daemon_with(dir: &Path, config: &str) -> Daemon {
    let cfg = write_file(dir, "sharpeyes.toml", config);
    Daemon::start(
        dir,
        &inventory(dir),
        &["--config", cfg.to_str().unwrap(), "--sample-interval", "0"],
    )
}

fn users_config(extra: &str) -> String {
    format!(
        "[auth]\n{extra}\n[[auth.users]]\nname = \"op\"\nrole = \"operator\"\npassword_hash = \"{}\"\n\
         [[auth.users]]\nname = \"view\"\nrole = \"viewer\"\npassword_hash = \"{}\"\n",
        hash_password("op-pass-1"),
        hash_password("view-pass-1"),
    )
}

/// `POST /api/login` of `user` with `password`, with no other header.
fn post_login(base: &str, user: &str, password: &str) -> Answer {
    let body = format!(r#"{{"user":"{user}","password":"{password}"}}"#);
    request("POST", &format!("{base}/api/login"), &[], Some(&body))
}

/// `GET base+path` with the session cookie `cookie` (a `Cookie` header value).
fn get_as(base: &str, path: &str, cookie: &str) -> Answer {
    request("GET", &format!("{base}{path}"), &[("Cookie", cookie)], None)
}

/// Logs in; returns the `Cookie` header value and the CSRF token.
fn login(base: &str, user: &str, password: &str) -> (String, String) {
    let a = post_login(base, user, password);
    assert_eq!(a.status, 200, "login {user}: {}", a.body);
    let set = a.set_cookie.clone().expect("a session cookie");
    let pair = set.split(';').next().unwrap().to_string();
    (pair, a.json()["csrf"].as_str().unwrap().to_string())
}

#[test]
fn users_mode_login_roles_csrf_logout() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(dir.path(), &users_config("metrics = \"login\""));
    let base = &d.base;

    // Nobody logged in: JSON 401 for the API and metrics, the login form for the page.
    let a = request("GET", &format!("{base}/api/cameras"), &[], None);
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"], "login required");
    assert_eq!(
        request("GET", &format!("{base}/metrics"), &[], None).status,
        401
    );
    assert_eq!(
        request("GET", &format!("{base}/healthz"), &[], None).status,
        200
    );
    let page = request("GET", &format!("{base}/"), &[], None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("login-form"), "{}", page.body);
    let csp = request("GET", &format!("{base}/"), &[], None);
    assert!(
        csp.body.contains("/assets/login.js"),
        "no inline script: the CSP allows none"
    );
    assert!(!page.body.contains("wall-scroll"));
    let ack = request("POST", &format!("{base}/api/alerts/x/ack"), &[], None);
    assert_eq!(ack.status, 401);

    // A wrong password is refused the same way as an unknown user.
    let bad = post_login(base, "op", "nope");
    assert_eq!(bad.status, 401);
    assert!(bad.set_cookie.is_none());
    let unknown = post_login(base, "ghost", "nope");
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body, bad.body);

    // The cookie: a 256-bit random id, HttpOnly, SameSite=Strict, bounded lifetime.
    let a = post_login(base, "op", "op-pass-1");
    assert_eq!(a.status, 200, "{}", a.body);
    let set = a.set_cookie.clone().unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(set.contains("Max-Age=43200"), "{set}");
    assert!(!set.contains("Secure"), "secure_cookie is off: {set}");
    let id = set.split(';').next().unwrap().split_once('=').unwrap().1;
    assert_eq!(id.len(), 64);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    let info = a.json();
    assert_eq!(info["user"], "op");
    assert_eq!(info["role"], "operator");
    let op_csrf = info["csrf"].as_str().unwrap().to_string();
    assert_eq!(op_csrf.len(), 64);
    let op_cookie = set.split(';').next().unwrap().to_string();
    assert!(!a.body.contains("op-pass-1"));

    let cams = get_as(base, "/api/cameras", &op_cookie);
    assert_eq!(cams.status, 200);
    assert_eq!(cams.json()[0]["id"], "c1");
    let page = request("GET", &format!("{base}/"), &[("Cookie", &op_cookie)], None);
    assert!(page.body.contains("wall-scroll"));
    assert_eq!(get_as(base, "/metrics", &op_cookie).status, 200);
    let s = get_as(base, "/api/session", &op_cookie).json();
    assert_eq!(s["csrf"], op_csrf.as_str());

    // Unsafe methods: operator + the session's CSRF token, nothing less.
    let ack_url = format!("{base}/api/alerts/no-such-alert/ack");
    let no_token = request("POST", &ack_url, &[("Cookie", &op_cookie)], None);
    assert_eq!(no_token.status, 403);
    assert!(no_token.body.contains("CSRF"), "{}", no_token.body);
    let wrong = request(
        "POST",
        &ack_url,
        &[("Cookie", &op_cookie), ("X-CSRF-Token", &"0".repeat(64))],
        None,
    );
    assert_eq!(wrong.status, 403);
    let ok = request(
        "POST",
        &ack_url,
        &[("Cookie", &op_cookie), ("X-CSRF-Token", &op_csrf)],
        None,
    );
    assert_eq!(
        ok.status, 404,
        "past access control to the handler: {}",
        ok.body
    );

    let (view_cookie, view_csrf) = login(base, "view", "view-pass-1");
    assert_ne!(view_csrf, op_csrf);
    let viewer = request(
        "POST",
        &ack_url,
        &[("Cookie", &view_cookie), ("X-CSRF-Token", &view_csrf)],
        None,
    );
    assert_eq!(viewer.status, 403);
    assert!(viewer.body.contains("operator"), "{}", viewer.body);
    // Another session's token does not work.
    let crossed = request(
        "POST",
        &ack_url,
        &[("Cookie", &op_cookie), ("X-CSRF-Token", &view_csrf)],
        None,
    );
    assert_eq!(crossed.status, 403);

    // Logout needs the token, ends the session server-side and clears the cookie.
    let lo = request(
        "POST",
        &format!("{base}/api/logout"),
        &[("Cookie", &view_cookie)],
        None,
    );
    assert_eq!(lo.status, 403);
    let lo = request(
        "POST",
        &format!("{base}/api/logout"),
        &[("Cookie", &view_cookie), ("X-CSRF-Token", &view_csrf)],
        None,
    );
    assert_eq!(lo.status, 204);
    assert!(lo.set_cookie.unwrap().contains("Max-Age=0"));
    let after = get_as(base, "/api/cameras", &view_cookie);
    assert_eq!(after.status, 401, "the old cookie is dead on the server");
    let still = get_as(base, "/api/cameras", &op_cookie);
    assert_eq!(still.status, 200, "other sessions live on");

    let log = std::fs::read_to_string(&d.log).unwrap();
    for secret in ["op-pass-1", "view-pass-1", &op_csrf, id] {
        assert!(!log.contains(secret), "the log leaks {secret}");
    }
}

#[test]
fn sessions_expire_and_failed_logins_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(
        dir.path(),
        &users_config(
            "session_ttl = \"2s\"\nsecure_cookie = true\nmax_failures = 3\nfailure_window = \"1m\"",
        ),
    );
    let base = &d.base;
    let a = post_login(base, "view", "view-pass-1");
    let set = a.set_cookie.unwrap();
    assert!(set.contains("Secure"), "{set}");
    assert!(set.contains("Max-Age=2"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let get = || get_as(base, "/api/wall", &cookie);
    assert_eq!(get().status, 200);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        get().status,
        401,
        "expired on the server, whatever the client keeps"
    );

    for _ in 0..3 {
        let r = post_login(base, "op", "guess");
        assert_eq!(r.status, 401);
    }
    let r = post_login(base, "op", "op-pass-1");
    assert_eq!(
        r.status, 429,
        "blocked even with the right password: {}",
        r.body
    );
}

#[test]
fn proxy_header_mode_trusts_only_configured_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(
        dir.path(),
        "[auth]\nmode = \"proxy\"\n[auth.proxy]\nuser_header = \"X-Remote-User\"\n\
         role_header = \"X-Remote-Role\"\ntrusted = [\"127.0.0.0/8\"]\n",
    );
    let base = &d.base;
    assert_eq!(
        request("GET", &format!("{base}/api/wall"), &[], None).status,
        401
    );
    let op = [("X-Remote-User", "li"), ("X-Remote-Role", "operator")];
    let s = request("GET", &format!("{base}/api/session"), &op, None);
    assert_eq!(s.status, 200, "{}", s.body);
    let s = s.json();
    assert_eq!(s["user"], "li");
    assert_eq!(s["role"], "operator");
    assert_eq!(s["mode"], "proxy");
    let csrf = s["csrf"].as_str().unwrap().to_string();
    let ack_url = format!("{base}/api/alerts/none/ack");
    assert_eq!(request("POST", &ack_url, &op, None).status, 403);
    let with = [op[0], op[1], ("X-CSRF-Token", csrf.as_str())];
    assert_eq!(request("POST", &ack_url, &with, None).status, 404);
    let viewer = [("X-Remote-User", "li"), ("X-Remote-Role", "viewer")];
    let vs = request("GET", &format!("{base}/api/session"), &viewer, None).json();
    let with = [
        viewer[0],
        viewer[1],
        ("X-CSRF-Token", vs["csrf"].as_str().unwrap()),
    ];
    assert_eq!(request("POST", &ack_url, &with, None).status, 403);
    let bogus = [("X-Remote-User", "li"), ("X-Remote-Role", "root")];
    assert_eq!(
        request("GET", &format!("{base}/api/wall"), &bogus, None).status,
        401
    );
    // No login form in proxy mode.
    assert_eq!(post_login(base, "li", "x").status, 404);
    drop(d);

    // The same headers from an address that is not a trusted proxy are ignored.
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(
        dir.path(),
        "[auth]\nmode = \"proxy\"\n[auth.proxy]\nuser_header = \"X-Remote-User\"\n\
         trusted = [\"10.9.9.9\"]\n",
    );
    let r = request(
        "GET",
        &format!("{}/api/wall", d.base),
        &[("X-Remote-User", "li")],
        None,
    );
    assert_eq!(r.status, 401);
}

#[test]
fn open_loopback_mode_serves_anonymous_and_refuses_cross_site_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(dir.path(), "");
    let base = &d.base;
    let s = request("GET", &format!("{base}/api/session"), &[], None);
    assert_eq!(s.status, 200);
    let s = s.json();
    assert_eq!(s["mode"], "open");
    assert_eq!(s["user"], "anonymous");
    let page = request("GET", &format!("{base}/"), &[], None);
    assert!(page.body.contains("wall-scroll"));
    let ack_url = format!("{base}/api/alerts/none/ack");
    // Local scripts (no Origin) post as before; browsers from another site are refused.
    assert_eq!(request("POST", &ack_url, &[], None).status, 404);
    let evil = request("POST", &ack_url, &[("Origin", "http://evil.example")], None);
    assert_eq!(evil.status, 403);
    let site = request("POST", &ack_url, &[("Sec-Fetch-Site", "cross-site")], None);
    assert_eq!(site.status, 403);
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(log.contains("NO LOGIN"), "a loud warning in the log");
}

#[test]
fn a_bad_password_hash_stops_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[auth.users]]\nname = \"op\"\nrole = \"operator\"\npassword_hash = \"plaintext\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args([
            "run",
            "--inventory",
            inventory(dir.path()).to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hash-password"), "{err}");
}

/// Reads an SSE response on a raw connection until the server ends it (last chunk or close);
/// returns what was read and when it ended, or None on timeout.
fn sse_until_closed(base: &str, cookie: &str, deadline: Duration) -> (String, Option<Duration>) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < deadline {
        match s.read(&mut buf) {
            Ok(0) => {
                return (
                    String::from_utf8_lossy(&seen).into(),
                    Some(started.elapsed()),
                );
            }
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                // The end of the chunked body: the server ended the stream (the connection
                // itself may stay open for keep-alive).
                if seen.ends_with(b"\r\n0\r\n\r\n") {
                    return (
                        String::from_utf8_lossy(&seen).into(),
                        Some(started.elapsed()),
                    );
                }
            }
            Err(_) => {}
        }
    }
    (String::from_utf8_lossy(&seen).into(), None)
}

#[test]
fn event_streams_end_at_logout() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(dir.path(), &users_config(""));
    let base = d.base.clone();
    let (cookie, csrf) = login(&base, "view", "view-pass-1");
    let reader = {
        let (base, cookie) = (base.clone(), cookie.clone());
        std::thread::spawn(move || sse_until_closed(&base, &cookie, Duration::from_secs(15)))
    };
    std::thread::sleep(Duration::from_millis(1500));
    let out = request(
        "POST",
        &format!("{base}/api/logout"),
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        None,
    );
    assert_eq!(out.status, 204, "{}", out.body);
    let logged_out = std::time::Instant::now();
    let (seen, ended) = reader.join().unwrap();
    assert!(seen.contains("event: wall"), "the stream was live: {seen}");
    assert!(ended.is_some(), "the stream outlived the logout");
    assert!(logged_out.elapsed() < Duration::from_secs(5));
}

#[test]
fn open_mode_answers_only_to_a_loopback_host() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(dir.path(), "");
    let url = format!("{}/api/cameras", d.base);
    assert_eq!(request("GET", &url, &[], None).status, 200);
    assert_eq!(
        request("GET", &url, &[("Host", "localhost:9090")], None).status,
        200
    );
    // A page that rebinds evil.example to 127.0.0.1 sends its own name.
    let rebound = request("GET", &url, &[("Host", "evil.example:9090")], None);
    assert_eq!(rebound.status, 421, "{}", rebound.body);
}

/// On a network address `/metrics` needs a login by default (it tells which cameras are blind
/// now); a scraper with the configured bearer token reads it without a session.
#[test]
fn metrics_need_a_login_off_loopback_or_the_scrape_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("scrape-token");
    std::fs::write(&token_file, "0123456789abcdef-scraper\n").unwrap();
    let cfg = dir.path().join("sharpeyes.toml");
    std::fs::write(
        &cfg,
        users_config(&format!(
            "scrape_token_file = {:?}",
            token_file.to_str().unwrap()
        )),
    )
    .unwrap();
    let port = common::free_port();
    let log = dir.path().join("daemon.log");
    let child = Command::new(bin())
        .args(["run", "--inventory"])
        .arg(inventory(dir.path()))
        .args(["--listen", &format!("0.0.0.0:{port}"), "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let _d = common::Proc {
        child,
        name: "daemon".into(),
    };
    let base = format!("http://127.0.0.1:{port}");
    common::wait_for(Duration::from_secs(30), "the daemon", || {
        (common::http_get(&format!("{base}/healthz"))?.0 == 200).then_some(())
    });
    let metrics = format!("{base}/metrics");
    assert_eq!(request("GET", &metrics, &[], None).status, 401);
    let wrong = request("GET", &metrics, &[("Authorization", "Bearer nope")], None);
    assert_eq!(wrong.status, 401);
    let scraped = request(
        "GET",
        &metrics,
        &[("Authorization", "Bearer 0123456789abcdef-scraper")],
        None,
    );
    assert_eq!(scraped.status, 200);
    assert!(
        scraped.body.contains("sharpeyes_camera_up"),
        "{}",
        scraped.body
    );
    // The token opens nothing else.
    let api = request(
        "GET",
        &format!("{base}/api/cameras"),
        &[("Authorization", "Bearer 0123456789abcdef-scraper")],
        None,
    );
    assert_eq!(api.status, 401);
    // The warning about cookies without Secure on a network address.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("secure_cookie"), "{text}");
}

/// Maintenance windows (报备) over the API, as ops staff use them from the page: operators
/// declare, edit and delete (recorded as themselves), viewers only read, every change is in
/// the audit trail, bad declarations get a clear 400; the same store is seen by
/// `sharpeyes windows list`.
#[test]
fn maintenance_windows_api_roles_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(dir.path(), &users_config(""));
    let base = &d.base;
    let (op, op_csrf) = login(base, "op", "op-pass-1");
    let (view, view_csrf) = login(base, "view", "view-pass-1");
    let url = format!("{base}/api/maintenance");
    let now = chrono::Utc::now();
    let at = |mins: i64| (now + chrono::Duration::minutes(mins)).to_rfc3339();
    let body = format!(
        r#"{{"cameras": ["c1"], "start": "{}", "end": "{}", "reason": "道路施工停电"}}"#,
        at(-5),
        at(120)
    );
    let as_op = [("cookie", op.as_str()), ("x-csrf-token", op_csrf.as_str())];
    let as_view = [
        ("cookie", view.as_str()),
        ("x-csrf-token", view_csrf.as_str()),
    ];

    // Nothing declared yet; a viewer may not declare.
    let empty = request("GET", &url, &as_view, None);
    assert_eq!((empty.status, empty.body.as_str()), (200, "[]"));
    assert_eq!(request("POST", &url, &as_view, Some(&body)).status, 403);

    let w = request("POST", &url, &as_op, Some(&body));
    assert_eq!(w.status, 201, "{}", w.body);
    let w = w.json();
    let id = w["id"].as_i64().unwrap();
    assert_eq!(w["declared_by"], "op");
    assert_eq!(w["late"], false, "5 minutes back is within the grace");
    assert_eq!(w["cameras"][0], "c1");

    // A group window declared an hour after it started is marked late.
    let late = format!(
        r#"{{"group": {{"by": "region", "value": "城关镇"}}, "start": "{}", "end": "{}", "reason": "杆件更换"}}"#,
        at(-60),
        at(30)
    );
    let lw = request("POST", &url, &as_op, Some(&late));
    assert_eq!(lw.status, 201, "{}", lw.body);
    assert_eq!(lw.json()["late"], true);

    // Bad declarations: a clear 400, nothing stored.
    for (bad, why) in [
        (
            format!(
                r#"{{"cameras": ["c1"], "start": "{}", "end": "{}", "reason": "x"}}"#,
                at(10),
                at(0)
            ),
            "after start",
        ),
        (
            format!(
                r#"{{"cameras": ["c1"], "start": "{}", "end": "{}", "reason": " "}}"#,
                at(0),
                at(10)
            ),
            "reason",
        ),
        (r#"{"cameras": ["c1"]}"#.to_string(), "body must be JSON"),
    ] {
        let a = request("POST", &url, &as_op, Some(&bad));
        assert_eq!(a.status, 400, "{}", a.body);
        assert!(
            a.json()["error"].as_str().unwrap().contains(why),
            "{}",
            a.body
        );
    }

    // Edit (extend the end), then delete; both audited with the actor.
    let edited = body.replace(&at(120), &at(180));
    let e = request("PUT", &format!("{url}/{id}"), &as_op, Some(&edited));
    assert_eq!(e.status, 200, "{}", e.body);
    let end: chrono::DateTime<chrono::Utc> = e.json()["end"].as_str().unwrap().parse().unwrap();
    assert!(
        (end - (now + chrono::Duration::minutes(180)))
            .num_seconds()
            .abs()
            < 2
    );
    assert_eq!(
        request("DELETE", &format!("{url}/{id}"), &as_view, None).status,
        403
    );
    let del = request("DELETE", &format!("{url}/{id}"), &as_op, None);
    assert_eq!(del.status, 200, "{}", del.body);
    assert_eq!(del.json()["deleted_by"], "op");
    assert_eq!(
        request("DELETE", &format!("{url}/{id}"), &as_op, None).status,
        409
    );
    assert_eq!(
        request("GET", &format!("{url}/999"), &as_view, None).status,
        404
    );

    let audit = request("GET", &format!("{url}/{id}/audit"), &as_view, None).json();
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("declare", "op"), ("edit", "op"), ("delete", "op")]
    );
    assert!(audit[1]["before"]["end"].as_str().is_some());

    // Deleted windows are listed only on request.
    let live = request("GET", &url, &as_view, None).json();
    assert_eq!(live.as_array().unwrap().len(), 1);
    let all = request("GET", &format!("{url}?deleted=true"), &as_view, None).json();
    assert_eq!(all.as_array().unwrap().len(), 2);

    // The monthly assessment downloads (the page's XLSX link), for any viewer.
    let m = request(
        "GET",
        &format!("{base}/api/report/month?by=maintainer"),
        &as_view,
        None,
    );
    assert_eq!(m.status, 200, "{}", m.body);
    let m = m.json();
    let this_month = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m")
        .to_string();
    assert_eq!(m["month"], this_month.as_str());
    assert_eq!(m["by"], "maintainer");
    assert_eq!(m["windows"], 1, "the deleted window is left out");
    let x = request(
        "GET",
        &format!("{base}/api/report/month?by=unit&format=xlsx"),
        &as_view,
        None,
    );
    assert_eq!(x.status, 200);
    let bad = request(
        "GET",
        &format!("{base}/api/report/month?month=2026-13"),
        &as_view,
        None,
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("YYYY-MM"), "{}", bad.body);

    // The CLI reads the same store while the daemon runs.
    let out = run_ok(
        Command::new(bin())
            .args(["windows", "list", "--format", "json", "--data-dir"])
            .arg(dir.path().join("data")),
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["reason"], "杆件更换");
}

/// Repair tickets (工单) end to end: a camera down longer than `open_after` opens a ticket for
/// its maintainer, one inside a maintenance window does not; the respond deadline passes and
/// raises an `sla_breach` alert; the ticket events go out as CloudEvents
/// (`cn.sharpeyes.ticket.*`) on the real MQTT broker; a maintainer user sees and acknowledges
/// only its own tickets; KPIs per maintainer.
#[test]
fn repair_tickets_sla_maintainer_role_and_cloudevents() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, port) = common::mosquitto(dir.path());
    let events = common::mqtt_subscriber(port, "tickets-test", "sharpeyes/events");
    // Port 1 refuses: both cameras are down from the start.
    let inv = write_file(
        dir.path(),
        "cams.csv",
        "id,name,url,region,unit,class,maintainer\n\
         c1,北门,rtsp://127.0.0.1:1/c1,城关镇,交警大队,1,华安运维\n\
         c2,南门,rtsp://127.0.0.1:1/c2,城关镇,交警大队,2,天网科技\n",
    );
    let rules = write_file(dir.path(), "rules.toml", common::VIDEO_LOSS_AFTER_1H);
    // c2's outage is planned work, declared before the daemon starts.
    let now = chrono::Utc::now();
    run_ok(
        Command::new(bin())
            .args(["windows", "add", "--camera", "c2", "--reason", "立杆更换"])
            .args(["--by", "op", "--start"])
            .arg((now - chrono::Duration::minutes(1)).to_rfc3339())
            .arg("--end")
            .arg((now + chrono::Duration::hours(1)).to_rfc3339())
            .arg("--data-dir")
            .arg(dir.path().join("data")),
    );
    let config = format!(
        "{}[[auth.users]]\nname = \"m1\"\nrole = \"maintainer\"\nmaintainer = \"华安运维\"\npassword_hash = \"{h}\"\n\
         [[auth.users]]\nname = \"m2\"\nrole = \"maintainer\"\nmaintainer = \"天网科技\"\npassword_hash = \"{h}\"\n\
         [tickets]\nopen_after = \"1s\"\nhold = \"1s\"\nrespond = \"3s\"\nrepair = \"1h\"\nsla = []\n",
        users_config(""),
        h = hash_password("maint-pass-1"),
    );
    let cfg = write_file(dir.path(), "sharpeyes.toml", config);
    let mqtt = format!("mqtt://127.0.0.1:{port}");
    let d = Daemon::start_alerting_with(dir.path(), &inv, &cfg, &rules, &["--mqtt", &mqtt]);
    let base = &d.base;
    let (op, op_csrf) = login(base, "op", "op-pass-1");
    let (m1, m1_csrf) = login(base, "m1", "maint-pass-1");
    let (m2, m2_csrf) = login(base, "m2", "maint-pass-1");
    let (view, view_csrf) = login(base, "view", "view-pass-1");
    let h = |c: &str, t: &str| [("cookie", c.to_string()), ("x-csrf-token", t.to_string())];
    let get = |who: &[(&str, String); 2], path: &str| {
        let hs: Vec<(&str, &str)> = who.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request("GET", &format!("{base}{path}"), &hs, None)
    };
    let post = |who: &[(&str, String); 2], path: &str| {
        let hs: Vec<(&str, &str)> = who.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request("POST", &format!("{base}{path}"), &hs, None)
    };
    let (as_op, as_m1, as_m2, as_view) = (
        h(&op, &op_csrf),
        h(&m1, &m1_csrf),
        h(&m2, &m2_csrf),
        h(&view, &view_csrf),
    );

    // The ticket opens, then misses its 3 s respond deadline.
    let ticket = common::wait_for(Duration::from_secs(30), "a breached ticket for c1", || {
        let list = get(&as_op, "/api/tickets").json();
        list.as_array()?
            .iter()
            .find(|t| t["camera_id"] == "c1" && t["respond_breached"] == true)
            .cloned()
    });
    assert_eq!(ticket["maintainer"], "华安运维");
    assert_eq!(ticket["state"], "open");
    assert_eq!(ticket["reason"], "refused");
    let all = get(&as_op, "/api/tickets").json();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|t| t["camera_id"] != "c2"),
        "c2 is inside a maintenance window: {all}"
    );
    let id = ticket["id"].as_i64().unwrap();

    // Another maintainer sees nothing and cannot acknowledge; a viewer may not either.
    assert_eq!(get(&as_m2, "/api/tickets").body, "[]");
    assert_eq!(post(&as_m2, &format!("/api/tickets/{id}/ack")).status, 404);
    assert_eq!(
        post(&as_view, &format!("/api/tickets/{id}/ack")).status,
        403
    );
    // A maintainer may not declare maintenance windows.
    let hs: Vec<(&str, &str)> = as_m1.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        request("POST", &format!("{base}/api/maintenance"), &hs, Some("{}")).status,
        403
    );
    // Its own maintainer does.
    assert_eq!(
        get(&as_m1, "/api/tickets").json().as_array().unwrap().len(),
        1
    );
    let acked = post(&as_m1, &format!("/api/tickets/{id}/ack"));
    assert_eq!(acked.status, 200, "{}", acked.body);
    let acked = acked.json();
    assert_eq!(
        (acked["state"].as_str(), acked["acked_by"].as_str()),
        (Some("acknowledged"), Some("m1"))
    );

    let kpis = get(&as_m1, "/api/tickets/kpis").json();
    assert_eq!(kpis.as_array().unwrap().len(), 1, "{kpis}");
    assert_eq!(kpis[0]["maintainer"], "华安运维");
    assert_eq!(
        (kpis[0]["opened"].as_u64(), kpis[0]["breached"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(kpis[0]["mean_ack_min"].as_f64().is_some());

    // Low-cardinality ticket metrics.
    let metrics = get(&as_op, "/metrics").body;
    assert!(
        metrics.contains("sharpeyes_tickets{maintainer=\"华安运维\",state=\"acknowledged\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("sharpeyes_tickets_breached{maintainer=\"华安运维\"} 1"));

    // The breach is an alert, and every step went out on MQTT as a CloudEvent.
    let alerts = get(&as_op, "/api/alerts?kind=sla_breach").json();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts[0]["rule"], "sla_respond");
    let mut seen = std::collections::BTreeSet::new();
    let want = [
        "cn.sharpeyes.ticket.opened",
        "cn.sharpeyes.ticket.respond_breached",
        "cn.sharpeyes.ticket.acknowledged",
        "cn.sharpeyes.alert.sla_breach.new",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !want.iter().all(|w| seen.contains(*w)) && std::time::Instant::now() < deadline {
        if let Ok((_, payload)) = events.recv_timeout(Duration::from_millis(500)) {
            let v: Value = serde_json::from_slice(&payload).unwrap();
            if v["type"]
                .as_str()
                .unwrap_or("")
                .starts_with("cn.sharpeyes.ticket.")
            {
                assert_eq!(v["subject"], "c1");
                assert_eq!(v["data"]["id"], id);
            }
            seen.insert(v["type"].as_str().unwrap_or("").to_string());
        }
    }
    for w in want {
        assert!(seen.contains(w), "no {w} on MQTT; saw {seen:?}");
    }
}
