//! `stagecoach promote TAG --to ENV`: a release manager's (or on-call's)
//! on-demand promotion as themselves (their token), checked against the
//! policy's people and the forge.

use std::path::PathBuf;

use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The product tag, e.g. v1.4.0.
    pub tag: String,
    /// The environment, e.g. canary or prod.
    #[arg(long = "to")]
    pub env: String,
    /// Promote even though the tag is not eligible; the reason is recorded in the commit.
    #[arg(long = "override", value_name = "REASON")]
    pub override_reason: Option<String>,
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
        engine
            .promote(&args.tag, &args.env, args.override_reason.clone())
            .await
    })?;
    print(&done, &args.output, "")
}

/// What a finished promotion (or rollback) did: its steps, then where the
/// tag runs now; JSON when asked.
pub(super) fn print(
    done: &crate::engine::promote::Promoted,
    output: &super::Output,
    again: &str,
) -> Result<()> {
    if output.json() {
        return super::emitln(&super::to_json(&serde_json::json!({
            "tag": done.tag,
            "env": done.env,
            "steps": done.steps,
        }))?);
    }
    let mut out = String::new();
    for s in &done.steps {
        out.push_str(&format!("{s}\n"));
    }
    out.push_str(&format!("{} runs on {}{again}\n", done.tag, done.env));
    super::emit(&out)
}
