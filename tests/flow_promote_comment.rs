//! Flow 6 from a landscape PR: a release manager comments `/promote vX.Y.Z`
//! on an open PR of the environment's landscape repo; the bot checks who
//! asks and whether the tag may go there, promotes, and answers in one
//! sticky comment. Someone else's `/promote` is refused in words.

use std::sync::Arc;

use stagecoach::config::Config;
use stagecoach::engine::Engine;
use stagecoach::forge::github::GitHub;
use stagecoach::sandbox::{self, Sandbox, SandboxOptions};

async fn bot(sb: &Sandbox) -> Engine {
    let text = stagecoach::cli::sandbox::bot_config(&sb.world, &sb.api_url, "s3cret");
    let config = Config::parse(&text, "test config").expect("config");
    let forge = GitHub::from_config(&config).expect("forge");
    Engine::new(config, Arc::new(forge))
}

fn canary_file(sb: &Sandbox, path: &str) -> Option<String> {
    let r = git2::Repository::open_bare(sb.world.repo_path("landscape-canary")).ok()?;
    let obj = r.revparse_single(&format!("main:{path}")).ok()?;
    Some(String::from_utf8_lossy(obj.as_blob()?.content()).into_owned())
}

async fn bot_says(sb: &Sandbox, pr: u64) -> Vec<String> {
    sb.person("alice")
        .expect("alice")
        .comments("landscape-canary", pr)
        .await
        .expect("comments")
        .into_iter()
        .filter(|(a, _)| a == "stagecoach-bot")
        .map(|(_, b)| b)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promote_comment_is_checked_then_carried_out_and_answered_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sb = sandbox::start(SandboxOptions::new(tmp.path()))
        .await
        .expect("sandbox");
    let engine = bot(&sb).await;
    let rita = sb.person("rita").expect("rita");
    rita.commit_files(
        "landscape-canary",
        "promotions",
        &[("NOTES.md", "promotion requests\n")],
        "docs: promotion requests",
    )
    .await
    .expect("branch");
    let pr = rita
        .open_pr(
            "landscape-canary",
            "promotions",
            "main",
            "Promotions to canary",
            "",
        )
        .await
        .expect("pr");

    // A person without the right is refused, and nothing moves.
    sb.person("bob")
        .expect("bob")
        .comment("landscape-canary", pr, "/promote v1.0.0")
        .await
        .expect("comment");
    engine.converge().await.expect("converge");
    let said = bot_says(&sb, pr).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("bob may not promote to canary") && said[0].contains("people.promoters"),
        "{said:?}"
    );
    assert!(canary_file(&sb, ".stagecoach/promotion.yaml").is_none());

    // A release manager, but v1.0.0 is not a release: refused, the same comment edited.
    rita.comment("landscape-canary", pr, "/promote v1.0.0")
        .await
        .expect("comment");
    engine.converge().await.expect("converge");
    let said = bot_says(&sb, pr).await;
    assert_eq!(said.len(), 1, "one sticky comment: {said:?}");
    assert!(said[0].contains("not a release"), "{said:?}");

    // With an override the promotion happens, recorded in the commit.
    rita.comment(
        "landscape-canary",
        pr,
        "/promote v1.0.0 --override \"first canary of the quarter\"",
    )
    .await
    .expect("comment");
    engine.converge().await.expect("converge");
    let marker = canary_file(&sb, ".stagecoach/promotion.yaml").expect("promoted");
    assert!(marker.contains("tag: v1.0.0"), "{marker}");
    let r = git2::Repository::open_bare(sb.world.repo_path("landscape-canary")).expect("canary");
    let head = r
        .revparse_single("main")
        .expect("main")
        .peel_to_commit()
        .expect("commit");
    let mut walk = r.revwalk().expect("walk");
    walk.push(head.id()).expect("push");
    let promote = walk
        .filter_map(|o| o.ok())
        .filter_map(|o| r.find_commit(o).ok())
        .find(|c| {
            c.message()
                .is_ok_and(|m| m.contains("Stagecoach-Action: promote"))
        })
        .expect("a promote commit");
    let message = promote.message().expect("utf8").to_string();
    assert!(
        message.contains("Stagecoach-Override: first canary of the quarter"),
        "{message}"
    );
    let said = bot_says(&sb, pr).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("v1.0.0 runs on canary"), "{said:?}");

    // A quiet resync changes nothing.
    let before = r.revparse_single("main").expect("main").id();
    assert_eq!(engine.converge().await.expect("converge"), 0);
    assert_eq!(r.revparse_single("main").expect("main").id(), before);
    sb.shutdown().await;
}
