//! How long `stagecoach sandbox` takes to be up: from spawning the command
//! (a new directory, so the demo world is created: bare repos, tags, the
//! landscapes) to its first line, which names the address it bound.
//!
//! `cargo bench --bench sandbox_start` (`SANDBOX_ROUNDS=5`). Figures and the
//! machine: docs/benchmarks.md. Tests check that it comes up, never how fast.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let rounds: usize = std::env::var("SANDBOX_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let mut runs = Vec::new();
    for _ in 0..rounds {
        let tmp = tempfile::tempdir().expect("tmp");
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args(["sandbox", "--dir"])
            .arg(tmp.path())
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let first = BufReader::new(stdout)
            .lines()
            .next()
            .expect("a line")
            .expect("text");
        runs.push(started.elapsed());
        let _ = child.kill();
        let _ = child.wait();
        assert!(first.starts_with("sandbox: http://127.0.0.1:"), "{first}");
    }
    runs.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!(
        "sandbox up (new world): median {:.0} ms, min {:.0} ms, max {:.0} ms ({} rounds)",
        ms(runs[runs.len() / 2]),
        ms(runs[0]),
        ms(runs[runs.len() - 1]),
        runs.len()
    );
}
