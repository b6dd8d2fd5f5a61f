//! Gates and the stability score against real processes, real Prometheus
//! and Alertmanager, and an HTTP server on 127.0.0.1 answering as Argo CD.

mod real_signals;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use stagecoach::engine::gates::{GateContext, GateResult, HealthProbe, check_health, run_command};
use stagecoach::engine::stability::{
    Part, Sample, Score, parse_note, parse_samples, part_names, render_note, render_samples,
    sample_due, score, take_sample,
};
use stagecoach::error::{Error, Result};
use stagecoach::forge::{
    Comment, CommitStatus, Forge, LabelEvent, MergeMethod, MergeOutcome, NewPull, NewRelease,
    Permission, PullRequest, Release, RepoId, Review, StatusState, Tag,
};
use stagecoach::policy::{HealthSource, Policy, Signal, Stability};

use real_signals::Monitoring;

const SHA: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

fn ctx() -> GateContext {
    GateContext {
        env: "ci".into(),
        component: "payments".into(),
        version: "1.5.0".into(),
        cluster: "eu-1".into(),
        toggle: None,
        pr: Some(42),
    }
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    format!("sh {}", path.display())
}

// ---------------------------------------------------------------- commands

#[tokio::test]
async fn command_exit_zero_passes_with_its_last_line_as_summary() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(dir.path(), "ok.sh", "echo checking\necho all pods ready");
    let r = run_command(&cmd, Duration::from_secs(10), &ctx(), dir.path()).await;
    assert!(r.passed, "{r:?}");
    assert_eq!(r.summary, "passed: all pods ready");
    assert_eq!(r.detail, "checking\nall pods ready");
}

#[tokio::test]
async fn command_failure_reports_exit_code_and_message_from_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "bad.sh",
        "echo 'payments: 3 pods crashlooping' >&2\nexit 3",
    );
    let r = run_command(&cmd, Duration::from_secs(10), &ctx(), dir.path()).await;
    assert!(!r.passed);
    assert_eq!(
        r.summary,
        "failed with exit code 3: payments: 3 pods crashlooping"
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    let cmd = format!(
        "sleep 30 & echo $! > {}; echo started; sleep 30",
        pidfile.display()
    );
    // The summary says the gate ended on its timeout, not on the command's
    // exit (which would take 30 s); no stopwatch needed.
    let r = run_command(&cmd, Duration::from_secs(1), &ctx(), dir.path()).await;
    assert!(!r.passed);
    assert_eq!(r.summary, "timed out after 1s; last output: started");
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        eventually_dead(&pid).await,
        "background sleep {pid} outlived the gate"
    );
}

#[tokio::test]
async fn a_caller_giving_up_on_a_gate_kills_its_processes() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    let cmd = format!("sleep 30 & echo $! > {}; sleep 30", pidfile.display());
    let context = ctx();
    let gate = run_command(&cmd, Duration::from_secs(60), &context, dir.path());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), gate)
            .await
            .is_err()
    );
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        eventually_dead(&pid).await,
        "background sleep {pid} outlived the gate"
    );
}

#[tokio::test]
async fn a_background_child_holding_the_pipes_does_not_hang_a_finished_gate() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("escaped.pid");
    // `setsid` takes the child out of the gate's process group, so nothing
    // kills it: it keeps stdout and stderr open for 30 s. The shell goes on
    // only once the child has left the group (it writes its pid after).
    let cmd = format!(
        "setsid sh -c 'echo $$ > {p}; exec sleep 30' & while [ ! -s {p} ]; do sleep 0.01; done; echo done",
        p = pidfile.display()
    );
    let r = run_command(&cmd, Duration::from_secs(60), &ctx(), dir.path()).await;
    assert!(r.passed, "{r:?}");
    assert_eq!(r.summary, "passed: done");
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    // Progress, not a stopwatch: the gate answered while the child holding
    // its pipes still runs.
    let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
    });
    if let Ok(pid) = pid.parse::<libc::pid_t>() {
        // SAFETY: kill(2) on the pid of the sleep this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    assert!(alive, "the gate waited for the escaped child {pid} to end");
}

/// Dead, or a zombie waiting for a reaper that is not ours.
async fn eventually_dead(pid: &str) -> bool {
    for _ in 0..50 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z')) =>
            {
                return true;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    false
}

#[tokio::test]
async fn the_command_sees_what_it_checks_in_its_environment_and_runs_in_workdir() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "echo \"$STAGECOACH_ENV $STAGECOACH_COMPONENT $STAGECOACH_VERSION $STAGECOACH_CLUSTER $STAGECOACH_PR toggle=${STAGECOACH_TOGGLE-unset}\"; pwd";
    let r = run_command(cmd, Duration::from_secs(10), &ctx(), dir.path()).await;
    assert!(r.passed);
    let lines: Vec<&str> = r.detail.lines().collect();
    assert_eq!(lines[0], "ci payments 1.5.0 eu-1 42 toggle=unset");
    assert_eq!(
        Path::new(lines[1]).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
}

#[tokio::test]
async fn toggle_on_and_off_reach_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "test \"$STAGECOACH_TOGGLE\" = on";
    for (toggle, passes) in [(Some(true), true), (Some(false), false), (None, false)] {
        let c = GateContext { toggle, ..ctx() };
        let r = run_command(cmd, Duration::from_secs(10), &c, dir.path()).await;
        assert_eq!(r.passed, passes, "toggle {toggle:?}: {r:?}");
    }
    let off = GateContext {
        toggle: Some(false),
        ..ctx()
    };
    let r = run_command(
        "echo $STAGECOACH_TOGGLE",
        Duration::from_secs(10),
        &off,
        dir.path(),
    )
    .await;
    assert_eq!(r.detail, "off");
}

#[tokio::test]
async fn output_keeps_only_the_last_twenty_lines() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_command("seq 1 500", Duration::from_secs(10), &ctx(), dir.path()).await;
    let lines: Vec<&str> = r.detail.lines().collect();
    assert_eq!(lines.len(), 20);
    assert_eq!(lines[0], "481");
    assert_eq!(lines[19], "500");
}

#[tokio::test]
async fn a_missing_workdir_fails_the_gate_instead_of_panicking() {
    let r = run_command(
        "true",
        Duration::from_secs(5),
        &ctx(),
        Path::new("/nonexistent/x"),
    )
    .await;
    assert!(!r.passed);
    assert!(r.summary.starts_with("could not start"), "{}", r.summary);
}

// ------------------------------------------------------------ a fake Argo CD
//
// Argo CD cannot run here (it needs a Kubernetes cluster), so this serves its
// application API in the shapes of its own API description,
// argoproj/argo-cd `assets/swagger.json`: `GET /api/v1/applications/{name}`
// answers a `v1alpha1Application` whose `status` holds `sync`
// (`v1alpha1SyncStatus`: `status`, `revision`, `comparedTo`), `health`
// (`v1alpha1HealthStatus`: `status`, `message`) and `resources`
// (`v1alpha1ResourceStatus` each with its own `health`). Prometheus and
// Alertmanager are the real ones (tests/real_signals).

#[derive(Default)]
struct FakeArgo {
    polls: AtomicUsize,
}

/// The token the Argo CD endpoint expects: the value of `HOME`, an env var
/// every test process already has (setting one would race other tests).
fn argocd_token() -> String {
    std::env::var("HOME").unwrap_or_default()
}

/// An application as `GET /api/v1/applications/{name}` answers it.
fn argo_application(name: &str, health: &str, sync: &str, revision: &str) -> Value {
    // A Deployment's health carries the message; the application's own
    // `health.message` is deprecated and left empty by Argo CD.
    let deployment_message = match health {
        "Degraded" => "Deployment \"payments\" exceeded its progress deadline",
        "Progressing" => "Waiting for rollout to finish: 1 old replicas are pending termination...",
        _ => "",
    };
    json!({
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example/acme/landscape-ci.git", "path": "clusters/eu-1/payments", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "payments"}
        },
        "status": {
            "sync": {
                "status": sync,
                "revision": revision,
                "comparedTo": {"source": {"repoURL": "https://git.example/acme/landscape-ci.git", "targetRevision": "main"}}
            },
            "health": {"status": health},
            "resources": [
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "payments", "name": "payments",
                 "status": sync, "health": {"status": health, "message": deployment_message}},
                {"version": "v1", "kind": "Service", "namespace": "payments", "name": "payments",
                 "status": "Synced", "health": {"status": "Healthy"}}
            ]
        }
    })
}

async fn argocd_app(
    State(state): State<Arc<FakeArgo>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let expected = format!("Bearer {}", argocd_token());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        // Argo CD's gRPC gateway error body.
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"error": "no session information", "code": 16, "message": "no session information"}),
            ),
        );
    }
    let polls = state.polls.fetch_add(1, Ordering::SeqCst) + 1;
    let body = match name.as_str() {
        "payments-eu-1" => {
            if polls <= 2 {
                argo_application(&name, "Progressing", "OutOfSync", SHA)
            } else {
                argo_application(&name, "Healthy", "Synced", SHA)
            }
        }
        "payments-degraded" => argo_application(&name, "Degraded", "Synced", SHA),
        "payments-stuck" => argo_application(&name, "Progressing", "Synced", SHA),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(
                    json!({"error": format!("applications.argoproj.io \"{name}\" not found"), "code": 5,
                    "message": format!("applications.argoproj.io \"{name}\" not found")}),
                ),
            );
        }
    };
    (StatusCode::OK, Json(body))
}

async fn start_argocd() -> (String, Arc<FakeArgo>) {
    let state = Arc::new(FakeArgo::default());
    let app = Router::new()
        .route("/api/v1/applications/{name}", get(argocd_app))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state)
}

// ------------------------------------------------------------- health watch

/// A forge that only knows a commit's statuses, which turn from pending to
/// `final_state` after two reads; every other call is a test bug.
struct StatusForge {
    reads: AtomicUsize,
    final_state: StatusState,
}

fn unused<T>() -> Result<T> {
    Err(Error::world("not used by the health watch"))
}

#[async_trait]
impl Forge for StatusForge {
    async fn whoami(&self) -> Result<String> {
        unused()
    }
    async fn list_open_pulls(&self, _: &RepoId) -> Result<Vec<PullRequest>> {
        unused()
    }
    async fn list_recent_pulls(&self, _: &RepoId, _: usize) -> Result<Vec<PullRequest>> {
        unused()
    }
    async fn get_pull(&self, _: &RepoId, _: u64) -> Result<PullRequest> {
        unused()
    }
    async fn create_pull(&self, _: &RepoId, _: &NewPull) -> Result<PullRequest> {
        unused()
    }
    async fn update_pull_body(&self, _: &RepoId, _: u64, _: &str) -> Result<()> {
        unused()
    }
    async fn close_pull(&self, _: &RepoId, _: u64) -> Result<()> {
        unused()
    }
    async fn add_labels(&self, _: &RepoId, _: u64, _: &[String]) -> Result<()> {
        unused()
    }
    async fn remove_label(&self, _: &RepoId, _: u64, _: &str) -> Result<()> {
        unused()
    }
    async fn list_comments(&self, _: &RepoId, _: u64) -> Result<Vec<Comment>> {
        unused()
    }
    async fn create_comment(&self, _: &RepoId, _: u64, _: &str) -> Result<Comment> {
        unused()
    }
    async fn update_comment(&self, _: &RepoId, _: u64, _: &str) -> Result<()> {
        unused()
    }
    async fn list_reviews(&self, _: &RepoId, _: u64) -> Result<Vec<Review>> {
        unused()
    }
    async fn label_events(&self, _: &RepoId, _: u64) -> Result<Vec<LabelEvent>> {
        unused()
    }
    async fn set_status(&self, _: &RepoId, _: &str, _: &CommitStatus) -> Result<()> {
        unused()
    }
    async fn list_statuses(&self, repo: &RepoId, sha: &str) -> Result<Vec<CommitStatus>> {
        assert_eq!((repo.to_string().as_str(), sha), ("acme/landscape-ci", SHA));
        let reads = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        let state = if reads <= 2 {
            StatusState::Pending
        } else {
            self.final_state
        };
        Ok(vec![CommitStatus {
            context: "argocd/health".into(),
            state,
            description: format!("read {reads}"),
            target_url: None,
            updated_at: None,
        }])
    }
    async fn merge_pull(
        &self,
        _: &RepoId,
        _: u64,
        _: MergeMethod,
        _: &str,
    ) -> Result<MergeOutcome> {
        unused()
    }
    async fn permission(&self, _: &RepoId, _: &str) -> Result<Permission> {
        unused()
    }
    async fn is_team_member(&self, _: &str, _: &str, _: &str) -> Result<bool> {
        unused()
    }
    async fn list_releases(&self, _: &RepoId) -> Result<Vec<Release>> {
        unused()
    }
    async fn create_release(&self, _: &RepoId, _: &NewRelease) -> Result<Release> {
        unused()
    }
    async fn update_release(&self, _: &RepoId, _: u64, _: &str, _: bool) -> Result<()> {
        unused()
    }
    async fn list_tags(&self, _: &RepoId) -> Result<Vec<Tag>> {
        unused()
    }
}

async fn watch(source: &HealthSource, forge: &StatusForge, context: &GateContext) -> GateResult {
    let dir = tempfile::tempdir().unwrap();
    let repo = RepoId::new("acme", "landscape-ci");
    let probe = HealthProbe {
        workdir: dir.path(),
        forge,
        landscape_repo: &repo,
        landscape_sha: SHA,
        poll_every: Duration::from_millis(50),
    };
    check_health(source, context, &probe).await
}

fn pending_forge() -> StatusForge {
    StatusForge {
        reads: AtomicUsize::new(0),
        final_state: StatusState::Success,
    }
}

fn argocd(base: &str, app: &str, timeout: Duration) -> HealthSource {
    HealthSource::Argocd {
        url: base.to_string(),
        app: app.to_string(),
        token_env: Some("HOME".into()),
        timeout,
    }
}

#[tokio::test]
async fn argocd_watch_passes_once_healthy_and_synced_after_two_polls() {
    let (base, argo) = start_argocd().await;
    let r = watch(
        &argocd(&base, "{component}-{cluster}", Duration::from_secs(10)),
        &pending_forge(),
        &ctx(),
    )
    .await;
    assert!(r.passed, "{r:?}");
    assert_eq!(
        r.summary,
        "argocd app payments-eu-1: Healthy, Synced at 4b825dc"
    );
    assert_eq!(
        r.detail,
        "argocd app payments-eu-1: Progressing, OutOfSync at 4b825dc"
    );
    assert_eq!(argo.polls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn argocd_degraded_fails_at_once() {
    let (base, argo) = start_argocd().await;
    let r = watch(
        &argocd(&base, "{component}-degraded", Duration::from_secs(30)),
        &pending_forge(),
        &ctx(),
    )
    .await;
    assert!(!r.passed);
    assert_eq!(
        r.summary,
        "argocd app payments-degraded: Degraded, Synced at 4b825dc: \
         Deployment payments: Deployment \"payments\" exceeded its progress deadline"
    );
    // At once: the first look decided, the 30 s timeout played no part.
    assert_eq!(argo.polls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn argocd_never_healthy_times_out_naming_what_it_saw() {
    let (base, argo) = start_argocd().await;
    let r = watch(
        &argocd(&base, "{component}-stuck", Duration::from_secs(1)),
        &pending_forge(),
        &ctx(),
    )
    .await;
    assert!(!r.passed);
    assert_eq!(
        r.summary,
        "timed out after 1s; last seen: argocd app payments-stuck: Progressing, Synced at 4b825dc"
    );
    assert!(argo.polls.load(Ordering::SeqCst) >= 2, "it kept looking");
}

#[tokio::test]
async fn argocd_without_its_token_fails_naming_the_variable_not_a_value() {
    let (base, _) = start_argocd().await;
    let source = HealthSource::Argocd {
        url: base,
        app: "{component}-{cluster}".into(),
        token_env: Some("STAGECOACH_TEST_TOKEN_THAT_IS_NEVER_SET".into()),
        timeout: Duration::from_secs(1),
    };
    let r = watch(&source, &pending_forge(), &ctx()).await;
    assert!(!r.passed);
    assert_eq!(
        r.summary,
        "argocd: environment variable STAGECOACH_TEST_TOKEN_THAT_IS_NEVER_SET (the API token) is not set"
    );
}

#[tokio::test]
async fn commit_status_watch_waits_through_pending_then_follows_the_state() {
    let source = HealthSource::CommitStatus {
        context: "argocd/health".into(),
        timeout: Duration::from_secs(10),
    };
    let ok = watch(&source, &pending_forge(), &ctx()).await;
    assert!(ok.passed, "{ok:?}");
    assert_eq!(
        ok.summary,
        "commit status `argocd/health`: success (read 3)"
    );

    let failing = StatusForge {
        reads: AtomicUsize::new(0),
        final_state: StatusState::Failure,
    };
    let bad = watch(&source, &failing, &ctx()).await;
    assert!(!bad.passed);
    assert_eq!(
        bad.summary,
        "commit status `argocd/health`: failure (read 3)"
    );
}

#[tokio::test]
async fn command_health_source_runs_the_command() {
    let source = HealthSource::Command {
        command: "echo \"$STAGECOACH_COMPONENT on $STAGECOACH_CLUSTER is fine\"".into(),
        timeout: Duration::from_secs(5),
    };
    let r = watch(&source, &pending_forge(), &ctx()).await;
    assert!(r.passed);
    assert_eq!(r.summary, "passed: payments on eu-1 is fine");
}

// ------------------------------------------------------------- sampling
//
// Against real Prometheus and Alertmanager (tests/real_signals): what the bot
// reads is what they answer, not what a stand-in written next to the client
// thinks they answer.

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).unwrap()
}

fn prometheus(name: &str, url: &str, query: &str, max: f64, weight: u32) -> Signal {
    Signal::Prometheus {
        name: name.into(),
        url: url.into(),
        query: query.into(),
        max,
        weight,
    }
}

fn gate(passed: bool) -> GateResult {
    GateResult {
        passed,
        summary: if passed {
            "passed"
        } else {
            "failed with exit code 1"
        }
        .into(),
        detail: String::new(),
    }
}

/// What the test's scrape target serves: two routes' error ratios, a p99
/// latency, a saturation Prometheus stores as NaN, and the error-budget flag
/// the alerting rule watches.
const APP_METRICS: &str = "\
# TYPE app_error_ratio gauge
app_error_ratio{route=\"/pay\"} 0.01
app_error_ratio{route=\"/cart\"} 0.02
# TYPE app_latency_p99_seconds gauge
app_latency_p99_seconds 2.5
# TYPE app_saturation gauge
app_saturation NaN
# TYPE app_error_budget_burning gauge
app_error_budget_burning 0
";

fn alerts_signal(m: &Monitoring) -> Signal {
    Signal::Alertmanager {
        url: m.alertmanager.clone(),
        weight: 10,
    }
}

fn stability(signals: Vec<Signal>) -> Stability {
    Stability {
        kpi: 80,
        sample: "*/15 * * * *".into(),
        signals,
    }
}

/// The alerts part of one sample of Alertmanager alone.
async fn alerts_part(m: &Monitoring) -> Part {
    let s = take_sample(
        &stability(vec![alerts_signal(m)]),
        at(13, 0),
        at(12, 0),
        &[],
        &[],
    )
    .await;
    s.parts[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_reads_every_signal() {
    let Some(m) = real_signals::start(APP_METRICS).await else {
        return;
    };
    // The recording rule has been evaluated once its series exists.
    m.wait_query("the recording rule", "job:app_error_ratio:max", |a| {
        !real_signals::result(a).is_empty()
    })
    .await;
    let p = m.prometheus.as_str();
    let signals = vec![
        // An instant vector of two series: the worst decides.
        prometheus("error-rate", p, "app_error_ratio", 0.05, 30),
        prometheus("p99 latency", p, "app_latency_p99_seconds", 1.0, 10),
        // A scalar answer (`resultType: scalar`, `result: [t, "v"]`).
        prometheus("scalar", p, "scalar(max(app_error_ratio))", 0.05, 10),
        // The recording rule's series, with a stricter bound.
        prometheus("recorded", p, "job:app_error_ratio:max", 0.015, 10),
        // A selector that matches nothing: an empty vector.
        prometheus("absent", p, "app_error_ratio{route=\"/nowhere\"}", 1.0, 10),
        // A gauge Prometheus holds as NaN, in a vector and as a scalar.
        prometheus("saturation", p, "app_saturation", 1.0, 10),
        prometheus("nan scalar", p, "scalar(app_saturation)", 1.0, 10),
        Signal::Alertmanager {
            url: format!("{}/", m.alertmanager),
            weight: 20,
        },
        Signal::Gates { weight: 20 },
        Signal::QuietTime {
            target: Duration::from_secs(4 * 3600),
            weight: 10,
        },
    ];
    let s = take_sample(
        &stability(signals),
        at(13, 0),
        at(12, 0),
        &[],
        &[gate(true), gate(true), gate(false), gate(true)],
    )
    .await;
    let got: Vec<(&str, f64, &str)> = s
        .parts
        .iter()
        .map(|p| (p.name.as_str(), p.fraction, p.detail.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("prometheus:error-rate", 1.0, "value 0.02 <= 0.05"),
            ("prometheus:p99-latency", 0.0, "value 2.5 > 1"),
            ("prometheus:scalar", 1.0, "value 0.02 <= 0.05"),
            ("prometheus:recorded", 0.0, "value 0.02 > 0.015"),
            ("prometheus:absent", 0.0, "no data"),
            ("prometheus:saturation", 0.0, "value NaN is not a number"),
            ("prometheus:nan-scalar", 0.0, "value NaN is not a number"),
            ("alerts", 1.0, "no active alerts"),
            (
                "gates",
                0.75,
                "3 of 4 gates passed; first failure: failed with exit code 1"
            ),
            (
                "quiet-time",
                0.25,
                "quiet for 1h of 4h since the tag arrived"
            ),
        ]
    );
    assert_eq!(s.at, at(13, 0));
}

#[tokio::test]
async fn a_query_prometheus_refuses_counts_as_unhealthy_with_its_error() {
    let Some(m) = real_signals::start(APP_METRICS).await else {
        return;
    };
    let s = take_sample(
        &stability(vec![prometheus("typo", &m.prometheus, "sum(", 1.0, 10)]),
        at(13, 0),
        at(12, 0),
        &[],
        &[],
    )
    .await;
    assert_eq!(s.parts[0].fraction, 0.0);
    assert!(
        s.parts[0].detail.contains("bad_data"),
        "names Prometheus's error: {}",
        s.parts[0].detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_posted_to_alertmanager_counts_until_it_is_silenced() {
    let Some(m) = real_signals::start(APP_METRICS).await else {
        return;
    };
    m.post_alert(&[("alertname", "NoisyCanary"), ("severity", "page")])
        .await;
    m.wait_alerts("NoisyCanary active", |a| {
        real_signals::named(a, "NoisyCanary")
            .iter()
            .any(|a| a["status"]["state"] == "active")
    })
    .await;
    let firing = alerts_part(&m).await;
    assert_eq!(
        (firing.fraction, firing.detail.as_str()),
        (0.0, "1 active alert(s): NoisyCanary")
    );

    let silence = m.silence("alertname", "NoisyCanary").await;
    m.wait_alerts("NoisyCanary silenced", |a| {
        real_signals::named(a, "NoisyCanary")
            .iter()
            .all(|a| a["status"]["silencedBy"][0] == silence.as_str())
    })
    .await;
    let silenced = alerts_part(&m).await;
    assert_eq!(
        (silenced.fraction, silenced.detail.as_str()),
        (1.0, "no active alerts"),
        "a silenced alert does not count"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inhibited_alert_does_not_count_but_the_alert_inhibiting_it_does() {
    let Some(m) = real_signals::start(APP_METRICS).await else {
        return;
    };
    m.post_alert(&[("alertname", "DiskFilling"), ("severity", "warning")])
        .await;
    m.post_alert(&[("alertname", "StagingDown"), ("severity", "page")])
        .await;
    m.wait_alerts("DiskFilling inhibited by StagingDown", |a| {
        real_signals::named(a, "DiskFilling").iter().any(|a| {
            a["status"]["inhibitedBy"]
                .as_array()
                .is_some_and(|i| !i.is_empty())
        })
    })
    .await;
    let part = alerts_part(&m).await;
    assert_eq!(
        (part.fraction, part.detail.as_str()),
        (0.0, "1 active alert(s): StagingDown")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_prometheus_rule_reaches_the_sample_through_alertmanager() {
    let Some(m) = real_signals::start(APP_METRICS).await else {
        return;
    };
    assert_eq!(alerts_part(&m).await.fraction, 1.0, "quiet at first");
    m.set_metrics(&APP_METRICS.replace("app_error_budget_burning 0", "app_error_budget_burning 1"));
    m.wait_alerts("ErrorBudgetBurn sent by Prometheus", |a| {
        !real_signals::named(a, "ErrorBudgetBurn").is_empty()
    })
    .await;
    let part = alerts_part(&m).await;
    assert_eq!(
        (part.fraction, part.detail.as_str()),
        (0.0, "1 active alert(s): ErrorBudgetBurn")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_alerts_zero_the_alerts_and_restart_quiet_time() {
    let Some(m) = real_signals::start(APP_METRICS).await else {
        return;
    };
    m.post_alert(&[("alertname", "HighLatency"), ("severity", "page")])
        .await;
    m.post_alert(&[
        ("alertname", "PaymentsErrorBudgetBurn"),
        ("severity", "page"),
    ])
    .await;
    m.wait_alerts("both alerts", |a| a.len() >= 2).await;
    let signals = stability(vec![
        alerts_signal(&m),
        Signal::QuietTime {
            target: Duration::from_secs(3600),
            weight: 10,
        },
    ]);
    let s = take_sample(&signals, at(14, 0), at(12, 0), &[], &[]).await;
    assert_eq!(s.parts[0].fraction, 0.0);
    assert_eq!(
        s.parts[0].detail,
        "2 active alert(s): HighLatency, PaymentsErrorBudgetBurn"
    );
    assert_eq!(s.parts[1].fraction, 0.0);

    // Quiet again (both silenced): quiet time counts from the last sample
    // that saw an alert.
    m.silence("severity", "page").await;
    m.wait_alerts("both silenced", |a| {
        a.iter().all(|a| a["status"]["state"] == "suppressed")
    })
    .await;
    let later = take_sample(&signals, at(14, 30), at(12, 0), &[s], &[]).await;
    assert_eq!(later.parts[0].fraction, 1.0);
    assert_eq!(later.parts[1].fraction, 0.5);
    assert_eq!(
        later.parts[1].detail,
        "quiet for 30m of 1h since the last alert"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_down_counts_as_unhealthy_with_the_reason() {
    let Some(mut m) = real_signals::start(APP_METRICS).await else {
        return;
    };
    let signals = stability(vec![prometheus(
        "errors",
        &m.prometheus,
        "app_error_ratio",
        1.0,
        10,
    )]);
    let up = take_sample(&signals, at(13, 0), at(12, 0), &[], &[]).await;
    assert_eq!(up.parts[0].fraction, 1.0, "{:?}", up.parts[0]);
    m.stop_prometheus();
    let down = take_sample(&signals, at(13, 15), at(12, 0), &[], &[]).await;
    assert_eq!(down.parts[0].fraction, 0.0);
    assert!(
        down.parts[0].detail.contains("could not connect"),
        "{}",
        down.parts[0].detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_that_does_not_answer_counts_as_unhealthy_once_the_query_times_out() {
    let Some(m) = real_signals::start(APP_METRICS).await else {
        return;
    };
    let signals = stability(vec![prometheus(
        "errors",
        &m.prometheus,
        "app_error_ratio",
        1.0,
        10,
    )]);
    m.freeze_prometheus();
    let slow = take_sample(&signals, at(13, 0), at(12, 0), &[], &[]).await;
    m.thaw_prometheus();
    assert_eq!(slow.parts[0].fraction, 0.0);
    assert!(
        slow.parts[0].detail.contains("timed out"),
        "{}",
        slow.parts[0].detail
    );
    // Answering again, it counts again: nothing was remembered as broken.
    let again = take_sample(&signals, at(13, 15), at(12, 0), &[], &[]).await;
    assert_eq!(again.parts[0].fraction, 1.0, "{:?}", again.parts[0]);
}

#[tokio::test]
async fn unreachable_monitoring_counts_as_unhealthy_with_the_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let signals = stability(vec![
        prometheus("errors", &closed, "up", 1.0, 10),
        Signal::Alertmanager {
            url: closed.clone(),
            weight: 10,
        },
    ]);
    let s = take_sample(&signals, at(13, 0), at(12, 0), &[], &[]).await;
    for part in &s.parts {
        assert_eq!(part.fraction, 0.0, "{part:?}");
        assert!(part.detail.contains("could not connect"), "{}", part.detail);
    }
}

// ------------------------------------------------------------- score

fn sample(minute: u32, parts: &[(&str, f64)]) -> Sample {
    Sample {
        at: at(12, minute),
        parts: parts
            .iter()
            .map(|(n, f)| Part {
                name: (*n).into(),
                fraction: *f,
                weight: 0,
                detail: String::new(),
            })
            .collect(),
    }
}

fn two_signals() -> Vec<Signal> {
    vec![
        prometheus("error-rate", "http://p", "q", 0.05, 60),
        Signal::Alertmanager {
            url: "http://a".into(),
            weight: 40,
        },
    ]
}

#[test]
fn all_healthy_scores_one_hundred() {
    let samples = vec![sample(0, &[("prometheus:error-rate", 1.0), ("alerts", 1.0)]); 3];
    let s = score(&samples, 80, &two_signals());
    assert_eq!((s.score, s.passed, s.samples), (100, true, 3));
}

#[test]
fn weights_decide_how_much_each_signal_counts() {
    // error rate always fine (60 points), alerts fine half the time (20 of 40).
    let samples = [
        sample(0, &[("prometheus:error-rate", 1.0), ("alerts", 1.0)]),
        sample(15, &[("prometheus:error-rate", 1.0), ("alerts", 0.0)]),
    ];
    let s = score(&samples, 80, &two_signals());
    assert_eq!(s.score, 80);
    assert_eq!(
        s.parts,
        [
            ("prometheus:error-rate".to_string(), 1.0, 60, 60.0),
            ("alerts".to_string(), 0.5, 40, 20.0)
        ]
    );
}

#[test]
fn a_score_exactly_at_the_kpi_passes_and_one_below_does_not() {
    let signals = [Signal::Gates { weight: 10 }];
    let at_kpi = score(&[sample(0, &[("gates", 0.8)])], 80, &signals);
    assert_eq!((at_kpi.score, at_kpi.passed), (80, true));
    let below = score(&[sample(0, &[("gates", 0.7999)])], 80, &signals);
    assert_eq!((below.score, below.passed), (79, false));
}

#[test]
fn no_samples_score_zero_and_never_pass() {
    let s = score(&[], 0, &two_signals());
    assert_eq!((s.score, s.passed, s.samples), (0, false, 0));
}

#[test]
fn a_signal_missing_from_a_sample_counts_as_unhealthy() {
    let s = score(&[sample(0, &[("alerts", 1.0)])], 80, &two_signals());
    assert_eq!(s.score, 40);
}

#[test]
fn the_note_round_trips_and_tolerates_extra_lines() {
    let samples = [
        sample(0, &[("prometheus:error-rate", 1.0), ("alerts", 1.0)]),
        sample(15, &[("prometheus:error-rate", 1.0), ("alerts", 0.0)]),
        sample(30, &[("prometheus:error-rate", 0.0), ("alerts", 1.0)]),
    ];
    let s = score(&samples, 80, &two_signals());
    let note = render_note(&s);
    assert!(note.starts_with(&format!(
        "score: {}\nkpi: 80\npassed: false\nsamples: 3\n",
        s.score
    )));
    assert!(note.contains("part: alerts 26.67/40 (0.6667)\n"), "{note}");
    assert_eq!(parse_note(&note), Some(s.clone()));
    let annotated = format!("{note}\nreviewed-by: alice\nsome words without a colon\n");
    assert_eq!(parse_note(&annotated), Some(s));
    assert_eq!(parse_note("kpi: 80\npassed: true\nsamples: 1\n"), None);
    assert_eq!(
        parse_note("score: 101\nkpi: 80\npassed: true\nsamples: 1\n"),
        None
    );
}

#[test]
fn samples_round_trip_through_their_note_and_bad_lines_are_skipped() {
    let samples = vec![
        sample(
            0,
            &[
                ("prometheus:error-rate", 1.0),
                ("alerts", 0.5),
                ("quiet-time", 0.25),
            ],
        ),
        sample(15, &[("gates", 0.0)]),
    ];
    let text = render_samples(&samples);
    assert_eq!(
        text.lines().next(),
        Some("2026-11-21T12:00:00Z prometheus:error-rate=1 alerts=0.5 quiet-time=0.25")
    );
    assert_eq!(parse_samples(&text), samples);
    let noisy = format!(
        "garbage\n2026-11-21T12:05:00Z alerts=1.5\n2026-11-21T12:06:00Z alerts\n{text}not-a-time alerts=1\n"
    );
    assert_eq!(parse_samples(&noisy), samples);
}

#[test]
fn sample_due_follows_the_cron() {
    let cron = "*/15 * * * *";
    assert!(sample_due(cron, None, at(12, 1)));
    assert!(!sample_due(cron, Some(at(12, 0)), at(12, 14)));
    assert!(sample_due(cron, Some(at(12, 0)), at(12, 15)));
    assert!(sample_due(cron, Some(at(12, 7)), at(12, 16)));
    assert!(!sample_due("not a cron", Some(at(12, 0)), at(13, 0)));
}

#[test]
fn the_builtin_staging_policy_scores_samples_read_back_from_their_note() {
    let policy = Policy::builtin();
    let stability = policy
        .environment("staging")
        .and_then(|e| e.stability.clone())
        .expect("the built-in staging has a stability section");
    let names = part_names(&stability.signals);
    assert_eq!(
        names,
        ["prometheus:error-rate", "alerts", "gates", "quiet-time"]
    );
    // Alerts fire in one of four samples; everything else is healthy.
    let samples: Vec<Sample> = (0..4u32)
        .map(|i| {
            let parts: Vec<(&str, f64)> = names
                .iter()
                .map(|n| (n.as_str(), if n == "alerts" && i == 0 { 0.0 } else { 1.0 }))
                .collect();
            sample(i * 15, &parts)
        })
        .collect();
    let stored = parse_samples(&render_samples(&samples));
    let s = score(&stored, stability.kpi, &stability.signals);
    // 40 + 30 × 0.75 + 20 + 10 = 92.5 → 92
    assert_eq!((s.score, s.kpi, s.passed, s.samples), (92, 80, true, 4));
    assert_eq!(parse_note(&render_note(&s)), Some(s));
    assert!(sample_due(
        &stability.sample,
        stored.last().map(|s| s.at),
        at(13, 0)
    ));
}

proptest! {
    #[test]
    fn parsing_notes_and_samples_never_panics(text in "\\PC*(\n\\PC*){0,5}") {
        let _ = parse_note(&text);
        let _ = parse_samples(&text);
    }

    #[test]
    fn note_like_text_never_panics(lines in proptest::collection::vec(
        "(score|kpi|passed|samples|part): ?[ -~]{0,30}", 0..8)) {
        let text = lines.join("\n");
        if let Some(s) = parse_note(&text) {
            prop_assert!(s.score <= 100);
        }
    }

    #[test]
    fn scores_stay_within_zero_and_one_hundred(fractions in proptest::collection::vec((-1.0f64..2.0, -1.0f64..2.0), 0..10)) {
        let samples: Vec<Sample> = fractions
            .iter()
            .map(|(e, a)| sample(0, &[("prometheus:error-rate", *e), ("alerts", *a)]))
            .collect();
        let s: Score = score(&samples, 80, &two_signals());
        prop_assert!(s.score <= 100);
        prop_assert_eq!(s.passed, !samples.is_empty() && s.score >= 80);
    }
}
