//! The Prometheus side of deploy/: the rule files pass `promtool` (syntax and the unit tests in
//! deploy/prometheus/rules.test.yml), and a real Prometheus scraping three sharded instances
//! of one fleet sees every camera exactly once and computes the true fleet online rate and
//! 完好率 with the recording rules. Adding a fourth shard moves only the cameras it wins.
//!
//! Needs `promtool` and `prometheus` on PATH (Debian package `prometheus`, installed by
//! scripts/setup.sh). Missing tools fail the test; nothing is skipped.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rules_dir() -> PathBuf {
    repo().join("deploy/prometheus")
}

fn missing_tool(tool: &str, e: &std::io::Error) -> ! {
    panic!(
        "cannot run `{tool}` ({e}): run scripts/setup.sh (it installs the Debian package \
         `prometheus`, which provides prometheus and promtool)"
    )
}

/// Runs a command to completion within `timeout` (killed after it); returns (success, output).
fn run_bounded(tool: &str, args: &[&str], cwd: &Path, timeout: Duration) -> (bool, String) {
    let child = Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| missing_tool(tool, &e));
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => {
            let out = out.unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text)
        }
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet (the
            // waiting thread still holds it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("`{tool} {}` ran past {timeout:?}", args.join(" "));
        }
    }
}

#[test]
fn rule_files_pass_promtool() {
    let dir = rules_dir();
    let t = Duration::from_secs(60);
    for args in [
        &["check", "rules", "recording.rules.yml", "alerts.rules.yml"][..],
        &["test", "rules", "rules.test.yml"][..],
        &["check", "config", "prometheus.yml"][..],
        &["check", "config", "prometheus-shards.yml"][..],
    ] {
        let (ok, out) = run_bounded("promtool", args, &dir, t);
        assert!(ok, "promtool {} failed:\n{out}", args.join(" "));
        println!("promtool {}: ok\n{out}", args.join(" "));
    }
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus over three shards.

/// One series of an instant query's answer: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// A Prometheus server on loopback with its own TSDB, killed when dropped.
struct Prometheus {
    _proc: Proc,
    base: String,
    log: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, targets: &[String]) -> Prometheus {
        let port = free_port();
        let rules = rules_dir();
        let config = dir.join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n  - {}\n\
                 scrape_configs:\n  - job_name: sharpeyes\n    static_configs:\n      - targets: [{}]\n",
                rules.join("recording.rules.yml").display(),
                rules.join("alerts.rules.yml").display(),
                targets.join(", ")
            ),
        )
        .unwrap();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-lifecycle")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| missing_tool("prometheus", &e));
        let p = Prometheus {
            _proc: Proc {
                child,
                name: "prometheus".into(),
            },
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let ready = format!("{}/-/ready", p.base);
        p.wait(
            Duration::from_secs(20),
            "Prometheus to be ready",
            || match http_get(&ready) {
                Some((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        p
    }

    /// Reloads the configuration file after it was rewritten.
    fn reload(&self, dir: &Path, targets: &[String]) {
        let config = dir.join("prometheus.yml");
        let text = std::fs::read_to_string(&config).unwrap();
        let (head, _) = text.split_once("      - targets:").unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        std::fs::write(
            &config,
            format!("{head}      - targets: [{}]\n", targets.join(", ")),
        )
        .unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        let status = agent
            .post(&format!("{}/-/reload", self.base))
            .send_empty()
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        assert_eq!(status, 200, "reloading Prometheus");
    }

    /// An instant query: (labels, value) per series, or why not.
    fn query(&self, q: &str) -> Result<Vec<Sample>, String> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        let mut r = agent
            .get(&format!("{}/api/v1/query", self.base))
            .query("query", q)
            .call()
            .map_err(|e| format!("{q}: {e}"))?;
        let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{q}: {e}: {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{q}: {body}"));
        }
        Ok(v["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("{q}: {body}"))?
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let value = s["value"][1].as_str().unwrap().parse::<f64>().unwrap();
                (labels, value)
            })
            .collect())
    }

    /// The single value of a query that returns one series.
    fn scalar(&self, q: &str) -> Result<f64, String> {
        match self.query(q)?.as_slice() {
            [(_, v)] => Ok(*v),
            other => Err(format!("{q}: {} series: {other:?}", other.len())),
        }
    }

    /// Polls `f` every 250 ms until it is `Ok`; on timeout panics with its last error and the
    /// tail of Prometheus' log.
    fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match f() {
                Ok(v) => return v,
                Err(e) => e,
            };
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last: {last}\n\
                     --- prometheus log tail ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// `sharpeyes check --inventory F --shard I/N --json`: the ids the shard owns.
fn owned(inventory: &Path, shard: &str) -> BTreeSet<String> {
    let (ok, out) = run_bounded(
        bin(),
        &[
            "check",
            "--inventory",
            inventory.to_str().unwrap(),
            "--shard",
            shard,
            "--json",
        ],
        &repo(),
        Duration::from_secs(30),
    );
    assert!(ok, "check --shard {shard}: {out}");
    let json = &out[out.find('{').expect("JSON")..];
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"));
    shard_cameras(&v, shard).into_iter().collect()
}

/// (id, region) of every row of an inventory CSV written by the simulator.
fn inventory_rows(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, region) = (col("id"), col("region"));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[id].to_string(), f[region].to_string())
        })
        .collect()
}

/// (panel title, PromQL) of every query in a dashboard's panels, rows included.
fn collect_queries(panels: &Value, out: &mut Vec<(String, String)>) {
    for p in panels.as_array().into_iter().flatten() {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((p["title"].as_str().unwrap_or("").to_string(), e.to_string()));
            }
        }
        collect_queries(&p["panels"], out);
    }
}

/// camera id → instances exporting `sharpeyes_camera_up` for it.
fn owners(prom: &Prometheus) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (l, _) in prom.query("sharpeyes_camera_up")? {
        m.entry(l["camera"].clone())
            .or_default()
            .push(l["instance"].clone());
    }
    Ok(m)
}

#[test]
fn three_shards_one_fleet_in_prometheus() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    // Two simulated NVRs of 30 cameras, some faulty: offline (not_found, auth, no_video) or
    // online with an unusable picture (black: online but not 完好).
    let offline = [
        "north0004",
        "north0017",
        "south0009",
        "south0023",
        "south0030",
    ];
    let black = ["north0011", "south0002"];
    let north = Sim::start(
        root,
        "north",
        30,
        free_port(),
        &[
            "--fault",
            "north0004=not_found",
            "--fault",
            "north0017=auth",
            "--fault",
            "north0011=black",
        ],
    );
    let south = Sim::start(
        root,
        "south",
        30,
        free_port(),
        &[
            "--fault",
            "south0009=not_found",
            "--fault",
            "south0023=no_video",
            "--fault",
            "south0030=not_found",
            "--fault",
            "south0002=black",
        ],
    );
    let inventory = root.join("fleet.csv");
    merge_inventories(&inventory, &[&north.inventory, &south.inventory]);
    let rows = inventory_rows(&inventory);
    let all: BTreeSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(all.len(), 60);
    let total = all.len();
    let online = total - offline.len();
    let intact = online - black.len();
    let want_online = online as f64 / total as f64;
    let want_intact = intact as f64 / total as f64;

    // Three instances, one inventory, each with its own port and data dir.
    let extra = ["--recovery-hold", "1", "--sample-interval", "3"];
    let start = |i: usize, shard: &str| {
        let d = root.join(format!("shard{i}"));
        std::fs::create_dir_all(&d).unwrap();
        let mut args = vec!["--shard", shard];
        args.extend(extra);
        Daemon::start(&d, &inventory, &args)
    };
    let daemons: Vec<Daemon> = (0..3).map(|i| start(i, &format!("{i}/3"))).collect();
    let addr = |d: &Daemon| d.base.trim_start_matches("http://").to_string();
    let mut targets: Vec<String> = daemons.iter().map(addr).collect();
    let prom = Prometheus::start(root, &targets);
    println!(
        "started sims, 3 daemons and Prometheus in {:?}",
        t0.elapsed()
    );

    // Every camera is exported by exactly one instance, and by the one `check` names.
    let three: Vec<BTreeSet<String>> = (0..3)
        .map(|i| owned(&inventory, &format!("{i}/3")))
        .collect();
    let seen = prom.wait(Duration::from_secs(30), "60 cameras scraped", || {
        let m = owners(&prom)?;
        (m.len() == total && m.values().all(|v| v.len() == 1))
            .then_some(m.clone())
            .ok_or_else(|| format!("{} cameras, owners {m:?}", m.len()))
    });
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), all);
    for (i, d) in daemons.iter().enumerate() {
        let mine: BTreeSet<String> = seen
            .iter()
            .filter(|(_, inst)| inst[0] == addr(d))
            .map(|(c, _)| c.clone())
            .collect();
        assert_eq!(
            mine, three[i],
            "shard {i}/3 exports what check --shard lists"
        );
        assert!(!mine.is_empty(), "shard {i}/3 owns cameras");
    }
    let per_camera = prom
        .query("count by (camera) (sharpeyes_camera_up)")
        .unwrap();
    assert_eq!(per_camera.len(), total);
    assert!(per_camera.iter().all(|(_, n)| *n == 1.0), "{per_camera:?}");
    assert_eq!(
        prom.scalar("count(sharpeyes_camera_up)").unwrap(),
        total as f64
    );
    assert_eq!(
        prom.scalar("count(sharpeyes_shard_info{shards=\"3\"})")
            .unwrap(),
        3.0
    );

    // The recording rules give the true rates once every camera has settled.
    prom.wait(
        Duration::from_secs(40),
        "the true fleet online rate",
        || {
            let got = prom.scalar("sharpeyes:online_ratio:fleet")?;
            (got == want_online)
                .then_some(())
                .ok_or_else(|| format!("{got} != {want_online} ({online}/{total})"))
        },
    );
    assert_eq!(
        prom.scalar("sharpeyes:cameras:fleet").unwrap(),
        total as f64
    );
    assert_eq!(
        prom.scalar("sharpeyes:cameras_online:fleet").unwrap(),
        online as f64
    );
    // Per region, summed over the shards: each region's cameras are spread over all three.
    let mut want_region: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (id, region) in &rows {
        let e = want_region.entry(region.clone()).or_default();
        e.0 += 1;
        if !offline.contains(&id.as_str()) {
            e.1 += 1;
        }
    }
    prom.wait(
        Duration::from_secs(10),
        "the true online rate per region",
        || {
            let got: BTreeMap<String, f64> = prom
                .query("sharpeyes:online_ratio:region")?
                .into_iter()
                .map(|(l, v)| (l["region"].clone(), v))
                .collect();
            let want: BTreeMap<String, f64> = want_region
                .iter()
                .map(|(r, (n, up))| (r.clone(), *up as f64 / *n as f64))
                .collect();
            (got == want)
                .then_some(())
                .ok_or_else(|| format!("{got:?} != {want:?}"))
        },
    );
    // 完好率: the black cameras are online but not intact (their verdict arrives with the
    // first sample; until then an online camera counts as intact, like the daemon does).
    prom.wait(Duration::from_secs(30), "the true fleet 完好率", || {
        let got = prom.scalar("sharpeyes:intact_ratio:fleet")?;
        (got == want_intact)
            .then_some(())
            .ok_or_else(|| format!("{got} != {want_intact} ({intact}/{total})"))
    });
    // The daemons agree, summed over the shards.
    let (mut api_online, mut api_intact, mut api_total) = (0, 0, 0);
    for d in &daemons {
        let g = get_json(&format!("{}/api/groups", d.base));
        api_online += g["fleet"]["online"].as_u64().unwrap() as usize;
        api_intact += g["fleet"]["intact"].as_u64().unwrap() as usize;
        api_total += g["fleet"]["total"].as_u64().unwrap() as usize;
    }
    assert_eq!((api_total, api_online, api_intact), (total, online, intact));
    // The alert rules run too: the faulty cameras (and only they) are pending CameraDown, and
    // the shards are consistent.
    prom.wait(
        Duration::from_secs(10),
        "CameraDown pending for the offline cameras",
        || {
            let down: BTreeSet<String> = prom
                .query("ALERTS{alertname=\"SharpeyesCameraDown\"}")?
                .into_iter()
                .map(|(l, _)| l["camera"].clone())
                .collect();
            let want: BTreeSet<String> = offline.iter().map(|s| s.to_string()).collect();
            (down == want)
                .then_some(())
                .ok_or_else(|| format!("{down:?} != {want:?}"))
        },
    );
    let shard_alerts = prom
        .query("ALERTS{alertname=~\"SharpeyesShard.*|SharpeyesCameraOwnedTwice|SharpeyesInstanceDown\"}")
        .unwrap();
    assert!(shard_alerts.is_empty(), "{shard_alerts:?}");
    println!(
        "3 shards: {online}/{total} online, {intact}/{total} intact, matched in {:?}",
        t0.elapsed()
    );

    // A fourth shard. Going from 3 to 4 instances moves only the cameras the new one wins
    // (about 1/4), and all of them to it.
    let four: Vec<BTreeSet<String>> = (0..4)
        .map(|i| owned(&inventory, &format!("{i}/4")))
        .collect();
    let moved: BTreeSet<String> = (0..3)
        .flat_map(|i| three[i].difference(&four[i]).cloned().collect::<Vec<_>>())
        .collect();
    assert_eq!(moved, four[3], "only the new shard gains cameras");
    for i in 0..3 {
        assert!(four[i].is_subset(&three[i]), "shard {i} gains nothing");
    }
    assert!(
        !moved.is_empty() && moved.len() <= total / 3,
        "{} of {total} cameras moved going from 3 to 4 shards",
        moved.len()
    );
    println!(
        "3 -> 4 shards: {} of {total} cameras move, all to shard 3/4",
        moved.len()
    );
    let d4 = start(3, "3/4");
    targets.push(addr(&d4));
    prom.reload(root, &targets);
    // The new instance exports exactly the moved cameras. The three old ones still run with
    // N=3, so the moved cameras have two owners for now: the rules count them once.
    prom.wait(Duration::from_secs(30), "shard 3/4 scraped", || {
        let m = owners(&prom)?;
        let got: BTreeSet<String> = m
            .iter()
            .filter(|(_, inst)| inst.contains(&addr(&d4)))
            .map(|(c, _)| c.clone())
            .collect();
        (got == moved)
            .then_some(())
            .ok_or_else(|| format!("{got:?} != {moved:?}"))
    });
    prom.wait(
        Duration::from_secs(10),
        "the moved cameras to have two owners",
        || {
            let twice: BTreeSet<String> = prom
                .query("sharpeyes:camera_owners:count > 1")?
                .into_iter()
                .map(|(l, _)| l["camera"].clone())
                .collect();
            (twice == moved)
                .then_some(())
                .ok_or_else(|| format!("{twice:?} != {moved:?}"))
        },
    );
    // Counted once all the same.
    assert_eq!(
        prom.scalar("sharpeyes:cameras:fleet").unwrap(),
        total as f64
    );
    prom.wait(
        Duration::from_secs(30),
        "the fleet rate across the change",
        || {
            let got = prom.scalar("sharpeyes:online_ratio:fleet")?;
            (got == want_online)
                .then_some(())
                .ok_or_else(|| format!("{got} != {want_online}"))
        },
    );
    // 3 distinct indices of N=3 report and 1 of N=4: the mismatch is seen at once (it fires
    // after `for: 5m`).
    prom.wait(
        Duration::from_secs(10),
        "ShardMismatch pending for N=4",
        || {
            let a = prom.query("ALERTS{alertname=\"SharpeyesShardMismatch\"}")?;
            let got: Vec<(String, String)> = a
                .iter()
                .map(|(l, _)| (l["shards"].clone(), l["distinct"].clone()))
                .collect();
            (got == [("4".to_string(), "1".to_string())])
                .then_some(())
                .ok_or_else(|| format!("{a:?}"))
        },
    );
    // Every query of the Grafana dashboard parses and runs (variables filled in as Grafana
    // would), and the fleet panels have data.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/dashboards/sharpeyes.json")).unwrap(),
    )
    .unwrap();
    let mut queries = Vec::new();
    collect_queries(&dashboard["panels"], &mut queries);
    assert!(queries.len() > 20, "{queries:?}");
    for (panel, expr) in &queries {
        let q = expr
            .replace("$region", ".*")
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h");
        let rows = prom
            .query(&q)
            .unwrap_or_else(|e| panic!("dashboard panel {panel:?}: {e}"));
        if q.starts_with("sharpeyes:") {
            assert!(
                !rows.is_empty(),
                "dashboard panel {panel:?}: no data for {q}"
            );
        }
    }
    println!("done in {:?}", t0.elapsed());
    drop(d4);
    drop(daemons);
    drop(prom);
    drop((north, south));
}
