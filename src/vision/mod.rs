//! Vision: sampled frames, picture-quality diagnosis (完好率) and object detection.

pub mod cover;
pub mod decode;
pub mod detect;
pub mod detect_plan;
pub mod frame;
pub mod image;
pub mod jpeg;
pub mod model;
pub mod quality;
pub mod yuv;
