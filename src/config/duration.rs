//! Durations in settings, rules and flags: one parser, one bound.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `"10s"`, `"250ms"`, `"5m"`, `"1h"` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?} (use e.g. \"10s\", \"500ms\", \"5m\")"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m, h, d)")),
    };
    duration_from_secs(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

/// The longest duration any setting accepts (about ten years): long enough for any retention
/// or lifetime, short enough that adding it to a clock reading cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 86_400);

/// Seconds as a [`Duration`]: finite, not negative, at most [`MAX_DURATION`]. The one place a
/// number from a config or a flag becomes a duration (`Duration::from_secs_f64` panics on
/// `1e20`).
pub fn duration_from_secs(secs: f64) -> Result<Duration, String> {
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("{secs} is not a non-negative number of seconds"));
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| {
            format!(
                "{secs} s is longer than the limit of {} days",
                MAX_DURATION.as_secs() / 86_400
            )
        })
}

/// Deserializes a duration written as a number of seconds or a text (`"5m"`).
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(n) => duration_from_secs(n).map_err(serde::de::Error::custom),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}
