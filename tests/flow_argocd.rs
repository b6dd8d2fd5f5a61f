//! A product PR on the sandbox whose CI environment watches health through
//! Argo CD: a test server answers Argo CD's application API as Argo CD does,
//! following the landscape commits the bot writes, and each answer Argo CD
//! gives (Progressing then Healthy, Degraded, Missing, OutOfSync, and Healthy
//! and Synced at an older revision) gets the CI verdict it deserves.
//!
//! Argo CD needs a Kubernetes cluster and cannot run here, so its answers are
//! shaped after its own API description, argoproj/argo-cd `assets/swagger.json`:
//! `GET /api/v1/applications/{name}` → `v1alpha1Application`; `status.sync` is
//! `v1alpha1SyncStatus` (`status`: Synced | OutOfSync | Unknown, `revision`:
//! the git commit compared to, `comparedTo`), `status.health` is
//! `v1alpha1HealthStatus` (`status`: Healthy | Progressing | Degraded |
//! Suspended | Missing | Unknown; the application-level `message` is deprecated
//! and left empty), `status.resources[]` is `v1alpha1ResourceStatus` with each
//! resource's own `health`; errors are the gRPC gateway's
//! `{error, code, message}` (code 16 unauthenticated, 5 not found).

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use support::{LOW, Road, RoadOptions, head_sha, number};

/// What the fake Argo CD reports for the application after the bot's push.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scenario {
    /// OutOfSync (old pods still Healthy), then Synced and Progressing, then
    /// Synced and Healthy at the new commit: Argo CD's usual rollout.
    ProgressingThenHealthy,
    /// Synced at the new commit, a Deployment that never becomes ready.
    Degraded,
    /// Synced attempted, the resources do not exist in the cluster.
    Missing,
    /// Healthy, but never synced to the new commit.
    OutOfSync,
    /// Healthy and Synced, at the commit before the bot's: Argo CD has not
    /// seen the push yet (or never will).
    OlderRevision,
}

struct FakeArgo {
    scenario: Scenario,
    /// The landscape-ci bare repository, once the sandbox exists.
    landscape: Mutex<Option<PathBuf>>,
    /// Every answer, in order: (landscape head then, revision reported, health).
    answers: Mutex<Vec<(String, String, String)>>,
    /// Polls seen per landscape head, to play a rollout over time.
    polls_at_head: Mutex<(String, usize)>,
}

/// The bearer token the fake expects: `$HOME`, which the bot's process
/// already has (setting a variable would race the other tests).
fn token() -> String {
    std::env::var("HOME").unwrap_or_default()
}

fn grpc_error(status: StatusCode, code: u32, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"error": message, "code": code, "message": message})),
    )
}

/// `(head, parent)` of the landscape's main.
fn landscape_commits(path: &PathBuf) -> Option<(String, String)> {
    let repo = git2::Repository::open_bare(path).ok()?;
    let head = repo
        .revparse_single("main^{commit}")
        .ok()?
        .peel_to_commit()
        .ok()?;
    let parent = head
        .parent_id(0)
        .map(|p| p.to_string())
        .unwrap_or_else(|_| head.id().to_string());
    Some((head.id().to_string(), parent))
}

fn application(name: &str, health: &str, sync: &str, revision: &str, message: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "http://sandbox/acme/landscape-ci.git", "path": "clusters/ci-1/payments", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "payments"}
        },
        "status": {
            "sync": {
                "status": sync,
                "revision": revision,
                "comparedTo": {"source": {"repoURL": "http://sandbox/acme/landscape-ci.git", "targetRevision": "main"}}
            },
            "health": {"status": health},
            "resources": [
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "payments", "name": "payments",
                 "status": sync, "health": {"status": health, "message": message}},
                {"version": "v1", "kind": "Service", "namespace": "payments", "name": "payments",
                 "status": "Synced", "health": {"status": "Healthy"}}
            ]
        }
    })
}

async fn get_application(
    State(argo): State<Arc<FakeArgo>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let wanted = format!("Bearer {}", token());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(wanted.as_str()) {
        return grpc_error(StatusCode::UNAUTHORIZED, 16, "no session information");
    }
    let path = argo.landscape.lock().expect("lock").clone();
    let commits = path.as_ref().and_then(landscape_commits);
    let (Some((head, parent)), "payments-ci-1") = (commits, name.as_str()) else {
        return grpc_error(
            StatusCode::NOT_FOUND,
            5,
            &format!("applications.argoproj.io \"{name}\" not found"),
        );
    };
    let poll = {
        let mut at = argo.polls_at_head.lock().expect("lock");
        if at.0 != head {
            *at = (head.clone(), 0);
        }
        at.1 += 1;
        at.1
    };
    let (health, sync, revision, message) = match argo.scenario {
        Scenario::ProgressingThenHealthy => match poll {
            1 => ("Healthy", "OutOfSync", &head, ""),
            2 => (
                "Progressing",
                "Synced",
                &head,
                "Waiting for rollout to finish: 1 old replicas are pending termination...",
            ),
            _ => ("Healthy", "Synced", &head, ""),
        },
        Scenario::Degraded => (
            "Degraded",
            "Synced",
            &head,
            "Deployment \"payments\" exceeded its progress deadline",
        ),
        Scenario::Missing => ("Missing", "OutOfSync", &head, ""),
        Scenario::OutOfSync => ("Healthy", "OutOfSync", &head, ""),
        Scenario::OlderRevision => ("Healthy", "Synced", &parent, ""),
    };
    argo.answers
        .lock()
        .expect("lock")
        .push((head.clone(), revision.clone(), health.to_string()));
    (
        StatusCode::OK,
        Json(application(&name, health, sync, revision, message)),
    )
}

async fn start_argo(scenario: Scenario) -> (String, Arc<FakeArgo>) {
    let argo = Arc::new(FakeArgo {
        scenario,
        landscape: Mutex::new(None),
        answers: Mutex::default(),
        polls_at_head: Mutex::default(),
    });
    let app = Router::new()
        .route("/api/v1/applications/{name}", get(get_application))
        .with_state(argo.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, argo)
}

/// The sandbox road with CI's health read from the fake Argo CD, with a
/// short timeout so the cases that never turn healthy end quickly.
async fn road_with_argo(scenario: Scenario) -> (Road, Arc<FakeArgo>) {
    let (url, argo) = start_argo(scenario).await;
    let road = Road::start_with(RoadOptions {
        policy: Some(Box::new(move |policy: &str| {
            let mut replaced = false;
            let lines: Vec<String> = policy
                .lines()
                .map(|line| {
                    // The first `health:` is the CI environment's.
                    if !replaced && line.trim_start().starts_with("health:") {
                        replaced = true;
                        format!(
                            "    health: {{argocd: {{url: \"{url}\", token_env: HOME}}, timeout: 3s}}"
                        )
                    } else {
                        line.to_string()
                    }
                })
                .collect();
            assert!(replaced, "the demo policy has no CI health line");
            lines.join("\n") + "\n"
        })),
        ..Default::default()
    })
    .await;
    *argo.landscape.lock().expect("lock") = Some(road.dir.join("repos/acme/landscape-ci.git"));
    (road, argo)
}

/// The bump of payments to 1.4.3 as a low-risk product PR; returns its
/// number, head and the landscape commit that deployed it.
async fn payments_pr(road: &Road) -> (u64, String) {
    let pr = road
        .released(
            "payments",
            "fix/cart",
            "fix(cart): empty cart",
            LOW,
            "v1.4.3",
        )
        .await;
    (number(&pr), head_sha(&pr))
}

fn deploy_commit(road: &Road) -> String {
    road.commits("landscape-ci", "main")
        .into_iter()
        .find(|(_, m)| m.contains("Stagecoach-Action: bump"))
        .map(|(sha, _)| sha)
        .expect("the CI deploy commit")
}

/// The CI verdict of a PR Argo CD never shows healthy at the bot's commit:
/// a failing `stagecoach/ci`, a comment saying what was seen, a rollback,
/// and no merge.
async fn refused(road: &Road, n: u64, head: &str) -> String {
    road.wait_status("product", head, "stagecoach/ci", "failure")
        .await;
    let said = road.wait_comment("product", n, "was unhealthy on ci").await;
    road.wait_landscape("ci", "ci-1", "payments", "1.4.2").await;
    assert!(
        road.log("landscape-ci", "main")
            .iter()
            .any(|m| m.contains("Stagecoach-Action: rollback")),
        "the deploy is rolled back"
    );
    road.stays("the PR is merged", 4, || async {
        road.pull("product", n).await["merged"] == true
    })
    .await;
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progressing_then_healthy_at_the_bots_commit_passes_ci_and_merges() {
    let (road, argo) = road_with_argo(Scenario::ProgressingThenHealthy).await;
    let (n, head) = payments_pr(&road).await;
    let why = road
        .wait_status("product", &head, "stagecoach/ci", "success")
        .await;
    assert!(why.contains("healthy"), "{why}");
    road.wait_merged("product", n).await;
    let deploy = deploy_commit(&road);
    let answers = argo.answers.lock().expect("lock").clone();
    let at_deploy: Vec<&str> = answers
        .iter()
        .filter(|(_, rev, _)| *rev == deploy)
        .map(|(_, _, h)| h.as_str())
        .collect();
    assert_eq!(
        at_deploy.get(..3),
        Some(&["Healthy", "Progressing", "Healthy"][..]),
        "the watch went on through OutOfSync and Progressing to Healthy and Synced: {answers:?}"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_fails_ci_naming_the_degraded_resource() {
    let (road, _argo) = road_with_argo(Scenario::Degraded).await;
    let (n, head) = payments_pr(&road).await;
    let said = refused(&road, n, &head).await;
    assert!(
        said.contains("Degraded, Synced")
            && said.contains(
                "Deployment payments: Deployment \"payments\" exceeded its progress deadline"
            ),
        "{said}"
    );
    assert!(
        !said.contains("timed out"),
        "Degraded fails at once: {said}"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_resources_fail_ci_once_the_watch_times_out() {
    let (road, _argo) = road_with_argo(Scenario::Missing).await;
    let (n, head) = payments_pr(&road).await;
    let said = refused(&road, n, &head).await;
    assert!(
        said.contains("timed out after 3s") && said.contains("Missing, OutOfSync"),
        "{said}"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_sync_fails_ci_once_the_watch_times_out() {
    let (road, _argo) = road_with_argo(Scenario::OutOfSync).await;
    let (n, head) = payments_pr(&road).await;
    let said = refused(&road, n, &head).await;
    assert!(
        said.contains("timed out after 3s") && said.contains("Healthy, OutOfSync"),
        "{said}"
    );
    road.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_and_synced_at_an_older_revision_is_not_healthy() {
    let (road, argo) = road_with_argo(Scenario::OlderRevision).await;
    let (n, head) = payments_pr(&road).await;
    let said = refused(&road, n, &head).await;
    let deploy = deploy_commit(&road);
    assert!(
        said.contains("Healthy, Synced at")
            && said.contains("(another revision)")
            && said.contains(&format!("waiting for {}", &deploy[..7])),
        "{said}"
    );
    let answers = argo.answers.lock().expect("lock").clone();
    let while_deployed: Vec<_> = answers.iter().filter(|(h, _, _)| *h == deploy).collect();
    assert!(
        !while_deployed.is_empty()
            && while_deployed
                .iter()
                .all(|(_, rev, health)| *rev != deploy && health == "Healthy"),
        "while the bot's commit was deployed Argo CD said Healthy, at another commit: {answers:?}"
    );
    road.stop().await;
}
