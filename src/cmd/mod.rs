//! The subcommands' wiring: one file per `sharpeyes` subcommand. Nothing below `cmd` imports
//! it; each file builds the stages it needs from the settings and connects them.

pub mod check;
pub mod diagnose;
pub mod eval;
pub mod run;
pub mod ticketing;
pub mod windows;
