//! Rules over detections and camera status: zones, schedules, crowding, camera faults (being
//! built).

pub mod config;
pub mod crowding;
pub mod zones;
