//! `reconcile` and the promotion planner on literal snapshots: the decisions
//! a sandbox test reaches only through crashes, races or long waits.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use semver::Version;

use crate::forge::{
    CommitStatus, PrState, PullRequest, Release, RepoId, Review, ReviewState, StatusState,
};
use crate::git::trailers::Trailers;
use crate::manifest::product::{ComponentPin, ProductManifest};
use crate::policy::Policy;

use super::action::{Action, context};
use super::reconcile;
use super::release::{self, PromotionRequest, Step};
use super::snapshot::*;

pub(crate) fn policy() -> Policy {
    let text = crate::sandbox::world::render_policy(Path::new("/sandbox"), "http://127.0.0.1:1");
    Policy::parse(&text, "demo policy").expect("the demo policy parses")
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn manifest(pins: &[(&str, &str)]) -> ProductManifest {
    ProductManifest {
        components: pins
            .iter()
            .map(|(n, ver)| {
                (
                    n.to_string(),
                    ComponentPin {
                        repo: format!("acme/{n}"),
                        version: v(ver),
                    },
                )
            })
            .collect(),
        features: BTreeMap::new(),
    }
}

pub(crate) fn tag(name: &str, sha: &str, pins: &[(&str, &str)]) -> ProductTag {
    ProductTag {
        name: name.into(),
        version: v(name.trim_start_matches('v')),
        sha: sha.into(),
        on_main: true,
        trailers: Trailers::new(),
        manifest: Some(manifest(pins)),
        created_at: Some(now()),
        note: None,
        samples: Vec::new(),
        release: None,
        rejections: Vec::new(),
    }
}

pub(crate) fn pr(number: u64, head: &str, labels: &[&str]) -> PullRequest {
    PullRequest {
        number,
        title: format!("PR {number}"),
        body: String::new(),
        state: PrState::Open,
        merged: false,
        merge_commit_sha: None,
        head_ref: format!("branch-{number}"),
        head_sha: head.into(),
        base_ref: "main".into(),
        author: "alice".into(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        html_url: String::new(),
        created_at: now(),
        updated_at: None,
        merged_at: None,
    }
}

const LOW: &[&str] = &[
    "component: S",
    "change: S",
    "ft-coverage: 90",
    "functional: true",
    "risk: low",
];
const HIGH: &[&str] = &[
    "component: XL",
    "change: XL",
    "ft-coverage: 20",
    "functional: true",
    "risk: high",
];

pub(crate) fn product_pull(
    number: u64,
    head: &str,
    labels: &[&str],
    change: (&str, &str, &str),
) -> ProductPull {
    ProductPull {
        pr: pr(number, head, labels),
        changes: Ok(vec![ComponentChange {
            component: change.0.into(),
            from: v(change.1),
            to: v(change.2),
        }]),
        statuses: BTreeMap::new(),
        reviews: Vec::new(),
        approve_comments: Vec::new(),
        approvers: BTreeMap::new(),
        ci_deploy: None,
        pr_env_present: false,
        sticky: BTreeMap::new(),
        branch: Default::default(),
        bump_from: None,
    }
}

fn status(pull: &mut ProductPull, ctx: &str, state: StatusState, description: &str) {
    pull.statuses.insert(
        ctx.into(),
        CommitStatus {
            context: ctx.into(),
            state,
            description: description.into(),
            target_url: None,
            updated_at: None,
        },
    );
}

pub(crate) fn landscape_commit(
    sha: &str,
    at: DateTime<Utc>,
    trailers: &[(&str, &str)],
) -> LandscapeCommit {
    let mut t = Trailers::new();
    for (k, val) in trailers {
        t = t.with(k, *val);
    }
    LandscapeCommit {
        sha: sha.into(),
        time: at,
        trailers: t,
        reverted: false,
        health: None,
        health_at: None,
    }
}

fn env(name: &str, history: Vec<LandscapeCommit>) -> EnvView {
    EnvView {
        name: name.into(),
        repo: RepoId::parse(&format!("acme/landscape-{name}")).unwrap(),
        head_sha: "head".into(),
        versions: BTreeMap::new(),
        history,
        pr_envs: Vec::new(),
        asks: Vec::new(),
        reject_asks: Vec::new(),
    }
}

const PINS: &[(&str, &str)] = &[("checkout", "2.0.1"), ("payments", "1.4.2")];

/// Main at v1.0.0, staging running it (sampled just now), nothing open.
pub(crate) fn snapshot() -> Snapshot {
    let mut v1 = tag("v1.0.0", "main0", PINS);
    v1.samples = vec![super::stability::Sample {
        at: now(),
        parts: Vec::new(),
    }];
    Snapshot {
        now: now(),
        product: ProductView {
            repo: RepoId::parse("acme/product").unwrap(),
            branch: "main".into(),
            main_sha: "main0".into(),
            manifest: manifest(PINS),
            tags: vec![v1],
            pulls: Vec::new(),
            pr_branches: BTreeMap::new(),
        },
        components: Vec::new(),
        envs: vec![
            env("ci", Vec::new()),
            env(
                "staging",
                vec![LandscapeCommit {
                    // Watched already: staging's health verdict is recorded.
                    health: Some(StatusState::Success),
                    ..landscape_commit(
                        "s1",
                        now() - Duration::seconds(30),
                        &[
                            ("Stagecoach-Action", "promote"),
                            ("Stagecoach-Product", "v1.0.0"),
                            ("Stagecoach-Wave", "1/1"),
                        ],
                    )
                }],
            ),
            env("canary", Vec::new()),
            env("prod", Vec::new()),
        ],
        gates_running: Default::default(),
    }
}

#[test]
fn a_converged_world_decides_nothing() {
    let actions = reconcile(&policy(), &snapshot());
    assert!(actions.is_empty(), "{actions:#?}");
}

/// The decisions that move a road, without the comments and statuses that
/// report on it.
fn moves(policy: &Policy, snap: &Snapshot) -> Vec<Action> {
    reconcile(policy, snap)
        .into_iter()
        .filter(|a| !matches!(a, Action::Comment { .. } | Action::SetStatus { .. }))
        .collect()
}

/// A product PR being watched on CI: deployed, its health pending.
fn watched(number: u64, head: &str, labels: &[&str], change: (&str, &str, &str)) -> ProductPull {
    let mut p = product_pull(number, head, labels, change);
    status(&mut p, context::CI, StatusState::Pending, "watching");
    p.ci_deploy = Some(landscape_commit(
        &format!("c{number}"),
        now(),
        &[("Stagecoach-Action", "bump")],
    ));
    p
}

fn deploys(snap: &Snapshot) -> Vec<u64> {
    reconcile(&policy(), snap)
        .into_iter()
        .filter_map(|a| match a {
            Action::DeployCi { pr, .. } => Some(pr),
            _ => None,
        })
        .collect()
}

#[test]
fn product_prs_for_different_components_go_to_ci_side_by_side() {
    let mut snap = snapshot();
    snap.product.pulls = vec![
        product_pull(7, "h7", LOW, ("payments", "1.4.2", "1.4.3")),
        product_pull(8, "h8", LOW, ("checkout", "2.0.1", "2.0.2")),
    ];
    assert_eq!(deploys(&snap), vec![7, 8], "neither waits for the other");
}

#[test]
fn one_change_per_component_is_on_ci_at_a_time() {
    let mut snap = snapshot();
    snap.product.pulls = vec![
        watched(7, "h7", LOW, ("payments", "1.4.2", "1.4.3")),
        product_pull(8, "h8", LOW, ("payments", "1.4.2", "1.4.4")),
        product_pull(9, "h9", LOW, ("checkout", "2.0.1", "2.0.2")),
    ];
    assert_eq!(
        deploys(&snap),
        vec![9],
        "payments 1.4.4 waits for 1.4.3's verdict, checkout goes"
    );
}

#[test]
fn a_core_component_runs_alone_on_ci() {
    let mut snap = snapshot();
    // An XL (core) change first: nothing joins it.
    snap.product.pulls = vec![
        product_pull(7, "h7", HIGH, ("payments", "1.4.2", "1.4.3")),
        product_pull(8, "h8", LOW, ("checkout", "2.0.1", "2.0.2")),
    ];
    assert_eq!(deploys(&snap), vec![7]);
    // While it is watched, the other still waits.
    snap.product.pulls[0] = watched(7, "h7", HIGH, ("payments", "1.4.2", "1.4.3"));
    assert_eq!(deploys(&snap), Vec::<u64>::new());
    // A core change waits for CI to be empty.
    snap.product.pulls = vec![
        watched(8, "h8", LOW, ("checkout", "2.0.1", "2.0.2")),
        product_pull(9, "h9", HIGH, ("payments", "1.4.2", "1.4.3")),
    ];
    assert_eq!(deploys(&snap), Vec::<u64>::new());
}

#[test]
fn ci_takes_at_most_the_policys_number_of_product_prs_at_once() {
    let mut p = policy();
    if let Some(ci) = p.environments.iter_mut().find(|e| e.name == "ci") {
        ci.concurrency.max = 2;
    }
    let mut snap = snapshot();
    snap.product.pulls = vec![
        product_pull(7, "h7", LOW, ("payments", "1.4.2", "1.4.3")),
        product_pull(8, "h8", LOW, ("checkout", "2.0.1", "2.0.2")),
        product_pull(9, "h9", LOW, ("search", "0.1.0", "0.1.1")),
    ];
    let d: Vec<u64> = reconcile(&p, &snap)
        .into_iter()
        .filter_map(|a| match a {
            Action::DeployCi { pr, .. } => Some(pr),
            _ => None,
        })
        .collect();
    assert_eq!(d, vec![7, 8]);
}

#[test]
fn a_gate_that_runs_is_waited_for_and_after_a_restart_started_again_without_a_deploy() {
    let mut snap = snapshot();
    snap.product.pulls = vec![watched(7, "h7", LOW, ("payments", "1.4.2", "1.4.3"))];
    let watch = moves(&policy(), &snap);
    let key = match watch.as_slice() {
        [a @ Action::WatchCiHealth { pr: 7, .. }] => a.gate_key().expect("a gate"),
        other => panic!("expected one health watch, got {other:#?}"),
    };
    snap.gates_running.insert(key);
    assert!(
        moves(&policy(), &snap).is_empty(),
        "the running watch is not started twice, and nothing is deployed"
    );
    snap.gates_running.clear(); // a restart: nothing runs
    assert!(matches!(
        moves(&policy(), &snap).as_slice(),
        [Action::WatchCiHealth { pr: 7, .. }]
    ));
}

/// A low-risk PR whose every gate is green.
fn green(number: u64, head: &str, change: (&str, &str, &str)) -> ProductPull {
    let mut p = product_pull(number, head, LOW, change);
    status(
        &mut p,
        context::LABELS,
        StatusState::Success,
        "labels complete",
    );
    status(&mut p, context::CI, StatusState::Success, "healthy on ci-1");
    p.ci_deploy = Some(landscape_commit(
        "c",
        now(),
        &[("Stagecoach-Action", "bump")],
    ));
    p
}

#[test]
fn a_green_bump_behind_main_is_rebuilt_and_keeps_its_verdicts_when_main_gained_only_bumps() {
    let mut snap = snapshot();
    let mut p = green(7, "h7", ("payments", "1.4.2", "1.4.3"));
    p.branch = BranchState {
        bot_owned: true,
        behind: true,
        main_gained_only_bumps: true,
    };
    // Behind a main of verified bumps, it merges as it is ...
    snap.product.pulls = vec![p.clone()];
    assert!(matches!(
        moves(&policy(), &snap).as_slice(),
        [Action::Merge { pr: 7, .. }]
    ));
    // ... and is rebuilt only when git cannot merge it.
    status(
        &mut p,
        context::MERGE,
        StatusState::Failure,
        "merge refused at main main0: Pull Request is not mergeable",
    );
    snap.product.pulls = vec![p.clone()];
    match moves(&policy(), &snap).as_slice() {
        [
            Action::RebuildProductPr {
                pr: 7,
                old_head,
                carry,
                ..
            },
        ] => {
            assert_eq!(old_head, "h7");
            let carried: Vec<&str> = carry.iter().map(|s| s.context.as_str()).collect();
            assert_eq!(carried, vec![context::LABELS, context::CI]);
        }
        other => panic!("expected a rebuild, got {other:#?}"),
    }
    // Main gained something else (a policy change): CI runs again.
    p.branch.main_gained_only_bumps = false;
    snap.product.pulls = vec![p];
    assert!(matches!(
        moves(&policy(), &snap).as_slice(),
        [Action::RebuildProductPr { carry, .. }] if carry.is_empty()
    ));
}

#[test]
fn a_green_bump_of_the_bot_merges_with_a_rebuild_in_hand_and_a_persons_branch_without() {
    let mut snap = snapshot();
    let mut p = green(7, "h7", ("payments", "1.4.2", "1.4.3"));
    // Up to date with main: other merges of the same pass may still move
    // main under it, so the merge carries how to rebuild it.
    p.branch = BranchState {
        bot_owned: true,
        behind: false,
        main_gained_only_bumps: true,
    };
    snap.product.pulls = vec![p.clone()];
    match moves(&policy(), &snap).as_slice() {
        [
            Action::Merge {
                pr: 7,
                rebuild: Some(plan),
                ..
            },
        ] => {
            assert_eq!(plan.change.component, "payments");
            let carried: Vec<&str> = plan.carry.iter().map(|s| s.context.as_str()).collect();
            assert_eq!(carried, vec![context::LABELS, context::CI]);
        }
        other => panic!("expected a merge with a rebuild, got {other:#?}"),
    }
    // A branch a person pushed to is theirs: merged as it is or not at all.
    p.branch.bot_owned = false;
    snap.product.pulls = vec![p];
    assert!(moves(&policy(), &snap).iter().any(|a| matches!(
        a,
        Action::Merge {
            pr: 7,
            rebuild: None,
            ..
        }
    )),);
}

#[test]
fn a_branch_a_person_pushed_to_is_not_rebuilt_and_the_pr_says_so() {
    let mut snap = snapshot();
    let mut p = green(7, "h7", ("payments", "1.4.2", "1.4.3"));
    p.branch = BranchState {
        bot_owned: false,
        behind: true,
        main_gained_only_bumps: true,
    };
    snap.product.pulls = vec![p];
    let actions = reconcile(&policy(), &snap);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::RebuildProductPr { .. })),
        "{actions:#?}"
    );
    assert!(actions.iter().any(
        |a| matches!(a, Action::Comment { topic, body, .. } if topic == "rebase" && body.contains("theirs"))
    ));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Merge { pr: 7, .. }))
    );
}

#[test]
fn a_refused_merge_is_not_asked_again_until_main_moves() {
    let mut snap = snapshot();
    let mut p = green(7, "h7", ("payments", "1.4.2", "1.4.3"));
    status(
        &mut p,
        context::MERGE,
        StatusState::Failure,
        "merge refused at main main0: Merge conflict",
    );
    snap.product.pulls = vec![p];
    assert!(
        !reconcile(&policy(), &snap)
            .iter()
            .any(|a| matches!(a, Action::Merge { .. })),
        "refused at this main: wait"
    );
    snap.product.main_sha = "main1".into();
    assert!(
        reconcile(&policy(), &snap)
            .iter()
            .any(|a| matches!(a, Action::Merge { pr: 7, .. })),
        "main moved: try again"
    );
}

#[test]
fn a_pending_ci_status_without_its_deploy_commit_deploys_again() {
    let mut snap = snapshot();
    let mut p = product_pull(7, "h7", LOW, ("payments", "1.4.2", "1.4.3"));
    status(&mut p, context::CI, StatusState::Pending, "deployed");
    snap.product.pulls = vec![p];
    let actions = reconcile(&policy(), &snap);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::DeployCi { pr: 7, .. })),
        "{actions:#?}"
    );
}

#[test]
fn a_pr_closed_unmerged_is_taken_off_ci_and_its_environment_removed() {
    let mut snap = snapshot();
    let mut p = product_pull(7, "h7", HIGH, ("payments", "1.4.2", "2.0.0"));
    p.pr.state = PrState::Closed;
    p.pr_env_present = true;
    p.ci_deploy = Some(landscape_commit(
        "d7",
        now(),
        &[("Stagecoach-Action", "bump")],
    ));
    snap.product.pulls = vec![p];
    let actions = reconcile(&policy(), &snap);
    assert!(
        actions.contains(&Action::TeardownPrEnv { pr: 7 }),
        "{actions:#?}"
    );
    assert!(
        actions.iter().any(
            |a| matches!(a, Action::Rollback { env, commit, .. } if env == "ci" && commit == "d7")
        ),
        "{actions:#?}"
    );
}

#[test]
fn an_approval_of_an_older_head_does_not_count() {
    let mut snap = snapshot();
    let mut p = product_pull(7, "h7-new", HIGH, ("payments", "1.4.2", "2.0.0"));
    status(
        &mut p,
        context::LABELS,
        StatusState::Success,
        "labels complete",
    );
    status(&mut p, context::CI, StatusState::Success, "healthy");
    status(&mut p, context::SMOKE, StatusState::Success, "passed");
    p.pr_env_present = true;
    p.reviews = vec![Review {
        id: 1,
        author: "rita".into(),
        state: ReviewState::Approved,
        commit_id: "h7-old".into(),
        submitted_at: Some(now()),
    }];
    p.approvers.insert("rita".into(), Authority::Allowed);
    snap.product.pulls = vec![p.clone()];
    let actions = reconcile(&policy(), &snap);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Merge { .. })),
        "{actions:#?}"
    );
    // The same approval on the current head merges.
    p.reviews[0].commit_id = "h7-new".into();
    snap.product.pulls = vec![p];
    let actions = reconcile(&policy(), &snap);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Merge { pr: 7, .. })),
        "{actions:#?}"
    );
}

#[test]
fn the_next_product_tag_skips_a_patch_a_hotfix_took() {
    let mut snap = snapshot();
    let mut hotfix = tag(
        "v1.0.1",
        "hf",
        &[("checkout", "2.0.2"), ("payments", "1.4.2")],
    );
    hotfix.on_main = false;
    hotfix.trailers = Trailers::new().with("Stagecoach-Action", "hotfix");
    snap.product.tags.push(hotfix);
    snap.product.main_sha = "main1".into();
    snap.product.manifest = manifest(&[("checkout", "2.0.1"), ("payments", "1.4.3")]);
    let actions = reconcile(&policy(), &snap);
    let versions: Vec<Version> = actions
        .iter()
        .filter_map(|a| match a {
            Action::TagProduct { version, .. } => Some(version.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(versions, vec![v("1.0.2")]);
}

#[test]
fn staging_takes_neither_patches_nor_hotfixes() {
    let mut snap = snapshot();
    snap.product.tags.push(tag("v1.0.1", "p1", PINS));
    let mut hotfix = tag("v1.1.0", "hf", PINS);
    hotfix.trailers = Trailers::new().with("Stagecoach-Action", "hotfix");
    snap.product.tags.push(hotfix);
    snap.product.main_sha = "p1".into();
    let actions = reconcile(&policy(), &snap);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Promote { .. })),
        "{actions:#?}"
    );
}

#[test]
fn a_passed_score_whose_release_is_still_a_draft_is_published() {
    let mut snap = snapshot();
    let t = &mut snap.product.tags[0];
    t.note = Some("score: 91\nkpi: 80\npassed: true\nsamples: 3\n".into());
    t.release = Some(Release {
        id: 1,
        tag_name: "v1.0.0".into(),
        name: "v1.0.0".into(),
        body: String::new(),
        draft: true,
        prerelease: false,
        html_url: String::new(),
    });
    let actions = reconcile(&policy(), &snap);
    assert!(
        actions.contains(&Action::FinalizeStability {
            tag: "v1.0.0".into()
        }),
        "{actions:#?}"
    );
    // A failed score is left alone.
    snap.product.tags[0].note = Some("score: 40\nkpi: 80\npassed: false\nsamples: 3\n".into());
    let actions = reconcile(&policy(), &snap);
    assert!(actions.is_empty(), "{actions:#?}");
}

fn prod_request(tag: &str) -> PromotionRequest {
    PromotionRequest {
        env: "prod".into(),
        tag: tag.into(),
        override_reason: None,
        by: "rita".into(),
        authority: Authority::Allowed,
    }
}

fn wave(sha: &str, at: DateTime<Utc>, n: &str, health: Option<StatusState>) -> LandscapeCommit {
    let mut c = landscape_commit(
        sha,
        at,
        &[
            ("Stagecoach-Action", "promote"),
            ("Stagecoach-Product", "v1.0.0"),
            ("Stagecoach-Wave", n),
        ],
    );
    c.health = health;
    c
}

#[test]
fn a_healthy_wave_soaks_before_the_next_one() {
    let mut snap = snapshot();
    snap.envs[3] = env(
        "prod",
        vec![wave(
            "w1",
            now() - Duration::seconds(1),
            "1/2",
            Some(StatusState::Success),
        )],
    );
    match release::next_step(&policy(), &snap, &prod_request("v1.0.0")) {
        Step::Wait { until, why } => {
            assert_eq!(until, now() + Duration::seconds(1));
            assert!(why.contains("soaking wave 1/2"), "{why}");
        }
        other => panic!("expected a soak, got {other:?}"),
    }
    snap.now = now() + Duration::seconds(2);
    match release::next_step(&policy(), &snap, &prod_request("v1.0.0")) {
        Step::Act(actions) => assert!(
            matches!(&actions[..], [Action::Promote { wave: 2, clusters, .. }] if clusters == &["eu-2", "us-1"]),
            "{actions:#?}"
        ),
        other => panic!("expected wave 2, got {other:?}"),
    }
}

#[test]
fn the_soak_counts_from_the_health_verdict_not_from_the_deploy() {
    // A watch that took longer than the soak must not eat it.
    let mut snap = snapshot();
    let mut w1 = wave(
        "w1",
        now() - Duration::seconds(10),
        "1/2",
        Some(StatusState::Success),
    );
    w1.health_at = Some(now() - Duration::seconds(1));
    snap.envs[3] = env("prod", vec![w1]);
    match release::next_step(&policy(), &snap, &prod_request("v1.0.0")) {
        Step::Wait { until, why } => {
            assert_eq!(until, now() + Duration::seconds(1), "2 s after the verdict");
            assert!(why.contains("soaking wave 1/2"), "{why}");
        }
        other => panic!("expected a soak, got {other:?}"),
    }
}

#[test]
fn an_unhealthy_wave_is_rolled_back_and_the_promotion_counts_as_failed() {
    let mut snap = snapshot();
    snap.envs[3] = env(
        "prod",
        vec![wave("w1", now(), "1/2", Some(StatusState::Failure))],
    );
    let req = prod_request("v1.0.0");
    match release::next_step(&policy(), &snap, &req) {
        Step::Act(actions) => assert!(
            matches!(&actions[..], [Action::Rollback { commit, .. }] if commit == "w1"),
            "{actions:#?}"
        ),
        other => panic!("expected a rollback, got {other:?}"),
    }
    snap.envs[3].history[0].reverted = true;
    assert!(release::failed_wave(&snap, &req).is_some());
}

#[test]
fn prod_refuses_a_tag_canary_does_not_run_unless_overridden() {
    let snap = snapshot();
    let req = prod_request("v1.0.0");
    let why = release::refusal(&policy(), &snap, &req).expect("refused");
    assert!(why.contains("canary"), "{why}");
    let req = PromotionRequest {
        override_reason: Some("incident 42".into()),
        ..req
    };
    assert_eq!(release::refusal(&policy(), &snap, &req), None);
}

#[test]
fn a_tag_that_arrived_on_staging_gets_its_health_watched_once() {
    let mut snap = snapshot();
    let staging = snap
        .envs
        .iter_mut()
        .find(|e| e.name == "staging")
        .expect("staging");
    staging.history[0].health = None;
    let actions = reconcile(&policy(), &snap);
    assert!(
        matches!(actions.as_slice(), [Action::WatchPromotion { env, tag, commit, .. }] if env == "staging" && tag == "v1.0.0" && commit == "s1"),
        "{actions:#?}"
    );
}

/// A hotfix v1.0.1 (checkout 2.0.2) ran on canary, then release v1.1.0
/// (checkout 2.1.0) was promoted there; the merged hotfix PR is still read.
fn canary_moved_on_from_a_hotfix(hotfix_ran: bool) -> Snapshot {
    let mut snap = snapshot();
    let mut hotfix = tag(
        "v1.0.1",
        "hot1",
        &[("checkout", "2.0.2"), ("payments", "1.4.2")],
    );
    hotfix.on_main = false;
    hotfix.trailers = Trailers::new()
        .with("Stagecoach-Action", "hotfix")
        .with("Stagecoach-Hotfix-For", "acme/checkout#7");
    let mut v110 = tag(
        "v1.1.0",
        "main1",
        &[("checkout", "2.1.0"), ("payments", "1.4.2")],
    );
    v110.release = Some(Release {
        id: 1,
        tag_name: "v1.1.0".into(),
        name: "v1.1.0".into(),
        body: String::new(),
        draft: false,
        prerelease: false,
        html_url: String::new(),
    });
    snap.product.tags.extend([hotfix, v110]);
    snap.product.main_sha = "main1".into();
    snap.product.manifest = manifest(&[("checkout", "2.1.0"), ("payments", "1.4.2")]);
    let mut merged = pr(
        7,
        "fix7",
        &[
            "component: S",
            "change: S",
            "ft-coverage: 90",
            "functional: true",
            "hotfix-to/v1.0.0",
        ],
    );
    merged.state = PrState::Closed;
    merged.merged = true;
    snap.components.push(ComponentView {
        name: "checkout".into(),
        repo: RepoId::parse("acme/checkout").unwrap(),
        tags: vec![(v("2.0.2"), "v2.0.2".into(), "fix7".into())],
        pulls: vec![ComponentPull {
            pr: merged,
            statuses: BTreeMap::new(),
            released_in: Some(v("2.0.2")),
            ignored_tags: Vec::new(),
            hotfix_actor: Some(("olga".into(), Authority::Allowed)),
            sticky: BTreeMap::new(),
        }],
        untagged_next: None,
    });
    let promoted = |sha: &str, tag: &str, ago: i64| LandscapeCommit {
        health: Some(StatusState::Success),
        ..landscape_commit(
            sha,
            now() - Duration::seconds(ago),
            &[
                ("Stagecoach-Action", "promote"),
                ("Stagecoach-Product", tag),
                ("Stagecoach-Wave", "1/1"),
            ],
        )
    };
    let canary = snap.envs.iter_mut().find(|e| e.name == "canary").unwrap();
    canary.history = vec![promoted("c2", "v1.1.0", 60)];
    if hotfix_ran {
        // Older than the promotions whose verdicts observe reads: no health.
        canary.history.push(LandscapeCommit {
            health: None,
            ..promoted("c1", "v1.0.1", 600)
        });
    }
    canary.versions.insert(
        "canary-1".into(),
        [
            ("checkout".to_string(), v("2.1.0")),
            ("payments".to_string(), v("1.4.2")),
        ]
        .into_iter()
        .collect(),
    );
    snap
}

fn canary_promotions(snap: &Snapshot) -> Vec<String> {
    reconcile(&policy(), snap)
        .into_iter()
        .filter_map(|a| match a {
            Action::Promote { env, tag, .. } if env == "canary" => Some(tag),
            _ => None,
        })
        .collect()
}

#[test]
fn a_hotfix_goes_to_canary_once_and_does_not_push_a_later_release_off_it() {
    // Never on canary yet (a crash right after the tag): it goes there.
    assert_eq!(
        canary_promotions(&canary_moved_on_from_a_hotfix(false)),
        ["v1.0.1"]
    );
    // It ran there, and a release came after it: canary keeps the release.
    // (Before the fix, every pass promoted v1.0.1 to canary again.)
    assert!(canary_promotions(&canary_moved_on_from_a_hotfix(true)).is_empty());
}

#[test]
fn a_hotfix_whose_canary_commit_left_the_record_is_known_sent_by_its_answer() {
    // Ran on canary: the PR is told so.
    let told = reconcile(&policy(), &canary_moved_on_from_a_hotfix(true))
        .into_iter()
        .find_map(|a| match a {
            Action::Comment { topic, body, .. } if topic == "hotfix" => Some(body),
            _ => None,
        })
        .expect("the PR is told where the hotfix is");
    assert!(told.contains("is on canary"), "{told}");
    // Much later its promote commit is older than the record observe reads;
    // the answer on the PR still says it was sent: it is not sent again.
    let mut snap = canary_moved_on_from_a_hotfix(false);
    snap.components[0].pulls[0]
        .sticky
        .insert("hotfix".into(), told);
    assert!(canary_promotions(&snap).is_empty());
}

fn rejected_by_rita(tag: &str) -> super::rejection::RejectionEvent {
    super::rejection::RejectionEvent {
        tag: tag.into(),
        rejected: true,
        at: now(),
        by: "rita".into(),
        reason: "checkout crashes".into(),
        comment: None,
    }
}

#[test]
fn a_rejected_tag_is_refused_even_with_an_override_and_stops_its_rollout() {
    let mut snap = snapshot();
    snap.product.tags[0].rejections = vec![rejected_by_rita("v1.0.0")];
    let req = PromotionRequest {
        override_reason: Some("incident 42".into()),
        ..prod_request("v1.0.0")
    };
    let why = release::refusal(&policy(), &snap, &req).expect("refused");
    assert!(
        why.contains("rejected by rita") && why.contains("checkout crashes"),
        "{why}"
    );
    assert!(
        matches!(release::next_step(&policy(), &snap, &req), Step::Failed(why) if why.contains("rejected")),
        "no further wave of a tag rejected mid-rollout"
    );
    // Un-rejected: the override counts again.
    let mut undo = rejected_by_rita("v1.0.0");
    undo.rejected = false;
    snap.product.tags[0].rejections.push(undo);
    assert_eq!(release::refusal(&policy(), &snap, &req), None);
}

#[test]
fn a_rejected_tag_does_not_go_to_staging_by_itself() {
    let mut snap = snapshot();
    let mut v2 = tag(
        "v1.1.0",
        "main1",
        &[("checkout", "2.1.0"), ("payments", "1.4.2")],
    );
    v2.rejections = vec![rejected_by_rita("v1.1.0")];
    snap.product.tags.push(v2);
    let promotes: Vec<Action> = reconcile(&policy(), &snap)
        .into_iter()
        .filter(|a| matches!(a, Action::Promote { .. }))
        .collect();
    assert!(promotes.is_empty(), "{promotes:#?}");
}

#[test]
fn only_a_promoter_rejects_and_a_reject_twice_is_nothing_to_do() {
    use super::rejection::{Refused, decide_by_hand};
    let mut snap = snapshot();
    let refused = Authority::Refused("not listed in people.promoters".into());
    assert!(matches!(
        decide_by_hand(&snap, "v1.0.0", false, "bob", "bad", &refused),
        Err(Refused::Denied(why)) if why.contains("bob may not reject v1.0.0")
    ));
    assert!(matches!(
        decide_by_hand(&snap, "v1.0.0", false, "rita", " ", &Authority::Allowed),
        Err(Refused::Input(why)) if why.contains("--reason")
    ));
    assert!(matches!(
        decide_by_hand(&snap, "v9.0.0", false, "rita", "bad", &Authority::Allowed),
        Err(Refused::Input(_))
    ));
    assert!(matches!(
        decide_by_hand(&snap, "v1.0.0", false, "rita", "bad", &Authority::Allowed),
        Ok(Some(Action::Reject { rejected: true, .. }))
    ));
    snap.product.tags[0].rejections = vec![rejected_by_rita("v1.0.0")];
    assert_eq!(
        decide_by_hand(&snap, "v1.0.0", false, "rita", "bad", &Authority::Allowed),
        Ok(None)
    );
    assert!(matches!(
        decide_by_hand(&snap, "v1.0.0", true, "rita", "fixed", &Authority::Allowed),
        Ok(Some(Action::Reject {
            rejected: false,
            ..
        }))
    ));
}

#[test]
fn a_reject_comment_is_applied_once_then_answered_and_a_stranger_is_refused() {
    let mut snap = snapshot();
    let ask = |by: &str, comment: u64, allowed: bool| RejectAsk {
        pr: 4,
        comment,
        by: by.into(),
        tag: "v1.0.0".into(),
        undo: false,
        reason: "checkout crashes".into(),
        as_promoter: if allowed {
            Authority::Allowed
        } else {
            Authority::Refused("not listed in people.promoters (@acme/release-managers)".into())
        },
        sticky: BTreeMap::new(),
    };
    snap.envs[2].reject_asks = vec![ask("bob", 7, false)];
    let actions = super::rejection::decide(&policy(), &snap);
    assert!(
        matches!(&actions[..], [Action::Comment { body, topic, .. }] if topic == "reject" && body.contains("bob may not reject v1.0.0")),
        "{actions:#?}"
    );
    snap.envs[2].reject_asks = vec![ask("rita", 8, true)];
    let actions = super::rejection::decide(&policy(), &snap);
    assert!(
        matches!(&actions[..], [Action::Reject { comment: Some(8), rejected: true, by, .. }] if by == "rita"),
        "{actions:#?}"
    );
    let mut done = rejected_by_rita("v1.0.0");
    done.comment = Some(8);
    snap.product.tags[0].rejections = vec![done];
    let actions = super::rejection::decide(&policy(), &snap);
    assert!(
        matches!(&actions[..], [Action::Comment { body, .. }] if body.contains("v1.0.0 is rejected by rita")),
        "{actions:#?}"
    );
}

fn freezing_prod(policy: &mut Policy) {
    // Every day 09:00-10:00 in Berlin (08:00-09:00 UTC in winter), so the
    // snapshot's 09:00 UTC is just outside and 09:00 Berlin inside.
    policy.freezes = vec![crate::policy::Freeze {
        name: "morning".into(),
        cron: "0 10 * * *".into(),
        duration: std::time::Duration::from_secs(3600),
        timezone: chrono_tz::Europe::Berlin,
        environments: vec!["prod".into()],
    }];
}

#[test]
fn a_freeze_holds_the_next_wave_until_it_ends_but_not_a_hotfix_or_an_override() {
    let mut policy = policy();
    freezing_prod(&mut policy);
    let mut snap = snapshot();
    snap.envs[3] = env(
        "prod",
        vec![wave(
            "w1",
            now() - Duration::seconds(60),
            "1/2",
            Some(StatusState::Success),
        )],
    );
    // 09:00 UTC is 10:00 in Berlin: the window opens.
    match release::next_step(&policy, &snap, &prod_request("v1.0.0")) {
        Step::Frozen { until, why } => {
            assert_eq!(until, now() + Duration::hours(1));
            assert!(
                why.contains("prod is frozen until 2025-03-03 10:00 UTC (freeze `morning`, 11:00 Europe/Berlin)")
                    && why.contains("wave 2/2 of v1.0.0 waits"),
                "{why}"
            );
        }
        other => panic!("expected a freeze, got {other:?}"),
    }
    let req = PromotionRequest {
        override_reason: Some("incident 42".into()),
        ..prod_request("v1.0.0")
    };
    assert!(matches!(
        release::next_step(&policy, &snap, &req),
        Step::Act(a) if matches!(&a[..], [Action::Promote { wave: 2, override_reason: Some(_), .. }])
    ));
    snap.product.tags[0].trailers = Trailers::new().with("Stagecoach-Action", "hotfix");
    assert!(matches!(
        release::next_step(&policy, &snap, &prod_request("v1.0.0")),
        Step::Act(_)
    ));
    // After the window the rollout goes on.
    snap.product.tags[0].trailers = Trailers::new();
    snap.now = now() + Duration::hours(1);
    assert!(matches!(
        release::next_step(&policy, &snap, &prod_request("v1.0.0")),
        Step::Act(_)
    ));
}

#[test]
fn a_freeze_on_staging_holds_the_next_tag_back_until_it_ends() {
    let mut policy = policy();
    freezing_prod(&mut policy);
    policy.freezes[0].environments = vec!["staging".into()];
    let mut snap = snapshot();
    snap.product.tags.push(tag(
        "v1.1.0",
        "main1",
        &[("checkout", "2.1.0"), ("payments", "1.4.2")],
    ));
    let promotes = |snap: &Snapshot| {
        reconcile(&policy, snap)
            .into_iter()
            .filter(|a| matches!(a, Action::Promote { .. }))
            .count()
    };
    assert_eq!(promotes(&snap), 0, "frozen at 10:00 Berlin");
    snap.now = now() + Duration::hours(1);
    assert_eq!(promotes(&snap), 1, "the window ended");
}

#[test]
fn of_two_open_promote_asks_for_one_environment_the_newer_wins_and_the_older_says_so() {
    let mut snap = snapshot();
    snap.product.tags.push(tag(
        "v1.1.0",
        "main1",
        &[("checkout", "2.1.0"), ("payments", "1.4.2")],
    ));
    let ask = |pr: u64, tag: &str, ago: i64| PromotionAsk {
        pr,
        by: "rita".into(),
        tag: tag.into(),
        override_reason: Some("the test's promotion".into()),
        asked_at: now() - Duration::seconds(ago),
        as_promoter: Authority::Allowed,
        as_hotfixer: Authority::Refused("not listed in people.hotfixers".into()),
        sticky: BTreeMap::new(),
    };
    snap.envs[2].asks = vec![ask(3, "v1.0.0", 120), ask(5, "v1.1.0", 60)];
    let actions = super::release::decide(&policy(), &snap);
    let promoted: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Promote { tag, .. } => Some(tag.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(promoted, vec!["v1.1.0"], "{actions:#?}");
    assert!(
        actions.iter().any(|a| matches!(a, Action::Comment { pr: 3, body, .. } if body.contains("newer `/promote v1.1.0` by rita on #5"))),
        "{actions:#?}"
    );
}

#[test]
fn a_promote_ask_carried_out_long_ago_stays_over_when_its_verdict_is_no_longer_read() {
    let mut snap = snapshot();
    snap.product.tags.push(tag(
        "v1.1.0",
        "main1",
        &[("checkout", "2.1.0"), ("payments", "1.4.2")],
    ));
    let promoted = |sha: &str, tag: &str, ago: i64| {
        landscape_commit(
            sha,
            now() - Duration::seconds(ago),
            &[
                ("Stagecoach-Action", "promote"),
                ("Stagecoach-Product", tag),
                ("Stagecoach-Wave", "1/1"),
            ],
        )
    };
    // v1.0.0 went out for the ask; its verdict is older than observe reads
    // (no health), and v1.1.0 came after it.
    snap.envs[2].history = vec![
        LandscapeCommit {
            health: Some(StatusState::Success),
            ..promoted("c2", "v1.1.0", 60)
        },
        promoted("c1", "v1.0.0", 300),
    ];
    snap.envs[2].asks = vec![PromotionAsk {
        pr: 3,
        by: "rita".into(),
        tag: "v1.0.0".into(),
        override_reason: Some("the test's promotion".into()),
        asked_at: now() - Duration::seconds(600),
        as_promoter: Authority::Allowed,
        as_hotfixer: Authority::Refused("not listed in people.hotfixers".into()),
        sticky: BTreeMap::new(),
    }];
    let actions = super::release::decide(&policy(), &snap);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Promote { .. } | Action::WatchPromotion { .. })),
        "{actions:#?}"
    );
    // Without the later promotion, the unknown verdict is watched first.
    snap.envs[2].history.remove(0);
    let actions = super::release::decide(&policy(), &snap);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::WatchPromotion { tag, .. } if tag == "v1.0.0")),
        "{actions:#?}"
    );
}
