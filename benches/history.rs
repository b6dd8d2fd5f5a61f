//! How fast are `version next` and `changelog` on a 100,000-commit history,
//! next to `git log` (the floor: reading every message) and git-cliff?
//!
//! `cargo bench --bench history` builds the repo with `git fast-import`, runs
//! every command a few times through the release binary and prints the best
//! time of each, the ratios, and an in-process breakdown of where our time
//! goes. Set `HISTORY_COMMITS` to change the size, `HISTORY_RUNS` the number
//! of runs per command (best counts; default 3), `HISTORY_BASELINE` to the
//! path of another `stagecoach` binary to time it alongside (before/after
//! under the same load), `HISTORY_NO_CLIFF=1` to leave git-cliff out, and
//! `HISTORY_REPO` to a directory to build the repo there once and keep it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stagecoach::changelog::{Changelog, render, section_from_commits};
use stagecoach::conventional;
use stagecoach::git::history::{commits_between, next_version};
use stagecoach::version::default_bump_rules;

fn runs() -> usize {
    std::env::var("HISTORY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3)
}

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

/// A command line to time.
struct Timed<'a> {
    program: &'a str,
    args: Vec<&'a str>,
    /// Best wall-clock time so far; `None` before the first run or once it failed.
    best: Option<Duration>,
    failed: bool,
}

impl<'a> Timed<'a> {
    fn new(program: &'a str, args: &[&'a str]) -> Self {
        Timed {
            program,
            args: args.to_vec(),
            best: None,
            failed: false,
        }
    }

    fn result(&self) -> Option<Duration> {
        if self.failed { None } else { self.best }
    }
}

/// Run every command `runs()` times, round-robin so that a burst of load on
/// this shared machine hits them all alike, and keep each one's best time.
fn time_commands(dir: &Path, commands: &mut [Timed<'_>]) {
    for _ in 0..runs() {
        for command in commands.iter_mut().filter(|c| !c.failed) {
            let start = Instant::now();
            let status = Command::new(command.program)
                .args(&command.args)
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let took = start.elapsed();
            match status {
                Ok(status) if status.success() => {
                    command.best = Some(command.best.map_or(took, |b| b.min(took)));
                }
                _ => command.failed = true,
            }
        }
    }
}

fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs() {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (best, last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let count: usize = std::env::var("HISTORY_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // HISTORY_REPO keeps the repo (built once) for profiling the commands by hand.
    let dir = tempfile::tempdir().expect("temp dir");
    let kept = std::env::var_os("HISTORY_REPO").map(std::path::PathBuf::from);
    let path = kept.as_deref().unwrap_or(dir.path());
    if !path.join(".git").exists() {
        std::fs::create_dir_all(path).expect("repo dir");
        let start = Instant::now();
        build_repo(path, count);
        println!("built {count} commits in {}", ms(start.elapsed()));
    }

    let bin = env!("CARGO_BIN_EXE_stagecoach");
    let repo_arg = path.to_str().expect("utf-8 temp path");
    let baseline = std::env::var("HISTORY_BASELINE").ok();
    let with_cliff = std::env::var_os("HISTORY_NO_CLIFF").is_none();
    let version_args = ["version", "next", "--repo", repo_arg];
    let changelog_args = ["changelog", "--repo", repo_arg, "--from", "v1.0.0"];
    let mut commands = vec![
        Timed::new("git", &["log", "--format=%B", "v1.0.0..main"]),
        Timed::new(bin, &version_args),
        Timed::new(bin, &changelog_args),
    ];
    if let Some(old) = &baseline {
        commands.push(Timed::new(old, &version_args));
        commands.push(Timed::new(old, &changelog_args));
    }
    if with_cliff {
        commands.push(Timed::new("git-cliff", &["--bumped-version"]));
        commands.push(Timed::new("git-cliff", &[]));
    }
    time_commands(path, &mut commands);
    let floor = commands[0].result().expect("git log works");
    let version = commands[1].result().expect("version next works");
    let changelog = commands[2].result().expect("changelog works");
    let (old_version, old_changelog) = match &baseline {
        Some(_) => (commands[3].result(), commands[4].result()),
        None => (None, None),
    };
    let cliff = |args: &[&str]| {
        commands
            .iter()
            .find(|c| c.program == "git-cliff" && c.args == args)
            .and_then(Timed::result)
    };
    let cliff_bumped = cliff(&["--bumped-version"]);
    let cliff_changelog = cliff(&[]);

    println!("\n| command | best of {} | × git log |", runs());
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
    if baseline.is_some() {
        row("baseline version next", old_version);
        row("baseline changelog --from v1.0.0", old_changelog);
        if let (Some(a), Some(b)) = (old_version, old_changelog) {
            row("baseline version next + changelog", Some(a + b));
        }
    }
    row("git cliff --bumped-version", cliff_bumped);
    row("git cliff", cliff_changelog);
    if let (Some(a), Some(b)) = (cliff_bumped, cliff_changelog) {
        row("git cliff --bumped-version + git cliff", Some(a + b));
    }

    // Where our time goes, in process, set up as the commands are.
    stagecoach::git::history::settle_for_one_pass();
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
    println!("  walk + read messages      {}", ms(walk));
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
