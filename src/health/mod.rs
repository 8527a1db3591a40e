//! Camera health: the status machine, the availability ledger and online-rate maths.

pub mod availability;
pub mod ledger;
pub mod rates;
pub mod status;
