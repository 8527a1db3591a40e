//! Rules over detections and camera status: zones, schedules, crowding, uncovered dump
//! trucks, camera faults.

pub mod condition;
pub mod config;
pub mod crowding;
mod parse;
pub mod truck;
pub mod zones;
