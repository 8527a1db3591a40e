//! Configuration: the camera inventory (CSV or TOML) and the daemon settings.

pub mod duration;
pub mod inventory;
pub mod settings;
pub mod shard;
