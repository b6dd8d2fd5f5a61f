//! A `stagecoach serve` child process: started on port 0 with a config
//! file, its address taken from what it says, its progress from `/metrics`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::wait::{Progress, wait_for};
use crate::error::{Error, Result};

/// What `serve` prints once it listens.
const SERVING_ON: &str = "stagecoach serving on http://";

/// `EXE serve --config CONFIG`, to which a caller adds its flags and env.
pub fn serve_command(exe: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("serve").arg("--config").arg(config);
    cmd
}

/// A running `serve` child; killed when dropped, so a failing test leaves
/// no bot behind.
pub struct Serve {
    child: Option<Child>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// Where it listens (`127.0.0.1:PORT`).
    pub addr: String,
    http: reqwest::Client,
}

impl Serve {
    /// Spawn `cmd` with its output appended to `log`, and wait for the
    /// address it reports in the part of `log` it writes.
    pub async fn start(mut cmd: Command, log: &Path) -> Result<Serve> {
        let from = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0) as usize;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = cmd
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| Error::world(format!("cannot start `stagecoach serve`: {e}")))?;
        let http = crate::engine::http::client_builder()
            .build()
            .map_err(|e| Error::world(format!("an HTTP client: {e}")))?;
        let mut serve = Serve {
            child: Some(child),
            log: log.to_path_buf(),
            addr: String::new(),
            http,
        };
        serve.addr = serving_addr(log, from).await?;
        Ok(serve)
    }

    /// Its pass counter, for [`super::wait::wait_for`].
    pub fn progress(&self) -> Progress {
        Progress::Serve {
            http: self.http.clone(),
            addr: self.addr.clone(),
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL it (no graceful stop) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it has exited by itself (its status, once).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The address a `serve` child reports (`stagecoach serving on http://ADDR`)
/// in `log` past byte `from` (earlier lives of the same log are not this one).
pub async fn serving_addr(log: &Path, from: usize) -> Result<String> {
    wait_for(
        &Progress::Nothing,
        &format!("`{SERVING_ON}…` in {}", log.display()),
        || async {
            let Ok(text) = std::fs::read(log) else {
                return Ok(None);
            };
            let text = String::from_utf8_lossy(text.get(from..).unwrap_or_default());
            Ok(text
                .lines()
                .find_map(|l| l.split_once(SERVING_ON).map(|(_, a)| a.trim().to_string())))
        },
    )
    .await
}
