//! The `Stagecoach-*` trailers the bot writes on commits and tags, and the
//! values of `Stagecoach-Action`: defined once, used by writers and readers,
//! because `git log` of a landscape is the record and both must agree on it.

/// What the commit or tag is: one of [`action`].
pub const ACTION: &str = "Stagecoach-Action";
/// The product PR (`owner/repo#n`) or product tag (`v1.2.0`) it is for.
pub const PRODUCT: &str = "Stagecoach-Product";
/// `component@version`.
pub const COMPONENT: &str = "Stagecoach-Component";
/// Where it came from: the component PRs of a bump, the previous tag, a hotfix's base.
pub const FROM: &str = "Stagecoach-From";
/// The risk level of a CI deploy.
pub const RISK: &str = "Stagecoach-Risk";
/// `i/n`: the wave of a promotion.
pub const WAVE: &str = "Stagecoach-Wave";
/// The commit a rollback undoes.
pub const REVERTS: &str = "Stagecoach-Reverts";
/// Why a promotion went ahead against the policy's rule.
pub const OVERRIDE: &str = "Stagecoach-Override";
/// Who asked for a promotion, an override or a hotfix (a forge login).
pub const REQUESTED_BY: &str = "Stagecoach-Requested-By";
/// The promotion carries a hotfix tag.
pub const HOTFIX: &str = "Stagecoach-Hotfix";
/// What asked for a hotfix (`owner/repo#n` or `by <login>`): its idempotency key.
pub const HOTFIX_FOR: &str = "Stagecoach-Hotfix-For";
/// The head a rebuilt bump branch replaced.
pub const REBUILT_FROM: &str = "Stagecoach-Rebuilt-From";

/// The values of [`ACTION`].
pub mod action {
    /// A component version on a product branch, or on the CI landscape.
    pub const BUMP: &str = "bump";
    /// A product tag on an environment (one wave).
    pub const PROMOTE: &str = "promote";
    /// A revert of an earlier bot commit.
    pub const ROLLBACK: &str = "rollback";
    /// A PR environment created or torn down.
    pub const ENV: &str = "env";
    /// A component or product tag.
    pub const TAG: &str = "tag";
    /// A hotfix tag or its landscape commit.
    pub const HOTFIX: &str = "hotfix";
}
