//! sharpeyes: a daemon between thousands of RTSP cameras and the people who answer for them.
//!
//! The data path runs one way (see `docs/architecture.md`): the [`config`] inventory feeds the
//! [`camera`] supervisors, which hold `retina` sessions and report [`health::status::Event`]s;
//! the [`fleet`] applies them to each camera's pure status machine, records transitions in the
//! [`health::ledger`] and serves the live view that [`metrics`] and the [`api`] read.

pub mod alerts;
pub mod assessment;
pub mod backoff;
pub mod camera;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod datadir;
pub mod fdlimit;
pub mod fleet;
pub mod health;
pub mod http;
pub mod install;
pub mod netaddr;
pub mod pipeline;
pub mod queue;
pub mod redact;
pub mod reload;
pub mod report;
pub mod rules;
pub mod settings;
pub mod sim;
pub mod sqlite;
pub mod telemetry;
pub mod vision;
