//! Camera sessions: opening RTSP with retina, supervising them with backoff, patrol rounds.

pub mod backoff;
pub mod sampler;
pub mod session;
pub mod supervisor;
