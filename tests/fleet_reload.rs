//! Live reload of the inventory (SIGHUP and file watch): added cameras start, removed ones
//! stop, changed ones restart, unchanged ones keep their status history; a broken file is
//! reported and ignored.

mod common;

use std::time::Duration;

use common::*;

fn rows(sim: &Sim) -> Vec<String> {
    std::fs::read_to_string(&sim.inventory)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_fleet_follows_the_inventory_file() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "r", 4, free_port(), &[]);
    let all = rows(&sim); // header + r0001..r0004
    let inventory = dir.path().join("live.csv");
    std::fs::write(&inventory, all[..4].join("\n") + "\n").unwrap(); // r0001..r0003
    let d = Daemon::start(dir.path(), &inventory, &["--recovery-hold", "1"]);
    for id in ["r0001", "r0002", "r0003"] {
        d.wait_state(id, "online", None, Duration::from_secs(20));
    }
    let since_before = d.cameras()["r0001"]["since"].clone();

    // Remove r0002, add r0004, rename r0003; r0001 untouched. Picked up by the file watch.
    let renamed = all[3].replacen("西城街道 路口 0003", "西城街道 新名字 0003", 1);
    assert_ne!(renamed, all[3], "fixture name changed: {}", all[3]);
    std::fs::write(
        &inventory,
        [all[0].clone(), all[1].clone(), renamed, all[4].clone()].join("\n") + "\n",
    )
    .unwrap();
    d.wait_state("r0004", "online", None, Duration::from_secs(20));
    wait_for(Duration::from_secs(10), "r0002 removed", || {
        let (status, _) = http_get(&format!("{}/api/cameras/r0002", d.base))?;
        (status == 404).then_some(())
    });
    let cams = d.cameras();
    assert_eq!(cams["r0003"]["name"], "西城街道 新名字 0003");
    assert_eq!(
        cams["r0001"]["since"], since_before,
        "unchanged camera restarted"
    );
    assert_eq!(cams.len(), 3);

    // A broken file is ignored: the fleet keeps running as it was.
    std::fs::write(&inventory, "this is not an inventory\n").unwrap();
    d.proc.signal(libc::SIGHUP);
    wait_for(
        Duration::from_secs(10),
        "the rejected reload to be counted",
        || {
            let m = d.metrics();
            m.contains("sharpeyes_inventory_reloads_total{result=\"rejected\"}")
                .then_some(())
        },
    );
    assert_eq!(d.cameras().len(), 3);
    d.wait_state("r0001", "online", None, Duration::from_secs(5));
    let m = d.metrics();
    assert!(
        m.contains("sharpeyes_inventory_reloads_total{result=\"applied\"} 1"),
        "{m}"
    );
}

/// A file cut short, or one that would stop most of the fleet, is refused as a whole; the
/// fleet keeps running as it was until the operator forces the reload (`kill -USR1`).
#[test]
fn a_cut_or_emptied_inventory_stops_nothing_until_forced() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "g", 6, free_port(), &[]);
    let all = rows(&sim); // header + g0001..g0006
    let inventory = dir.path().join("live.csv");
    std::fs::write(&inventory, all.join("\n") + "\n").unwrap();
    let d = Daemon::start(dir.path(), &inventory, &["--recovery-hold", "1"]);
    for id in ["g0001", "g0006"] {
        d.wait_state(id, "online", None, Duration::from_secs(20));
    }
    let rejected = |n: u32| {
        let want = format!("sharpeyes_inventory_reloads_total{{result=\"rejected\"}} {n}");
        wait_for(Duration::from_secs(15), &want.clone(), || {
            d.metrics().contains(&want).then_some(())
        });
    };

    // Cut in the middle of the third row, as a copy interrupted mid-way leaves it.
    let cut = format!("{}\n{}\n{}\n{}", all[0], all[1], all[2], &all[3][..3]);
    std::fs::write(&inventory, cut).unwrap();
    rejected(1);
    assert_eq!(d.cameras().len(), 6, "a cut file stopped cameras");

    // Whole rows, but four of six cameras gone: refused too.
    std::fs::write(
        &inventory,
        [all[0].clone(), all[1].clone(), all[2].clone()].join("\n") + "\n",
    )
    .unwrap();
    rejected(2);
    assert_eq!(d.cameras().len(), 6);
    d.wait_state("g0006", "online", None, Duration::from_secs(5));

    // The operator means it.
    d.proc.signal(libc::SIGUSR1);
    wait_for(Duration::from_secs(10), "the forced reload", || {
        (d.cameras().len() == 2).then_some(())
    });
    assert!(
        d.metrics()
            .contains("sharpeyes_inventory_reloads_total{result=\"applied\"} 1")
    );
}
