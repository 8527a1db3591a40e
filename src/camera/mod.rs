//! Camera sessions: opening RTSP with retina, supervising them with backoff, patrol rounds.

pub mod port;
pub mod sampler;
pub mod session;
pub mod settings;
pub mod stats;
pub mod supervisor;
