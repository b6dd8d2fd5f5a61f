//! One file per subcommand: its arguments (clap) and a `run` that calls the
//! library and prints. `main.rs` only dispatches and maps errors to exit codes.
//!
//! Shared habits of every command: `-o, --output text|json` (`--format` is a
//! hidden alias), output through [`emit`] so a closed pipe ends quietly,
//! and no ANSI colour unless the stream is a terminal and `NO_COLOR` is unset.

pub mod changelog;
pub mod demo;
pub mod hotfix;
pub mod plan;
pub mod promote;
pub mod reject;
pub mod releases;
pub mod report;
pub mod risk;
pub mod rollback;
pub mod sandbox;
pub mod serve;
pub mod status;
pub mod version;
pub mod yaml_set;

use std::io::{IsTerminal, Write};

use crate::error::{Error, Result};

/// How a command prints: for people or for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// `-o, --output text|json`, flattened into every command that prints.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Output {
    /// Output format: `text` for people, `json` for scripts (errors too, on stderr).
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = Format::Text, value_name = "text|json")]
    pub output: Format,
}

impl Output {
    pub fn json(self) -> bool {
        self.output == Format::Json
    }
}

/// Print `text` on stdout. A reader that went away (`stagecoach releases |
/// head -1`) is not an error: the process ends quietly with exit code 0.
pub fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::world(format!("cannot write to stdout: {e}"))),
    }
}

/// [`emit`] with a newline at the end (unless `text` has one).
pub fn emitln(text: &str) -> Result<()> {
    if text.ends_with('\n') {
        emit(text)
    } else {
        emit(&format!("{text}\n"))
    }
}

/// Serialise `value` for `-o json` (pretty, one document).
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::world(format!("json: {e}")))
}

/// `--token-env NAME`: act as the person whose token is in `$NAME`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Acting {
    /// Act as yourself: the environment variable holding your own GitHub token
    /// (default: `forge.token_env`, else STAGECOACH_TOKEN). The token is never printed.
    #[arg(long, value_name = "NAME")]
    pub token_env: Option<String>,
}

/// The config at `path`, acting as the person `acting` names: their token
/// (from the variable, which must be set) and no App credentials, so the
/// forge judges them, not the bot.
pub fn load_config_as(path: &std::path::Path, acting: &Acting) -> Result<crate::config::Config> {
    let mut config = crate::config::Config::load(path)?;
    if let Some(var) = &acting.token_env {
        if std::env::var(var).map_or(true, |t| t.trim().is_empty()) {
            return Err(Error::input(format!(
                "--token-env {var}: the variable is not set or empty; expected your GitHub token in it"
            )));
        }
        config.forge.token_env = Some(var.clone());
        config.forge.token = None;
        config.forge.app = None;
    }
    Ok(config)
}

/// Whether colour may be written to a stream: it is a terminal and
/// `NO_COLOR` (<https://no-color.org>) is unset or empty.
pub fn colour_allowed(is_terminal: bool) -> bool {
    colour_allowed_with(is_terminal, std::env::var_os("NO_COLOR").as_deref())
}

/// [`colour_allowed`] with `NO_COLOR`'s value given (pure, for tests).
pub fn colour_allowed_with(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The async runtime for the commands that talk to the forge.
/// The engine a one-shot command runs on: the configured forge, nothing else.
pub fn engine(config: crate::config::Config) -> Result<crate::engine::Engine> {
    let forge = crate::forge::github::GitHub::from_config(&config)?;
    Ok(crate::engine::Engine::new(
        config,
        std::sync::Arc::new(forge),
    ))
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::world(format!("cannot start the async runtime: {e}")))
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_allowed(std::io::stderr().is_terminal()))
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color_set() {
        assert!(colour_allowed_with(true, None));
        assert!(
            colour_allowed_with(true, Some("".as_ref())),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour_allowed_with(true, Some("1".as_ref())));
        assert!(
            !colour_allowed_with(false, None),
            "a pipe or file gets no ANSI"
        );
    }
}
