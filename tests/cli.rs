//! The command-line contract: `check` and `diagnose` as users and scripts call them.

mod common;

use std::process::Command;

use common::{bin, shard_cameras, write_file};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `sharpeyes ARGS…` and asserts it is refused as a usage error (exit code 2) with an
/// error that contains every one of `needles`.
#[track_caller]
fn refused(args: &[&str], needles: &[&str]) {
    let (code, _, err) = run(args);
    assert_eq!(code, 2, "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn check_reports_bad_rows_and_counts_groups() {
    let dir = tempfile::tempdir().unwrap();
    let inv = write_file(
        dir.path(),
        "cams.csv",
        "id,name,url,username,password,region,unit,class,pole\n\
         c1,人民路口,rtsp://10.0.0.1/s,admin,TOPSECRET,城关镇,交警大队,1,P1\n\
         c2,东门,rtsp://10.0.0.2/s,admin,TOPSECRET,东城街道,交警大队,2,P2\n\
         c3,bad,rtsp://admin:TOPSECRET@10.0.0.3/s,,,东城街道,交警大队,2,\n\
         c1,dup,rtsp://10.0.0.4/s,,,东城街道,交警大队,2,\n",
    );
    let (code, out, err) = run(&["check", "--inventory", inv.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 cameras loaded"), "{out}");
    assert!(out.contains("by region: 东城街道 1, 城关镇 1"), "{out}");
    assert!(
        out.contains("line 4") && out.contains("credentials"),
        "{out}"
    );
    assert!(out.contains("line 5") && out.contains("duplicate"), "{out}");
    assert!(!out.contains("TOPSECRET") && !err.contains("TOPSECRET"));

    let (code, out, _) = run(&["check", "--inventory", inv.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cameras"], 2);
    assert_eq!(v["rejected"].as_array().unwrap().len(), 2);
    assert_eq!(v["groups"]["class"]["1"], 1);
}

#[test]
fn check_fails_only_when_nothing_is_usable() {
    let dir = tempfile::tempdir().unwrap();
    let inv = write_file(dir.path(), "cams.csv", "id,url\n,rtsp://h/1\nx,ftp://h/2\n");
    let (code, out, err) = run(&["check", "--inventory", inv.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no usable camera"), "{err}");
    refused(
        &["check", "--inventory", "/nonexistent.csv"],
        &["cannot read inventory /nonexistent.csv"],
    );
    // `run` refuses the same file with the same clear reason.
    let inv = inv.to_str().unwrap();
    refused(
        &["run", "--inventory", inv, "--listen", "127.0.0.1:0"],
        &["no usable camera"],
    );
}

#[test]
fn bad_config_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let inv = write_file(dir.path(), "cams.csv", "id,url\na,rtsp://127.0.0.1:1/x\n");
    let cfg = write_file(
        dir.path(),
        "sharpeyes.toml",
        "listen = \"127.0.0.1:0\"\n\n[backoff]\nmax = \"forever\"\n",
    );
    let (inv, cfg) = (inv.to_str().unwrap(), cfg.to_str().unwrap());
    refused(
        &["run", "--inventory", inv, "--config", cfg],
        &["line 4", "forever"],
    );
}

#[test]
fn diagnose_prints_the_verdicts_of_images_in_order() {
    let img = "tests/data/images/cctv_t20.png";
    let (code, out, err) = run(&["diagnose", img, img, "--json"]);
    assert_eq!(code, 1, "the second copy is frozen: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["ok"], true, "{v}");
    assert_eq!(v[1]["faults"][0], "frozen", "{v}");
    assert!(v[0]["measures"]["laplacian_var"].as_f64().unwrap() > 100.0);
}

#[test]
fn shards_split_an_inventory_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,url\n");
    for i in 0..600 {
        text.push_str(&format!("c{i:04},rtsp://10.0.{}.{}/s\n", i / 250, i % 250));
    }
    let inv = write_file(dir.path(), "cams.csv", text);
    let inv = inv.to_str().unwrap();
    let owned = |shard: &str| -> Vec<String> {
        let (code, out, err) = run(&["check", "--inventory", inv, "--shard", shard, "--json"]);
        assert_eq!(code, 0, "{err}");
        shard_cameras(&serde_json::from_str(&out).unwrap(), shard)
    };
    let three: Vec<Vec<String>> = (0..3).map(|i| owned(&format!("{i}/3"))).collect();
    let mut all: Vec<String> = three.concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 600, "every camera owned once");
    assert_eq!(three.iter().map(Vec::len).sum::<usize>(), 600);
    let four: Vec<Vec<String>> = (0..4).map(|i| owned(&format!("{i}/4"))).collect();
    let moved = (0..3)
        .map(|i| three[i].iter().filter(|c| !four[i].contains(c)).count())
        .sum::<usize>();
    assert!(
        moved <= 600 / 4 + 40,
        "{moved} of 600 moved going from 3 to 4 shards"
    );
    assert_eq!(moved, four[3].len(), "only the new shard gains cameras");
    refused(
        &["check", "--inventory", inv, "--shard", "3/3"],
        &["0 <= index < count"],
    );
}

#[test]
fn bad_rules_stop_the_daemon_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let inv = write_file(
        dir.path(),
        "cams.csv",
        "id,url\ngate-1,rtsp://127.0.0.1:1/x\n",
    );
    let rules = write_file(
        dir.path(),
        "rules.toml",
        "[[rules]]\nkind = \"crowding\"\ncameras = [\"gate-*\"]\nmin_people = 5\n\n\
         [[rules]]\nkind = \"crowding\"\ncameras = [\"square-*\"]\nmin_people = 5\n",
    );
    let data = dir.path().join("data");
    refused(
        &[
            "run",
            "--inventory",
            inv.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
        ],
        &["line 8", "square-*"],
    );
}
