//! One file per subcommand: its arguments (clap) and a `run` that calls the
//! library and prints. `main.rs` only dispatches and maps errors to exit codes.

pub mod changelog;
pub mod demo;
pub mod hotfix;
pub mod plan;
pub mod promote;
pub mod releases;
pub mod risk;
pub mod rollback;
pub mod sandbox;
pub mod serve;
pub mod status;
pub mod version;
pub mod yaml_set;

use crate::error::{Error, Result};

/// The async runtime for the commands that talk to the forge.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::world(format!("cannot start the async runtime: {e}")))
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
