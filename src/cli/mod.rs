//! One file per subcommand: its arguments (clap) and a `run` that calls the
//! library and prints. `main.rs` only dispatches and maps errors to exit codes.

pub mod changelog;
pub mod demo;
pub mod hotfix;
pub mod plan;
pub mod promote;
pub mod releases;
pub mod risk;
pub mod sandbox;
pub mod serve;
pub mod status;
pub mod version;
pub mod yaml_set;
