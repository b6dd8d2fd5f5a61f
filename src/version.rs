//! Semantic version bumps (placeholder shape owned by the versioning work; the
//! policy and risk code only need the `Bump` type, defined here exactly as agreed).

use serde::{Deserialize, Serialize};

/// How far a change moves a semantic version, smallest first (so `>=` works).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Patch,
    Minor,
    Major,
}
