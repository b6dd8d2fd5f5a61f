//! Shared by the people's-side tests: play the whole demo road into a temp
//! dir, then serve that world again so the read side can look at it (the
//! bot's config is the kit's, `stagecoach::kit::BotConfig`).

use std::path::{Path, PathBuf};

use stagecoach::config::Config;
use stagecoach::kit::BotConfig;
use stagecoach::sandbox::{self, Sandbox, SandboxOptions};

#[allow(dead_code)]
pub struct Road {
    pub dir: tempfile::TempDir,
    pub sb: Sandbox,
    pub config_path: PathBuf,
}

/// The demo's story (low-risk fix, rollback, toggle, approval, a tag below
/// the KPI, a release, canary, prod in waves, a hotfix), then a fresh
/// sandbox over the same repos and forge state.
pub async fn played_road() -> Road {
    let dir = tempfile::Builder::new()
        .prefix("stagecoach-people-")
        .tempdir()
        .expect("temp dir");
    stagecoach::demo::run(stagecoach::demo::DemoOptions {
        dir: Some(dir.path().to_path_buf()),
        keep: true,
    })
    .await
    .expect("the demo road plays through");
    let sb = sandbox::start(SandboxOptions::new(dir.path()))
        .await
        .expect("sandbox over the played world");
    let config_path = dir.path().join("people.yaml");
    std::fs::write(&config_path, config_text(&sb, dir.path(), None)).expect("config");
    Road {
        dir,
        sb,
        config_path,
    }
}

/// The kit's bot config for this world, with a slow resync (nothing here
/// waits for the bot) and `read_token` for the dashboard.
pub fn bot_config(sb: &Sandbox, dir: &Path, read_token: Option<&str>) -> BotConfig {
    let mut config = BotConfig::for_sandbox(sb, &dir.join("people-cache"))
        .webhook_secret("s3cret")
        .resync("1h");
    config.read_token = read_token.map(str::to_string);
    config
}

pub fn config_text(sb: &Sandbox, dir: &Path, read_token: Option<&str>) -> String {
    bot_config(sb, dir, read_token).text()
}

#[allow(dead_code)]
pub fn config(sb: &Sandbox, dir: &Path, read_token: Option<&str>) -> Config {
    bot_config(sb, dir, read_token)
        .parse()
        .expect("config parses")
}
