//! A webhook load tool: a bounded burst of signed deliveries to a running
//! `stagecoach serve`, then the figures. Used by `scripts/load.sh`.
//!
//! ```text
//! cargo run --release --example load -- --url http://127.0.0.1:8080 --secret S \
//!     [--count 10000] [--rate 500] [--dup-every 10] [--concurrency 32] [--pid PID]
//! ```
//! Every `--dup-every`-th delivery repeats the previous delivery id (a
//! redelivery); the bot must drop it as a duplicate. Reports: acknowledgements
//! by status, p50/p99/max acknowledgement time, the server's own counts from
//! `/metrics` (queued + duplicate + dropped + ignored must equal what was sent),
//! and the server's RSS before and after from `/proc/PID/status`.
//! Exit 1 when a delivery was not acknowledged with 202 or a count does not add up.

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
    pid: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        secret: String::new(),
        count: 10_000,
        rate: 500,
        dup_every: 10,
        concurrency: 32,
        pid: None,
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
            "--pid" => a.pid = Some(value()?.parse().map_err(|e| format!("--pid: {e}"))?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.secret.is_empty() {
        return Err("--secret is required".into());
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

async fn run() -> Result<bool, String> {
    let args = parse_args()?;
    let http = stagecoach::engine::http::client_builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let url = args.url.trim_end_matches('/').to_string();
    let before_metrics = metrics(&http, &url).await?;
    let base = [
        "queued",
        "duplicate",
        "dropped",
        "ignored",
        "malformed",
        "unauthorized",
    ]
    .map(|o| outcome(&before_metrics, o));
    let rss_before = args.pid.and_then(rss_kib);

    let body = Arc::new(PAYLOAD.as_bytes().to_vec());
    let signature = Arc::new(sign(args.secret.as_bytes(), &body));
    let run_id = format!("{:08x}", rand::random::<u32>());
    let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.count);
    let mut expected_dups = 0u64;
    for i in 0..args.count {
        // Paced: delivery i leaves no earlier than i / rate seconds in.
        let due = started + interval * i as u32;
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        let dup = args.dup_every > 0 && i > 0 && i % args.dup_every == 0;
        let id = if dup {
            expected_dups += 1;
            format!("{run_id}-{}", i - 1)
        } else {
            format!("{run_id}-{i}")
        };
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| format!("semaphore: {e}"))?;
        let (http, url, body, signature) =
            (http.clone(), url.clone(), body.clone(), signature.clone());
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
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    // Let the server settle before reading its counts and memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_metrics = metrics(&http, &url).await?;
    let counts = [
        "queued",
        "duplicate",
        "dropped",
        "ignored",
        "malformed",
        "unauthorized",
    ]
    .map(|o| outcome(&after_metrics, o));
    let d: Vec<u64> = counts.iter().zip(base).map(|(a, b)| a - b).collect();
    let rss_after = args.pid.and_then(rss_kib);

    let sent = args.count as u64;
    let accounted = d[0] + d[1] + d[2] + d[3];
    println!(
        "sent {sent} signed deliveries in {:.1}s ({:.0}/s), {expected_dups} of them redeliveries",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64()
    );
    println!("acknowledged: {by_status:?} (0 = no answer)");
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
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        println!(
            "server RSS: {:.1} MiB before, {:.1} MiB after ({:+.1} MiB)",
            b as f64 / 1024.0,
            a as f64 / 1024.0,
            (a as f64 - b as f64) / 1024.0
        );
    }
    let mut ok = true;
    if by_status.get(&202).copied().unwrap_or(0) != sent {
        println!("FAIL: not every delivery was acknowledged with 202");
        ok = false;
    }
    if accounted != sent {
        println!("FAIL: {accounted} deliveries accounted for, {sent} sent");
        ok = false;
    }
    if d[1] < expected_dups {
        println!("FAIL: {} duplicates dropped, {expected_dups} sent", d[1]);
        ok = false;
    }
    Ok(ok)
}
