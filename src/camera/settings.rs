//! The supervisors' sections of the settings file (`[backoff]`, `[patrol]` and the stall and
//! recovery timings), owned by the stage that reads them; `crate::settings` gathers them.

use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::duration;

/// What a camera supervisor needs of the settings (and nothing else: no users, no sinks).
#[derive(Debug, Clone, Default)]
pub struct SupervisorSettings {
    /// No media this long on an open session = `stalled`.
    pub stall_timeout: Duration,
    /// Media must flow this long before an offline camera counts as online again.
    pub recovery_hold: Duration,
    /// A held session's socket is drained this often, every frame there taken at once
    /// (`0`: at every packet). At most a quarter of the stall timeout.
    pub read_pace: Duration,
    /// Reconnect backoff.
    pub backoff: BackoffSettings,
    /// Patrol rounds.
    pub patrol: PatrolSettings,
}

/// Reconnect backoff.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffSettings {
    /// First ceiling of the random delay.
    #[serde(deserialize_with = "duration")]
    pub initial: Duration,
    /// Largest ceiling.
    #[serde(deserialize_with = "duration")]
    pub max: Duration,
    /// First ceiling after a camera refused the credentials (`auth`): cameras lock accounts
    /// after a few failed logins (Hikvision, Dahua), so these are retried in minutes.
    #[serde(deserialize_with = "duration")]
    pub auth_initial: Duration,
    /// Largest ceiling after `auth` failures.
    #[serde(deserialize_with = "duration")]
    pub auth_max: Duration,
    /// Hold-mode session set-ups (DESCRIBE..PLAY) in flight at once, fleet-wide: a switch that
    /// flaps does not send thousands of DESCRIBEs in one burst.
    pub max_concurrent_setups: usize,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            auth_initial: Duration::from_secs(120),
            auth_max: Duration::from_secs(1800),
            max_concurrent_setups: 256,
        }
    }
}

/// Patrol rounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatrolSettings {
    /// Time between the starts of two probes of one camera.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Connect..first keyframe must finish within this, or the probe fails.
    #[serde(deserialize_with = "duration")]
    pub probe_timeout: Duration,
    /// Probes in flight at once.
    pub max_concurrent: usize,
}

impl Default for PatrolSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            probe_timeout: Duration::from_secs(10),
            max_concurrent: 64,
        }
    }
}
