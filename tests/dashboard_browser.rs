//! The dashboard in a real browser, against the demo road in the sandbox:
//! the road, the releases table and the PRs in the DOM, a click on a column
//! header that sorts the releases, the delivery metrics with their charts,
//! screenshots, the read token, the page when the dashboard is off,
//! `/metrics` from git history, and 1,000
//! components: by default only those that differ or are in flight with a
//! count of the rest, the filter box narrowing the rows, `?q=`, `?all=1`,
//! and a component's link opening its page (versions, PRs, history).
//! (How fast it renders is `cargo bench --bench dashboard`, not a test.) Without Chromium this test FAILS, saying what to
//! install; STAGECOACH_SKIP_BROWSER=1 skips the browser part on purpose.

mod people_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use semver::Version;
use stagecoach::bot::Bot;
use stagecoach::engine::Engine;
use stagecoach::forge::github::GitHub;
use stagecoach::metrics::Metrics;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Set to 1 to skip the browser part (on purpose, and said).
const SKIP_BROWSER: &str = "STAGECOACH_SKIP_BROWSER";

/// Whether to drive the browser: yes unless skipping was asked for; a
/// missing Chromium fails the test with what to install.
fn browser_wanted() -> bool {
    if std::env::var(SKIP_BROWSER).as_deref() == Ok("1") {
        println!("SKIPPED the browser part: {SKIP_BROWSER}=1");
        return false;
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install it (apt-get install -y chromium; `.ci/run` does), \
         or set {SKIP_BROWSER}=1 to skip the browser part of this test"
    );
    true
}

/// The page at `url` with a script appended that clicks the releases
/// table's score header once, then again, and records the score column's
/// order after each click in `data-desc` / `data-asc` on `<body>` (and the
/// order before in `data-before`) — the page's own sort code does the work.
/// Served from the test's own loopback port, so the browser loads it like
/// any page.
async fn with_clicks(page: String) -> (String, tokio::task::JoinHandle<()>) {
    const CLICKS: &str = r#"<script>
(function () {
  var th = document.querySelector('#releases-table th[data-col="1"]');
  var order = function () {
    return Array.from(document.querySelectorAll('#releases-table tbody tr'))
      .map(function (tr) { return tr.children[0].textContent.trim().split(' ')[0] + '=' + (tr.children[1].dataset.sort || ''); })
      .join(',');
  };
  document.body.setAttribute('data-before', order());
  th.click();
  document.body.setAttribute('data-desc', order());
  th.click();
  document.body.setAttribute('data-asc', order());
})();
</script>
</body>"#;
    serve_page(page.replacen("</body>", CLICKS, 1)).await
}

/// The dashboard with only its delivery metrics section shown (the page's
/// own HTML and CSS, the other sections hidden), for a screenshot of it.
async fn delivery_only(page: String) -> (String, tokio::task::JoinHandle<()>) {
    const HIDE: &str = r#"<script>
document.querySelectorAll('header, main > section:not(#delivery)').forEach(function (e) { e.style.display = 'none'; });
</script>
</body>"#;
    serve_page(page.replacen("</body>", HIDE, 1)).await
}

/// Serve `html` from the test's own loopback port.
async fn serve_page(html: String) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/clicked",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/clicked"), task)
}

/// `tag=score` pairs from a `data-*` attribute of the dumped DOM.
fn column(dom: &str, attr: &str) -> Vec<(String, f64)> {
    let start = dom
        .find(&format!("{attr}=\""))
        .unwrap_or_else(|| panic!("the page has no {attr}: {dom}"))
        + attr.len()
        + 2;
    let value = &dom[start..start + dom[start..].find('"').expect("closing quote")];
    value
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (tag, score) = p.split_once('=').expect("tag=score");
            // The page's own rule: a cell without a number sorts as -1.
            (tag.to_string(), score.parse::<f64>().unwrap_or(-1.0))
        })
        .collect()
}

fn chromium(profile: &Path, extra: &[&str], url: &str) -> std::process::Output {
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url);
    cmd.output().expect("run chromium")
}

/// The dashboard alone (no reconcile loop), for engines fed a snapshot.
async fn dashboard_only(engine: Arc<Engine>) -> (String, tokio::task::JoinHandle<()>) {
    let app = stagecoach::dashboard::router_on(engine, "127.0.0.1:0");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

async fn get(client: &reqwest::Client, url: &str, bearer: Option<&str>) -> (u16, String) {
    let mut req = client.get(url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    (res.status().as_u16(), res.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_the_road_and_releases_in_a_real_browser() {
    let road = people_support::played_road().await;
    let config = people_support::config(&road.sb, road.dir.path(), None);
    let metrics = Arc::new(Metrics::new());
    let forge = GitHub::from_config(&config).expect("forge");
    let engine = Arc::new(Engine::new(config, Arc::new(forge)).with_metrics(metrics.clone()));
    let dash = stagecoach::dashboard::router_on(engine.clone(), "127.0.0.1:0");
    let bot = Bot::start(
        engine.clone(),
        metrics,
        "127.0.0.1:0",
        Some("s3cret".into()),
        Duration::from_secs(3600),
        Some(dash),
    )
    .await
    .expect("bot");
    let base = format!("http://{}", bot.addr);
    let client = stagecoach::engine::http::client_builder()
        .build()
        .expect("client");

    // The first resync tick makes a pass; wait for its snapshot.
    let deadline = Instant::now() + Duration::from_secs(60);
    while engine.last_observed().is_none() {
        assert!(Instant::now() < deadline, "the bot never made a pass");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, html) = get(&client, &format!("{base}/"), None).await;
    assert_eq!(code, 200, "loopback needs no login: {html}");
    assert!(html.contains("id=\"releases-table\""));

    // /metrics: the delivery metrics as counters and histograms from the
    // landscape record (prod: v1.1.0, then the hotfix v1.1.1 after it), and
    // gauges of what git says now.
    let (code, text) = get(&client, &format!("{base}/metrics"), None).await;
    assert_eq!(code, 200);
    for needle in [
        "# TYPE stagecoach_promotions_total counter\n",
        "stagecoach_promotions_total{env=\"prod\",kind=\"release\"} 1\n",
        "stagecoach_promotions_total{env=\"prod\",kind=\"hotfix\"} 1\n",
        "stagecoach_promotion_failures_total{env=\"prod\"} 1\n",
        "# TYPE stagecoach_change_lead_time_seconds histogram\n",
        "# TYPE stagecoach_time_to_restore_seconds histogram\n",
        "stagecoach_product_tags{kind=\"hotfix\"} 1",
        "stagecoach_env_tag{env=\"prod\",tag=\"v1.1.1\"} 1",
        "stagecoach_stability_score{tag=\"v1.0.0\"}",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }

    // A read token, when set, is needed even on loopback.
    {
        let config = people_support::config(&road.sb, road.dir.path(), Some("let-me-read"));
        let forge = GitHub::from_config(&config).expect("forge");
        let guarded = Arc::new(Engine::new(config, Arc::new(forge)));
        if let Some(o) = engine.last_observed() {
            guarded.remember(o.policy.clone(), o.snapshot.clone());
        }
        let (addr, task) = dashboard_only(guarded).await;
        let url = format!("{addr}/dashboard");
        assert_eq!(get(&client, &url, None).await.0, 401);
        assert_eq!(get(&client, &url, Some("wrong")).await.0, 401);
        assert_eq!(get(&client, &url, Some("let-me-read")).await.0, 200);
        // The component page asks for the same token.
        let one = format!("{addr}/component/checkout");
        assert_eq!(get(&client, &one, None).await.0, 401);
        let (code, page) = get(&client, &format!("{one}?token=let-me-read"), None).await;
        assert_eq!(code, 200, "{page}");
        // The demo's record: the hotfix v1.1.1 (checkout 2.1.0 → 2.1.1)
        // went to prod in two waves, newest first.
        let history = &page[page.find("id=\"history-table\"").expect("history")..];
        let prod_wave = history.find("<tr data-env=\"prod\">").expect("a prod row");
        assert!(
            history[prod_wave..].contains("promote wave 2/2"),
            "{history}"
        );
        assert!(history[prod_wave..].contains("v1.1.1"), "{history}");
        assert_eq!(
            get(&client, &format!("{url}?token=let-me-read"), None)
                .await
                .0,
            200
        );
        task.abort();
    }

    // 1,000 components, rendered from the last snapshot: all the same
    // everywhere but svc-0500, which runs an older version on prod, has an
    // open product PR and a bot commit on prod's record.
    let big_addr;
    let big_task;
    {
        let o = engine.last_observed().expect("observed");
        let mut snap = o.snapshot.clone();
        let pin = snap
            .product
            .manifest
            .components
            .values()
            .next()
            .cloned()
            .expect("pin");
        for i in 0..1000 {
            let name = format!("svc-{i:04}");
            snap.product
                .manifest
                .components
                .insert(name.clone(), pin.clone());
            for env in &mut snap.envs {
                let old = i == 500 && env.name == "prod";
                for versions in env.versions.values_mut() {
                    versions.insert(
                        name.clone(),
                        Version::new(1, if old { 0 } else { 1 + i % 7 }, 0),
                    );
                }
            }
        }
        grow_svc_0500(&mut snap);
        let config = people_support::config(&road.sb, road.dir.path(), None);
        let forge = GitHub::from_config(&config).expect("forge");
        let big = Arc::new(Engine::new(config, Arc::new(forge)));
        big.remember(o.policy.clone(), snap);
        (big_addr, big_task) = dashboard_only(big).await;
        let (code, html) = get(&client, &format!("{big_addr}/"), None).await;
        assert_eq!(code, 200);
        assert!(
            html.contains("data-name=\"svc-0500\""),
            "svc-0500 differs: {html}"
        );
        assert!(
            !html.contains("data-name=\"svc-0000\""),
            "svc-0000 is the same everywhere"
        );
        // ?all=1 lists every one; ?q= searches all of them by name.
        let (code, all) = get(&client, &format!("{big_addr}/?all=1"), None).await;
        assert_eq!(code, 200);
        assert!(all.contains("data-name=\"svc-0000\"") && all.contains("data-name=\"svc-0999\""));
        let (_, found) = get(&client, &format!("{big_addr}/?q=SVC-000"), None).await;
        assert_eq!(
            found.matches("<tr data-name=\"svc-000").count(),
            10 + 10.min(ROAD_ROWS_PER_ENV) * road_columns(&found),
            "svc-0000..svc-0009 in the table and the road: {found}"
        );
        assert!(!found.contains("data-name=\"svc-0010\""));
        // Unknown and malformed names get one line.
        let (code, text) = get(&client, &format!("{big_addr}/component/nope"), None).await;
        assert_eq!(
            (code, text.as_str()),
            (404, "no component `nope` in the product\n")
        );
        let (code, _) = get(&client, &format!("{big_addr}/component/a%20b"), None).await;
        assert_eq!(code, 400);
    }

    // ── the real browser ──
    if !browser_wanted() {
        bot.shutdown().await;
        road.sb.shutdown().await;
        return;
    }
    let shots = tempfile::tempdir().expect("tmp");
    let url = format!("{base}/dashboard");
    let dom = tokio::task::spawn_blocking({
        let (p, url) = (shots.path().join("profile-dom"), url.clone());
        move || chromium(&p, &["--dump-dom"], &url)
    })
    .await
    .expect("chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    for needle in [
        "id=\"road\"",
        "data-env=\"ci\"",
        "data-env=\"staging\"",
        "data-env=\"canary\"",
        "data-env=\"prod\"",
        "wave 2: healthy",
        "id=\"releases-table\"",
        "data-tag=\"v1.1.1\"",
        "hotfix of v1.1.0",
        "data-tag=\"v1.0.0\"",
        "BREAKING",
        "Recent bot actions",
        "id=\"delivery\"",
        "id=\"metric-deployment-frequency\"",
        "id=\"metric-lead-time\"",
        "id=\"metric-change-failure-rate\"",
        "id=\"metric-time-to-restore\"",
        "<svg class=\"chart\"",
        "1 of 2 changes failed",
    ] {
        assert!(
            dom_text.contains(needle),
            "the page lacks {needle}:\n{dom_text}"
        );
    }
    let png = shots.path().join("dashboard.png");
    let shot = tokio::task::spawn_blocking({
        let (p, png, url) = (shots.path().join("profile-shot"), png.clone(), url.clone());
        move || chromium(&p, &[&format!("--screenshot={}", png.display())], &url)
    })
    .await
    .expect("chromium");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a blank page is tiny: {} bytes",
        bytes.len()
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::copy(&png, &keep).expect("keep screenshot");
    println!("screenshot: {} ({} bytes)", keep.display(), bytes.len());
    // The delivery metrics section on its own.
    let (_, page) = get(&client, &url, None).await;
    let (only, task) = delivery_only(page).await;
    let png = shots.path().join("dashboard-metrics.png");
    let shot = tokio::task::spawn_blocking({
        let (p, png) = (shots.path().join("profile-metrics"), png.clone());
        move || {
            chromium(
                &p,
                &[
                    &format!("--screenshot={}", png.display()),
                    "--window-size=1300,360",
                ],
                &only,
            )
        }
    })
    .await
    .expect("chromium");
    task.abort();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("metrics screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-metrics.png");
    std::fs::copy(&png, &keep).expect("keep screenshot");
    println!(
        "metrics screenshot: {} ({} bytes)",
        keep.display(),
        bytes.len()
    );

    // A click on the score header sorts the releases by score, highest
    // first; a second click, lowest first.
    let (_, page) = get(&client, &url, None).await;
    let (clicked, task) = with_clicks(page).await;
    let dom = tokio::task::spawn_blocking({
        let p = shots.path().join("profile-click");
        move || chromium(&p, &["--dump-dom"], &clicked)
    })
    .await
    .expect("chromium");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    task.abort();
    let before = column(&dom, "data-before");
    let desc = column(&dom, "data-desc");
    let asc = column(&dom, "data-asc");
    assert!(before.len() >= 3, "releases on the page: {before:?}");
    let scores = |c: &[(String, f64)]| c.iter().map(|(_, s)| *s).collect::<Vec<f64>>();
    assert!(
        scores(&desc).windows(2).all(|w| w[0] >= w[1]),
        "after one click the scores go down: {desc:?}"
    );
    assert!(
        scores(&asc).windows(2).all(|w| w[0] <= w[1]),
        "after two clicks the scores go up: {asc:?}"
    );
    assert_ne!(
        scores(&before),
        scores(&desc),
        "the table was already in score order, so the click proves nothing: {before:?}"
    );
    let tags = |c: &[(String, f64)]| {
        let mut t: Vec<String> = c.iter().map(|(t, _)| t.clone()).collect();
        t.sort();
        t
    };
    assert_eq!(tags(&before), tags(&desc), "sorting keeps every release");
    assert_eq!(tags(&before), tags(&asc), "sorting keeps every release");

    // ── 1,000 components in the browser ──
    // The default page: only what differs or flies, and the count of the rest.
    let dom = dump_dom(&shots.path().join("profile-big"), &format!("{big_addr}/")).await;
    let listed = rows_named(&dom, "components-table");
    assert!(
        listed.contains(&"svc-0500".to_string()),
        "svc-0500 is listed: {listed:?}"
    );
    assert!(
        !listed
            .iter()
            .any(|n| n.starts_with("svc-") && n != "svc-0500"),
        "no other svc-* is listed: {listed:?}"
    );
    let same: usize = between(
        &dom,
        "<span id=\"same-everywhere\">",
        " components run the same version everywhere",
    )
    .parse()
    .expect("a count");
    assert!(
        same >= 999,
        "at least svc-0000..0999 but svc-0500 are the same: {same}"
    );
    let total: usize = between(&dom, "<h2>Components (", " listed)")
        .split(" of ")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a total");
    assert_eq!(listed.len() + same, total, "listed + the rest = all");
    assert!(dom.contains("id=\"show-all\""));
    // The filter box narrows the rows as one types (the page's own code).
    let (typed, task) = with_typing(
        get(&client, &format!("{big_addr}/"), None).await.1,
        "SVC-05",
    )
    .await;
    let dom = dump_dom(&shots.path().join("profile-type"), &typed).await;
    task.abort();
    assert_eq!(between(&dom, "data-visible=\"", "\""), "svc-0500");
    // A component's link opens its page: versions everywhere, PRs, history.
    let href = between(&dom, "<tr data-name=\"svc-0500\"><td><a href=\"", "\"").to_string();
    assert_eq!(href, "/component/svc-0500");
    let page = dump_dom(
        &shots.path().join("profile-component"),
        &format!("{big_addr}{href}"),
    )
    .await;
    for needle in [
        "<span id=\"component-name\">svc-0500</span>",
        "versions differ between environments",
        "<tr data-env=\"prod\" data-cluster=",
        "data-pr=\"product-990\"",
        "1.0.0 → 1.2.0",
        "in flight: product#990 bumps it to 1.2.0",
        "id=\"history-table\"",
        "<tr data-env=\"prod\"><td>",
        "promote wave 1/1",
    ] {
        assert!(
            page.contains(needle),
            "the component page lacks {needle}:\n{page}"
        );
    }
    let prod_version = between(&page, "<tr data-env=\"prod\" data-cluster=", "</tr>");
    assert!(
        prod_version.contains("<td class=\"version\">1.0.0</td>"),
        "{prod_version}"
    );
    big_task.abort();

    // The dashboard switched off — the bot listens beyond loopback and no
    // `server.read_token` is set — shows the browser why, and nothing else.
    {
        let config = people_support::config(&road.sb, road.dir.path(), None);
        let forge = GitHub::from_config(&config).expect("forge");
        let off = Arc::new(Engine::new(config, Arc::new(forge)));
        if let Some(o) = engine.last_observed() {
            off.remember(o.policy.clone(), o.snapshot.clone());
        }
        let app = stagecoach::dashboard::router_on(off, "0.0.0.0:8080");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = format!("http://{addr}/dashboard");
        assert_eq!(get(&client, &url, None).await.0, 403);
        let dom = tokio::task::spawn_blocking({
            let p = shots.path().join("profile-off");
            move || chromium(&p, &["--dump-dom"], &url)
        })
        .await
        .expect("chromium");
        let dom = String::from_utf8_lossy(&dom.stdout).to_string();
        assert!(
            dom.contains("the dashboard is off"),
            "the browser is told the dashboard is off: {dom}"
        );
        assert!(!dom.contains("releases-table"), "no data when off: {dom}");
        task.abort();
    }

    bot.shutdown().await;
    road.sb.shutdown().await;
}

/// Rows in each road column (the dashboard's `ROAD_ROWS`).
const ROAD_ROWS_PER_ENV: usize = 12;

/// How many road columns a page has.
fn road_columns(html: &str) -> usize {
    html.matches("<div class=\"env\" id=\"env-").count()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in: {text}"))
        + start.len();
    let to = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end} after {start}"));
    &text[from..from + to]
}

/// The `data-name`s of a table's rows, in order.
fn rows_named(dom: &str, table: &str) -> Vec<String> {
    let body = between(dom, &format!("id=\"{table}\""), "</table>");
    body.split("<tr data-name=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next().map(str::to_string))
        .collect()
}

/// Chromium's DOM of `url` after its scripts ran.
async fn dump_dom(profile: &Path, url: &str) -> String {
    let (p, url) = (profile.to_path_buf(), url.to_string());
    let out = tokio::task::spawn_blocking(move || chromium(&p, &["--dump-dom"], &url))
        .await
        .expect("chromium");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The page with a script appended that types `text` into the filter box
/// (an `input` event, as a keystroke sends) and records the names of the
/// components table's visible rows in `data-visible` on `<body>`.
async fn with_typing(page: String, text: &str) -> (String, tokio::task::JoinHandle<()>) {
    let script = format!(
        r#"<script>
(function () {{
  var box = document.getElementById('filter');
  box.value = {text:?};
  box.dispatchEvent(new Event('input'));
  var shown = Array.from(document.querySelectorAll('#components-table tr[data-name]'))
    .filter(function (tr) {{ return !tr.hidden; }})
    .map(function (tr) {{ return tr.dataset.name; }});
  document.body.setAttribute('data-visible', shown.join(','));
}})();
</script>
</body>"#
    );
    serve_page(page.replacen("</body>", &script, 1)).await
}

/// svc-0500 in flight with a record: an open product PR that bumps it
/// 1.0.0 → 1.2.0 (its CI gate pending) and a bot promotion on prod whose
/// product tag changed it.
fn grow_svc_0500(snap: &mut stagecoach::engine::snapshot::Snapshot) {
    use stagecoach::engine::snapshot::{ComponentChange, LandscapeCommit, ProductPull};
    use stagecoach::forge::{CommitStatus, PrState, PullRequest, StatusState};
    use stagecoach::git::trailers::Trailers;
    let now = snap.now;
    let product = snap.product.repo.to_string();
    snap.product.pulls.push(ProductPull {
        pr: PullRequest {
            number: 990,
            title: "svc-0500: 1.0.0 → 1.2.0".into(),
            body: String::new(),
            state: PrState::Open,
            merged: false,
            merge_commit_sha: None,
            head_ref: "stagecoach/svc-0500-1.2.0".into(),
            head_sha: "f00d".into(),
            base_ref: "main".into(),
            author: "stagecoach-bot".into(),
            labels: Vec::new(),
            html_url: format!("http://127.0.0.1/{product}/pull/990"),
            created_at: now,
            updated_at: None,
            merged_at: None,
        },
        changes: Ok(vec![ComponentChange {
            component: "svc-0500".into(),
            from: Version::new(1, 0, 0),
            to: Version::new(1, 2, 0),
        }]),
        statuses: [(
            "stagecoach/ci".to_string(),
            CommitStatus {
                context: "stagecoach/ci".into(),
                state: StatusState::Pending,
                description: "deployed to ci, watching health".into(),
                target_url: None,
                updated_at: None,
            },
        )]
        .into(),
        reviews: Vec::new(),
        approve_comments: Vec::new(),
        approvers: Default::default(),
        ci_deploy: None,
        pr_env_present: false,
        sticky: Default::default(),
        branch: Default::default(),
        bump_from: None,
    });
    let tag = snap
        .product
        .tags
        .iter_mut()
        .max_by(|a, b| a.version.cmp(&b.version))
        .expect("a product tag");
    tag.trailers = tag
        .trailers
        .clone()
        .with("Stagecoach-Component", "svc-0500@1.0.0");
    let tag_name = tag.name.clone();
    let prod = snap
        .envs
        .iter_mut()
        .find(|e| e.name == "prod")
        .expect("prod");
    prod.history.insert(
        0,
        LandscapeCommit {
            sha: "5005005005005005005005005005005005005005".into(),
            time: now,
            trailers: Trailers::new()
                .with("Stagecoach-Action", "promote")
                .with("Stagecoach-Product", tag_name)
                .with("Stagecoach-Wave", "1/1"),
            reverted: false,
            health: Some(StatusState::Success),
            health_at: Some(now),
        },
    );
}
