//! Shared by the people's-side tests: play the whole demo road into a temp
//! dir, then serve that world again so the read side can look at it.

use std::path::{Path, PathBuf};

use stagecoach::config::Config;
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

/// A bot config as the bot's own user; `read_token` for the dashboard.
pub fn config_text(sb: &Sandbox, dir: &Path, read_token: Option<&str>) -> String {
    format!(
        "forge: {{api_url: \"{api}\", token: \"{token}\", budget: {budget}}}\n\
         git: {{url: \"{url}\", cache_dir: \"{cache}\"}}\n\
         product: {{repo: acme/product}}\n\
         server: {{listen: \"127.0.0.1:0\", webhook_secret: \"s3cret\", resync: 1h{read}}}\n",
        api = sb.api_url,
        budget = stagecoach::sandbox::BOT_BUDGET,
        token = sb.world.bot_token(),
        url = sb.git_http_url_template(),
        cache = dir.join("people-cache").display(),
        read = read_token
            .map(|t| format!(", read_token: \"{t}\""))
            .unwrap_or_default(),
    )
}

#[allow(dead_code)]
pub fn config(sb: &Sandbox, dir: &Path, read_token: Option<&str>) -> Config {
    Config::parse(&config_text(sb, dir, read_token), "test config").expect("config parses")
}
