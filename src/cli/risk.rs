//! `stagecoach risk`: score a set of PR labels the way the bot would, so a
//! developer can see the risk level (and why) before opening the PR.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::labels::{join_problems, parse_labels};
use crate::policy::{Policy, RiskLevel};
use crate::risk::{Assessment, Factor, assess};
use crate::version::Bump;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A PR label, e.g. "component: M"; repeat for each label.
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// The semver bump of the component's new version.
    #[arg(long, value_name = "patch|minor|major", default_value = "patch", value_parser = parse_bump)]
    pub bump: Bump,
    /// Policy file; the built-in default policy when left out.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub output: super::Output,
}

fn parse_bump(s: &str) -> std::result::Result<Bump, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "patch" => Ok(Bump::Patch),
        "minor" => Ok(Bump::Minor),
        "major" => Ok(Bump::Major),
        _ => Err(format!(
            "`{s}` is not a bump; expected patch, minor or major"
        )),
    }
}

/// The JSON contract: these keys first, in this order; more may follow.
#[derive(Serialize)]
struct Report<'a> {
    score: u32,
    level: RiskLevel,
    auto_merge: bool,
    factors: &'a [Factor],
    needs_approval: bool,
    product_pr: bool,
}

pub fn run(args: Args) -> Result<()> {
    let policy = match &args.policy {
        Some(path) => Policy::load(path)?,
        None => Policy::builtin(),
    };
    let assessment = score(&policy, &args.labels, args.bump)?;
    let out = if args.output.json() {
        json(&assessment)?
    } else {
        text(&assessment)
    };
    super::emitln(&out)
}

/// The assessment of a label set, or one line naming every bad label.
pub fn score(policy: &Policy, labels: &[String], bump: Bump) -> Result<Assessment> {
    let labelled = parse_labels(policy, labels)
        .complete()
        .map_err(|problems| Error::input(join_problems(&problems)))?;
    Ok(assess(policy, &labelled, bump))
}

fn json(a: &Assessment) -> Result<String> {
    let report = Report {
        score: a.score,
        level: a.level,
        auto_merge: a.auto_merge,
        factors: &a.factors,
        needs_approval: a.needs_approval,
        product_pr: a.product_pr,
    };
    serde_json::to_string(&report).map_err(|e| Error::world(format!("json: {e}")))
}

fn text(a: &Assessment) -> String {
    let mut out = format!("risk: {} (score {} of 100)\n\n", a.level, a.score);
    let width = a
        .factors
        .iter()
        .map(|f| f.value.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    out.push_str(&format!(
        "{:<10} {:<width$} {:>6}\n",
        "factor", "value", "points"
    ));
    for f in &a.factors {
        out.push_str(&format!(
            "{:<10} {:<width$} {:>6}\n",
            f.name, f.value, f.points
        ));
    }
    out.push_str(&format!(
        "{:<10} {:<width$} {:>6}\n\n",
        "total", "", a.score
    ));
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    out.push_str(&format!(
        "auto-merge: {}\napproval needed: {}\nproduct PR: {}",
        yes_no(a.auto_merge),
        yes_no(a.needs_approval),
        if a.product_pr {
            "yes"
        } else {
            "no (not functional)"
        }
    ));
    out
}
