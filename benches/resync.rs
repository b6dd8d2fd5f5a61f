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

use stagecoach::engine::Engine;
use stagecoach::forge::github::{BudgetLimits, GitHub};
use stagecoach::sandbox::{self, Sandbox, SandboxOptions, limits, world};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn engine(sb: &Sandbox, dir: &std::path::Path) -> Engine {
    // The kit's config for the sandbox, with the bot's default budget.
    let mut bot = stagecoach::kit::BotConfig::for_sandbox(sb, &dir.join("cache"));
    bot.budget = None;
    let config = bot.parse().expect("config");
    // Unbounded, to measure what a pass costs rather than how long the
    // budget makes it wait; the figures say what the budget would make of it.
    let forge = GitHub::from_config(&config)
        .expect("forge")
        .with_budget(BudgetLimits {
            concurrency: 100,
            rest_points_per_minute: u32::MAX,
            graphql_points_per_minute: u32::MAX,
            content_per_minute: u32::MAX,
            content_per_hour: u32::MAX,
            write_spacing: Duration::ZERO,
            secondary_backoff: Duration::from_secs(60),
        });
    Engine::new(config, Arc::new(forge))
}

/// The sandbox refuses nothing here (see `engine`).
fn no_limits() -> limits::Limits {
    limits::Limits {
        primary: u64::MAX,
        concurrency: u32::MAX,
        points_per_minute: u32::MAX,
        content_per_minute: u32::MAX,
        content_per_hour: u32::MAX,
        ..limits::Limits::default()
    }
}

struct Measure {
    what: &'static str,
    actions: usize,
    requests: u64,
    not_modified: u64,
    writes: u64,
    points: u64,
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
        "{what}: {actions} actions, {} requests ({} rate-limited, {} 304), {} writes, {} points, {:?} in {:.2}s",
        bot.requests + bot.not_modified,
        bot.requests,
        bot.not_modified,
        bot.writes,
        bot.points,
        bot.by_method,
        took.as_secs_f64()
    );
    Measure {
        what,
        actions,
        requests: bot.requests,
        not_modified: bot.not_modified,
        writes: bot.writes,
        points: bot.points,
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
        let mut opts = SandboxOptions::new(&dir);
        opts.limits = no_limits();
        let sb = sandbox::start(opts).await.expect("sandbox");
        eprintln!(
            "world: {} components in {:.1}s",
            sb.world.components.len(),
            started.elapsed().as_secs_f64()
        );
        // 200 open product PRs, each bumping one component, opened by people
        // and not labelled yet: the bot asks for labels and then waits.
        let started = Instant::now();
        world::open_product_prs(&sb, prs)
            .await
            .expect("product PRs");
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
        println!(
            "| pass | actions | requests | rate-limited | 304 | writes | REST points | time |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        for m in rows {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {:.2} s |",
                m.what,
                m.actions,
                m.requests + m.not_modified,
                m.requests,
                m.not_modified,
                m.writes,
                m.points,
                m.took.as_secs_f64()
            );
        }
        let budget = BudgetLimits::default().rest_points_per_minute;
        println!(
            "\nREST points are what GitHub's secondary limit counts (900 a minute); the \
             bot's budget (forge.budget.rest_points_per_minute, default {budget}) spreads \
             a pass over points / {budget} minutes."
        );
        sb.shutdown().await;
    });
}
