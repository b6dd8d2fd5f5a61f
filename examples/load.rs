//! A webhook load tool with a verdict: a warm-up, then a bounded burst of
//! signed deliveries to a running `stagecoach serve`, the figures, and exit 1
//! if the bot lost anything or kept growing. Used by `scripts/load.sh`.
//!
//! ```text
//! cargo run --release --example load -- --url http://127.0.0.1:8080 --secret S --pid PID \
//!     [--count 10000] [--rate 500] [--warmup 1000] [--dup-every 10] [--concurrency 32] \
//!     [--max-rss-growth 20]
//! ```
//! Every `--dup-every`-th delivery repeats the previous delivery id (a
//! redelivery); the bot must drop it as a duplicate. Reports: acknowledgements
//! by status, p50/p99/max acknowledgement time, the server's own counts from
//! `/metrics`, and the server's RSS (`/proc/PID/status`) after the warm-up and
//! after the burst. Exit 1 when a delivery of the burst was not acknowledged
//! with 202, when the server dropped one, when the duplicates it counted are
//! not exactly the redeliveries sent, when its counts do not add up to what
//! was sent, or when its RSS after the burst is more than `--max-rss-growth`
//! percent above its RSS after the warm-up. Exit 2 on bad arguments.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stagecoach::forge::signature::sign;

const PAYLOAD: &str = include_str!("../fixtures/webhooks/pull_request.labeled.json");

struct Args {
    url: String,
    secret: String,
    count: usize,
    rate: u64,
    dup_every: usize,
    concurrency: usize,
    pid: u32,
    warmup: usize,
    max_rss_growth: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        secret: String::new(),
        count: 10_000,
        rate: 500,
        dup_every: 10,
        concurrency: 32,
        pid: 0,
        warmup: 1000,
        max_rss_growth: 20.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--secret" => a.secret = value()?,
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--rate" => a.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--dup-every" => {
                a.dup_every = value()?.parse().map_err(|e| format!("--dup-every: {e}"))?
            }
            "--concurrency" => {
                a.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--pid" => a.pid = value()?.parse().map_err(|e| format!("--pid: {e}"))?,
            "--warmup" => a.warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--max-rss-growth" => {
                a.max_rss_growth = value()?
                    .parse()
                    .map_err(|e| format!("--max-rss-growth: {e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.secret.is_empty() {
        return Err("--secret is required".into());
    }
    if a.pid == 0 {
        return Err("--pid is required: the server's RSS is part of the verdict".into());
    }
    if a.count > 1_000_000 || a.rate == 0 || a.rate > 20_000 || a.concurrency == 0 {
        return Err("bounds: --count <= 1000000, 0 < --rate <= 20000, --concurrency > 0".into());
    }
    Ok(a)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

const OUTCOMES: [&str; 6] = [
    "queued",
    "duplicate",
    "dropped",
    "ignored",
    "malformed",
    "unauthorized",
];

/// The server's webhook counts by outcome (in [`OUTCOMES`] order).
type Counts = [u64; 6];

/// Sum of `stagecoach_webhooks_total{...,outcome="O"}` over events.
fn outcome(metrics: &str, outcome: &str) -> u64 {
    let needle = format!("outcome=\"{outcome}\"}}");
    metrics
        .lines()
        .filter(|l| l.starts_with("stagecoach_webhooks_total{") && l.contains(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn metrics(http: &reqwest::Client, url: &str) -> Result<String, String> {
    http.get(format!("{url}/metrics"))
        .send()
        .await
        .map_err(|e| format!("/metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("/metrics: {e}"))
}

#[tokio::main]
async fn main() {
    match run().await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    }
}

async fn counts(http: &reqwest::Client, url: &str) -> Result<(Counts, u64), String> {
    let text = metrics(http, url).await?;
    let depth = text
        .lines()
        .find_map(|l| l.strip_prefix("stagecoach_queue_depth "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok((OUTCOMES.map(|o| outcome(&text, o)), depth))
}

/// What one burst came to.
struct Burst {
    sent: u64,
    redeliveries: u64,
    elapsed: Duration,
    by_status: std::collections::BTreeMap<u16, u64>,
    latencies: Vec<Duration>,
    /// The server's counts for this burst alone, by outcome.
    counted: Counts,
}

/// Send `count` deliveries (ids `{run}-{i}`, every `dup_every`-th a repeat of
/// the one before) paced at `rate`/s, then wait until the server has counted
/// each of them and drained its queue (at most 30 s).
async fn burst(
    http: &reqwest::Client,
    url: &str,
    args: &Args,
    run: &str,
    count: usize,
) -> Result<Burst, String> {
    let (base, _) = counts(http, url).await?;
    let body = Arc::new(PAYLOAD.as_bytes().to_vec());
    let signature = Arc::new(sign(args.secret.as_bytes(), &body));
    let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    let mut redeliveries = 0u64;
    for i in 0..count {
        // Paced: delivery i leaves no earlier than i / rate seconds in.
        let due = started + interval * i as u32;
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        let dup = args.dup_every > 0 && i > 0 && i % args.dup_every == 0;
        let id = if dup {
            redeliveries += 1;
            format!("{run}-{}", i - 1)
        } else {
            format!("{run}-{i}")
        };
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| format!("semaphore: {e}"))?;
        let (http, url, body, signature) = (
            http.clone(),
            url.to_string(),
            body.clone(),
            signature.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = http
                .post(format!("{url}/webhook"))
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", id)
                .header("x-hub-signature-256", signature.as_str())
                .header("content-type", "application/json")
                .body(body.as_ref().clone())
                .send()
                .await;
            drop(permit);
            let status = r.map(|r| r.status().as_u16()).unwrap_or(0);
            (status, t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut by_status = std::collections::BTreeMap::<u16, u64>::new();
    for t in tasks {
        let (status, took) = t.await.map_err(|e| format!("task: {e}"))?;
        *by_status.entry(status).or_default() += 1;
        latencies.push(took);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let sent = count as u64;
    // Counted once every delivery has an outcome and the queue is empty.
    let deadline = Instant::now() + Duration::from_secs(30);
    let counted = loop {
        let (now, depth) = counts(http, url).await?;
        let mut d = [0u64; 6];
        for (i, (a, b)) in now.iter().zip(base).enumerate() {
            d[i] = a.saturating_sub(b);
        }
        let accounted: u64 = d[..4].iter().sum();
        if (accounted >= sent && depth == 0) || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    Ok(Burst {
        sent,
        redeliveries,
        elapsed,
        by_status,
        latencies,
        counted,
    })
}

async fn run() -> Result<bool, String> {
    let args = parse_args()?;
    let http = stagecoach::engine::http::client_builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let url = args.url.trim_end_matches('/').to_string();
    let run_id = format!("{:08x}", rand::random::<u32>());
    let rss = |when: &str| {
        rss_kib(args.pid).ok_or(format!(
            "cannot read the RSS of pid {} {when} (/proc/{}/status)",
            args.pid, args.pid
        ))
    };

    // Warm-up: the bot's first converge, its delivery-id memory and the
    // allocator's arenas reach their working size before we measure.
    let warm = burst(&http, &url, &args, &format!("{run_id}-warm"), args.warmup).await?;
    let rss_warm = rss("after the warm-up")?;
    println!(
        "warm-up: {} deliveries, server RSS {:.1} MiB",
        warm.sent,
        rss_warm as f64 / 1024.0
    );

    let b = burst(&http, &url, &args, &run_id, args.count).await?;
    let rss_after = rss("after the burst")?;
    let d = b.counted;
    let pct = |p: f64| {
        if b.latencies.is_empty() {
            return 0.0;
        }
        let i = ((b.latencies.len() as f64 * p).ceil() as usize).clamp(1, b.latencies.len()) - 1;
        b.latencies[i].as_secs_f64() * 1000.0
    };
    let sent = b.sent;
    let accounted = d[0] + d[1] + d[2] + d[3];
    println!(
        "sent {sent} signed deliveries in {:.1}s ({:.0}/s), {} of them redeliveries",
        b.elapsed.as_secs_f64(),
        sent as f64 / b.elapsed.as_secs_f64().max(1e-9),
        b.redeliveries
    );
    println!("acknowledged: {:?} (0 = no answer)", b.by_status);
    println!(
        "ack time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "server counted: queued {} + duplicate {} + dropped {} + ignored {} = {accounted} (malformed {}, unauthorized {})",
        d[0], d[1], d[2], d[3], d[4], d[5]
    );
    let growth = (rss_after as f64 - rss_warm as f64) / rss_warm as f64 * 100.0;
    println!(
        "server RSS: {:.1} MiB after the warm-up, {:.1} MiB after the burst ({growth:+.1} %, limit +{} %)",
        rss_warm as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        args.max_rss_growth
    );
    let mut ok = true;
    let mut fail = |why: String| {
        println!("FAIL: {why}");
        ok = false;
    };
    if b.by_status.get(&202).copied().unwrap_or(0) != sent {
        fail(format!(
            "not every delivery was acknowledged with 202: {:?}",
            b.by_status
        ));
    }
    if d[2] > 0 {
        fail(format!("the server dropped {} deliveries", d[2]));
    }
    if d[1] != b.redeliveries {
        fail(format!(
            "the server counted {} duplicates; exactly the {} redeliveries sent were duplicates",
            d[1], b.redeliveries
        ));
    }
    if accounted != sent {
        fail(format!("{accounted} deliveries accounted for, {sent} sent"));
    }
    if growth > args.max_rss_growth {
        fail(format!(
            "RSS grew {growth:.1} % during the burst (more than {} %)",
            args.max_rss_growth
        ));
    }
    if ok {
        println!("PASS: nothing dropped, exactly the redeliveries deduplicated, RSS steady");
    }
    Ok(ok)
}
