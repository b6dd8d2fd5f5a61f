//! How fast are `version next` and `changelog` on a 100,000-commit history,
//! next to `git log` (the floor: reading every message) and git-cliff?
//!
//! `cargo bench --bench history` builds the repo with `git fast-import`, runs
//! every command a few times through the release binary and prints the best
//! time of each, the ratios, and an in-process breakdown of where our time
//! goes. Set `HISTORY_COMMITS` to change the size.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stagecoach::changelog::{Changelog, render, section_from_commits};
use stagecoach::conventional;
use stagecoach::git::history::{commits_between, next_version};
use stagecoach::version::default_bump_rules;

const RUNS: usize = 3;

fn message(i: usize) -> String {
    match i % 10 {
        0..=2 => format!("feat(api): endpoint number {i} (#{i})\n\nLonger text about it.\n"),
        3..=4 => format!("fix: off-by-one in parser {i} (#{i})\n\nRefs: #{i}\n"),
        5 => format!("docs: explain step {i}\n"),
        6 => format!("chore(deps): bump crate {i}\n"),
        7 => format!("perf(git): faster walk {i}\n"),
        8 => format!("Update README for {i}\n"),
        _ if i % 10_000 == 9 => {
            format!("refactor!: new config layout {i}\n\nBREAKING CHANGE: `env` moved\n")
        }
        _ => format!("test: cover case {i}\n"),
    }
}

/// A repo of `count` commits on `main`, the first tagged `v1.0.0`.
fn build_repo(dir: &Path, count: usize) {
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?} failed");
    };
    git(&["init", "-q", "-b", "main"]);
    let mut stream = String::with_capacity(count * 120);
    for i in 0..count {
        let msg = message(i);
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{}\ncommitter Dev <dev@example.com> {} +0000\ndata {}\n{}",
            i + 1,
            1_600_000_000 + i * 60,
            msg.len(),
            msg
        ));
        if i == 0 {
            stream.push_str("M 644 inline README\ndata 6\nhello\n");
        }
        stream.push('\n');
    }
    stream.push_str("reset refs/tags/v1.0.0\nfrom :1\n\n");
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stream.as_bytes())
        .expect("stream written");
    assert!(child.wait().expect("fast-import ends").success());
}

/// Best of `RUNS` wall-clock times; `None` when the command fails.
fn time_command(dir: &Path, program: &str, args: &[&str]) -> Option<Duration> {
    let mut best: Option<Duration> = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let status = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        let took = start.elapsed();
        if !status.success() {
            return None;
        }
        best = Some(best.map_or(took, |b| b.min(took)));
    }
    best
}

fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (best, last.expect("RUNS > 0"))
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let count: usize = std::env::var("HISTORY_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path();
    let start = Instant::now();
    build_repo(path, count);
    println!("built {count} commits in {}", ms(start.elapsed()));

    let bin = env!("CARGO_BIN_EXE_stagecoach");
    let repo_arg = path.to_str().expect("utf-8 temp path");
    let floor =
        time_command(path, "git", &["log", "--format=%B", "v1.0.0..main"]).expect("git log works");
    let version = time_command(path, bin, &["version", "next", "--repo", repo_arg])
        .expect("version next works");
    let changelog = time_command(
        path,
        bin,
        &["changelog", "--repo", repo_arg, "--from", "v1.0.0"],
    )
    .expect("changelog works");
    let cliff_bumped = time_command(path, "git-cliff", &["--bumped-version"]);
    let cliff_changelog = time_command(path, "git-cliff", &[]);

    println!("\n| command | best of {RUNS} | × git log |");
    println!("| --- | --- | --- |");
    let row = |name: &str, d: Option<Duration>| match d {
        Some(d) => println!(
            "| {name} | {} | {:.2} |",
            ms(d),
            d.as_secs_f64() / floor.as_secs_f64()
        ),
        None => println!("| {name} | not available | |"),
    };
    row("git log --format=%B v1.0.0..main", Some(floor));
    row("stagecoach version next", Some(version));
    row("stagecoach changelog --from v1.0.0", Some(changelog));
    row(
        "stagecoach version next + changelog",
        Some(version + changelog),
    );
    row("git cliff --bumped-version", cliff_bumped);
    row("git cliff", cliff_changelog);
    if let (Some(a), Some(b)) = (cliff_bumped, cliff_changelog) {
        row("git cliff --bumped-version + git cliff", Some(a + b));
    }

    // Where our time goes, in process.
    let repo = git2::Repository::open(path).expect("repo opens");
    let (walk, commits) =
        best_of(|| commits_between(&repo, Some("v1.0.0"), "main").expect("walk works"));
    let (parse, parsed) = best_of(|| {
        commits
            .iter()
            .filter_map(|c| conventional::parse(&c.message))
            .count()
    });
    let (group, section) =
        best_of(|| section_from_commits(None, Some("v1.0.0"), Some("main"), &commits, false));
    let changelog = Changelog {
        version: None,
        date: None,
        sections: vec![section],
    };
    let (render_time, text) = best_of(|| render(&changelog, None).expect("renders"));
    let (next, found) = best_of(|| {
        next_version(&repo, None, "main", "v", &default_bump_rules()).expect("next works")
    });
    println!(
        "\nin process ({} commits, {parsed} conventional):",
        commits.len()
    );
    println!("  revwalk + read messages   {}", ms(walk));
    println!("  parse all messages        {}", ms(parse));
    println!("  group into a section      {}", ms(group));
    println!(
        "  render ({} KiB)        {}",
        text.len() / 1024,
        ms(render_time)
    );
    println!(
        "  next_version (walk+parse) {}  → {:?}",
        ms(next),
        found.next.map(|v| v.to_string())
    );
}
