//! Stagecoach: a GitOps promotion bot.
//!
//! A functional core (policy, labels, risk, versions, changelogs, the engine's
//! decisions) and a thin shell (git, the forge, the webhook server, the clock).
//! See `docs/architecture.md` for how the pieces fit.

pub mod bot;
pub mod changelog;
pub mod cli;
pub mod config;
pub mod conventional;
pub mod dashboard;
pub mod delivery;
pub mod demo;
pub mod engine;
pub mod error;
pub mod forge;
pub mod git;
pub mod kit;
pub mod labels;
pub mod manifest;
pub mod metrics;
pub mod policy;
pub mod risk;
pub mod sandbox;
pub mod server;
pub mod status;
pub mod version;

pub use error::{Error, Result};
