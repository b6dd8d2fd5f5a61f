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
    let http = stagecoach::engine::http::client_builder().build().unwrap();
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

fn client(sb: &Sandbox, login: &str) -> (reqwest::Client, String, String) {
    let token = sb.world.token(login).expect("user").to_string();
    (
        stagecoach::engine::http::client_builder().build().unwrap(),
        sb.api_url.clone(),
        format!("Bearer {token}"),
    )
}

#[tokio::test]
async fn a_read_only_user_cannot_label_merge_or_set_statuses() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let n = feature_pr(&sb, "ro").await;
    let (http, api, auth) = client(&sb, "ron");
    let label = http
        .post(format!("{api}/repos/acme/payments/issues/{n}/labels"))
        .header("Authorization", &auth)
        .json(&json!({"labels": ["risk: low"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(label.status(), 403);
    let merge = http
        .put(format!("{api}/repos/acme/payments/pulls/{n}/merge"))
        .header("Authorization", &auth)
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(merge.status(), 403);
    let pr = sb
        .person("ron")
        .expect("ron")
        .pull("payments", n)
        .await
        .expect("ron may read");
    let sha = pr["head"]["sha"].as_str().expect("sha").to_string();
    let status = http
        .post(format!("{api}/repos/acme/payments/statuses/{sha}"))
        .header("Authorization", &auth)
        .json(&json!({"state": "success", "context": "ci"}))
        .send()
        .await
        .expect("send");
    assert_eq!(status.status(), 403);
    // ... while the PR is untouched: no labels, still open.
    assert_eq!(pr["labels"], json!([]));
    assert_eq!(pr["state"], json!("open"));
    // Permission answers say why.
    let perm = sb
        .person("alice")
        .expect("alice")
        .get("/repos/acme/payments/collaborators/ron/permission")
        .await
        .expect("permission");
    assert_eq!(perm["permission"], json!("read"));
    let perm = sb
        .person("alice")
        .expect("alice")
        .get("/repos/acme/product/collaborators/rita/permission")
        .await
        .expect("permission");
    assert_eq!(perm["permission"], json!("write"));
    assert_eq!(perm["role_name"], json!("maintain"));
    sb.shutdown().await;
}

#[tokio::test]
async fn team_membership_is_active_for_members_and_404_for_others() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let bot = sb.person("stagecoach-bot").expect("bot");
    let m = bot
        .get("/orgs/acme/teams/release-managers/memberships/rita")
        .await
        .expect("rita is a member");
    assert_eq!(m["state"], json!("active"));
    let err = bot
        .get("/orgs/acme/teams/release-managers/memberships/alice")
        .await
        .expect_err("alice is not");
    assert!(err.to_string().contains("404"), "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn lists_are_paginated_with_a_link_header() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let n = feature_pr(&sb, "many-comments").await;
    let bob = sb.person("bob").expect("bob");
    for i in 0..5 {
        bob.comment("payments", n, &format!("comment {i}"))
            .await
            .expect("comment");
    }
    let (http, api, auth) = client(&sb, "bob");
    let url = format!("{api}/repos/acme/payments/issues/{n}/comments?per_page=2");
    let resp = http
        .get(&url)
        .header("Authorization", &auth)
        .send()
        .await
        .expect("send");
    let link = resp.headers()["link"].to_str().expect("link").to_string();
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    assert!(link.contains("page=3>; rel=\"last\""), "{link}");
    let page: Vec<Value> = resp.json().await.expect("json");
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["body"], json!("comment 0"));
    let last = http
        .get(format!("{url}&page=3"))
        .header("Authorization", &auth)
        .send()
        .await
        .expect("send");
    assert!(
        !last.headers()["link"]
            .to_str()
            .expect("link")
            .contains("next")
    );
    let page: Vec<Value> = last.json().await.expect("json");
    assert_eq!(page.len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_matching_etag_gets_304_and_is_not_counted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let (http, api, auth) = client(&sb, "alice");
    let first = http
        .get(format!("{api}/repos/acme/product"))
        .header("Authorization", &auth)
        .send()
        .await
        .expect("send");
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().expect("etag").to_string();
    let used: u64 = first.headers()["x-ratelimit-used"]
        .to_str()
        .expect("used")
        .parse()
        .expect("n");
    let second = http
        .get(format!("{api}/repos/acme/product"))
        .header("Authorization", &auth)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(second.status(), 304);
    assert_eq!(
        second.headers()["x-ratelimit-used"].to_str().expect("used"),
        used.to_string()
    );
    assert!(second.bytes().await.expect("body").is_empty());
    let stats: Value = http
        .get(format!("{api}/_sandbox/stats"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["users"]["alice"]["requests"], json!(1));
    assert_eq!(stats["users"]["alice"]["not_modified"], json!(1));
    sb.shutdown().await;
}

#[tokio::test]
async fn a_second_pr_for_the_same_head_is_refused_with_422() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    feature_pr(&sb, "dup").await;
    let err = sb
        .person("bob")
        .expect("bob")
        .open_pr("payments", "dup", "main", "again", "")
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("422"), "{text}");
    assert!(
        text.contains("A pull request already exists for acme:dup."),
        "{text}"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn merging_a_moved_head_is_409_and_a_conflict_is_405() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let n = feature_pr(&sb, "moving").await;
    let (http, api, auth) = client(&sb, "bob");
    let stale = sb
        .person("bob")
        .expect("bob")
        .pull("payments", n)
        .await
        .expect("pr")["head"]["sha"]
        .as_str()
        .expect("sha")
        .to_string();
    let alice = sb.person("alice").expect("alice");
    alice
        .commit_files(
            "payments",
            "moving",
            &[("src/fee.txt", "changed")],
            "fix: fee",
        )
        .await
        .expect("push");
    let merge = http
        .put(format!("{api}/repos/acme/payments/pulls/{n}/merge"))
        .header("Authorization", &auth)
        .json(&json!({"sha": stale}))
        .send()
        .await
        .expect("send");
    assert_eq!(merge.status(), 409);

    // Two branches editing the same line: the second merge conflicts.
    alice
        .commit_files(
            "checkout",
            "one",
            &[("chart/values.yaml", "a: 1\n")],
            "fix: one",
        )
        .await
        .expect("push");
    alice
        .commit_files(
            "checkout",
            "two",
            &[("chart/values.yaml", "a: 2\n")],
            "fix: two",
        )
        .await
        .expect("push");
    let one = alice
        .open_pr("checkout", "one", "main", "one", "")
        .await
        .expect("pr");
    let two = alice
        .open_pr("checkout", "two", "main", "two", "")
        .await
        .expect("pr");
    sb.person("bob")
        .expect("bob")
        .merge("checkout", one)
        .await
        .expect("first merges");
    let pr = alice.pull("checkout", two).await.expect("pr");
    assert_eq!(pr["mergeable"], json!(false));
    let merge = http
        .put(format!("{api}/repos/acme/checkout/pulls/{two}/merge"))
        .header("Authorization", &auth)
        .json(&json!({"merge_method": "squash"}))
        .send()
        .await
        .expect("send");
    assert_eq!(merge.status(), 405);
    let body: Value = merge.json().await.expect("json");
    assert_eq!(body["message"], json!("Pull Request is not mergeable"));
    sb.shutdown().await;
}

#[tokio::test]
async fn squash_makes_one_commit_with_the_pr_title() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let n = feature_pr(&sb, "squashed").await;
    let sha = sb
        .person("bob")
        .expect("bob")
        .merge_with("payments", n, stagecoach::forge::MergeMethod::Squash)
        .await
        .expect("merge");
    let repo = git2::Repository::open_bare(sb.world.repo_path("payments")).expect("repo");
    let commit = repo
        .find_commit(git2::Oid::from_str(&sha).expect("oid"))
        .expect("commit");
    assert_eq!(commit.parent_count(), 1);
    assert!(
        commit
            .message()
            .expect("msg")
            .starts_with(&format!("feat: fees (#{n})"))
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_restarted_sandbox_resumes_its_prs_labels_and_comments() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let n = feature_pr(&sb, "durable").await;
    let alice = sb.person("alice").expect("alice");
    alice
        .add_labels("payments", n, &["functional: true"])
        .await
        .expect("label");
    alice
        .comment("payments", n, "still here?")
        .await
        .expect("comment");
    let token = sb.world.token("alice").expect("token").to_string();
    sb.shutdown().await;

    let sb = start(tmp.path()).await;
    assert_eq!(
        sb.world.token("alice"),
        Some(token.as_str()),
        "tokens survive"
    );
    let alice = sb.person("alice").expect("alice");
    let pr = alice.pull("payments", n).await.expect("pr");
    assert_eq!(pr["labels"][0]["name"], json!("functional: true"));
    let comments = alice.comments("payments", n).await.expect("comments");
    assert_eq!(
        comments,
        vec![("alice".to_string(), "still here?".to_string())]
    );
    let next = feature_pr(&sb, "after-restart").await;
    assert_eq!(next, n + 1, "numbers continue");
    sb.shutdown().await;
}

#[tokio::test]
async fn label_events_name_who_added_and_removed_a_label() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let n = feature_pr(&sb, "events").await;
    sb.person("alice")
        .expect("a")
        .add_labels("payments", n, &["hotfix-to/v1.0.0"])
        .await
        .expect("add");
    sb.person("olga")
        .expect("o")
        .remove_label("payments", n, "hotfix-to/v1.0.0")
        .await
        .expect("rm");
    let events = sb
        .person("bob")
        .expect("b")
        .get(&format!("/repos/acme/payments/issues/{n}/events"))
        .await
        .expect("events");
    let seen: Vec<(String, String, String)> = events
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or("").to_string(),
                e["actor"]["login"].as_str().unwrap_or("").to_string(),
                e["label"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("labeled".into(), "alice".into(), "hotfix-to/v1.0.0".into()),
            ("unlabeled".into(), "olga".into(), "hotfix-to/v1.0.0".into()),
        ]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn statuses_combine_to_the_worst_latest_state_per_context() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let bot = sb.person("stagecoach-bot").expect("bot");
    let main = bot
        .get("/repos/acme/product/branches/main")
        .await
        .expect("branch")["commit"]["sha"]
        .as_str()
        .expect("sha")
        .to_string();
    for (ctx, state) in [("ci", "pending"), ("ci", "success"), ("smoke", "failure")] {
        bot.call(
            reqwest::Method::POST,
            &format!("/repos/acme/product/statuses/{main}"),
            Some(json!({"state": state, "context": ctx})),
        )
        .await
        .expect("status");
    }
    let combined = bot
        .get("/repos/acme/product/commits/main/status")
        .await
        .expect("combined");
    assert_eq!(combined["state"], json!("failure"));
    assert_eq!(combined["total_count"], json!(2));
    let all = bot
        .get(&format!("/repos/acme/product/commits/{main}/statuses"))
        .await
        .expect("all");
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    sb.shutdown().await;
}

#[tokio::test]
async fn releases_are_created_found_by_tag_and_published() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = start(tmp.path()).await;
    let bot = sb.person("stagecoach-bot").expect("bot");
    let rel = bot
        .call(
            reqwest::Method::POST,
            "/repos/acme/product/releases",
            Some(
                json!({"tag_name": "v1.0.0", "name": "v1.0.0", "body": "score 92", "draft": true}),
            ),
        )
        .await
        .expect("create");
    let id = rel["id"].as_u64().expect("id");
    assert!(
        bot.get("/repos/acme/product/releases/tags/v1.0.0")
            .await
            .is_err(),
        "drafts are hidden"
    );
    bot.call(
        reqwest::Method::PATCH,
        &format!("/repos/acme/product/releases/{id}"),
        Some(json!({"draft": false})),
    )
    .await
    .expect("publish");
    let found = bot
        .get("/repos/acme/product/releases/tags/v1.0.0")
        .await
        .expect("by tag");
    assert_eq!(found["body"], json!("score 92"));
    assert!(found["published_at"].is_string());
    let tags = bot.get("/repos/acme/payments/tags").await.expect("tags");
    let names: Vec<&str> = tags
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["v1.4.2", "v1.4.1", "v1.4.0", "v1.3.0"]);
    sb.shutdown().await;
}
