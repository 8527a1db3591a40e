//! Property tests of what hostile or broken input reaches: the inventory and rules parsers,
//! durations, URL redaction, failure details and the picture-diagnosis entry point. Bounded for
//! CI (256 cases per property, or `PROPTEST_CASES`); a longer run:
//! `PROPTEST_CASES=100000 cargo test --release --test properties`.

use proptest::prelude::*;
use sharpeyes::camera::session::{Failure, MAX_DETAIL, is_local_resource_error};
use sharpeyes::config::duration::{MAX_DURATION, duration_from_secs, parse_duration};
use sharpeyes::config::inventory::{parse_csv, parse_toml};
use sharpeyes::health::status::Reason;
use sharpeyes::redact::url_for_display;
use sharpeyes::rules::config::RulesFile;
use sharpeyes::vision::frame::RgbFrame;
use sharpeyes::vision::quality::{QualityConfig, diagnose};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A password-like secret that cannot occur by chance in the rest of a row or URL.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#%*+.~]{6,18}".prop_map(|s| format!("Pw{s}"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn inventory_parsers_never_panic(text in ".{0,400}") {
        let _ = parse_csv(&text);
        let _ = parse_toml(&text);
    }

    /// A row with cells missing anywhere (shifted) never echoes the password in a rejection,
    /// and a credential-named column is never a label.
    #[test]
    fn shifted_rows_never_show_the_password(
        password in secret(),
        missing in proptest::collection::vec(0usize..10, 0..3),
        mode in prop_oneof![Just("hold"), Just(""), Just("patrol")],
    ) {
        let mut cells: Vec<String> = [
            "cam1", "东门", "rtsp://10.0.0.1:554/live", "admin", &password, "城关镇",
            "交警大队", "1", mode, "true",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for m in &missing {
            if *m < cells.len() {
                cells.remove(*m);
            }
        }
        let csv = format!(
            "id,name,url,username,password,region,unit,class,mode,enabled,pwd\n{},{password}\n",
            cells.join(",")
        );
        let inv = parse_csv(&csv).unwrap();
        for r in &inv.rejected {
            prop_assert!(!r.reason.contains(&password), "{}", r.reason);
        }
        for c in &inv.cameras {
            prop_assert!(!c.labels.contains_key("pwd"));
            let shown_labels = format!("{:?}", c.labels);
            prop_assert!(!shown_labels.contains(&password), "{}", shown_labels);
        }
    }

    #[test]
    fn rules_parser_never_panics(text in ".{0,400}") {
        let _ = RulesFile::parse(&text);
    }

    #[test]
    fn rules_parser_never_panics_on_plausible_tables(
        kind in prop_oneof![Just("crowding"), Just("video_loss"), Just("video_abnormal"), Just("uncovered_truck"), Just("x")],
        key in prop_oneof![Just("min_people"), Just("dwell"), Just("after"), Just("min_score"), Just("zone"), Just("smoothing")],
        value in prop_oneof![Just("1e300".to_string()), Just("-1".to_string()), Just("\"5m\"".to_string()), Just("[[0,0],[1,0]]".to_string()), "[0-9]{1,25}", Just("\"1e20s\"".to_string())],
    ) {
        let text = format!("[[rules]]\nname = \"r\"\nkind = \"{kind}\"\ncameras = [\"*\"]\n{key} = {value}\n");
        let _ = RulesFile::parse(&text);
    }

    #[test]
    fn durations_parse_or_fail_cleanly(text in ".{0,30}", secs in any::<f64>()) {
        if let Ok(d) = parse_duration(&text) {
            prop_assert!(d <= MAX_DURATION);
        }
        match duration_from_secs(secs) {
            Ok(d) => prop_assert!(d <= MAX_DURATION && secs >= 0.0),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn whole_seconds_round_trip(n in 0u64..10_000_000) {
        prop_assert_eq!(parse_duration(&format!("{n}s")).unwrap().as_secs(), n);
        prop_assert_eq!(parse_duration(&format!("{n}ms")).unwrap().as_millis() as u64, n);
    }

    /// No way of writing a password into a camera URL gets it displayed.
    #[test]
    fn urls_never_display_a_password(
        password in secret(),
        host in "[a-z]{1,10}(\\.[a-z]{1,6}){0,2}",
        form in 0usize..5,
    ) {
        let url = match form {
            0 => format!("rtsp://admin:{password}@{host}:554/Streaming/101"),
            1 => format!("rtsp://{host}/live?user=admin&password={password}&ch=1"),
            2 => format!("rtsp://{host}/user=admin_password={password}_channel=1_stream=0.sdp"),
            3 => format!("rtsp://{host}/live?PWD={password}"),
            _ => format!("rtsp://admin:{password}@bad host/x"),
        };
        let shown = url_for_display(&url);
        prop_assert!(!shown.contains(&password), "{} -> {}", url, shown);
    }

    #[test]
    fn failure_details_are_bounded(text in ".{0,1000}") {
        let _ = is_local_resource_error(&text);
        let d = Failure::new(Reason::Protocol, text.clone()).bounded_detail();
        prop_assert!(d.chars().count() <= MAX_DETAIL + 1);
        if text.chars().count() <= MAX_DETAIL {
            prop_assert_eq!(d, text);
        }
    }

    /// Any picture (tiny, flat, noisy, odd-sized) gets a verdict with finite measures.
    #[test]
    fn diagnosis_takes_any_picture(
        w in 1u32..80,
        h in 1u32..60,
        seed in any::<u64>(),
        flat in any::<bool>(),
    ) {
        let mut state = seed | 1;
        let frame = RgbFrame::from_fn(w, h, |_, _| {
            if flat {
                return [(seed % 256) as u8; 3];
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            [state as u8, (state >> 8) as u8, (state >> 16) as u8]
        });
        let d = diagnose(&frame, None, &QualityConfig::default());
        let m = &d.measures;
        for v in [m.mean_luma, m.laplacian_var, m.occluded_fraction, m.luma_std, m.cast_factor, m.chroma_offset] {
            prop_assert!(v.is_finite(), "{:?}", m);
        }
        let again = diagnose(&frame, Some(&d.signature), &QualityConfig::default());
        prop_assert!(again.measures.mean_luma.is_finite());
    }
}
