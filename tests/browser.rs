//! The ops page in headless Chromium (Debian's `chromium`, driven by Playwright for Python)
//! against the real daemon and simulated fleet: `tests/browser/test_page.py`. `scripts/setup.sh`
//! installs chromium (apt) and Playwright (pip, into `target/browser-venv`); set
//! `SHARPEYES_BROWSER_PYTHON` to use another interpreter with Playwright.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn ops_page_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("SHARPEYES_BROWSER_PYTHON").unwrap_or_else(|_| {
        root.join("target/browser-venv/bin/python")
            .display()
            .to_string()
    });
    let chromium =
        std::env::var("SHARPEYES_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&python).exists() && Path::new(&chromium).exists(),
        "the browser tests need {python} (with Playwright) and {chromium}: run scripts/setup.sh"
    );
    let started = Instant::now();
    let log_path =
        std::env::temp_dir().join(format!("sharpeyes-browser-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(&python)
        .arg(root.join("tests/browser/test_page.py"))
        .env("SHARPEYES_BIN", env!("CARGO_BIN_EXE_sharpeyes"))
        .env("SHARPEYES_CHROMIUM", &chromium)
        .current_dir(root)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("cannot start the browser test");
    // Bounded: the script's own waits add up to well under this.
    let deadline = started + Duration::from_secs(420);
    loop {
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    println!("{text}");
    assert!(status.success(), "browser checks failed:\n{text}");
    assert!(text.contains("0 failure(s)"), "{text}");
}
