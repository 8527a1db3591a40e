//! The assessment workflow (考核): what ops offices are judged on besides the raw rates.
//!
//! - [`windows`]: maintenance windows (报备) declared for cameras or a group, with their audit
//!   trail, and the excused spans they give each camera; the rates in
//!   [`availability`](crate::health::availability) are then reported both raw and *assessed*
//!   (excused time left out of the denominator).
//!
//! This layer sits above `health` (it reads the inventory's groups and feeds the availability
//! maths) and below `report` and `http`, which show its figures.

pub mod tickets;
pub mod windows;
