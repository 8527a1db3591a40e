//! `make demo` as a newcomer runs it: `scripts/demo.sh` (what the Makefile target runs after
//! setup and `cargo build`) started unchanged, only its ports and directory moved by the
//! environment variables it documents, with the binary under test. Without extra steps the
//! page answers, the bad inventory row is reported and skipped, the faulty cameras get repair
//! tickets (工单) within the demo's one-minute threshold, and the camera whose clock runs 90 s
//! ahead shows the drift and the `clock_drift` fault.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bin, free_port, free_port_range, get_json, http_get, wait_for};

/// The demo's process group, stopped as Ctrl-C would stop it.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let pgid = self.0.id() as i32;
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        std::thread::sleep(Duration::from_millis(500));
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

#[test]
fn make_demo_shows_tickets_and_a_skewed_camera() {
    let dir = tempfile::tempdir().unwrap();
    let cameras = 28u16; // enough for every fault the script plants (cam0003 … cam0027)
    let rtsp = free_port_range(cameras + 12);
    let control = free_port_range(2);
    let listen = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(dir.path().join("demo.log")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh");
    let demo = Demo(
        Command::new(&script)
            .arg(cameras.to_string())
            .current_dir(std::env::temp_dir())
            .env("DEMO_DIR", dir.path())
            .env("BIN", bin())
            .env("RTSP_PORT", rtsp.to_string())
            .env("CONTROL_PORT", control.to_string())
            .env("LISTEN", &listen)
            .env("RUST_LOG", "info,retina=warn,ort=warn")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .process_group(0)
            .spawn()
            .expect("scripts/demo.sh"),
    );
    let base = format!("http://{listen}");
    let log = || std::fs::read_to_string(dir.path().join("demo.log")).unwrap_or_default();

    wait_for(Duration::from_secs(60), "the demo's page", || {
        http_get(&format!("{base}/"))
            .filter(|(s, body)| *s == 200 && body.contains("<html"))
            .map(|_| ())
    });
    let text = log();
    assert!(
        text.contains("bad-row"),
        "the bad row is not reported:\n{text}"
    );

    // The skewed camera: +90 s within a second, and the `clock_drift` fault.
    let skew = wait_for(
        Duration::from_secs(60),
        "skew0001's drift and fault",
        || {
            let cam = get_json(&format!("{base}/api/cameras"))
                .as_array()?
                .iter()
                .find(|c| c["id"] == "skew0001")?
                .clone();
            let faulty = cam["quality"]["faults"]
                .as_array()?
                .iter()
                .any(|f| f == "clock_drift");
            faulty.then_some(cam)
        },
    );
    let offset = skew["counters"]["clock_offset_seconds"].as_f64().unwrap();
    assert!((offset - 90.0).abs() < 1.0, "skew0001 offset {offset}");
    // The drift is shown; by default (`clock_drift_counts = false`) a usable picture stays 完好.
    assert_eq!(skew["intact"], true, "{skew}");

    // Repair tickets for the dead cameras after the demo's one-minute threshold.
    let tickets = wait_for(
        Duration::from_secs(150),
        "tickets for the faulty cameras",
        || {
            let all = get_json(&format!("{base}/api/tickets"));
            let ids: Vec<String> = all
                .as_array()?
                .iter()
                .map(|t| t["camera_id"].as_str().unwrap_or_default().to_string())
                .collect();
            ["cam0003", "cam0015"]
                .iter()
                .all(|c| ids.iter().any(|i| i == c))
                .then_some(all)
        },
    );
    let t = tickets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["camera_id"] == "cam0003")
        .unwrap();
    assert_eq!(t["state"], "open", "{t}");
    assert!(
        !tickets
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["camera_id"] == "cam0001"),
        "a healthy camera got a ticket: {tickets}"
    );
    println!(
        "demo: {} tickets; skew0001 offset {offset:.2} s",
        tickets.as_array().unwrap().len()
    );
    drop(demo);
}
