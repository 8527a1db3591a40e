//! Configuration: the camera inventory (CSV or TOML), durations and shards: the
//! input every stage reads. The daemon's settings file is `crate::settings`, which sits above
//! the stages whose sections it gathers.

pub mod duration;
pub mod inventory;
pub mod shard;
