//! The sandbox as a forge: start/stop, auth, PRs, labels, reviews, merges,
//! statuses, permissions, pagination, ETags, restarts — over real HTTP.

use serde_json::{Value, json};
use stagecoach::sandbox::{self, Sandbox, SandboxOptions};

async fn start(dir: &std::path::Path) -> Sandbox {
    sandbox::start(SandboxOptions::new(dir))
        .await
        .expect("sandbox starts")
}

async fn feature_pr(sb: &Sandbox, branch: &str) -> u64 {
    let alice = sb.person("alice").expect("alice");
    alice
        .commit_files("payments", branch, &[("src/fee.txt", branch)], "feat: fees")
        .await
        .expect("commit");
    alice
        .open_pr("payments", branch, "main", "feat: fees", "Adds fees.")
        .await
        .expect("open PR")
}

#[tokio::test]
async fn a_pr_is_opened_labelled_approved_and_merged_into_a_real_commit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let n = feature_pr(&sb, "fees").await;
    let alice = sb.person("alice").expect("alice");
    let bob = sb.person("bob").expect("bob");
    alice
        .add_labels("payments", n, &["component: S", "change: M"])
        .await
        .expect("labels");
    bob.approve("payments", n).await.expect("approve");
    let pr = alice.pull("payments", n).await.expect("pull");
    assert_eq!(pr["mergeable"], json!(true));
    assert_eq!(pr["labels"].as_array().map(Vec::len), Some(2));
    let sha = bob.merge("payments", n).await.expect("merge");

    let repo = git2::Repository::open_bare(sb.world.repo_path("payments")).expect("repo");
    let main = repo.refname_to_id("refs/heads/main").expect("main");
    assert_eq!(main.to_string(), sha);
    let commit = repo.find_commit(main).expect("commit");
    assert_eq!(commit.parent_count(), 2, "a merge commit has two parents");
    let pr = alice.pull("payments", n).await.expect("pull");
    assert_eq!(pr["merged"], json!(true));
    assert_eq!(pr["state"], json!("closed"));
    assert_eq!(pr["merge_commit_sha"], json!(sha));
    sb.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_unknown_token_gets_bad_credentials() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let http = reqwest::Client::new();
    for auth in [None, Some("Bearer nope")] {
        let mut req = http.get(format!("{}/user", sb.api_url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["message"], json!("Bad credentials"));
    }
    let resp = http
        .get(format!("{}/user", sb.api_url))
        .header(
            "Authorization",
            format!("token {}", sb.world.token("ron").expect("ron")),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-ratelimit-remaining"));
    sb.shutdown().await;
}
