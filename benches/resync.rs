//! What a resync costs at scale: a product of 1,000 components and 200 open
//! product PRs in the sandbox. Measures, per pass, the requests the bot makes
//! (counted against the rate limit, and 304s, which GitHub does not count),
//! its writes, and the time:
//!
//! 1. cold: a new bot, empty git cache, empty ETag cache, first pass;
//! 2. quiet: the bot has converged; one more pass, nothing changed;
//! 3. restart: a new bot on the same git cache (ETag cache lost), one pass.
//!
//! `cargo bench --bench resync` (`RESYNC_COMPONENTS=1000 RESYNC_PRS=200`).
//! Figures and the machine: docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stagecoach::config::Config;
use stagecoach::engine::Engine;
use stagecoach::forge::github::GitHub;
use stagecoach::sandbox::{self, Sandbox, SandboxOptions, world};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn engine(sb: &Sandbox, dir: &std::path::Path) -> Engine {
    let text = format!(
        "forge: {{api_url: \"{api}\", token: \"{token}\"}}\n\
         git: {{url: \"{url}\", cache_dir: \"{cache}\"}}\n\
         product: {{repo: acme/product}}\n",
        api = sb.api_url,
        token = sb.world.bot_token(),
        url = sb.world.git_url_template(),
        cache = dir.join("cache").display(),
    );
    let config = Config::parse(&text, "bench config").expect("config");
    let forge = GitHub::from_config(&config).expect("forge");
    Engine::new(config, Arc::new(forge))
}

struct Measure {
    what: &'static str,
    actions: usize,
    requests: u64,
    not_modified: u64,
    writes: u64,
    took: Duration,
}

async fn measure(what: &'static str, sb: &Sandbox, engine: &Engine) -> Measure {
    sb.reset_stats();
    let started = Instant::now();
    let actions = engine.pass().await.expect("pass").len();
    let took = started.elapsed();
    let stats = sb.stats();
    let bot = stats.users.get(world::BOT).cloned().unwrap_or_default();
    eprintln!(
        "{what}: {actions} actions, {} requests ({} rate-limited, {} 304), {} writes, {:?} in {:.2}s",
        bot.requests + bot.not_modified,
        bot.requests,
        bot.not_modified,
        bot.writes,
        bot.by_method,
        took.as_secs_f64()
    );
    Measure {
        what,
        actions,
        requests: bot.requests,
        not_modified: bot.not_modified,
        writes: bot.writes,
        took,
    }
}

fn main() {
    let components = env_usize("RESYNC_COMPONENTS", 1000);
    let prs = env_usize("RESYNC_PRS", 200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("sandbox");
        let started = Instant::now();
        world::create_world_scaled(&dir, components).expect("world");
        let sb = sandbox::start(SandboxOptions::new(&dir))
            .await
            .expect("sandbox");
        eprintln!(
            "world: {} components in {:.1}s",
            sb.world.components.len(),
            started.elapsed().as_secs_f64()
        );
        // 200 open product PRs, each bumping one component, opened by people
        // and not labelled yet: the bot asks for labels and then waits.
        let started = Instant::now();
        let alice = sb.person("alice").expect("alice");
        let product = sb.world.repo_path("product");
        for i in 1..=prs {
            let name = format!("svc-{i:04}");
            let branch = format!("bump/{name}");
            let repo = git2::Repository::open_bare(&product).expect("product");
            let text = {
                let blob = repo
                    .revparse_single("main:product.yaml")
                    .expect("manifest")
                    .peel_to_blob()
                    .expect("blob");
                String::from_utf8_lossy(blob.content()).into_owned()
            };
            let bumped = text.replace(
                &format!("{name}: {{repo: acme/{name}, version: 1.0.0}}"),
                &format!("{name}: {{repo: acme/{name}, version: 1.0.1}}"),
            );
            alice
                .commit_files(
                    "product",
                    &branch,
                    &[("product.yaml", &bumped)],
                    &format!("fix({name}): bump to 1.0.1"),
                )
                .await
                .expect("push");
            alice
                .open_pr("product", &branch, "main", &format!("{name} 1.0.1"), "")
                .await
                .expect("pr");
        }
        eprintln!(
            "{prs} open product PRs in {:.1}s",
            started.elapsed().as_secs_f64()
        );

        let mut rows = Vec::new();
        let bot = engine(&sb, tmp.path());
        rows.push(measure("cold: first pass of a new bot, empty caches", &sb, &bot).await);
        let started = Instant::now();
        let more = bot.converge().await.expect("converge");
        eprintln!(
            "converged: {more} more actions in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        rows.push(measure("quiet: one more pass, nothing changed", &sb, &bot).await);
        rows.push(measure("quiet again", &sb, &bot).await);
        drop(bot);
        let restarted = engine(&sb, tmp.path());
        rows.push(
            measure(
                "restart: new bot, same git cache, no ETags",
                &sb,
                &restarted,
            )
            .await,
        );
        rows.push(measure("restart, second pass", &sb, &restarted).await);

        println!(
            "\n{} components, {prs} open product PRs\n",
            sb.world.components.len()
        );
        println!("| pass | actions | requests | rate-limited | 304 | writes | time |");
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        for m in rows {
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.2} s |",
                m.what,
                m.actions,
                m.requests + m.not_modified,
                m.requests,
                m.not_modified,
                m.writes,
                m.took.as_secs_f64()
            );
        }
        sb.shutdown().await;
    });
}
