//! The policy: every rule the bot decides by (label names, risk weights and
//! thresholds, environments and their gates, who may approve), as typed data.
//!
//! A policy is read from YAML, refused as a whole if anything in it is wrong,
//! and then trusted: the engine never re-checks it. Serde defaults equal the
//! commented `policies/default.yaml`, so a file only says what it changes.
//! Errors name `FILE:LINE:COL`, the key path and what was expected, because the
//! person reading them is editing that file.

mod de;
mod locate;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::version::Bump;

pub use locate::{KeyPath, Seg};

/// The commented default policy, shipped inside the binary.
const BUILTIN_YAML: &str = include_str!("../../policies/default.yaml");

/// The bot's rules. Field order follows the default file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub labels: LabelNames,
    /// Size names, ordered small → large; risk scales linearly over them.
    pub sizes: Vec<String>,
    pub risk: RiskPolicy,
    pub versioning: Versioning,
    /// In road order: an environment may only follow one listed before it.
    pub environments: Vec<Environment>,
    pub people: People,
    pub templates: Templates,
    /// Freeze windows: when promotions to some environments wait.
    pub freezes: Vec<Freeze>,
}

/// A freeze window: from each time `cron` fires (in `timezone`) for
/// `duration`, promotions to `environments` wait — except hotfix tags
/// (cut and promoted by people the policy allows) and promotions with an
/// override reason, which the record keeps.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// A name people recognise (`weekend`, `black-friday`), shown in waits.
    pub name: String,
    /// Five-field cron: when each window starts, read in `timezone`.
    #[serde(deserialize_with = "de::cron")]
    pub cron: String,
    /// How long each window lasts (elapsed time, so a DST change inside a
    /// window neither adds nor takes an hour).
    #[serde(deserialize_with = "de::duration")]
    pub duration: Duration,
    /// An IANA time zone (`Europe/Berlin`); UTC when left out.
    #[serde(default = "default_timezone", deserialize_with = "de::timezone")]
    pub timezone: chrono_tz::Tz,
    /// The environments whose promotions wait (names from `environments`).
    pub environments: Vec<String>,
}

fn default_timezone() -> chrono_tz::Tz {
    chrono_tz::UTC
}

/// Label formats, each with exactly one placeholder (except `toggle`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelNames {
    pub component: String,
    pub change: String,
    pub coverage: String,
    pub functional: String,
    pub risk: String,
    pub hotfix: String,
    pub toggle: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskPolicy {
    pub weights: RiskWeights,
    pub levels: RiskThresholds,
    pub auto_merge: Vec<RiskLevel>,
    /// Levels whose product PR waits for an approval by `people.approvers`.
    pub approval: Vec<RiskLevel>,
}

/// Relative weight of each factor; the score is normalised by their sum, so
/// only the proportions matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskWeights {
    #[serde(deserialize_with = "de::weight")]
    pub component: u32,
    #[serde(deserialize_with = "de::weight")]
    pub change: u32,
    #[serde(deserialize_with = "de::weight")]
    pub coverage: u32,
    #[serde(deserialize_with = "de::weight")]
    pub bump: u32,
}

impl RiskWeights {
    pub fn total(&self) -> u32 {
        self.component
            .saturating_add(self.change)
            .saturating_add(self.coverage)
            .saturating_add(self.bump)
    }
}

/// Score thresholds: `score >= medium` is medium, `score >= high` is high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskThresholds {
    #[serde(deserialize_with = "de::threshold")]
    pub medium: u32,
    #[serde(deserialize_with = "de::threshold")]
    pub high: u32,
}

impl RiskThresholds {
    /// The level of a score; monotone in the score.
    pub fn level(&self, score: u32) -> RiskLevel {
        if score >= self.high {
            RiskLevel::High
        } else if score >= self.medium {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 3] = [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RiskLevel {
    type Err = ();

    /// Case-insensitive, because people type labels by hand.
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Versioning {
    /// What the product's release tags start with (`v` in `v1.4.2`).
    pub tag_prefix: String,
    /// What component release tags start with; `None` means `tag_prefix`.
    /// Read through [`Policy::component_tag_prefix`].
    pub component_tag_prefix: Option<String>,
    /// Per component name, a prefix of its own (a repository that holds and
    /// tags several components: `payments-v`), over `component_tag_prefix`.
    pub component_tag_prefixes: BTreeMap<String, String>,
    /// Conventional-commit type → bump. A breaking change (`!` or
    /// `BREAKING CHANGE:`) is always major and needs no entry.
    pub bumps: BTreeMap<String, Bump>,
    pub tagging: Tagging,
}

/// Who creates a component's semver tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tagging {
    /// The component's own pipeline tags; the bot waits for the tag.
    #[default]
    Component,
    /// The bot computes the next version from conventional commits and tags.
    Bot,
}

/// One stop on the road (ci, staging, canary, prod) and how changes reach it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub name: String,
    /// `owner/name` of the landscape repository.
    #[serde(deserialize_with = "de::repo")]
    pub repo: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    pub follows: Follows,
    #[serde(default)]
    pub clusters: Vec<String>,
    /// Filled with one wave of all clusters when left out.
    #[serde(default)]
    pub waves: Vec<Vec<String>>,
    #[serde(default = "default_files")]
    pub files: Vec<FileTarget>,
    #[serde(default)]
    pub health: Option<HealthSource>,
    #[serde(default)]
    pub smoke: Option<CommandGate>,
    #[serde(default)]
    pub pr_envs: Option<String>,
    #[serde(default)]
    pub when: Option<When>,
    #[serde(default)]
    pub stability: Option<Stability>,
    #[serde(default)]
    pub manual: bool,
    #[serde(default, deserialize_with = "de::duration")]
    pub soak: Duration,
    /// How many product PRs this environment tests at once (CI), and which
    /// component sizes are core and run alone.
    #[serde(default)]
    pub concurrency: Concurrency,
}

/// Parallel roads on one environment: everything runs side by side up to
/// `max`; a change to a core component (its `component:` size is in
/// `alone`) runs alone, as seed 004 asks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Concurrency {
    pub max: usize,
    pub alone: Vec<String>,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self {
            max: 4,
            alone: vec!["XL".into()],
        }
    }
}

/// What feeds an environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum Follows {
    /// Each open product PR, one component at a time (`product-prs`).
    ProductPrs,
    /// Product tags as they are made (`product-tags`).
    ProductTags,
    /// Product tags whose stability score passed the KPI (`releases`).
    Releases,
    /// Whatever runs in the named, earlier environment.
    Environment(String),
}

impl Follows {
    pub const PRODUCT_PRS: &'static str = "product-prs";
    pub const PRODUCT_TAGS: &'static str = "product-tags";
    pub const RELEASES: &'static str = "releases";

    /// Whether an environment name would read as one of the keywords.
    pub fn is_keyword(name: &str) -> bool {
        [Self::PRODUCT_PRS, Self::PRODUCT_TAGS, Self::RELEASES].contains(&name)
    }
}

impl From<String> for Follows {
    fn from(s: String) -> Follows {
        match s.as_str() {
            Self::PRODUCT_PRS => Follows::ProductPrs,
            Self::PRODUCT_TAGS => Follows::ProductTags,
            Self::RELEASES => Follows::Releases,
            _ => Follows::Environment(s),
        }
    }
}

impl fmt::Display for Follows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Follows::ProductPrs => Self::PRODUCT_PRS,
            Follows::ProductTags => Self::PRODUCT_TAGS,
            Follows::Releases => Self::RELEASES,
            Follows::Environment(name) => name,
        })
    }
}

/// Where a component's version lives in a landscape: `{cluster}` and
/// `{component}` are replaced.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTarget {
    pub path: String,
    pub key: String,
}

/// How the bot learns whether a deployment is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "de::HealthFile")]
pub enum HealthSource {
    /// A command that exits 0 when healthy (`{component}`, `{cluster}`,
    /// `{version}` are passed as environment variables).
    Command { command: String, timeout: Duration },
    /// An Argo CD application's health and sync status.
    Argocd {
        url: String,
        app: String,
        token_env: Option<String>,
        timeout: Duration,
    },
    /// A commit status / check run on the landscape commit.
    CommitStatus { context: String, timeout: Duration },
}

impl HealthSource {
    pub fn timeout(&self) -> Duration {
        match self {
            HealthSource::Command { timeout, .. }
            | HealthSource::Argocd { timeout, .. }
            | HealthSource::CommitStatus { timeout, .. } => *timeout,
        }
    }
}

/// A command that must exit 0 within `timeout` (the smoke gate).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandGate {
    pub command: String,
    #[serde(default = "default_timeout", deserialize_with = "de::duration")]
    pub timeout: Duration,
}

/// When a product tag goes to this environment without being asked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    #[serde(default)]
    pub min_bump: Option<Bump>,
    /// Five-field cron (minute hour day-of-month month day-of-week), UTC.
    #[serde(default, deserialize_with = "de::optional_cron")]
    pub schedule: Option<String>,
}

/// How a product tag's stability is measured while it sits here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stability {
    /// Score 0..=100 a tag needs to become a release.
    #[serde(deserialize_with = "de::kpi")]
    pub kpi: u8,
    /// Five-field cron: when the signals are sampled.
    #[serde(default = "default_sample", deserialize_with = "de::cron")]
    pub sample: String,
    pub signals: Vec<Signal>,
}

/// One input to the stability score, worth `weight` of it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Signal {
    /// Healthy while the query's value is `<= max`.
    Prometheus {
        name: String,
        url: String,
        query: String,
        max: f64,
        #[serde(deserialize_with = "de::weight")]
        weight: u32,
    },
    /// Healthy while no alert is firing.
    Alertmanager {
        url: String,
        #[serde(deserialize_with = "de::weight")]
        weight: u32,
    },
    /// The share of smoke gates that passed.
    Gates {
        #[serde(deserialize_with = "de::weight")]
        weight: u32,
    },
    /// Time without alerts; full points once it reaches `target`.
    QuietTime {
        #[serde(deserialize_with = "de::duration")]
        target: Duration,
        #[serde(deserialize_with = "de::weight")]
        weight: u32,
    },
}

impl Signal {
    pub fn weight(&self) -> u32 {
        match self {
            Signal::Prometheus { weight, .. }
            | Signal::Alertmanager { weight, .. }
            | Signal::Gates { weight }
            | Signal::QuietTime { weight, .. } => *weight,
        }
    }
}

/// Who may do what. Teams are checked through the forge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct People {
    pub approvers: Vec<Principal>,
    pub hotfixers: Vec<Principal>,
    pub promoters: Vec<Principal>,
}

/// A forge user (`alice`) or team (`@acme/release-managers`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub enum Principal {
    User(String),
    Team { org: String, slug: String },
}

impl Principal {
    /// Parse `alice` or `@org/team`, by GitHub's name rules.
    pub fn parse(s: &str) -> std::result::Result<Principal, String> {
        let login_ok = |n: &str| {
            (1..=39).contains(&n.len())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !n.starts_with('-')
        };
        let slug_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 100
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let expected = "expected a user like `alice` or a team like `@acme/release-managers`";
        if let Some(team) = s.strip_prefix('@') {
            match team.split_once('/') {
                Some((org, slug)) if login_ok(org) && slug_ok(slug) => Ok(Principal::Team {
                    org: org.to_owned(),
                    slug: slug.to_owned(),
                }),
                _ => Err(format!("`{s}` is not a team; {expected}")),
            }
        } else if login_ok(s) {
            Ok(Principal::User(s.to_owned()))
        } else {
            Err(format!("`{s}` is not a user name; {expected}"))
        }
    }

    /// Whether this principal is exactly this user (team membership is the
    /// forge's to answer).
    pub fn is_user(&self, login: &str) -> bool {
        matches!(self, Principal::User(u) if u.eq_ignore_ascii_case(login))
    }
}

impl TryFrom<String> for Principal {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        Principal::parse(&s)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(u) => f.write_str(u),
            Principal::Team { org, slug } => write!(f, "@{org}/{slug}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Templates {
    /// Changelog template path in the product repo; `None` uses the built-in.
    pub changelog: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            labels: LabelNames::default(),
            sizes: ["S", "M", "L", "XL"].map(String::from).to_vec(),
            risk: RiskPolicy::default(),
            versioning: Versioning::default(),
            environments: Vec::new(),
            people: People::default(),
            templates: Templates::default(),
            freezes: Vec::new(),
        }
    }
}

impl Default for LabelNames {
    fn default() -> Self {
        LabelNames {
            component: "component: {size}".into(),
            change: "change: {size}".into(),
            coverage: "ft-coverage: {n}".into(),
            functional: "functional: {bool}".into(),
            risk: "risk: {level}".into(),
            hotfix: "hotfix-to/v{version}".into(),
            toggle: "feature-toggle".into(),
        }
    }
}

impl Default for RiskPolicy {
    fn default() -> Self {
        RiskPolicy {
            weights: RiskWeights::default(),
            levels: RiskThresholds::default(),
            auto_merge: vec![RiskLevel::Low],
            approval: vec![RiskLevel::High],
        }
    }
}

impl Default for RiskWeights {
    fn default() -> Self {
        RiskWeights {
            component: 25,
            change: 35,
            coverage: 25,
            bump: 15,
        }
    }
}

impl Default for RiskThresholds {
    fn default() -> Self {
        RiskThresholds {
            medium: 34,
            high: 67,
        }
    }
}

impl Default for Versioning {
    fn default() -> Self {
        let bumps = [
            ("feat", Bump::Minor),
            ("fix", Bump::Patch),
            ("perf", Bump::Patch),
            ("revert", Bump::Patch),
            ("deps", Bump::Patch),
        ]
        .into_iter()
        .map(|(t, b)| (t.to_owned(), b))
        .collect();
        Versioning {
            tag_prefix: "v".into(),
            component_tag_prefix: None,
            component_tag_prefixes: BTreeMap::new(),
            bumps,
            tagging: Tagging::Component,
        }
    }
}

impl Default for People {
    fn default() -> Self {
        let team = |slug: &str| Principal::Team {
            org: "acme".into(),
            slug: slug.into(),
        };
        People {
            approvers: vec![team("release-managers")],
            hotfixers: vec![team("on-call")],
            promoters: vec![team("release-managers")],
        }
    }
}

fn default_branch() -> String {
    "main".into()
}

fn default_files() -> Vec<FileTarget> {
    vec![FileTarget {
        path: "clusters/{cluster}/{component}/values.yaml".into(),
        key: "image.tag".into(),
    }]
}

fn default_timeout() -> Duration {
    Duration::from_secs(600)
}

fn default_sample() -> String {
    "*/15 * * * *".into()
}

impl Policy {
    /// Read and validate a policy file; every problem is bad input (exit 2).
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!(
                "{}: cannot read policy ({e}); expected a YAML policy file",
                path.display()
            ))
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse and validate policy text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Policy> {
        let mut policy: Policy =
            serde_saphyr::from_str(text).map_err(|e| de::one_line(&e, source, text))?;
        if let Some(problem) = validate::problems(&policy).into_iter().next() {
            let at = match locate::locate(text, &problem.path) {
                Some((line, col)) => format!("{source}:{line}:{col}"),
                None => source.to_owned(),
            };
            return Err(Error::input(format!(
                "{at}: {}: {}",
                problem.path, problem.message
            )));
        }
        for env in &mut policy.environments {
            if env.waves.is_empty() {
                env.waves = vec![env.clusters.clone()];
            }
        }
        Ok(policy)
    }

    /// The shipped `policies/default.yaml`.
    pub fn builtin() -> Policy {
        // The file is part of the binary and a unit test parses it, so a
        // failure here is a build defect, not user input.
        #[allow(clippy::expect_used)]
        Self::parse(BUILTIN_YAML, "policies/default.yaml").expect("the built-in policy is valid")
    }

    /// The built-in policy's text, for `stagecoach` to print or write out.
    pub fn builtin_text() -> &'static str {
        BUILTIN_YAML
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The environments that follow `name` directly (the next stops).
    pub fn followers_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Environment> {
        self.environments
            .iter()
            .filter(move |e| matches!(&e.follows, Follows::Environment(n) if n == name))
    }

    /// `"risk: high"`.
    pub fn label_for_risk(&self, level: RiskLevel) -> String {
        self.labels.risk.replace("{level}", level.as_str())
    }

    /// `"hotfix-to/v1.4.2"`.
    pub fn label_for_hotfix(&self, version: &semver::Version) -> String {
        self.labels
            .hotfix
            .replace("{version}", &version.to_string())
    }

    /// `"component: M"`.
    pub fn label_for_component(&self, size: &str) -> String {
        self.labels.component.replace("{size}", size)
    }

    /// `"change: M"`.
    pub fn label_for_change(&self, size: &str) -> String {
        self.labels.change.replace("{size}", size)
    }

    /// `"ft-coverage: 80"`.
    pub fn label_for_coverage(&self, percent: u8) -> String {
        self.labels.coverage.replace("{n}", &percent.to_string())
    }

    /// `"functional: true"`.
    pub fn label_for_functional(&self, functional: bool) -> String {
        self.labels
            .functional
            .replace("{bool}", if functional { "true" } else { "false" })
    }

    /// Every risk label the policy can produce, to remove stale ones.
    pub fn risk_labels(&self) -> Vec<String> {
        RiskLevel::ALL
            .into_iter()
            .map(|l| self.label_for_risk(l))
            .collect()
    }

    /// Position of a size in `sizes` (case-insensitive), smallest = 0.
    pub fn size_rank(&self, size: &str) -> Option<usize> {
        self.sizes
            .iter()
            .position(|s| s.eq_ignore_ascii_case(size.trim()))
    }

    /// What `component`'s release tags start with: its own entry in
    /// `versioning.component_tag_prefixes`, else `versioning.component_tag_prefix`,
    /// else `versioning.tag_prefix`.
    pub fn component_tag_prefix(&self, component: &str) -> &str {
        let versioning = &self.versioning;
        versioning
            .component_tag_prefixes
            .get(component)
            .or(versioning.component_tag_prefix.as_ref())
            .unwrap_or(&versioning.tag_prefix)
    }

    /// The bump a conventional-commit type asks for, if any.
    pub fn bump_for(&self, commit_type: &str) -> Option<Bump> {
        self.versioning.bumps.get(commit_type).copied()
    }
}

#[cfg(test)]
mod tests;
