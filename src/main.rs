//! The `stagecoach` command line: parse, call the library, print, exit.
//!
//! Exit codes are a contract: 0 success, 1 a failure of the world (network,
//! git, forge), 2 bad input (a file, flag or label the user can fix), 3 not
//! allowed (the person asking lacks the right). With `-o json` the error is
//! one JSON object on stderr: `{"error", "kind", "exit_code"}`.

use clap::{Parser, Subcommand};
use stagecoach::cli;

#[derive(Debug, Parser)]
#[command(
    name = "stagecoach",
    version,
    about = "GitOps promotion bot: component PR → product → CI → staging → canary → prod"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play the whole road in a local sandbox (no account, no network).
    Demo(cli::demo::Args),
    /// Run the bot: webhooks, periodic resync, schedules, /healthz, /metrics.
    Serve(cli::serve::Args),
    /// Start only the GitHub-compatible sandbox with the demo world.
    Sandbox(cli::sandbox::Args),
    /// One reconcile as a dry run: the actions the bot would take, and why.
    Plan(cli::plan::Args),
    /// Score a set of PR labels: risk level, points per factor, auto-merge.
    Risk(cli::risk::Args),
    /// Semantic versions from conventional commits.
    Version(cli::version::Args),
    /// Render a markdown changelog for a range of commits.
    Changelog(cli::changelog::Args),
    /// Set one YAML scalar, keeping comments, order, quoting and indentation.
    YamlSet(cli::yaml_set::Args),
    /// Where is this component, version, commit or PR on its way to production?
    Status(cli::status::Args),
    /// Product tags newest first, with stability score and where they run.
    Releases(cli::releases::Args),
    /// The four key delivery metrics per environment and component, from git and the forge.
    Report(cli::report::Args),
    /// Promote a product tag to an environment (canary, prod).
    Promote(cli::promote::Args),
    /// Mark a product tag as bad (or, with --undo, good again): never promoted while rejected.
    Reject(cli::reject::Args),
    /// Roll an environment back to an earlier release, in waves.
    Rollback(cli::rollback::Args),
    /// Start a hotfix of a product tag with one component's new version.
    Hotfix(cli::hotfix::Args),
}

impl Command {
    /// Whether the user asked for JSON (errors are then JSON too).
    fn wants_json(&self) -> bool {
        match self {
            Command::Plan(a) => a.output.json(),
            Command::Risk(a) => a.output.json(),
            Command::Version(a) => match &a.command {
                cli::version::Command::Next(n) => n.output.json(),
            },
            Command::Changelog(a) => a.output.json(),
            Command::YamlSet(a) => a.output.json(),
            Command::Status(a) => a.output.json(),
            Command::Releases(a) => a.output.json(),
            Command::Report(a) => a.output.json(),
            Command::Promote(a) => a.output.json(),
            Command::Reject(a) => a.output.json(),
            Command::Rollback(a) => a.output.json(),
            Command::Hotfix(a) => a.output.json(),
            Command::Demo(_) | Command::Serve(_) | Command::Sandbox(_) => false,
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let json = cli.command.wants_json();
    let result = match cli.command {
        Command::Demo(a) => cli::demo::run(a),
        Command::Serve(a) => cli::serve::run(a),
        Command::Sandbox(a) => cli::sandbox::run(a),
        Command::Plan(a) => cli::plan::run(a),
        Command::Risk(a) => cli::risk::run(a),
        Command::Version(a) => cli::version::run(a),
        Command::Changelog(a) => cli::changelog::run(a),
        Command::YamlSet(a) => cli::yaml_set::run(a),
        Command::Status(a) => cli::status::run(a),
        Command::Releases(a) => cli::releases::run(a),
        Command::Report(a) => cli::report::run(a),
        Command::Promote(a) => cli::promote::run(a),
        Command::Reject(a) => cli::reject::run(a),
        Command::Rollback(a) => cli::rollback::run(a),
        Command::Hotfix(a) => cli::hotfix::run(a),
    };
    if let Err(e) = result {
        // stderr gone too: nothing left to tell, the exit code still says it.
        use std::io::Write as _;
        let mut err = std::io::stderr().lock();
        let _ = if json {
            writeln!(err, "{}", e.to_json())
        } else {
            writeln!(err, "stagecoach: {e}")
        };
        std::process::exit(e.exit_code());
    }
}
