//! A broken policy on the product's main never stops the bot silently: on
//! the sandbox, a duplicate key pushed to main is refused where people look
//! (a failing `stagecoach/policy` status on that commit, `/readyz` 503 with
//! the reason, the dashboard's banner, `stagecoach_policy_ok 0`) while the
//! bot keeps working on the last good policy; the fixing commit clears all.

mod support;

use std::sync::Arc;
use std::time::Duration;

use stagecoach::bot::Bot;
use stagecoach::metrics::Metrics;
use support::{LOW, Road, RoadOptions, number, wait_for};

const POLICY: &str = "policies/default.yaml";

struct Watched {
    base: String,
    http: reqwest::Client,
}

impl Watched {
    async fn get(&self, path: &str) -> (u16, String) {
        match self.http.get(format!("{}{path}", self.base)).send().await {
            Ok(r) => {
                let code = r.status().as_u16();
                (code, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }

    async fn wait(&self, path: &str, what: &str, ok: impl Fn(u16, &str) -> bool) -> String {
        wait_for(what, || async {
            let (code, body) = self.get(path).await;
            ok(code, &body).then_some(body)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_key_on_main_is_refused_loudly_and_the_bot_keeps_working() {
    let road = Road::start_with(RoadOptions {
        bot: false,
        ..RoadOptions::default()
    })
    .await;
    // The bot as `stagecoach serve` runs it: metrics, dashboard, /readyz.
    let metrics = Arc::new(Metrics::new());
    let engine = Arc::new(
        road.engine_as("stagecoach-bot")
            .with_metrics(metrics.clone()),
    );
    let secret = "broken-policy-secret".to_string();
    let dashboard = stagecoach::dashboard::router_on(engine.clone(), "127.0.0.1:0");
    let bot = Bot::start(
        engine,
        metrics,
        "127.0.0.1:0",
        Some(secret.clone()),
        Duration::from_millis(500),
        Some(dashboard),
    )
    .await
    .expect("bot");
    road.sb
        .set_webhook(Some(format!("http://{}/webhook", bot.addr)), Some(secret));
    let web = Watched {
        base: format!("http://{}", bot.addr),
        http: reqwest::Client::new(),
    };
    web.wait("/readyz", "ready on the first good policy", |c, _| c == 200)
        .await;
    web.wait("/metrics", "stagecoach_policy_ok 1", |_, b| {
        b.contains("\nstagecoach_policy_ok 1\n")
    })
    .await;

    // Someone pushes a policy with a duplicate key straight to main.
    let good = road
        .file_at("product", "main", POLICY)
        .expect("the sandbox's policy");
    let broken = format!("{good}\nsizes: [S, M, L]\n");
    let alice = road.person("alice");
    let bad_sha = alice
        .commit_files(
            "product",
            "main",
            &[(POLICY, &broken)],
            "chore(policy): fewer sizes",
        )
        .await
        .expect("push the broken policy");

    let description = road
        .wait_status("product", &bad_sha, "stagecoach/policy", "failure")
        .await;
    assert!(
        description.contains(POLICY) && description.contains("sizes"),
        "the status names the file and the key: {description}"
    );
    let ready = web
        .wait("/readyz", "/readyz turns 503", |c, _| c == 503)
        .await;
    assert!(
        ready.contains(&bad_sha[..7]) && ready.contains("last good policy"),
        "{ready}"
    );
    assert!(
        ready.contains("sizes"),
        "the reason is the parse error: {ready}"
    );
    let (live, _) = web.get("/healthz").await;
    assert_eq!(live, 200, "liveness stays ok");
    web.wait("/metrics", "stagecoach_policy_ok 0", |_, b| {
        b.contains("\nstagecoach_policy_ok 0\n")
    })
    .await;
    let page = web
        .wait("/", "the dashboard's banner", |c, b| {
            c == 200 && b.contains("id=\"policy-banner\"")
        })
        .await;
    assert!(page.contains("Policy refused"), "banner text");

    // The bot keeps working on the last good policy: a low-risk fix goes through.
    let pr = road
        .released(
            "payments",
            "fix/cart",
            "fix(cart): empty cart",
            LOW,
            "v1.4.3",
        )
        .await;
    road.wait_merged("product", number(&pr)).await;

    // Fixing main clears everything, with a success on the fixing commit.
    let fix_sha = alice
        .commit_files(
            "product",
            "main",
            &[(POLICY, &good)],
            "revert(policy): sizes back",
        )
        .await
        .expect("push the fix");
    road.wait_status("product", &fix_sha, "stagecoach/policy", "success")
        .await;
    web.wait("/readyz", "/readyz ready again", |c, b| {
        c == 200 && b == "ready\n"
    })
    .await;
    web.wait("/metrics", "stagecoach_policy_ok 1 again", |_, b| {
        b.contains("\nstagecoach_policy_ok 1\n")
    })
    .await;
    web.wait("/", "the banner is gone", |c, b| {
        c == 200 && !b.contains("policy-banner")
    })
    .await;

    bot.shutdown().await;
    road.stop().await;
}
