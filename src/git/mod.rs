//! Git, the bot's memory: cached clones of the product and landscape repos,
//! commits with `Stagecoach-*` trailers, tags and notes, pushed without force.
//!
//! Everything here is blocking (git2); the engine calls it through
//! `tokio::task::spawn_blocking`.

mod cache;
pub mod history;
pub mod notes;
mod remote;
pub mod trailers;
pub mod workspace;

pub use trailers::Trailers;
pub use workspace::{
    FileChange, GitAuth, Identity, LoggedCommit, Outcome, TagInfo, TreeView, Workspace,
};
