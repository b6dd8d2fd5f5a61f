//! The shell edge that asks "is it healthy?": runs the policy's gate commands
//! and watches a component's health through the policy's health source
//! (a command, Argo CD, or a commit status on the landscape commit).
//!
//! Reading what a source says is a pure function (`argocd_verdict`,
//! `commit_status_verdict`); only the polling and the processes live here.

use std::collections::VecDeque;
use std::future::Future;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::time::Instant;

use crate::engine::http::JsonClient;
use crate::forge::{CommitStatus, Forge, RepoId, StatusState};
use crate::policy::HealthSource;

/// How many lines of output a result keeps: enough to see why, short enough
/// for a PR comment.
const TAIL_LINES: usize = 20;
/// Longer lines are cut: one runaway line must not fill the comment.
const MAX_LINE_BYTES: usize = 500;
/// A one-line summary never grows past this.
const MAX_SUMMARY_CHARS: usize = 300;
/// After the shell exits, how long its output pipes may stay open (a
/// background child that escaped the process group) before we stop reading.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// A zero `poll_every` must not turn a watch into a busy loop.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Each poll of a remote source gets at least this long, even at the deadline.
const MIN_POLL_TIMEOUT: Duration = Duration::from_secs(1);

/// What is being checked; becomes the command's environment and fills the
/// Argo CD application template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GateContext {
    pub env: String,
    pub component: String,
    pub version: String,
    pub cluster: String,
    /// `Some` when the run tests a feature toggle on or off.
    pub toggle: Option<bool>,
    pub pr: Option<u64>,
}

/// The answer of one gate or health watch, ready to be shown to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateResult {
    pub passed: bool,
    /// One line: what was seen.
    pub summary: String,
    /// The last lines of output (commands) or of what was observed.
    pub detail: String,
}

impl GateResult {
    fn new(passed: bool, summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            passed,
            summary: one_line(&summary.into(), MAX_SUMMARY_CHARS),
            detail: detail.into(),
        }
    }
}

/// Where and how a health watch looks.
pub struct HealthProbe<'a> {
    /// Working directory of health commands (a checkout of the product's main).
    pub workdir: &'a Path,
    pub forge: &'a dyn Forge,
    /// The landscape repository and the commit whose health is watched.
    pub landscape_repo: &'a RepoId,
    pub landscape_sha: &'a str,
    /// Time between two polls of Argo CD or the commit statuses.
    pub poll_every: Duration,
}

/// Run a policy command with `sh -c`. The command comes from the policy on
/// the product's main branch, never from a PR branch, so a PR cannot choose
/// what the bot executes.
///
/// The command sees `STAGECOACH_ENV`, `STAGECOACH_COMPONENT`,
/// `STAGECOACH_VERSION`, `STAGECOACH_CLUSTER`, `STAGECOACH_PR` (when there is
/// a PR) and `STAGECOACH_TOGGLE=on|off` (when a toggle is tested). Exit 0
/// passes. It runs in its own process group, and the whole group is killed
/// when it times out or when the shell exits, so no stray process outlives
/// the gate.
pub async fn run_command(
    command: &str,
    timeout: Duration,
    ctx: &GateContext,
    workdir: &Path,
) -> GateResult {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(workdir)
        .envs(gate_env(ctx))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return GateResult::new(
                false,
                format!("could not start `sh -c` in {}: {e}", workdir.display()),
                "",
            );
        }
    };
    // Killing the group on drop also covers a caller that gives up on us
    // (the future is dropped mid-wait): no gate process outlives its gate.
    let group = ProcessGroup(child.id());
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(collect_lines(out, Arc::clone(&tail))));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(collect_lines(err, Arc::clone(&tail))));
    }

    let waited = tokio::time::timeout(timeout, child.wait()).await;
    drop(group);
    let status = match waited {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(e)) => Err(format!("lost track of the command: {e}")),
        Err(_) => Err(format!(
            "timed out after {}",
            humantime::format_duration(timeout)
        )),
    };
    if status.is_err() {
        // Make sure the shell itself is gone and reaped.
        let _ = child.kill().await;
    }
    for reader in readers {
        let abort = reader.abort_handle();
        if tokio::time::timeout(DRAIN_GRACE, reader).await.is_err() {
            abort.abort();
        }
    }

    let lines: Vec<String> = match tail.lock() {
        Ok(lines) => lines.iter().cloned().collect(),
        Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
    };
    let last = lines.last().map(String::as_str);
    let detail = lines.join("\n");
    match status {
        Ok(status) => GateResult::new(status.success(), exit_summary(status, last), detail),
        Err(mut summary) => {
            if let Some(last) = last {
                summary.push_str(&format!("; last output: {last}"));
            }
            GateResult::new(false, summary, detail)
        }
    }
}

/// Watch the health of one component on one cluster with the policy's
/// health source, until it is healthy, clearly broken, or out of time.
pub async fn check_health(
    source: &HealthSource,
    ctx: &GateContext,
    probe: &HealthProbe<'_>,
) -> GateResult {
    match source {
        HealthSource::Command { command, timeout } => {
            run_command(command, *timeout, ctx, probe.workdir).await
        }
        HealthSource::Argocd {
            url,
            app,
            token_env,
            timeout,
        } => watch_argocd(url, app, token_env.as_deref(), *timeout, ctx, probe).await,
        HealthSource::CommitStatus { context, timeout } => {
            watch_commit_status(context, *timeout, probe).await
        }
    }
}

/// What one look at a health source said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed(String),
    Failed(String),
    /// Not decided yet; the text is what was seen, for the timeout message.
    Waiting(String),
}

/// Read an Argo CD application (`GET /api/v1/applications/{name}`; the
/// shapes are Argo CD's `v1alpha1Application` from its API description,
/// argoproj/argo-cd `assets/swagger.json`).
///
/// Healthy and Synced passes only once Argo CD reports the landscape commit
/// we wrote in `status.sync.revision` (or `status.sync.revisions`, for an
/// application with several sources): right after a push it still shows the
/// previous commit as Healthy/Synced, which says nothing about ours, and an
/// application that reports no revision at all has not shown ours either.
/// A sync operation still running (`status.operationState.phase: Running`)
/// is waited for. Degraded fails at once, naming the first degraded
/// resource (the application's own `health.message` is deprecated and
/// usually empty); anything else (Progressing, Missing, Suspended, OutOfSync,
/// Unknown) is worth waiting for.
pub fn argocd_verdict(app_name: &str, application: &Value, expected_sha: &str) -> Verdict {
    let text = |v: &Value| v.as_str().unwrap_or("Unknown").to_string();
    let status = &application["status"];
    let health = text(&status["health"]["status"]);
    let sync = text(&status["sync"]["status"]);
    let mut revisions: Vec<&str> = status["sync"]["revisions"]
        .as_array()
        .map(|rs| rs.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(r) = status["sync"]["revision"].as_str() {
        revisions.insert(0, r);
    }
    revisions.retain(|r| !r.trim().is_empty());
    let at_our_commit =
        expected_sha.is_empty() || revisions.iter().any(|r| same_commit(r, expected_sha));
    let seen = match revisions.first() {
        Some(r) => format!("argocd app {app_name}: {health}, {sync} at {}", short(r)),
        None => format!("argocd app {app_name}: {health}, {sync}"),
    };
    if health == "Degraded" {
        return match degraded_reason(status) {
            Some(reason) => Verdict::Failed(format!("{seen}: {reason}")),
            None => Verdict::Failed(seen),
        };
    }
    if health == "Healthy" && sync == "Synced" {
        if !at_our_commit {
            let why = if revisions.is_empty() {
                "no revision reported"
            } else {
                "another revision"
            };
            return Verdict::Waiting(format!(
                "{seen} ({why}), waiting for {}",
                short(expected_sha)
            ));
        }
        if status["operationState"]["phase"].as_str() == Some("Running") {
            return Verdict::Waiting(format!("{seen}, sync still running"));
        }
        return Verdict::Passed(seen);
    }
    Verdict::Waiting(seen)
}

/// Why a Degraded application is degraded: the application's health message
/// when Argo CD gives one, else the first resource in `status.resources`
/// whose health is Degraded, as `<Kind> <name>: <message>`.
fn degraded_reason(status: &Value) -> Option<String> {
    let message = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
    };
    if let Some(m) = message(&status["health"]["message"]) {
        return Some(m);
    }
    let resource = status["resources"]
        .as_array()?
        .iter()
        .find(|r| r["health"]["status"] == "Degraded")?;
    let kind = resource["kind"].as_str().unwrap_or("resource");
    let name = resource["name"].as_str().unwrap_or("?");
    Some(match message(&resource["health"]["message"]) {
        Some(m) => format!("{kind} {name}: {m}"),
        None => format!("{kind} {name} is Degraded"),
    })
}

/// Read the landscape commit's statuses for one context.
pub fn commit_status_verdict(context: &str, statuses: &[CommitStatus]) -> Verdict {
    let Some(status) = statuses.iter().find(|s| s.context == context) else {
        return Verdict::Waiting(format!("commit status `{context}` not reported yet"));
    };
    let seen = if status.description.is_empty() {
        format!("commit status `{context}`: {}", state_word(status.state))
    } else {
        format!(
            "commit status `{context}`: {} ({})",
            state_word(status.state),
            status.description
        )
    };
    match status.state {
        StatusState::Success => Verdict::Passed(seen),
        StatusState::Failure | StatusState::Error => Verdict::Failed(seen),
        StatusState::Pending => Verdict::Waiting(seen),
    }
}

async fn watch_argocd(
    base_url: &str,
    app_template: &str,
    token_env: Option<&str>,
    timeout: Duration,
    ctx: &GateContext,
    probe: &HealthProbe<'_>,
) -> GateResult {
    let app_name = fill_app_template(app_template, ctx);
    let url = match application_url(base_url, &app_name) {
        Ok(url) => url,
        Err(why) => return GateResult::new(false, why, ""),
    };
    let token = match token_env {
        Some(var) => match std::env::var(var) {
            Ok(token) if !token.is_empty() => Some(token),
            _ => {
                return GateResult::new(
                    false,
                    format!("argocd: environment variable {var} (the API token) is not set"),
                    "",
                );
            }
        },
        None => None,
    };
    let client = match JsonClient::new() {
        Ok(client) => client,
        Err(e) => return GateResult::new(false, e.message(), ""),
    };
    let (client, url, token, app_name) = (&client, url.as_str(), token.as_deref(), &app_name);
    poll_until_decided(timeout, probe.poll_every, |limit| async move {
        match client.get_json::<Value>(url, &[], token, limit).await {
            Ok(app) => argocd_verdict(app_name, &app, probe.landscape_sha),
            Err(e) => Verdict::Waiting(format!("argocd app {app_name}: {e}")),
        }
    })
    .await
}

async fn watch_commit_status(
    context: &str,
    timeout: Duration,
    probe: &HealthProbe<'_>,
) -> GateResult {
    poll_until_decided(timeout, probe.poll_every, |_| async move {
        match probe
            .forge
            .list_statuses(probe.landscape_repo, probe.landscape_sha)
            .await
        {
            Ok(statuses) => commit_status_verdict(context, &statuses),
            Err(e) => Verdict::Waiting(format!("commit status `{context}`: {e}")),
        }
    })
    .await
}

/// Look, and look again every `every`, until a verdict or `timeout`. Each
/// look is given the time left (at least `MIN_POLL_TIMEOUT`); one that does
/// not answer in time counts as "no answer", not as a failure.
async fn poll_until_decided<F, Fut>(timeout: Duration, every: Duration, mut look: F) -> GateResult
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Verdict>,
{
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let limit = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_POLL_TIMEOUT);
        let verdict = tokio::time::timeout(limit, look(limit))
            .await
            .unwrap_or_else(|_| Verdict::Waiting("no answer in time".to_string()));
        match verdict {
            Verdict::Passed(what) => return GateResult::new(true, what, seen.join("\n")),
            Verdict::Failed(what) => {
                seen.push(what.clone());
                return GateResult::new(false, what, tail_of(seen));
            }
            Verdict::Waiting(what) => {
                if seen.last() != Some(&what) {
                    seen.push(what);
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(every.max(MIN_POLL_INTERVAL).min(deadline - now)).await;
    }
    let last = seen.last().cloned().unwrap_or_default();
    GateResult::new(
        false,
        format!(
            "timed out after {}; last seen: {last}",
            humantime::format_duration(timeout)
        ),
        tail_of(seen),
    )
}

fn tail_of(mut lines: Vec<String>) -> String {
    if lines.len() > TAIL_LINES {
        lines.drain(..lines.len() - TAIL_LINES);
    }
    lines.join("\n")
}

fn gate_env(ctx: &GateContext) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("STAGECOACH_ENV", ctx.env.clone()),
        ("STAGECOACH_COMPONENT", ctx.component.clone()),
        ("STAGECOACH_VERSION", ctx.version.clone()),
        ("STAGECOACH_CLUSTER", ctx.cluster.clone()),
    ];
    if let Some(pr) = ctx.pr {
        env.push(("STAGECOACH_PR", pr.to_string()));
    }
    if let Some(on) = ctx.toggle {
        env.push((
            "STAGECOACH_TOGGLE",
            if on { "on" } else { "off" }.to_string(),
        ));
    }
    env
}

/// Fill `{component}`, `{cluster}` and `{env}` in an Argo CD app template.
pub fn fill_app_template(template: &str, ctx: &GateContext) -> String {
    template
        .replace("{component}", &ctx.component)
        .replace("{cluster}", &ctx.cluster)
        .replace("{env}", &ctx.env)
}

/// `{base}/api/v1/applications/{name}`, with the name as one escaped path
/// segment so a template cannot reach another API path.
fn application_url(base: &str, app_name: &str) -> Result<Url, String> {
    let mut url = Url::parse(base)
        .map_err(|e| format!("argocd url `{base}`: {e}; expected https://argocd.example"))?;
    url.path_segments_mut()
        .map_err(|_| format!("argocd url `{base}`: expected an http(s) URL"))?
        .pop_if_empty()
        .extend(["api", "v1", "applications", app_name]);
    Ok(url)
}

fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    !a.is_empty()
        && !b.is_empty()
        && (a.eq_ignore_ascii_case(b)
            || (a.len() >= 7 && b.len() >= 7 && (a.starts_with(b) || b.starts_with(a))))
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn state_word(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Success => "success",
        StatusState::Failure => "failure",
        StatusState::Error => "error",
    }
}

fn exit_summary(status: ExitStatus, last: Option<&str>) -> String {
    let outcome = match (status.code(), status.signal()) {
        (Some(0), _) => "passed".to_string(),
        (Some(code), _) => format!("failed with exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "failed".to_string(),
    };
    match last {
        Some(line) => format!("{outcome}: {line}"),
        None => outcome,
    }
}

/// The gate's process group (led by our child, made by `process_group(0)`);
/// every process in it is killed when this is dropped.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Some(pgid) = self.0.and_then(|pid| libc::pid_t::try_from(pid).ok()) else {
            return;
        };
        if pgid <= 1 {
            return;
        }
        // SAFETY: kill(2) with a negative pid only sends a signal to that
        // process group; it reads or writes no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Read a pipe to its end, keeping the last `TAIL_LINES` non-blank lines
/// (each cut at `MAX_LINE_BYTES`) in `tail`, shared by stdout and stderr so
/// their lines interleave roughly as they were written.
async fn collect_lines(mut pipe: impl AsyncRead + Unpin, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut buf = [0u8; 8192];
    let mut line = Vec::new();
    let mut cut = false;
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &byte in &buf[..n] {
            if byte == b'\n' {
                push_line(&tail, &line, cut);
                line.clear();
                cut = false;
            } else if line.len() < MAX_LINE_BYTES {
                line.push(byte);
            } else {
                cut = true;
            }
        }
    }
    push_line(&tail, &line, cut);
}

fn push_line(tail: &Mutex<VecDeque<String>>, raw: &[u8], cut: bool) {
    let mut text: String = String::from_utf8_lossy(raw)
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect();
    let trimmed = text.trim_end();
    if trimmed.is_empty() {
        return;
    }
    text.truncate(trimmed.len());
    if cut {
        text.push('…');
    }
    let mut lines = match tail.lock() {
        Ok(lines) => lines,
        Err(poisoned) => poisoned.into_inner(),
    };
    lines.push_back(text);
    while lines.len() > TAIL_LINES {
        lines.pop_front();
    }
}

fn one_line(text: &str, max_chars: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= max_chars {
        joined
    } else {
        let mut cut: String = joined.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn app(health: &str, sync: &str, revision: &str) -> Value {
        json!({"status": {"health": {"status": health}, "sync": {"status": sync, "revision": revision}}})
    }

    #[test]
    fn argocd_passes_when_healthy_and_synced_at_our_commit() {
        let v = argocd_verdict("pay-eu-1", &app("Healthy", "Synced", SHA), SHA);
        assert_eq!(
            v,
            Verdict::Passed("argocd app pay-eu-1: Healthy, Synced at 0123456".into())
        );
    }

    #[test]
    fn argocd_waits_while_healthy_at_the_previous_commit() {
        let v = argocd_verdict("a", &app("Healthy", "Synced", "ffffffffffffffff"), SHA);
        assert!(
            matches!(v, Verdict::Waiting(ref s) if s.contains("waiting for 0123456")),
            "{v:?}"
        );
    }

    #[test]
    fn argocd_waits_when_no_revision_is_reported() {
        let mut a = app("Healthy", "Synced", SHA);
        a["status"]["sync"]
            .as_object_mut()
            .unwrap()
            .remove("revision");
        let v = argocd_verdict("a", &a, SHA);
        assert_eq!(
            v,
            Verdict::Waiting(
                "argocd app a: Healthy, Synced (no revision reported), waiting for 0123456".into()
            )
        );
    }

    #[test]
    fn argocd_waits_for_a_running_sync_and_reads_multi_source_revisions() {
        let mut a = app("Healthy", "Synced", SHA);
        a["status"]["operationState"] = json!({"phase": "Running"});
        assert!(
            matches!(argocd_verdict("a", &a, SHA), Verdict::Waiting(ref s) if s.ends_with("sync still running"))
        );
        let multi = json!({"status": {"health": {"status": "Healthy"},
            "sync": {"status": "Synced", "revisions": ["ffffffffffffffff", SHA]}}});
        assert!(matches!(
            argocd_verdict("a", &multi, SHA),
            Verdict::Passed(_)
        ));
    }

    #[test]
    fn argocd_degraded_names_the_degraded_resource() {
        let mut a = app("Degraded", "Synced", SHA);
        a["status"]["resources"] = json!([
            {"kind": "Service", "name": "pay", "health": {"status": "Healthy"}},
            {"kind": "Deployment", "name": "pay", "health": {"status": "Degraded", "message": "CrashLoopBackOff"}}
        ]);
        assert_eq!(
            argocd_verdict("a", &a, SHA),
            Verdict::Failed(
                "argocd app a: Degraded, Synced at 0123456: Deployment pay: CrashLoopBackOff"
                    .into()
            )
        );
    }

    #[test]
    fn argocd_degraded_fails_at_once_with_its_message() {
        let mut a = app("Degraded", "Synced", SHA);
        a["status"]["health"]["message"] = json!("CrashLoopBackOff");
        let v = argocd_verdict("a", &a, SHA);
        assert!(
            matches!(v, Verdict::Failed(ref s) if s.ends_with("CrashLoopBackOff")),
            "{v:?}"
        );
    }

    #[test]
    fn argocd_progressing_or_missing_fields_wait() {
        assert!(matches!(
            argocd_verdict("a", &app("Progressing", "Synced", SHA), SHA),
            Verdict::Waiting(_)
        ));
        assert_eq!(
            argocd_verdict("a", &json!({}), SHA),
            Verdict::Waiting("argocd app a: Unknown, Unknown".into())
        );
    }

    #[test]
    fn commit_status_reads_only_its_context() {
        let st = |context: &str, state| CommitStatus {
            context: context.into(),
            state,
            description: String::new(),
            target_url: None,
            updated_at: None,
        };
        let statuses = [
            st("other", StatusState::Failure),
            st("health", StatusState::Success),
        ];
        assert!(matches!(
            commit_status_verdict("health", &statuses),
            Verdict::Passed(_)
        ));
        assert!(matches!(
            commit_status_verdict("nope", &statuses),
            Verdict::Waiting(_)
        ));
        assert!(matches!(
            commit_status_verdict("x", &[st("x", StatusState::Error)]),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn app_template_and_url_escape_the_name() {
        let ctx = GateContext {
            env: "ci".into(),
            component: "payments".into(),
            cluster: "eu-1".into(),
            ..GateContext::default()
        };
        assert_eq!(
            fill_app_template("{component}-{cluster}-{env}", &ctx),
            "payments-eu-1-ci"
        );
        let url = application_url("https://argo.example/", "../x?y").unwrap();
        assert_eq!(
            url.as_str(),
            "https://argo.example/api/v1/applications/..%2Fx%3Fy"
        );
    }

    #[test]
    fn long_lines_are_cut_and_blank_lines_dropped() {
        let tail = Mutex::new(VecDeque::new());
        push_line(&tail, b"   \t ", false);
        push_line(&tail, b"ok\x1b[0m\r", false);
        push_line(&tail, &[b'x'; MAX_LINE_BYTES], true);
        let lines = tail.into_inner().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "ok[0m");
        assert!(lines[1].ends_with('…'));
    }
}
