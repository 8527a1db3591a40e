//! 1,000 cameras that stop at once are all reported offline within stall timeout + 1 s (p99),
//! and their reconnects are spread out, not in lockstep.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

const SIMS: usize = 4;
const PER_SIM: usize = 250;
const STALL: f64 = 3.0;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn histogram(title: &str, values: &[f64], bucket: f64) {
    let mut h: BTreeMap<i64, usize> = BTreeMap::new();
    for v in values {
        *h.entry((v / bucket).floor() as i64).or_default() += 1;
    }
    println!("{title}");
    for (b, n) in &h {
        println!(
            "  {:>5.1}-{:<5.1}s {:>5} {}",
            *b as f64 * bucket,
            (*b + 1) as f64 * bucket,
            n,
            "#".repeat(n.div_ceil(10))
        );
    }
}

#[test]
fn a_thousand_cameras_stopping_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..SIMS).map(|_| free_port()).collect();
    let start_sims = |ports: &[u16]| -> Vec<Sim> {
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| Sim::start(dir.path(), &format!("s{i}x"), PER_SIM, *p, &[]))
            .collect()
    };
    let sims = start_sims(&ports);
    let inventory = dir.path().join("fleet.csv");
    let parts: Vec<_> = sims.iter().map(|s| s.inventory.as_path()).collect();
    merge_inventories(&inventory, &parts);
    let d = Daemon::start(
        dir.path(),
        &inventory,
        &[
            "--stall-timeout",
            &STALL.to_string(),
            "--recovery-hold",
            "1",
            "--connect-timeout",
            "3",
        ],
    );
    let n = SIMS * PER_SIM;
    wait_for(Duration::from_secs(180), "1,000 cameras online", || {
        let g = get_json(&format!("{}/api/groups", d.base));
        (g["fleet"]["online"].as_u64() == Some(n as u64)).then_some(())
    });

    // Stop every server at once: sessions stay open, media stops.
    let t0 = Instant::now();
    for s in &sims {
        s.proc.signal(libc::SIGSTOP);
    }
    let mut seen: BTreeMap<String, f64> = BTreeMap::new();
    let deadline = Duration::from_secs_f64(STALL + 15.0);
    while seen.len() < n && t0.elapsed() < deadline {
        let polled = t0.elapsed().as_secs_f64();
        for (id, c) in d.cameras() {
            if c["state"] == "offline" {
                assert_eq!(c["reason"], "stalled", "{id}: {c}");
                seen.entry(id).or_insert(polled);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen.len(), n, "only {} of {n} reported offline", seen.len());
    let mut lat: Vec<f64> = seen.values().copied().collect();
    lat.sort_by(f64::total_cmp);
    let (p50, p99, max) = (
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1],
    );
    println!(
        "offline detection after SIGSTOP of {n} cameras (stall timeout {STALL} s): \
         p50 {p50:.2} s, p99 {p99:.2} s, max {max:.2} s (upper bounds: polled every ~0.1 s + API time)"
    );
    assert!(p99 <= STALL + 1.0, "p99 {p99:.2} s > stall timeout + 1 s");

    // Kill the servers (ports closed: reconnects are refused and back off), then bring them
    // back and see when each camera returns.
    drop(sims);
    std::thread::sleep(Duration::from_secs(8));
    let restarted = Instant::now();
    let restart_wall = chrono::Utc::now();
    let sims = start_sims(&ports);
    let startup = restarted.elapsed().as_secs_f64();
    wait_for(
        Duration::from_secs(180),
        "1,000 cameras back online",
        || {
            let g = get_json(&format!("{}/api/groups", d.base));
            (g["fleet"]["online"].as_u64() == Some(n as u64)).then_some(())
        },
    );
    let back: Vec<f64> = d
        .cameras()
        .values()
        .map(|c| {
            let since: chrono::DateTime<chrono::Utc> =
                c["since"].as_str().unwrap().parse().unwrap();
            (since - restart_wall).num_milliseconds() as f64 / 1000.0
        })
        .collect();
    histogram(
        &format!("recovery after the servers came back (servers took {startup:.1} s to start):"),
        &back,
        1.0,
    );
    let mut sorted = back.clone();
    sorted.sort_by(f64::total_cmp);
    let spread = percentile(&sorted, 0.9) - percentile(&sorted, 0.1);
    let mut buckets: BTreeMap<i64, usize> = BTreeMap::new();
    for v in &back {
        *buckets.entry(v.floor() as i64).or_default() += 1;
    }
    let busiest = *buckets.values().max().unwrap();
    println!("p10..p90 spread {spread:.1} s; busiest second holds {busiest} of {n} reconnects");
    assert!(
        spread >= 2.0,
        "reconnects bunched: p10..p90 spread {spread:.1} s"
    );
    assert!(
        busiest * 3 < n,
        "reconnects in lockstep: {busiest} in one second"
    );
    let m = d.metrics();
    let delays: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("sharpeyes_reconnect_delay_seconds_bucket"))
        .collect();
    println!("backoff delays drawn:\n  {}", delays.join("\n  "));
    drop(sims);
}
