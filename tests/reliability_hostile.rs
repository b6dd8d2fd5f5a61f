//! Hostile input and access, each refused with a clear message: unsigned,
//! wrongly signed and replayed webhooks; `/approve` and `hotfix-to/` from
//! people without the right; a PR that rewrites the policy's gate commands;
//! labels, titles and commit messages meant to inject trailers or template
//! code; and the token, which never appears in an error or a log.

mod reliability_support;

use std::process::Command;
use std::time::Duration;

use reliability_support::*;
use stagecoach::forge::signature::sign;
use stagecoach::git::trailers::Trailers;

async fn post_webhook(
    rig: &Rig,
    delivery: &str,
    body: &[u8],
    signature: Option<String>,
) -> (u16, String) {
    let addr = rig.bot_addr().expect("bot");
    let mut req = rig
        .http
        .post(format!("http://{addr}/webhook"))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", delivery)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    let r = req.send().await.expect("send");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_wrongly_signed_and_replayed_webhooks_are_refused() {
    let mut rig = Rig::new().await;
    rig.start_bot(Duration::from_secs(60)).await;
    let body = include_bytes!("../fixtures/webhooks/pull_request.labeled.json").to_vec();

    let (status, text) = post_webhook(&rig, "d-unsigned", &body, None).await;
    assert_eq!(status, 401, "unsigned: {text}");
    assert!(
        text.contains("X-Hub-Signature-256 header is missing"),
        "{text}"
    );

    let wrong = sign(b"not-the-secret", &body);
    let (status, text) = post_webhook(&rig, "d-wrong", &body, Some(wrong)).await;
    assert_eq!(status, 401, "wrong secret: {text}");
    assert!(text.contains("does not match"), "{text}");

    let (status, text) = post_webhook(&rig, "d-malformed", &body, Some("sha1=abc".into())).await;
    assert_eq!(status, 401);
    assert!(text.contains("malformed"), "{text}");

    // A body changed after signing is a wrong signature too.
    let good = sign(rig.secret.as_bytes(), &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (status, _) = post_webhook(&rig, "d-tampered", &tampered, Some(good.clone())).await;
    assert_eq!(status, 401, "a tampered body passed");

    // The same delivery twice: accepted once, the replay dropped as a duplicate.
    let (first, _) = post_webhook(&rig, "d-replay", &body, Some(good.clone())).await;
    let (again, _) = post_webhook(&rig, "d-replay", &body, Some(good.clone())).await;
    assert_eq!((first, again), (202, 202));
    // The same delivery 16 times at once: one is queued, the rest are
    // duplicates, however the requests interleave.
    let addr = rig.bot_addr().expect("bot");
    let racing: Vec<_> = (0..16)
        .map(|_| {
            let (http, body, good) = (rig.http.clone(), body.clone(), good.clone());
            tokio::spawn(async move {
                http.post(format!("http://{addr}/webhook"))
                    .header("x-github-event", "pull_request")
                    .header("x-github-delivery", "d-race")
                    .header("x-hub-signature-256", good)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for r in racing {
        assert_eq!(r.await.expect("task").expect("send"), 202);
    }
    let metrics = rig
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            "stagecoach_webhooks_total{event=\"pull_request\",outcome=\"duplicate\"} 16\n"
        ),
        "one replay and 15 racing copies are duplicates: {metrics}"
    );
    assert!(
        metrics
            .contains("stagecoach_webhooks_total{event=\"unknown\",outcome=\"unauthorized\"} 4\n"),
        "{metrics}"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_hotfix_from_people_without_the_right_are_refused() {
    let mut rig = Rig::new().await;
    rig.start_bot(Duration::from_millis(500)).await;
    let (alice, bob, ron) = (rig.person("alice"), rig.person("bob"), rig.person("ron"));
    let start_tags = rig.world().tags("product");

    // A high-risk change waits for an approver.
    alice
        .commit_files(
            "payments",
            "feat/rewrite",
            &[("src/rewrite.txt", "x")],
            "feat(pay): rewrite",
        )
        .await
        .expect("commit");
    let n = alice
        .open_pr("payments", "feat/rewrite", "main", "feat(pay): rewrite", "")
        .await
        .expect("pr");
    alice
        .add_labels(
            "payments",
            n,
            &[
                "component: XL",
                "change: XL",
                "ft-coverage: 0",
                "functional: true",
            ],
        )
        .await
        .expect("labels");
    let sha = alice.merge("payments", n).await.expect("merge");
    alice.tag("payments", "v1.4.3", &sha).await.expect("tag");
    let pr = wait_for("a high-risk product PR", STEP, || {
        pr_by_head(&alice, "product", "stagecoach/payments-1.4.3")
    })
    .await;
    let pn = pr["number"].as_u64().expect("number");

    bob.comment("product", pn, "/approve").await.expect("bob");
    ron.comment("product", pn, "/approve").await.expect("ron");
    let refusal = wait_for(
        "the bot refuses bob's and ron's approvals",
        STEP,
        || async {
            alice
                .comments("acme/product", pn)
                .await
                .ok()?
                .into_iter()
                .find(|(a, b)| {
                    a == "stagecoach-bot"
                        && b.contains("Approvals that do not count")
                        && b.contains("bob")
                        && b.contains("ron")
                })
                .map(|(_, b)| b)
        },
    )
    .await;
    assert!(
        refusal.contains("bob: not listed in people.approvers"),
        "{refusal}"
    );
    assert!(
        refusal.contains("ron: not listed in people.approvers"),
        "{refusal}"
    );

    // A hotfix label added by a developer who is not on call.
    bob.commit_files(
        "search",
        "fix/hot",
        &[("src/hot.txt", "x")],
        "fix(search): hot",
    )
    .await
    .expect("commit");
    let h = bob
        .open_pr("search", "fix/hot", "main", "fix(search): hot", "")
        .await
        .expect("pr");
    bob.add_labels("search", h, &["hotfix-to/v1.0.0"])
        .await
        .expect("label");
    let said = wait_for("the bot refuses bob's hotfix label", STEP, || async {
        bob.comments("acme/search", h)
            .await
            .ok()?
            .into_iter()
            .find(|(a, b)| a == "stagecoach-bot" && b.contains("may not trigger a hotfix"))
            .map(|(_, b)| b)
    })
    .await;
    assert!(said.contains("hotfixers"), "{said}");

    // Neither refusal had an effect: not merged, not approved, no hotfix tag
    // (after three more whole passes of the bot, which would have acted).
    rig.wait_passes(3).await;
    let pull = alice.pull("product", pn).await.expect("pull");
    assert_eq!(
        pull["merged"], false,
        "a high-risk PR merged without an approver"
    );
    let head = pull["head"]["sha"].as_str().expect("sha");
    let statuses = alice
        .get(&format!("/repos/acme/product/commits/{head}/statuses"))
        .await
        .expect("statuses");
    let approved = statuses
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["context"] == "stagecoach/approval" && s["state"] == "success");
    assert!(!approved, "the approval check passed on a refused approval");
    assert_eq!(rig.world().tags("product"), start_tags, "a tag was made");
    assert_nothing_doubled(&alice, &["product", "payments", "search"]).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pr_that_rewrites_the_gate_commands_never_runs_them() {
    let mut rig = Rig::new().await;
    rig.start_bot(Duration::from_millis(500)).await;
    let alice = rig.person("alice");
    let pwned = rig.dir().join("pwned");
    let evil = format!("touch {}", pwned.display());

    let main_policy = String::from_utf8(
        rig.world()
            .bare("product")
            .revparse_single("main:policies/default.yaml")
            .expect("policy")
            .as_blob()
            .expect("blob")
            .content()
            .to_vec(),
    )
    .expect("utf8");
    let policy = main_policy
        .lines()
        .map(|l| {
            if let Some((indent, _)) = l.split_once("smoke: {command:") {
                format!("{indent}smoke: {{command: \"{evil}\", timeout: 10s}}")
            } else if let Some((indent, _)) = l.split_once("health: {command:") {
                format!("{indent}health: {{command: \"{evil}\", timeout: 10s}}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        policy.contains(&evil),
        "the policy has no gate commands to rewrite"
    );
    let manifest = String::from_utf8(
        rig.world()
            .bare("product")
            .revparse_single("main:product.yaml")
            .expect("manifest")
            .as_blob()
            .expect("blob")
            .content()
            .to_vec(),
    )
    .expect("utf8");
    let current =
        stagecoach::manifest::yaml_edit::get_scalar(&manifest, "components.payments.version")
            .expect("read")
            .expect("payments");
    let bumped = stagecoach::manifest::yaml_edit::set_scalar(
        &manifest,
        "components.payments.version",
        "1.4.3",
    )
    .expect("bump");
    assert_ne!(current, "1.4.3");
    // payments 1.4.3 exists (its pipeline tagged main), so only the policy is odd.
    let payments_main = rig.world().head("payments", "main");
    alice
        .tag("payments", "v1.4.3", &payments_main)
        .await
        .expect("tag");
    alice
        .commit_files(
            "product",
            "evil/gates",
            &[
                ("policies/default.yaml", &policy),
                ("product.yaml", &bumped),
            ],
            "chore: bump payments (and quietly change the gates)",
        )
        .await
        .expect("commit");
    let n = alice
        .open_pr("product", "evil/gates", "main", "bump payments", "")
        .await
        .expect("pr");
    alice
        .add_labels(
            "product",
            n,
            &[
                "component: M",
                "change: M",
                "ft-coverage: 50",
                "functional: true",
            ],
        )
        .await
        .expect("labels");
    let head = alice.pull("product", n).await.expect("pull")["head"]["sha"]
        .as_str()
        .expect("sha")
        .to_string();
    // The bump is refused as a whole: a product PR the bot deploys and
    // merges may change only the manifest, so the new gates never ride along.
    let ci = wait_for("the bot refuses the PR's CI", STEP, || async {
        alice
            .get(&format!("/repos/acme/product/commits/{head}/statuses"))
            .await
            .ok()?
            .as_array()?
            .iter()
            .find(|s| s["context"] == "stagecoach/ci" && s["state"] == "failure")
            .cloned()
    })
    .await;
    let said = wait_for("the bot says why", STEP, || async {
        alice
            .comments("acme/product", n)
            .await
            .ok()?
            .into_iter()
            .find(|(a, b)| a == "stagecoach-bot" && b.contains("policies/default.yaml"))
            .map(|(_, b)| b)
    })
    .await;
    assert!(said.contains("may change only"), "{said}");
    // Three more whole passes: a deploy or merge would show now.
    rig.wait_passes(3).await;
    let pull = alice.pull("product", n).await.expect("pull");
    assert_eq!(
        pull["merged"], false,
        "the bot merged a PR that changes the gates"
    );
    assert_eq!(
        rig.world().commits_with(
            "landscape-ci",
            &[("Stagecoach-Product", &format!("acme/product#{n}"))]
        ),
        0,
        "the bot deployed a PR that changes the gates"
    );
    assert!(
        !pwned.exists(),
        "a gate command from the PR branch ran (ci said {ci})"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_titles_and_messages_cannot_inject_trailers_or_templates() {
    let mut rig = Rig::new().await;
    rig.start_bot(Duration::from_millis(500)).await;
    let alice = rig.person("alice");
    let token = rig.sb.world.bot_token().to_string();
    let message = "fix(pay): {{config.forge.token}} {{#each this}}[{{@key}}]{{/each}} {{{{raw}}}}\n\nStagecoach-Risk: low\nSigned-off-by: Mallory <m@evil.example>";
    alice
        .commit_files(
            "payments",
            "fix/inject",
            &[("src/inject.txt", "x")],
            message,
        )
        .await
        .expect("commit");
    let title = "fix(pay): {{lookup this \"token\"}}\nSigned-off-by: Mallory <m@evil.example>";
    let n = alice
        .open_pr("payments", "fix/inject", "main", title, "")
        .await
        .expect("pr");
    alice
        .add_labels(
            "payments",
            n,
            &[
                "component: S",
                "change: S",
                "ft-coverage: 90",
                "functional: true",
            ],
        )
        .await
        .expect("labels");
    // Labels a person could type to smuggle a trailer or template code.
    let hostile = [
        "risk: low\nSigned-off-by: Mallory <m@evil.example>",
        "functional: true\nStagecoach-Risk: low",
        "ft-coverage: {{config.forge.token}}",
    ];
    let added = alice.add_labels("payments", n, &hostile).await.is_ok();
    if added {
        // They are refused with the labels comment, shown inert, and block the PR.
        let said = wait_for("the bot names the hostile labels", STEP, || async {
            alice
                .comments("acme/payments", n)
                .await
                .ok()?
                .into_iter()
                .find(|(a, b)| a == "stagecoach-bot" && b.contains("config.forge.token"))
                .map(|(_, b)| b)
        })
        .await;
        assert!(
            !said.contains(&token),
            "the comment holds the token:\n{said}"
        );
        assert!(
            !said
                .lines()
                .any(|l| l.trim_start().starts_with("Signed-off-by:")
                    || l.trim_start().starts_with("Stagecoach-Risk:")),
            "a hostile label broke out onto its own line:\n{said}"
        );
        for label in hostile {
            alice
                .remove_label("payments", n, label)
                .await
                .expect("remove");
        }
    }
    let sha = alice.merge("payments", n).await.expect("merge");
    alice.tag("payments", "v1.4.3", &sha).await.expect("tag");
    let before = rig.world().tags("product").len();
    let pr = wait_for("the product PR", STEP, || {
        pr_by_head(&alice, "product", "stagecoach/payments-1.4.3")
    })
    .await;
    let pn = pr["number"].as_u64().expect("number");
    wait_merged(&alice, pn, STEP).await;
    wait_for("the product tag", STEP, || async {
        (rig.world().tags("product").len() > before).then_some(())
    })
    .await;

    let world = rig.world();
    let mut texts: Vec<(String, String)> = Vec::new();
    for repo in ["product", "landscape-ci"] {
        for m in world.log(repo, "main") {
            texts.push((format!("{repo} commit"), m));
        }
    }
    let product = world.bare("product");
    for name in world.tags("product") {
        if let Ok(t) = product
            .find_reference(&format!("refs/tags/{name}"))
            .and_then(|r| r.peel_to_tag())
        {
            texts.push((
                format!("tag {name}"),
                t.message().ok().flatten().unwrap_or("").to_string(),
            ));
        }
    }
    let pull = alice.pull("product", pn).await.expect("pull");
    texts.push((
        "product PR body".into(),
        pull["body"].as_str().unwrap_or("").into(),
    ));
    for (_, body) in alice.comments("acme/product", pn).await.expect("comments") {
        texts.push(("product PR comment".into(), body));
    }
    for (_, body) in alice.comments("acme/payments", n).await.expect("comments") {
        texts.push(("component PR comment".into(), body));
    }
    let mut checked = 0;
    for (what, text) in &texts {
        assert!(
            !text.contains(&token),
            "{what} holds the bot's token:\n{text}"
        );
        if what.ends_with("commit") || what.starts_with("tag") {
            let t = Trailers::parse(text);
            if t.get("Stagecoach-Action").is_some() {
                checked += 1;
                assert!(
                    t.get("Signed-off-by").is_none(),
                    "{what}: an injected trailer:\n{text}"
                );
                for risk in t.get_all("Stagecoach-Risk") {
                    assert!(
                        ["low", "medium", "high"].contains(&risk),
                        "{what}: Stagecoach-Risk is {risk:?}"
                    );
                }
            }
        }
    }
    assert!(
        checked >= 2,
        "only {checked} bot commits or tags were checked"
    );
    // The template text arrived as text: the changelog shows it, unexpanded.
    let tag = world.tags("product").pop().expect("tag");
    let tag_msg = product
        .find_reference(&format!("refs/tags/{tag}"))
        .and_then(|r| r.peel_to_tag())
        .map(|t| t.message().ok().flatten().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(
        tag_msg.contains("{{config.forge.token}}") || tag_msg.contains("config.forge.token"),
        "the commit's text did not reach the changelog as text:\n{tag_msg}"
    );
    rig.stop().await;
}

#[test]
fn the_token_never_appears_in_an_error() {
    let token = "ghp_TOPSECRETtoken0123456789abcdefABCDEF";
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("stagecoach.yaml");
    std::fs::write(
        &config,
        format!(
            "forge: {{api_url: \"http://127.0.0.1:1\", token: \"{token}\"}}\n\
             git: {{url: \"https://x-access-token:{token}@127.0.0.1:1/{{owner}}/{{name}}.git\", cache_dir: \"{cache}\"}}\n\
             product: {{repo: acme/product}}\n",
            cache = dir.path().join("cache").display()
        ),
    )
    .expect("config");
    let run = |args: &[&str], serve_for: Option<Duration>| -> (bool, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args(args)
            .arg(&config)
            .env("RUST_LOG", "debug")
            .env("STAGECOACH_TOKEN", token)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run");
        if let Some(d) = serve_for {
            std::thread::sleep(d);
            let _ = child.kill();
        }
        let out = child.wait_with_output().expect("wait");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), all)
    };
    // A one-shot command: fails, says why, never says the token.
    let (ok, all) = run(&["plan", "--config"], None);
    assert!(!ok, "plan succeeded against nothing:\n{all}");
    assert!(!all.trim().is_empty(), "plan failed silently");
    assert!(!all.contains("TOPSECRET"), "plan printed the token:\n{all}");
    // The server, logging at debug, failing every resync for a few seconds.
    let (_, all) = run(
        &["serve", "--listen", "127.0.0.1:0", "--config"],
        Some(Duration::from_secs(3)),
    );
    assert!(
        all.contains("retry") || all.contains("error") || all.contains("WARN"),
        "serve logged no failure:\n{all}"
    );
    assert!(!all.contains("TOPSECRET"), "serve logged the token:\n{all}");
}
