//! `stagecoach sandbox`: create (or reuse) the demo world in a directory —
//! grown to N components and M open product PRs when asked, to measure the
//! bot at scale — serve the GitHub-compatible sandbox over it, write the bot's
//! config for it, and print the API URL and everyone's token. Serves until Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kit::BotConfig;
use crate::sandbox::{self, SandboxOptions, World, world};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of the sandbox (repos, forge state, scripts); made if missing.
    #[arg(long)]
    pub dir: PathBuf,
    /// Address to listen on; a fixed port keeps URLs valid across restarts.
    #[arg(long, default_value = "127.0.0.1:7780")]
    pub listen: SocketAddr,
    /// Where to send webhooks: the bot's `/webhook` (the bot's default address).
    #[arg(long, default_value = "http://127.0.0.1:8080/webhook")]
    pub webhook_url: String,
    /// Components in a new world: the demo's 3, plus `svc-0001`… up to N
    /// (default: 3, or whatever the directory's world already has).
    #[arg(long)]
    pub components: Option<usize>,
    /// Open product PRs, each bumping one grown component (at most N - 3).
    #[arg(long, default_value_t = 0)]
    pub open_prs: usize,
}

pub fn run(args: Args) -> Result<()> {
    // Failed webhook deliveries are reported as log lines on stderr.
    super::init_logging("text");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::world(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Error::input(format!("{}: cannot create: {e}", args.dir.display())))?;
    grow_world(&args)?;
    let secret = webhook_secret(&args.dir)?;
    let sb = sandbox::start(SandboxOptions {
        listen: args.listen,
        webhook_url: Some(args.webhook_url.clone()),
        webhook_secret: Some(secret.clone()),
        ..SandboxOptions::new(args.dir.clone())
    })
    .await?;
    if args.open_prs > 0 {
        let opened = world::open_product_prs(&sb, args.open_prs).await?;
        tracing::info!(opened, wanted = args.open_prs, "product PRs opened");
    }
    let config_path = write_configs(&sb.world, &sb.api_url, &secret)?;

    println!("sandbox: {}", sb.api_url);
    println!("dir:     {}", sb.world.dir.display());
    println!("config:  {}", config_path.display());
    println!("webhooks → {}", args.webhook_url);
    for line in webhook_check(
        &args.webhook_url,
        BOT_LISTEN,
        sb.ping_webhook().await.as_ref(),
    ) {
        println!("{line}");
    }
    println!(
        "deliveries: {}/orgs/{}/hooks/{}/deliveries (each failed one is also logged as an error)",
        sb.api_url,
        sandbox::world::OWNER,
        sandbox::hooks::HOOK_ID
    );
    println!(
        "users (each acts with D/people/<login>.yaml, e.g. `stagecoach promote ... --config {}`):",
        sb.world.dir.join("people/rita.yaml").display()
    );
    for u in &sb.world.users {
        println!("  {:<15} {:<17} {}", u.login, u.role, u.token);
    }
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Error::world(format!("cannot wait for Ctrl-C: {e}")))?;
    sb.shutdown().await;
    Ok(())
}

/// Write `D/stagecoach.yaml` (the bot) and `D/people/<login>.yaml` (each
/// person, with their own sandbox token, to run `promote`/`hotfix` as
/// themselves). Returns the bot's config path.
pub fn write_configs(world: &World, api_url: &str, secret: &str) -> Result<PathBuf> {
    let config_path = world.dir.join("stagecoach.yaml");
    let config = bot_config(world, api_url, secret);
    Config::parse(&config, "stagecoach.yaml (generated)")?;
    std::fs::write(&config_path, config)?;
    let people = world.dir.join("people");
    std::fs::create_dir_all(&people)?;
    for u in &world.users {
        if u.token == world.bot_token() {
            continue;
        }
        let text = person_config(world, api_url, &u.login, &u.role, &u.token);
        Config::parse(&text, "people config (generated)")?;
        std::fs::write(people.join(format!("{}.yaml", u.login)), text)?;
    }
    Ok(config_path)
}

/// A person's `stagecoach.yaml` for this sandbox: their token, their own git
/// cache (so two people never share one), the same product.
pub fn person_config(world: &World, api_url: &str, login: &str, role: &str, token: &str) -> String {
    let mut config =
        BotConfig::for_world(world, api_url, &world.dir.join(format!("cache-{login}")))
            .token(token);
    config.budget = None;
    config.server = false;
    format!(
        "# Written by `stagecoach sandbox`: acts as {login} ({role}) with their own sandbox token.\n{}",
        config.text()
    )
}

/// Make the world at the size asked for, or check that the one already in
/// the directory is that size (a world is never grown in place).
fn grow_world(args: &Args) -> Result<()> {
    let demo = world::demo_component_count();
    let Some(components) = args.components else {
        return Ok(());
    };
    if components < demo {
        return Err(Error::input(format!(
            "--components {components}: at least {demo} (the demo's payments, checkout and search)"
        )));
    }
    if !world::world_exists(&args.dir) && components == demo {
        // The plain demo world: `sandbox::start` makes it, naming its URL.
        return Ok(());
    }
    let made = world::create_world_scaled(&args.dir, components)?;
    if made.components.len() != components {
        return Err(Error::input(format!(
            "--components {components}: {} already holds a world of {} components; use another --dir",
            args.dir.display(),
            made.components.len()
        )));
    }
    Ok(())
}

/// The webhook secret shared by the sandbox and the bot, kept across restarts.
pub fn webhook_secret(dir: &Path) -> Result<String> {
    let path = dir.join("forge").join("webhook-secret");
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_string());
    }
    std::fs::create_dir_all(dir.join("forge"))?;
    let secret = hex::encode(rand::random::<[u8; 20]>());
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

/// Where the generated config has the bot listen.
const BOT_LISTEN: &str = "127.0.0.1:8080";

/// What `stagecoach sandbox` says about its webhook target: whether the
/// bot's generated config listens where webhooks go, and whether anything
/// answered the `ping` (the bot usually starts later; then it says how).
pub fn webhook_check(
    webhook_url: &str,
    bot_listen: &str,
    ping: Option<&sandbox::hooks::DeliveryRecord>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let target = reqwest::Url::parse(webhook_url).ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        Some((
            format!("{host}:{}", u.port_or_known_default()?),
            u.path().to_string(),
        ))
    });
    match &target {
        Some((addr, path)) if addr != bot_listen || path != "/webhook" => lines.push(format!(
            "WARNING: webhooks go to {webhook_url}, but the config has the bot listen on              http://{bot_listen}/webhook: start it with `stagecoach serve --listen {addr}`              (and the path /webhook), or every webhook is lost until the next resync"
        )),
        Some(_) => {}
        None => lines.push(format!(
            "WARNING: --webhook-url {webhook_url} is not an http(s) URL with a host and port;              expected e.g. http://127.0.0.1:8080/webhook"
        )),
    }
    match ping {
        Some(p) if p.delivered() => lines.push(format!(
            "  ping delivered ({}): the bot is listening",
            p.status_code
        )),
        Some(p) => lines.push(format!(
            "  ping not delivered ({}): nothing is listening there yet; start the bot with              `stagecoach serve --config <config above>`",
            p.status
        )),
        None => {}
    }
    lines
}

/// The bot's `stagecoach.yaml` for this sandbox (see `crate::config`).
pub fn bot_config(world: &World, api_url: &str, secret: &str) -> String {
    let mut config = BotConfig::for_world(world, api_url, &world.dir.join("cache"))
        .webhook_secret(secret)
        .resync("30s");
    config.listen = BOT_LISTEN.into();
    format!(
        "# Written by `stagecoach sandbox`: the bot's configuration for this sandbox.\n{}",
        config.text()
    )
}
