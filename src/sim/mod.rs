//! Simulated camera fleet (being written).
