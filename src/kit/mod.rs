//! The one kit the demo and every test play a road with: the bot's config
//! for a sandbox world, a sandbox with the engine (and optionally the bot,
//! or a `serve` child), readers of the forge and the repos, people's steps,
//! and waits tied to the bot's passes instead of the clock.

pub mod config;
pub mod read_forge;
pub mod read_git;
pub mod road;
mod road_waits;
pub mod serve;
pub mod steps;
pub mod wait;

pub use config::{BotConfig, Credentials};
pub use read_git::Repos;
pub use road::{AppSignIn, ERROR_RATE, POLICY_PATH, PolicyEdit, Road, RoadOptions};
pub use serve::{Serve, serve_command, serving_addr};
pub use steps::{HIGH, LOW, MEDIUM};
pub use wait::{Progress, stays, wait_for, wait_passes};
