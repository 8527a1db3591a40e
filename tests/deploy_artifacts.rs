//! Every shipped deployment starts: the Dockerfile's CMD, the compose services, the Kubernetes
//! StatefulSet with its ConfigMap and the systemd unit are each run with exactly the command
//! line, environment and config written in the shipped file, parsed from it here (nothing is
//! copied into this test), against a simulated fleet, and must answer `/readyz` with 200.
//!
//! A container's file system is laid out under a temporary root by the runtime stage's `COPY`
//! lines of `deploy/Dockerfile` (the binary under test stands in for the builder's). What
//! changes, and only that: absolute paths are moved under that root (named volumes and tmpfs
//! under it too), listening ports are swapped for free ones (`0.0.0.0` stays `0.0.0.0`, so the
//! access-control rules for a non-loopback listener apply), the compose service name
//! `sharpeyes-sim` resolves to 127.0.0.1, and the processes run from a working directory outside
//! the repository.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Yaml {
    serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A fresh directory outside the repository's working tree (but on the same file system as
/// the binary, so it can be hard-linked).
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("deploy-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

/// Container paths → host paths, longest prefix first; a prefix matches only at the start of
/// a word (after a space, `=`, a quote or the start), so one pass never rewrites its output.
struct Remap(Vec<(String, PathBuf)>);

impl Remap {
    fn new(mut pairs: Vec<(String, PathBuf)>) -> Self {
        pairs.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Remap(pairs)
    }

    fn apply(&self, s: &str) -> String {
        let mut out = String::new();
        let mut i = 0;
        'outer: while i < s.len() {
            let boundary =
                i == 0 || matches!(s.as_bytes()[i - 1], b' ' | b'=' | b'"' | b'\'' | b'\n');
            if boundary {
                for (from, to) in &self.0 {
                    let rest = &s[i..];
                    let end_ok = rest
                        .as_bytes()
                        .get(from.len())
                        .is_none_or(|c| matches!(c, b'/' | b' ' | b'\n' | b'"' | b'\'' | b':'));
                    if rest.starts_with(from.as_str()) && end_ok {
                        out.push_str(to.to_str().unwrap());
                        i += from.len();
                        continue 'outer;
                    }
                }
            }
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
        out
    }
}

/// `deploy/Dockerfile`'s runtime stage, parsed.
struct Image {
    copies: Vec<(Option<String>, String, String)>,
    env: Vec<(String, String)>,
    workdir: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

/// Joins continued lines and returns the final stage's instructions, preceded by those of the
/// stages it is built `FROM` (the runtime stage the default and `prebuilt` targets share).
fn dockerfile() -> Image {
    let text = read("deploy/Dockerfile");
    let mut lines = Vec::new();
    let mut cur = String::new();
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(t);
            lines.push(std::mem::take(&mut cur));
        }
    }
    // Stages as (base, name, instructions).
    let mut stages: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
    for l in lines {
        if let Some(from) = l.strip_prefix("FROM ") {
            let words: Vec<&str> = from.split_whitespace().collect();
            let name = (words.len() == 3 && words[1].eq_ignore_ascii_case("as"))
                .then(|| words[2].to_string());
            stages.push((words[0].to_string(), name, Vec::new()));
        } else if let Some(stage) = stages.last_mut() {
            stage.2.push(l);
        }
    }
    let mut chain = Vec::new();
    let mut at = stages.len() - 1;
    loop {
        chain.push(at);
        let base = &stages[at].0;
        match stages[..at]
            .iter()
            .position(|(_, name, _)| name.as_ref() == Some(base))
        {
            Some(parent) => at = parent,
            None => break,
        }
    }
    let lines: Vec<&String> = chain.iter().rev().flat_map(|&i| &stages[i].2).collect();
    let mut img = Image {
        copies: Vec::new(),
        env: Vec::new(),
        workdir: "/".into(),
        entrypoint: Vec::new(),
        cmd: Vec::new(),
    };
    for l in lines {
        let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
        match op {
            "COPY" => {
                let mut words: Vec<&str> = rest.split_whitespace().collect();
                let from = words
                    .first()
                    .and_then(|w| w.strip_prefix("--from="))
                    .map(str::to_string);
                if from.is_some() {
                    words.remove(0);
                }
                assert_eq!(words.len(), 2, "COPY with one source: {l}");
                img.copies.push((from, words[0].into(), words[1].into()));
            }
            "ENV" => {
                for kv in rest.split_whitespace() {
                    let (k, v) = kv.split_once('=').unwrap();
                    img.env.push((k.into(), v.into()));
                }
            }
            "WORKDIR" => img.workdir = rest.trim().into(),
            "ENTRYPOINT" => img.entrypoint = serde_json::from_str(rest).unwrap(),
            "CMD" => img.cmd = serde_json::from_str(rest).unwrap(),
            _ => {}
        }
    }
    img
}

/// Hard-links (or copies) a file, creating the parent directory.
fn place(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    if std::fs::hard_link(src, dest).is_err() {
        std::fs::copy(src, dest)
            .unwrap_or_else(|e| panic!("{} -> {}: {e}", src.display(), dest.display()));
    }
}

/// Lays the image's files out under `root` by its `COPY` lines. The builder stage's outputs
/// are this build's binary and the library `scripts/fetch-onnxruntime.sh` put in `vendor/`.
fn install(img: &Image, root: &Path) {
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    for (from, src, dest) in &img.copies {
        let sources: Vec<PathBuf> = match (from.as_deref(), src.as_str()) {
            (Some("builder"), "/out/sharpeyes") => vec![PathBuf::from(bin())],
            (Some("builder"), s) => {
                vec![repo().join(s.strip_prefix("/src/").expect("builder path under /src"))]
            }
            (Some(other), _) => panic!("unknown stage {other}"),
            (None, s) if s.contains('*') => {
                let (dir, pat) = s.rsplit_once('/').unwrap();
                let (pre, suf) = pat.split_once('*').unwrap();
                std::fs::read_dir(repo().join(dir))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| {
                        let n = p.file_name().unwrap().to_str().unwrap();
                        n.starts_with(pre) && n.ends_with(suf)
                    })
                    .collect()
            }
            (None, s) => vec![repo().join(s)],
        };
        assert!(!sources.is_empty(), "COPY {src}: nothing matches");
        for s in sources {
            assert!(
                s.exists(),
                "COPY source {} missing (run scripts/setup.sh)",
                s.display()
            );
            if s.is_dir() {
                for e in std::fs::read_dir(&s).unwrap() {
                    let e = e.unwrap().path();
                    place(&e, &at(dest).join(e.file_name().unwrap()));
                }
            } else if dest.ends_with('/') {
                place(&s, &at(dest).join(s.file_name().unwrap()));
            } else {
                place(&s, &at(dest));
            }
        }
    }
}

/// The base remap of an image root: every absolute path lives under it.
fn root_remap(root: &Path, mounts: &[(&str, PathBuf)]) -> Remap {
    let mut pairs: Vec<(String, PathBuf)> = [
        "/usr/local",
        "/etc/sharpeyes",
        "/var/lib/sharpeyes",
        "/tmp",
        "/srv",
    ]
    .iter()
    .map(|p| (p.to_string(), root.join(p.trim_start_matches('/'))))
    .collect();
    for (p, host) in mounts {
        pairs.retain(|(q, _)| q != p);
        pairs.push((p.to_string(), host.clone()));
    }
    for (_, host) in &pairs {
        std::fs::create_dir_all(host).unwrap();
    }
    Remap::new(pairs)
}

/// Starts a process as a container would: its environment (remapped), `PATH` with the image's
/// `/usr/local/bin`, the working directory remapped.
fn start(
    name: &str,
    argv: &[String],
    env: &[(String, String)],
    cwd: &Path,
    root: &Path,
    log: &Path,
) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let path = format!(
        "{}:{}",
        root.join("usr/local/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::fs::create_dir_all(cwd).unwrap();
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_remove("ORT_DYLIB_PATH")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PATH", path)
        .current_dir(cwd)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name} ({argv:?}): {e}"));
    Proc {
        child,
        name: name.into(),
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits for `GET base+path` to answer 200, showing the log on failure.
fn wait_ok(base: &str, path: &str, proc: &mut Proc, log: &Path) {
    for _ in 0..900 {
        if let Some(status) = proc.child.try_wait().unwrap() {
            panic!(
                "{} exited ({status}) before {path} answered 200:\n{}",
                proc.name,
                log_tail(log)
            );
        }
        if http_get(&format!("{base}{path}")).is_some_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} never answered 200 on {path}:\n{}",
        proc.name,
        log_tail(log)
    );
}

/// The generated first login works and `/api` needs it.
fn first_login(base: &str, data_dir: &Path) {
    let password = std::fs::read_to_string(data_dir.join("initial-admin-password"))
        .expect("the first start writes the initial operator's password into the data dir");
    assert_eq!(http_get(&format!("{base}/api/cameras")).unwrap().0, 401);
    let body = serde_json::json!({"user": "admin", "password": password.trim()}).to_string();
    let (status, answer) = http_post_json(&format!("{base}/api/login"), &body);
    assert_eq!(status, 200, "login with the generated password: {answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["role"], "operator");
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dockerfile_cmd_starts_with_the_image_config() {
    let img = dockerfile();
    let dir = scratch();
    let root = dir.path().join("rootfs");
    install(&img, &root);
    let sim = Sim::start(dir.path(), "dk", 3, free_port(), &[]);
    // The documented mount: the inventory at /etc/sharpeyes/cameras.csv.
    let remap = root_remap(&root, &[]);
    std::fs::copy(&sim.inventory, root.join("etc/sharpeyes/cameras.csv")).unwrap();
    let port = free_port();
    let argv: Vec<String> = img
        .entrypoint
        .iter()
        .chain(&img.cmd)
        .map(|a| remap.apply(&a.replace("0.0.0.0:9090", &format!("0.0.0.0:{port}"))))
        .collect();
    assert!(
        argv.iter().any(|a| a == &format!("0.0.0.0:{port}")),
        "CMD listens on 0.0.0.0:9090: {argv:?}"
    );
    let env: Vec<(String, String)> = img
        .env
        .iter()
        .map(|(k, v)| (k.clone(), remap.apply(v)))
        .collect();
    let log = dir.path().join("daemon.log");
    let mut proc = start(
        "docker CMD",
        &argv,
        &env,
        Path::new(&remap.apply(&img.workdir)),
        &root,
        &log,
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&base, "/readyz", &mut proc, &log);
    first_login(&base, &root.join("var/lib/sharpeyes"));
}

#[test]
fn compose_services_start_and_pass_their_healthchecks() {
    let img = dockerfile();
    let compose = yaml("deploy/docker-compose.yml");
    let services = &compose["services"];
    let dir = scratch();
    let root = dir.path().join("rootfs");
    install(&img, &root);
    let volume = |name: &str| dir.path().join("volumes").join(name);
    // A service's mounts: named volumes and tmpfs under the scratch dir.
    let remap_for = |svc: &Yaml, tag: &str| -> Remap {
        let mut mounts: Vec<(&str, PathBuf)> = Vec::new();
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            let v = v.as_str().unwrap();
            let mut parts = v.split(':');
            let (src, dest) = (parts.next().unwrap(), parts.next().unwrap());
            if let Some(file) = src.strip_prefix("./") {
                // A bind mount of a file shipped next to the compose file.
                files.push((dest.to_string(), repo().join("deploy").join(file)));
            } else {
                mounts.push((dest, volume(src)));
            }
        }
        for t in svc["tmpfs"].as_sequence().into_iter().flatten() {
            mounts.push((t.as_str().unwrap(), dir.path().join(format!("tmpfs-{tag}"))));
        }
        let remap = root_remap(&root, &mounts);
        for (dest, src) in files {
            place(&src, Path::new(&remap.apply(&dest)));
        }
        remap
    };
    // A service's `environment`, and compose's `$$` (a literal `$` for the container's shell).
    let service_env = |svc: &Yaml| -> Vec<(String, String)> {
        svc["environment"]
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str().unwrap().into(), v.as_str().unwrap().into()))
            .collect()
    };
    let unescape = |a: String| a.replace("$$", "$");
    let ports = |s: &str, swaps: &[(String, String)]| {
        swaps
            .iter()
            .fold(s.to_string(), |acc, (a, b)| acc.replace(a, b))
    };
    let entry = |svc: &Yaml| -> Vec<String> {
        if svc["entrypoint"].is_sequence() {
            strings(&svc["entrypoint"])
        } else {
            img.entrypoint.clone()
        }
    };

    // The simulator service.
    let sim_svc = &services["sharpeyes-sim"];
    let sim_remap = remap_for(sim_svc, "sim");
    let rtsp = free_port_range(36);
    let control = free_port();
    let sim_swaps = vec![
        ("--port=18600".to_string(), format!("--port={rtsp}")),
        ("0.0.0.0:8555".to_string(), format!("0.0.0.0:{control}")),
    ];
    let sim_argv: Vec<String> = entry(sim_svc)
        .into_iter()
        .chain(strings(&sim_svc["command"]))
        .map(|a| sim_remap.apply(&ports(&a, &sim_swaps)))
        .collect();
    let env: Vec<(String, String)> = img
        .env
        .iter()
        .map(|(k, v)| (k.clone(), sim_remap.apply(v)))
        .collect();
    let cwd = PathBuf::from(sim_remap.apply(&img.workdir));
    let sim_log = dir.path().join("sim.log");
    let mut sim = start(
        "compose sharpeyes-sim",
        &sim_argv,
        &env,
        &cwd,
        &root,
        &sim_log,
    );
    // Its healthcheck, as written (`CMD` form).
    let check = strings(&sim_svc["healthcheck"]["test"]);
    assert_eq!(check[0], "CMD");
    let check: Vec<String> = check[1..].iter().map(|a| sim_remap.apply(a)).collect();
    wait_for(Duration::from_secs(60), "the sim healthcheck", || {
        if let Some(s) = sim.child.try_wait().unwrap() {
            panic!("the simulator exited ({s}):\n{}", log_tail(&sim_log));
        }
        Command::new(&check[0])
            .args(&check[1..])
            .status()
            .unwrap()
            .success()
            .then_some(())
    });

    // The daemon service: `sh -c` with its sed, from the shared volume.
    let svc = &services["sharpeyes"];
    let remap = remap_for(svc, "daemon");
    let port = free_port();
    // No broker here: the daemon's outbox keeps its alerts (the Docker test checks delivery).
    let swaps = vec![
        ("0.0.0.0:9090".to_string(), format!("0.0.0.0:{port}")),
        ("sharpeyes-sim".to_string(), "127.0.0.1".to_string()),
        (
            "mosquitto:1883".to_string(),
            format!("127.0.0.1:{}", free_port()),
        ),
    ];
    let argv: Vec<String> = entry(svc)
        .into_iter()
        .chain(strings(&svc["command"]))
        .map(|a| remap.apply(&unescape(ports(&a, &swaps))))
        .collect();
    assert!(
        argv.last().unwrap().contains("--detect"),
        "the compose daemon detects: {argv:?}"
    );
    let env: Vec<(String, String)> = img
        .env
        .iter()
        .map(|(k, v)| (k.clone(), remap.apply(v)))
        .chain(service_env(svc))
        .collect();
    let log = dir.path().join("daemon.log");
    let mut daemon = start("compose sharpeyes", &argv, &env, &cwd, &root, &log);
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&base, "/readyz", &mut daemon, &log);

    // Its healthcheck, as written: bash's /dev/tcp asks /readyz.
    let check = strings(&svc["healthcheck"]["test"]);
    assert_eq!(check[0], "CMD");
    let check: Vec<String> = check[1..]
        .iter()
        .map(|a| {
            a.replace(
                "/dev/tcp/127.0.0.1/9090",
                &format!("/dev/tcp/127.0.0.1/{port}"),
            )
        })
        .collect();
    let ok = Command::new(&check[0]).args(&check[1..]).status().unwrap();
    assert!(ok.success(), "the compose healthcheck fails: {check:?}");

    // The whole simulated fleet is watched, and /metrics is open to Prometheus.
    let metrics = http_get(&format!("{base}/metrics")).unwrap();
    assert_eq!(metrics.0, 200);
    let watched = metrics
        .1
        .lines()
        .filter(|l| l.starts_with("sharpeyes_camera_up{"))
        .count();
    assert_eq!(watched, 36, "cameras in /metrics");
    first_login(&base, &volume("data"));
}

#[test]
fn kubernetes_statefulset_starts_with_its_configmap() {
    let img = dockerfile();
    let sts = yaml("deploy/kubernetes/statefulset.yaml");
    let cm = yaml("deploy/kubernetes/configmap.yaml");
    let dir = scratch();
    let root = dir.path().join("rootfs");
    install(&img, &root);
    let pod = format!("{}-0", sts["metadata"]["name"].as_str().unwrap());
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    let remap = root_remap(
        &root,
        &[
            ("/etc/sharpeyes", dir.path().join("config")),
            ("/var/lib/sharpeyes", dir.path().join("data")),
            ("/tmp", dir.path().join("tmp")),
        ],
    );
    // The ConfigMap's files, as the projected volume mounts them. Its sample inventory names
    // addresses on a city network that must not be dialled from a test: it is checked with
    // `sharpeyes check` (it parses whole), and the pod watches the simulated fleet instead.
    let data = cm["data"].as_mapping().unwrap();
    for (k, v) in data {
        let path = dir.path().join("config").join(k.as_str().unwrap());
        std::fs::write(&path, v.as_str().unwrap()).unwrap();
    }
    let check = Command::new(bin())
        .args(["check", "--inventory"])
        .arg(dir.path().join("config/cameras.csv"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let sim = Sim::start(dir.path(), "k8s", 6, free_port(), &[]);
    std::fs::copy(&sim.inventory, dir.path().join("config/cameras.csv")).unwrap();

    let port = free_port();
    // Kubernetes writes a literal `$` as `$$` in args.
    let argv: Vec<String> = strings(&container["command"])
        .into_iter()
        .chain(strings(&container["args"]))
        .map(|a| {
            remap.apply(
                &a.replace("$$", "$")
                    .replace("0.0.0.0:9090", &format!("0.0.0.0:{port}")),
            )
        })
        .collect();
    let mut env: Vec<(String, String)> = img
        .env
        .iter()
        .map(|(k, v)| (k.clone(), remap.apply(v)))
        .collect();
    for e in container["env"].as_sequence().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = match (&e["value"], &e["valueFrom"]["fieldRef"]["fieldPath"]) {
            (Yaml::String(v), _) => v.clone(),
            (_, Yaml::String(f)) if f == "metadata.name" => pod.clone(),
            other => panic!("env {name}: unsupported source {other:?}"),
        };
        env.push((name, value));
    }
    let log = dir.path().join("pod.log");
    let cwd = PathBuf::from(remap.apply(&img.workdir));
    let mut proc = start("statefulset pod", &argv, &env, &cwd, &root, &log);
    let base = format!("http://127.0.0.1:{port}");
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let path = container[probe]["httpGet"]["path"].as_str().unwrap();
        wait_ok(&base, path, &mut proc, &log);
    }
    let metrics = http_get(&format!("{base}/metrics")).unwrap().1;
    assert!(
        metrics.contains("sharpeyes_shard_info{shard=\"0\",shards=\"3\"} 1"),
        "the pod takes shard 0 of 3 from its name"
    );
    first_login(&base, &dir.path().join("data"));
}

#[test]
fn systemd_unit_starts_with_its_config() {
    let img = dockerfile();
    let unit = read("deploy/systemd/sharpeyes.service");
    let dir = scratch();
    let root = dir.path().join("rootfs");
    // The unit's install layout is the image's (see its header).
    install(&img, &root);
    let remap = root_remap(&root, &[]);
    std::fs::copy(
        repo().join("deploy/systemd/sharpeyes.toml"),
        root.join("etc/sharpeyes/sharpeyes.toml"),
    )
    .unwrap();
    let sim = Sim::start(dir.path(), "sd", 3, free_port(), &[]);
    std::fs::copy(&sim.inventory, root.join("etc/sharpeyes/cameras.csv")).unwrap();
    let mut service: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in unit.lines().filter(|l| !l.starts_with('#')) {
        if let Some((k, v)) = l.split_once('=') {
            service.entry(k.trim()).or_default().push(v.trim());
        }
    }
    let exec = service["ExecStart"][0];
    let env: Vec<(String, String)> = service["Environment"]
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), remap.apply(v))
        })
        .collect();
    let cwd = PathBuf::from(remap.apply(service["WorkingDirectory"][0]));
    // The unit listens where the config says (127.0.0.1:9090 by default); only the port moves.
    let port = free_port();
    let mut argv: Vec<String> = exec.split_whitespace().map(|a| remap.apply(a)).collect();
    argv.extend(["--listen".to_string(), format!("127.0.0.1:{port}")]);
    let log = dir.path().join("unit.log");
    let mut proc = start("systemd unit", &argv, &env, &cwd, &root, &log);
    wait_ok(
        &format!("http://127.0.0.1:{port}"),
        "/readyz",
        &mut proc,
        &log,
    );
}

/// `--detect`'s model and the ONNX Runtime library are found under the install prefix of the
/// executable, from any working directory and without `ORT_DYLIB_PATH`.
#[test]
fn installed_binary_finds_its_model_and_library_from_anywhere() {
    let img = dockerfile();
    let dir = scratch();
    let root = dir.path().join("rootfs");
    install(&img, &root);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = Command::new(root.join("usr/local/bin/sharpeyes"))
        .args(["detect", "--json"])
        .arg(repo().join("tests/data/images/person.jpg"))
        .env_remove("ORT_DYLIB_PATH")
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "detect from {}: {}",
        elsewhere.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"person\""),
        "a person in person.jpg: {text}"
    );
}
