//! `stagecoach yaml-set`: the format-keeping YAML edit on its own, for people
//! and scripts that want the bot's guarantees by hand.

use std::path::PathBuf;

use crate::error::Result;
use crate::manifest::yaml_edit::set_in_file;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The YAML file to edit in place.
    pub file: PathBuf,
    /// Where the value is: `image.tag`, `env[0].value`, `"a.b".c`.
    pub key_path: String,
    /// The new value (a string; quoted in the file when needed).
    pub value: String,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> Result<()> {
    let changed = set_in_file(&args.file, &args.key_path, &args.value)?;
    if args.output.json() {
        return super::emitln(&super::to_json(&serde_json::json!({
            "file": args.file.display().to_string(),
            "key": args.key_path,
            "value": args.value,
            "changed": changed,
        }))?);
    }
    if !changed {
        super::emitln(&format!(
            "{}: {} is already {:?}; unchanged",
            args.file.display(),
            args.key_path,
            args.value
        ))?;
    }
    Ok(())
}
