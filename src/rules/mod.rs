//! Rules over detections and camera status: zones, schedules, crowding, uncovered dump
//! trucks, camera faults.

pub mod config;
pub mod crowding;
pub mod truck;
pub mod zones;
