//! Alerts over TLS, end to end through `sharpeyes run` with the shipped settings keys: a test
//! CA (openssl) signs a server certificate for 127.0.0.1 and a client certificate, and one
//! `video_loss` alert must reach
//! - a real mosquitto on a TLS listener that requires a client certificate (`mqtts://`,
//!   `[mqtt] ca_file/client_cert/client_key`), read back with `mosquitto_sub` over TLS;
//! - an `https://` webhook receiver (Python's `ssl`) that requires a client certificate
//!   (`[webhook] ca_file/client_cert/client_key`);
//! - (with the `kafka` feature) Kafka over SSL: the Tansu broker behind a TLS terminator
//!   (socat `OPENSSL-LISTEN`, client certificate required) that it advertises, the daemon
//!   using librdkafka's own `security.protocol = "ssl"` options in `[kafka] options`.
//!
//! Also checked: the broker and the receiver refuse a client without a certificate (the
//! daemon got through because of its certificate, not because nothing was checked), and a
//! daemon given a CA that did not sign the broker delivers nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// The test PKI: `ca.pem`, `server.pem`/`server.key` (SAN 127.0.0.1, localhost),
/// `client.pem`/`client.key`, and `other-ca.pem` (a CA that signed nothing here).
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl, scripts/setup.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_pki(root: &Path) -> Pki {
    let dir = root.join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let mut a = vec!["req", "-x509", "-days", "2", "-subj"];
        let subj = format!("/CN=sharpeyes test {ca}");
        a.push(&subj);
        a.extend(ec);
        let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
        a.extend(["-keyout", &key, "-out", &pem]);
        openssl(&dir, &a);
    }
    for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
        let ext = format!("{name}.ext");
        std::fs::write(
            dir.join(&ext),
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n\
                 subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            ),
        )
        .unwrap();
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        let subj = format!("/CN=sharpeyes test {name}");
        let mut a = vec!["req", "-new", "-subj", &subj];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &csr]);
        openssl(&dir, &a);
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
    }
    // mosquitto drops root privileges before it reads its certificates on some builds.
    use std::os::unix::fs::PermissionsExt;
    for p in [root.to_path_buf(), dir.clone()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    Pki { dir }
}

fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Proc {
    let f = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdout(Stdio::from(f.try_clone().unwrap()))
        .stderr(Stdio::from(f))
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e} (scripts/setup.sh installs it)"));
    Proc {
        child,
        name: name.into(),
    }
}

fn wait_port(what: &str, port: u16) {
    wait_for(Duration::from_secs(15), what, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
}

/// mosquitto with one TLS listener that requires a client certificate signed by the CA.
fn mosquitto_tls(dir: &Path, pki: &Pki) -> (Proc, u16) {
    let port = free_port();
    let conf = dir.join("mosquitto-tls.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
             require_certificate true\nallow_anonymous true\npersistence false\n",
            pki.path("ca.pem"),
            pki.path("server.pem"),
            pki.path("server.key")
        ),
    )
    .unwrap();
    let p = spawn(
        "mosquitto",
        Command::new("/usr/sbin/mosquitto").arg("-c").arg(&conf),
        &dir.join("mosquitto.log"),
    );
    wait_port("mosquitto (TLS)", port);
    (p, port)
}

/// `mosquitto_sub` over TLS for one message on `topic`; `with_cert`: present the client cert.
fn mqtt_sub(pki: &Pki, port: u16, topic: &str, with_cert: bool, wait_s: u32) -> Command {
    let mut c = Command::new("mosquitto_sub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "--cafile"])
        .arg(pki.path("ca.pem"))
        .args(["-t", topic, "-C", "1", "-W", &wait_s.to_string(), "-q", "1"]);
    if with_cert {
        c.arg("--cert")
            .arg(pki.path("client.pem"))
            .arg("--key")
            .arg(pki.path("client.key"));
    }
    c
}

/// An HTTPS receiver requiring a client certificate; each POST body is appended to `out`
/// as one line.
fn https_receiver(dir: &Path, pki: &Pki, out: &Path) -> (Proc, u16) {
    let port = free_port();
    let script = r#"
import http.server, ssl, sys
port, ca, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_REQUIRED
srv = http.server.HTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;
    let p = spawn(
        "https receiver",
        Command::new("python3").args([
            "-c",
            script,
            &port.to_string(),
            &pki.path("ca.pem"),
            &pki.path("server.pem"),
            &pki.path("server.key"),
            out.to_str().unwrap(),
        ]),
        &dir.join("receiver.log"),
    );
    wait_port("the https receiver", port);
    (p, port)
}

fn tls_sections(pki: &Pki, mqtt_port: u16, ca: &str) -> String {
    format!(
        "[mqtt]\nurl = \"mqtts://127.0.0.1:{mqtt_port}\"\nca_file = \"{}\"\n\
         client_cert = \"{}\"\nclient_key = \"{}\"\n",
        pki.path(ca),
        pki.path("client.pem"),
        pki.path("client.key"),
    )
}

fn run_daemon(dir: &Path, sim: &Sim, config: &str, rules: &Path) -> Daemon {
    let config_path = write_file(dir, "sharpeyes.toml", config);
    Daemon::start_alerting(dir, &sim.inventory, &config_path, rules)
}

#[cfg(feature = "kafka")]
mod kafka {
    use super::*;
    use rdkafka::ClientConfig;

    /// Tansu behind socat's TLS terminator (client certificate required), which it
    /// advertises; returns both and the TLS bootstrap address.
    pub fn start(dir: &Path, pki: &Pki) -> (Proc, Proc, String) {
        let (plain, tls) = (free_port(), free_port());
        let tansu = tansu(plain, tls, &dir.join("tansu.log"));
        let socat = spawn(
            "socat",
            Command::new("socat").args([
                &format!(
                    "OPENSSL-LISTEN:{tls},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
                    pki.path("server.pem"),
                    pki.path("server.key"),
                    pki.path("ca.pem")
                ),
                &format!("TCP:127.0.0.1:{plain}"),
            ]),
            &dir.join("socat.log"),
        );
        wait_port("socat", tls);
        (tansu, socat, format!("127.0.0.1:{tls}"))
    }

    /// The SSL settings of librdkafka, as `[kafka.options]` and as a test client's config.
    pub fn ssl_options(pki: &Pki) -> Vec<(&'static str, String)> {
        vec![
            ("security.protocol", "ssl".into()),
            ("ssl.ca.location", pki.path("ca.pem")),
            ("ssl.certificate.location", pki.path("client.pem")),
            ("ssl.key.location", pki.path("client.key")),
        ]
    }

    /// A test client that speaks SSL to `brokers`.
    pub fn client(brokers: &str, pki: &Pki) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers);
        for (k, v) in ssl_options(pki) {
            c.set(k, v);
        }
        c
    }
}

#[test]
fn a_video_loss_alert_crosses_every_sink_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (_broker, mqtt_port) = mosquitto_tls(dir.path(), &pki);
    let received = dir.path().join("webhook-received.jsonl");
    let (_receiver, https_port) = https_receiver(dir.path(), &pki, &received);

    // The broker requires a client certificate: without one, nothing is read.
    let refused = mqtt_sub(&pki, mqtt_port, "sharpeyes/events", false, 3)
        .output()
        .unwrap();
    assert!(
        !refused.status.success() && refused.stdout.is_empty(),
        "mosquitto accepted a client without a certificate"
    );
    // Subscribe (with the client certificate) before anything is published.
    let sub = mqtt_sub(&pki, mqtt_port, "sharpeyes/events", true, 90)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut config = tls_sections(&pki, mqtt_port, "ca.pem");
    config.push_str(&format!(
        "[webhook]\nurl = \"https://127.0.0.1:{https_port}/alerts\"\ntimeout = \"3s\"\n\
         ca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client.key"),
    ));
    #[cfg(feature = "kafka")]
    let (_tansu, _socat, brokers) = {
        let (t, s, brokers) = kafka::start(dir.path(), &pki);
        kafka_create_topic(&kafka::client(&brokers, &pki), "tls-alerts");
        config.push_str(&format!(
            "[kafka]\nbrokers = \"{brokers}\"\ntopic = \"tls-alerts\"\ndelivery_timeout = \"10s\"\n\
             [kafka.options]\n"
        ));
        for (k, v) in kafka::ssl_options(&pki) {
            config.push_str(&format!("\"{k}\" = \"{v}\"\n"));
        }
        (t, s, brokers)
    };

    let sim = Sim::start_v0001_lost(dir.path());
    let d = run_daemon(dir.path(), &sim, &config, &v0001_loss_rules(dir.path()));

    let out = sub.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "no alert over mqtts:// (mosquitto_sub: {})",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["subject"], "v0001");
    assert_eq!(ev["data"]["phase"], "new");

    let hook: Value = wait_for(Duration::from_secs(30), "the alert over https://", || {
        let text = std::fs::read_to_string(&received).ok()?;
        serde_json::from_str(text.lines().next()?).ok()
    });
    assert_eq!(hook, ev, "the same CloudEvent at the https receiver");

    #[cfg(feature = "kafka")]
    {
        let k = kafka_read_keyed(&kafka::client(&brokers, &pki), "tls-alerts", "v0001");
        assert_eq!(k, ev, "the same CloudEvent on Kafka over SSL");
    }

    // The receiver requires a client certificate too.
    let bare = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(pki.path("ca.pem"))
        .args(["-X", "POST", "-d", "{}"])
        .arg(format!("https://127.0.0.1:{https_port}/alerts"))
        .output()
        .unwrap();
    assert_ne!(
        String::from_utf8_lossy(&bare.stdout),
        "204",
        "the receiver accepted a client without a certificate"
    );
    let m = d.metrics();
    assert!(
        m.contains("sharpeyes_alert_sink_connected{sink=\"mqtt\"} 1"),
        "mqtt connected over TLS:\n{m}"
    );
    assert!(
        m.contains("sharpeyes_alert_sink_up{sink=\"webhook\"} 1"),
        "webhook up over TLS:\n{m}"
    );
    let log_path = d.log.clone();
    drop(d);
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(!log.contains("PRIVATE KEY"), "a key reached the log");
    assert!(
        !log.contains("in clear"),
        "no plain-text warning on TLS sinks"
    );
}

/// A broker certificate not signed by the configured CA: the daemon keeps the alert queued
/// and reports the sink down; it never falls back to plain text.
#[test]
fn a_broker_signed_by_another_ca_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (_broker, mqtt_port) = mosquitto_tls(dir.path(), &pki);
    let sub = mqtt_sub(&pki, mqtt_port, "sharpeyes/events", true, 20)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let sim = Sim::start_v0001_lost(dir.path());
    let d = run_daemon(
        dir.path(),
        &sim,
        &tls_sections(&pki, mqtt_port, "other-ca.pem"),
        &v0001_loss_rules(dir.path()),
    );
    // The alert exists (the outbox holds it) but is not delivered.
    wait_for(Duration::from_secs(60), "the alert queued for mqtt", || {
        let m = d.metrics();
        let pending = m
            .lines()
            .find_map(|l| l.strip_prefix("sharpeyes_alert_sink_pending{sink=\"mqtt\"} "))?
            .parse::<f64>()
            .ok()?;
        (pending >= 1.0).then_some(())
    });
    let out = sub.wait_with_output().unwrap();
    assert!(
        out.stdout.is_empty(),
        "delivered through an untrusted broker: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m = d.metrics();
    assert!(
        m.contains("sharpeyes_alert_sink_connected{sink=\"mqtt\"} 0"),
        "mqtt reported up with an untrusted broker:\n{m}"
    );
}
