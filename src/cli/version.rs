//! `stagecoach version` (being written).

use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    Err(Error::world("`version` is not built yet"))
}
