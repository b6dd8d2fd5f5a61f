//! `stagecoach reject TAG --reason WHY` (and `--undo`): a release manager
//! marks a product tag as bad, as themselves (their token); no promotion
//! takes it until it is un-rejected the same way. Recorded in git
//! (`refs/notes/rejections` on the tag's commit) with who and why.

use std::path::PathBuf;

use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The product tag, e.g. v1.4.0.
    pub tag: String,
    /// Why: recorded in the note with your login and the time.
    #[arg(long, value_name = "WHY")]
    pub reason: String,
    /// Un-reject the tag: it may be promoted again.
    #[arg(long)]
    pub undo: bool,
    #[arg(long, default_value = "stagecoach.yaml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub acting: super::Acting,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> Result<()> {
    super::init_logging("text");
    let config = super::load_config_as(&args.config, &args.acting)?;
    let done = super::runtime()?.block_on(async move {
        let engine = super::engine(config)?;
        engine.reject(&args.tag, args.undo, &args.reason).await
    })?;
    if args.output.json() {
        return super::emitln(&super::to_json(&serde_json::json!({
            "tag": done.tag,
            "rejected": done.rejected,
            "by": done.by,
            "reason": done.reason,
            "changed": done.changed,
        }))?);
    }
    let state = if done.rejected {
        "rejected"
    } else {
        "no longer rejected"
    };
    super::emitln(&if done.changed {
        format!("{} is {state} ({}: {})", done.tag, done.by, done.reason)
    } else {
        format!("{} is {state} already; nothing written", done.tag)
    })
}
