//! `stagecoach plan`: one reconcile as a dry run — the actions the bot would
//! take now, each with why; nothing is changed.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::Config;
use crate::engine::{Action, action_fields, action_kind};
use crate::error::{Error, Result};
use crate::forge::webhook;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
    /// A webhook event name (`pull_request`, ...) to read with `--payload`.
    #[arg(long, requires = "payload")]
    pub event: Option<String>,
    /// A webhook payload file (JSON), as GitHub would deliver it.
    #[arg(long, requires = "event")]
    pub payload: Option<PathBuf>,
    #[command(flatten)]
    pub output: super::Output,
}

/// One planned action as scripts read it (`-o json`).
#[derive(Debug, Serialize)]
pub struct PlannedAction {
    /// The metric label of the action (`deploy_ci`, `merge`, ...).
    pub kind: &'static str,
    pub action: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let mut delivery = None;
    if let (Some(event), Some(path)) = (&args.event, &args.payload) {
        let body =
            std::fs::read(path).map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        delivery = Some(
            match webhook::parse_event(event, &body)
                .map_err(|e| Error::input(format!("{}: {e}", path.display())))?
            {
                Some(e) => e.describe(),
                None => format!("`{event}` is not an event Stagecoach acts on"),
            },
        );
    }
    let config = Config::load(&args.config)?;
    let (actions, waits) = super::runtime()?.block_on(async move {
        let engine = super::engine(config)?;
        let actions = engine.plan().await?;
        let waits = engine
            .last_observed()
            .map(|o| crate::status::waits(&o))
            .unwrap_or_default();
        Ok::<_, crate::error::Error>((actions, waits))
    })?;
    let planned: Vec<PlannedAction> = actions.iter().map(planned).collect();
    if args.output.json() {
        return super::emitln(&super::to_json(&serde_json::json!({
            "delivery": delivery,
            "actions": planned,
            "waits": waits,
        }))?);
    }
    let mut out = String::new();
    if let Some(d) = delivery {
        out.push_str(&format!(
            "delivery: {d} (a hint: the plan below is what a reconcile decides now)\n"
        ));
    }
    if planned.is_empty() {
        out.push_str("nothing to do: the road is where the policy wants it\n");
    }
    for p in &planned {
        out.push_str(&format!("- {}\n    why: {}\n", p.action, p.reason));
    }
    if !waits.is_empty() {
        out.push_str("waiting:\n");
        for w in &waits {
            out.push_str(&format!("- {w}\n"));
        }
    }
    super::emit(&out)
}

/// An action with its reason and the fields a script filters on.
pub fn planned(action: &Action) -> PlannedAction {
    let f = action_fields(action);
    PlannedAction {
        kind: action_kind(action),
        action: action.describe(),
        reason: reason(action),
        pr: (f.pr != 0).then_some(f.pr),
        component: f.component,
        version: f.version,
        tag: f.tag,
        env: f.env,
    }
}

/// Why the engine decided `action`, in words, from what the action carries.
pub fn reason(action: &Action) -> String {
    let short = |sha: &str| sha.get(..7).unwrap_or(sha).to_string();
    match action {
        Action::Comment {
            topic, repo, pr, ..
        } => {
            format!("the `{topic}` comment on {repo}#{pr} is missing or says something out of date")
        }
        Action::SetStatus {
            context,
            description,
            ..
        } => format!("`{context}` does not say this yet: {description}"),
        Action::SetRiskLabel { pr, level, .. } => {
            format!(
                "product#{pr}'s labels score {level} risk and its `risk:` label does not say so"
            )
        }
        Action::TagComponent { version, sha, .. } => format!(
            "`versioning.tagging: bot`: the conventional commits up to {} release {version}",
            short(sha)
        ),
        Action::OpenProductPr { reason, .. } => reason.clone(),
        Action::ClosePull { pr, reason } => {
            format!("product#{pr} is the bot's own and out of date: {reason}")
        }
        Action::RebuildProductPr { pr, carry, .. } => {
            if carry.is_empty() {
                format!(
                    "product#{pr} is green but main gained more than verified bumps: it is rebuilt on main and CI runs again"
                )
            } else {
                format!(
                    "git cannot merge product#{pr} into the main that moved: the bot rebuilds its branch and carries the verdicts"
                )
            }
        }
        Action::DeployCi { pr, change, .. } => format!(
            "product#{pr} bumps {} to {} and the CI landscape does not run it yet",
            change.component, change.to
        ),
        Action::WatchCiHealth { landscape_sha, .. } => format!(
            "deployed on ci as {} with no health verdict yet",
            short(landscape_sha)
        ),
        Action::Rollback { reason, .. } => reason.clone(),
        Action::CreatePrEnv { pr, .. } => format!(
            "product#{pr}'s risk needs the smoke gate, which runs in its own PR environment"
        ),
        Action::RunSmoke { head_sha, .. } => {
            format!("no smoke verdict yet for head {}", short(head_sha))
        }
        Action::TeardownPrEnv { pr } => {
            format!("product#{pr} no longer needs its PR environment")
        }
        Action::Merge { pr, .. } => {
            format!("product#{pr}'s gates are green and its risk level merges by itself")
        }
        Action::TagProduct { previous, .. } => match previous {
            Some(p) => format!("main carries component bumps since {p}"),
            None => "main carries components and has no product tag yet".into(),
        },
        Action::Promote {
            env,
            wave,
            waves,
            override_reason,
            ..
        } => match override_reason {
            Some(r) => format!("asked with --override: {r}"),
            None if *wave > 1 => {
                format!(
                    "wave {} of {waves} on {env} is healthy and soaked",
                    wave - 1
                )
            }
            None => format!("{env} does not run this tag yet and it is eligible"),
        },
        Action::WatchPromotion { commit, .. } => format!(
            "the wave was deployed as {} with no health verdict yet",
            short(commit)
        ),
        Action::SampleStability { tag } => {
            format!("{tag} is on staging and a stability sample is due")
        }
        Action::FinalizeStability { tag } => {
            format!("staging moved on from {tag} and its score is not written yet")
        }
        Action::Hotfix { source, .. } => format!("asked for by {source}"),
        Action::Reject {
            by,
            reason,
            comment,
            ..
        } => format!(
            "{by} asked{}: {reason}",
            comment
                .map(|id| format!(" in comment {id}"))
                .unwrap_or_default()
        ),
    }
}
