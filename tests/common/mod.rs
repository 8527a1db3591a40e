//! Shared harness for integration tests: real processes on loopback, every wait bounded.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sharpeyes")
}

/// Asserts that a finished command exited successfully; the panic shows its stderr.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` to the end and asserts that it succeeded (see [`assert_success`]); its output.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert_success(&out);
    out
}

/// Writes `text` to the file `name` in `dir`; returns the file's path.
pub fn write_file(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `sharpeyes hash-password` with `password` on stdin: the hash, checked to be an argon2id
/// PHC string that does not contain the password.
pub fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(bin())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(password));
    hash
}

/// A multi-threaded tokio runtime with two workers, all drivers on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A TCP port free right now on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `count` consecutive free ports (for `--port-per-camera`); best effort.
pub fn free_port_range(count: u16) -> u16 {
    for _ in 0..50 {
        let base = 20000 + (rand_u16() % 30000);
        if (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range of {count}");
}

fn rand_u16() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (t.subsec_nanos() ^ std::process::id()) as u16
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_for_explained(timeout, what, f, String::new)
}

/// [`wait_for`], with `detail` (a log tail, say) appended to the timeout's panic message.
pub fn wait_for_explained<T>(
    timeout: Duration,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
    detail: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            let detail = detail();
            let sep = if detail.is_empty() { "" } else { ":\n" };
            panic!("timed out after {timeout:?} waiting for {what}{sep}{detail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP agent that returns 4xx/5xx answers instead of failing, with a `timeout` for each
/// whole request (`None`: none).
fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .new_agent()
}

/// GET a URL, returning status and body (no panic on 4xx/5xx).
pub fn http_get(url: &str) -> Option<(u16, String)> {
    let agent = agent(Some(Duration::from_secs(5)));
    let mut r = agent.get(url).call().ok()?;
    let status = r.status().as_u16();
    Some((status, r.body_mut().read_to_string().ok()?))
}

/// GET a URL and return only the status and the body's length (for binary bodies).
pub fn http_status(url: &str) -> Option<(u16, usize)> {
    let agent = agent(Some(Duration::from_secs(5)));
    let mut r = agent.get(url).call().ok()?;
    Some((r.status().as_u16(), r.body_mut().read_to_vec().ok()?.len()))
}

/// GET a URL and parse JSON; panics on failure.
pub fn get_json(url: &str) -> Value {
    let (status, body) = http_get(url).unwrap_or_else(|| panic!("GET {url} failed"));
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// POST a JSON body; returns the status and the body.
pub fn http_post_json(url: &str, body: &str) -> (u16, String) {
    let agent = agent(Some(Duration::from_secs(5)));
    match agent.post(url).content_type("application/json").send(body) {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

/// PUT a plain-text body; returns the status.
pub fn http_put(url: &str, body: &str) -> u16 {
    let agent = agent(Some(Duration::from_secs(5)));
    agent
        .put(url)
        .content_type("text/plain")
        .send(body)
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    /// Wraps `child` as `name` once something accepts connections on loopback `port` (waits
    /// 10 s at most).
    fn listening(child: Child, name: &str, port: u16) -> Proc {
        let p = Proc {
            child,
            name: name.into(),
        };
        wait_for(Duration::from_secs(10), name, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        p
    }

    /// Sends a signal.
    pub fn signal(&self, sig: libc::c_int) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &str, args: &[String], log: &Path) -> Proc {
    spawn_env(name, args, log, &[])
}

fn spawn_env(name: &str, args: &[String], log: &Path, env: &[(&str, &str)]) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(bin())
        .args(args)
        .env("RUST_LOG", "info,retina=warn,ort=warn")
        .envs(env.iter().copied())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Proc {
        child,
        name: name.into(),
    }
}

/// A simulated fleet (`sharpeyes sim`).
pub struct Sim {
    pub proc: Proc,
    pub port: u16,
    pub control: String,
    pub inventory: PathBuf,
}

impl Sim {
    /// Starts `cameras` simulated cameras; `extra` adds flags (e.g. `--port-per-camera`).
    pub fn start(dir: &Path, name: &str, cameras: usize, port: u16, extra: &[&str]) -> Sim {
        Self::start_env(dir, name, cameras, port, extra, &[])
    }

    /// [`Sim::start`] with extra environment variables (e.g. libfaketime for a skewed clock).
    pub fn start_env(
        dir: &Path,
        name: &str,
        cameras: usize,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Sim {
        let control_port = free_port();
        let inventory = dir.join(format!("{name}.csv"));
        let mut args: Vec<String> = [
            "sim",
            "--cameras",
            &cameras.to_string(),
            "--port",
            &port.to_string(),
            "--control",
            &format!("127.0.0.1:{control_port}"),
            "--inventory-out",
            inventory.to_str().unwrap(),
            "--id-prefix",
            name,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = dir.join(format!("{name}.log"));
        let mut proc = spawn_env(name, &args, &log, env);
        let control = format!("http://127.0.0.1:{control_port}");
        // Generous: on 2 cores under the Docker tests a debug simulator can start slowly. A
        // simulator that died (a port taken meanwhile, say) is reported with its log at once.
        let tail = |log: &Path| {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let start = text.len().saturating_sub(2000);
            text.get(start..).unwrap_or(&text).to_string()
        };
        wait_for_explained(
            Duration::from_secs(90),
            &format!("simulator {name} to serve"),
            || {
                if let Ok(Some(status)) = proc.child.try_wait() {
                    panic!(
                        "simulator {name} exited ({status}) before serving:\n{}",
                        tail(&log)
                    );
                }
                (inventory.exists()
                    && http_get(&format!("{control}/healthz")).is_some_and(|r| r.0 == 200))
                .then_some(())
            },
            || tail(&log),
        );
        Sim {
            proc,
            port,
            control,
            inventory,
        }
    }

    /// Two simulated cameras, `v0001` and `v0002`, of which `v0001` answers 404 from the start:
    /// the lost camera of the alert sink tests (see [`v0001_loss_rules`]).
    pub fn start_v0001_lost(dir: &Path) -> Sim {
        Self::start(dir, "v", 2, free_port(), &["--fault", "v0001=not_found"])
    }

    /// Switches a camera's fault; returns the control API's status.
    pub fn fault(&self, id: &str, fault: &str) -> u16 {
        http_put(&format!("{}/cameras/{id}/fault", self.control), fault)
    }
}

/// The daemon (`sharpeyes run`).
pub struct Daemon {
    pub proc: Proc,
    pub base: String,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts the daemon on an inventory with extra flags.
    pub fn start(dir: &Path, inventory: &Path, extra: &[&str]) -> Daemon {
        Self::start_env(dir, inventory, extra, &[])
    }

    /// [`Daemon::start`] with extra environment variables.
    pub fn start_env(dir: &Path, inventory: &Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        let port = free_port();
        let mut args: Vec<String> = [
            "run",
            "--inventory",
            inventory.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.join("data").to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = dir.join(format!("daemon-{n}.log"));
        let proc = spawn_env("daemon", &args, &log, env);
        let base = format!("http://127.0.0.1:{port}");
        wait_for(Duration::from_secs(30), "the daemon to listen", || {
            (http_get(&format!("{base}/healthz"))?.0 == 200).then_some(())
        });
        Daemon { proc, base, log }
    }

    /// [`Daemon::start`] with `--config` [`fast_auth_retry_config`] before `extra`.
    pub fn start_fast_auth(dir: &Path, inventory: &Path, extra: &[&str]) -> Daemon {
        let cfg = fast_auth_retry_config(dir);
        let mut args = vec!["--config", cfg.to_str().unwrap()];
        args.extend_from_slice(extra);
        Self::start(dir, inventory, &args)
    }

    /// A daemon sampling every second with the detector on and the alert rules `rules` (written
    /// to `dir/rules.toml`); `extra` adds flags.
    pub fn start_detecting(dir: &Path, inventory: &Path, rules: &str, extra: &[&str]) -> Daemon {
        let rules = write_file(dir, "rules.toml", rules);
        let mut args = vec![
            "--sample-interval",
            "1",
            "--detect",
            "--rules",
            rules.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Self::start(dir, inventory, &args)
    }

    /// A hold-only daemon (no sampling) with a settings file and a rules file: the alerting
    /// set-up of the sink tests.
    pub fn start_alerting(dir: &Path, inventory: &Path, config: &Path, rules: &Path) -> Daemon {
        Self::start_alerting_with(dir, inventory, config, rules, &[])
    }

    /// [`Daemon::start_alerting`] with `extra` flags (e.g. `--mqtt URL`).
    pub fn start_alerting_with(
        dir: &Path,
        inventory: &Path,
        config: &Path,
        rules: &Path,
        extra: &[&str],
    ) -> Daemon {
        let (config, rules) = (config.to_str().unwrap(), rules.to_str().unwrap());
        let mut args = vec![
            "--config",
            config,
            "--rules",
            rules,
            "--sample-interval",
            "0",
        ];
        args.extend_from_slice(extra);
        Self::start(dir, inventory, &args)
    }

    /// `GET /api/cameras` as (id → camera JSON).
    pub fn cameras(&self) -> std::collections::BTreeMap<String, Value> {
        get_json(&format!("{}/api/cameras", self.base))
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
            .collect()
    }

    /// State and reason of one camera (`("absent", None)` while the daemon does not know it).
    pub fn state(&self, id: &str) -> (String, Option<String>) {
        let (status, body) = http_get(&format!("{}/api/cameras/{id}", self.base))
            .unwrap_or_else(|| panic!("GET camera {id} failed"));
        if status == 404 {
            return ("absent".into(), None);
        }
        let c: Value = serde_json::from_str(&body).unwrap();
        (
            c["state"].as_str().unwrap().to_string(),
            c["reason"].as_str().map(str::to_string),
        )
    }

    /// Waits until camera `id` is in `state` (with `reason` when given).
    pub fn wait_state(&self, id: &str, state: &str, reason: Option<&str>, timeout: Duration) {
        let mut last = None;
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(timeout, &format!("{id} to be {state} {reason:?}"), || {
                let s = self.state(id);
                let hit = s.0 == state && (reason.is_none() || s.1.as_deref() == reason);
                last = Some(s);
                hit.then_some(())
            })
        }));
        if ok.is_err() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "{id}: wanted {state} {reason:?}, last seen {last:?}\n--- daemon log tail ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }

    /// The /metrics text.
    pub fn metrics(&self) -> String {
        http_get(&format!("{}/metrics", self.base)).unwrap().1
    }

    /// `GET /api/cameras/{id}/snapshot.jpg`, asserted to be a 200 `image/jpeg` answer whose body
    /// starts like a JPEG and is over 10 kB (a real picture); the body.
    pub fn snapshot(&self, id: &str) -> Vec<u8> {
        let mut r = agent(None)
            .get(&format!("{}/api/cameras/{id}/snapshot.jpg", self.base))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        let jpeg = r.body_mut().read_to_vec().unwrap();
        assert!(
            jpeg.starts_with(&[0xff, 0xd8]) && jpeg.len() > 10_000,
            "{} bytes",
            jpeg.len()
        );
        jpeg
    }
}

/// A config whose `auth` retries are seconds apart instead of minutes (the default protects
/// real cameras' accounts from lock-out; tests that clear an `auth` fault want it back soon).
pub fn fast_auth_retry_config(dir: &Path) -> PathBuf {
    let path = dir.join("fast-auth-retry.toml");
    std::fs::write(
        &path,
        "[backoff]\nauth_initial = \"1s\"\nauth_max = \"2s\"\n",
    )
    .unwrap();
    path
}

/// Appends rows to an inventory CSV (header already present).
pub fn append_rows(inventory: &Path, rows: &[String]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(inventory)
        .unwrap();
    for r in rows {
        writeln!(f, "{r}").unwrap();
    }
}

/// Combines several inventories into one file (one header).
pub fn merge_inventories(out: &Path, parts: &[&Path]) {
    let mut text = String::new();
    for (i, p) in parts.iter().enumerate() {
        let body = std::fs::read_to_string(p).unwrap();
        let mut lines = body.lines();
        let header = lines.next().unwrap();
        if i == 0 {
            text.push_str(header);
            text.push('\n');
        }
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
    }
    std::fs::write(out, text).unwrap();
}

/// `sharpeyes report --format json --data-dir DATA EXTRA…`, parsed; panics with the error text
/// when the command fails.
pub fn report_json(data_dir: &Path, extra: &[&str]) -> Value {
    let out = Command::new(bin())
        .args(["report", "--format", "json", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sharpeyes report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The row of camera `id` in the `cameras` of a JSON report; panics when it is missing.
pub fn report_camera(report: &Value, id: &str) -> Value {
    report["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing from {report}"))
        .clone()
}

/// The camera ids that `sharpeyes check --shard SHARD --json` (its output, parsed) assigns to
/// the shard, after asserting the output is about `shard`.
pub fn shard_cameras(check: &Value, shard: &str) -> Vec<String> {
    assert_eq!(check["shard"]["shard"], shard);
    check["shard"]["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// A rules file (`dir/rules.toml`) with one critical `video_loss` rule, `loss`, on `v0001`
/// (see [`Sim::start_v0001_lost`]): after 1 s, hold-off 10 s. Returns its path.
pub fn v0001_loss_rules(dir: &Path) -> PathBuf {
    write_file(
        dir,
        "rules.toml",
        "[[rules]]\nname = \"loss\"\nkind = \"video_loss\"\ncameras = [\"v0001\"]\n\
         after = \"1s\"\nhold_off = \"10s\"\nseverity = \"critical\"\n",
    )
}

/// Rules of one `video_loss` rule, `lost`, on every camera after 30 s: rules loaded, and none
/// fires within a short test.
pub const LOST_AFTER_30S: &str =
    "[[rules]]\nname = \"lost\"\nkind = \"video_loss\"\ncameras = [\"*\"]\nafter = \"30s\"\n";

/// Rules of one unnamed `video_loss` rule on every camera after an hour: the tickets' tests,
/// where tickets, not this alert, come first.
pub const VIDEO_LOSS_AFTER_1H: &str =
    "[[rules]]\nkind = \"video_loss\"\ncameras = [\"*\"]\nafter = \"1h\"\n";

/// A new, critical `video_loss` alert `alert-{i}` of camera `camera`, started (and updated) at
/// 1_795_000_000 + `i` seconds, with no evidence and no snapshot.
pub fn video_loss_event(i: u32, camera: &str) -> sharpeyes::alerts::event::AlertEvent {
    use chrono::TimeZone;
    use sharpeyes::alerts::event::{AlertCamera, AlertEvent, AlertKind, Evidence, Phase, Severity};
    let t = chrono::Utc
        .timestamp_opt(1_795_000_000 + i as i64, 0)
        .unwrap();
    AlertEvent {
        alert_id: format!("alert-{i}"),
        seq: 0,
        phase: Phase::New,
        kind: AlertKind::VideoLoss,
        severity: Severity::Critical,
        rule: "video-loss".into(),
        camera: AlertCamera {
            id: camera.into(),
            ..Default::default()
        },
        started_at: t,
        updated_at: t,
        ended_at: None,
        evidence: Evidence::default(),
        snapshot_url: None,
    }
}

/// A mosquitto broker (Debian's, from scripts/setup.sh) on a free loopback port, anonymous,
/// without persistence; killed when the `Proc` drops. Returns it and its port.
pub fn mosquitto(dir: &Path) -> (Proc, u16) {
    let port = free_port();
    let conf = dir.join(format!("mosquitto-{port}.conf"));
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto installed (scripts/setup.sh)");
    (Proc::listening(child, "mosquitto", port), port)
}

/// An MQTT subscriber on `topic` (QoS 1) at the broker on `port`: every message received, as
/// (topic, payload), on the returned channel. It reconnects by itself while the test runs.
pub fn mqtt_subscriber(
    port: u16,
    client_id: &str,
    topic: &str,
) -> std::sync::mpsc::Receiver<(String, Vec<u8>)> {
    let mut opts = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut connection) = rumqttc::Client::new(opts, 64);
    client.subscribe(topic, rumqttc::QoS::AtLeastOnce).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _client = client;
        for ev in connection.iter() {
            match ev {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    rx
}

/// Tansu (vendor/tansu, scripts/fetch-tansu.sh) listening on `listen` and advertising
/// `advertised` (another port where a TLS terminator sits in front of it), output to `log`.
pub fn tansu(listen: u16, advertised: u16, log: &Path) -> Proc {
    tansu_with(listen, advertised, log, &[])
}

/// [`tansu`] with extra broker flags (e.g. `--storage-engine memory://tansu/`).
pub fn tansu_with(listen: u16, advertised: u16, log: &Path, extra: &[&str]) -> Proc {
    assert!(
        Path::new("vendor/tansu/tansu").exists(),
        "vendor/tansu/tansu missing: run scripts/setup.sh (or scripts/fetch-tansu.sh)"
    );
    let (listen_url, advertised_url) = (
        format!("tcp://127.0.0.1:{listen}"),
        format!("tcp://127.0.0.1:{advertised}"),
    );
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new("vendor/tansu/tansu")
        .args(["broker", "--listener-url", &listen_url])
        .args(["--advertised-listener-url", &advertised_url])
        .args(extra)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("vendor/tansu/tansu (scripts/fetch-tansu.sh)");
    Proc::listening(child, "tansu", listen)
}

/// Creates `topic` (one partition) through a client built from `client`, retrying until the
/// broker answers.
#[cfg(feature = "kafka")]
pub fn kafka_create_topic(client: &rdkafka::ClientConfig, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    wait_for(
        Duration::from_secs(20),
        "the Kafka topic to be created",
        || {
            let r = rt.block_on(admin.create_topics(
                &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(5))),
            ));
            r.ok()?.into_iter().all(|x| x.is_ok()).then_some(())
        },
    );
}

/// The first JSON record keyed `key` on partition 0 of `topic`, read from the beginning.
#[cfg(feature = "kafka")]
pub fn kafka_read_keyed(client: &rdkafka::ClientConfig, topic: &str, key: &str) -> Value {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", "e2e")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    wait_for(
        Duration::from_secs(45),
        "the alert on Kafka",
        || match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if m.key() == Some(key.as_bytes()) => {
                Some(serde_json::from_slice(m.payload().unwrap()).unwrap())
            }
            _ => None,
        },
    )
}
