//! Vision: sampled frames, picture-quality diagnosis (完好率) and, later, detection.

pub mod frame;
pub mod quality;
