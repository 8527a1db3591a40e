//! `/metrics` answers for every valid configuration. Regression: with alert rules loaded and no
//! sink configured (`run --rules r.toml`), the outbox families were empty, the text encoder
//! refused them and every scrape panicked, so Prometheus lost the whole instance.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn metrics_scrape_with_rules_and_no_sink() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(dir.path(), "ms", 2, free_port(), &[]);
    let rules = write_file(dir.path(), "rules.toml", LOST_AFTER_30S);
    let d = Daemon::start(
        dir.path(),
        &sim.inventory,
        &["--rules", rules.to_str().unwrap()],
    );
    d.wait_state("ms0001", "online", None, Duration::from_secs(30));
    for _ in 0..3 {
        let (status, body) = http_get(&format!("{}/metrics", d.base)).expect("an answer");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("sharpeyes_camera_up{"), "{body}");
        // Every family that is announced has a sample (the encoder's rule).
        let announced = body.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert!(announced > 5, "{body}");
    }
    // The daemon lives on.
    assert_eq!(http_get(&format!("{}/healthz", d.base)).unwrap().0, 200);
}
