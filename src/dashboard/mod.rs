//! The read-only web dashboard served by `stagecoach serve` on the bot's own
//! port: the road as columns, open product PRs with their risk and gates,
//! the releases table (sortable by score), and the bot's recent actions;
//! and a page per component (`/component/<name>`, in [`component`]).
//!
//! On a large road the road's columns and the components table list by
//! default only the components that differ between environments or are in
//! flight (`status::spread`), with a count of the others; `?all=1` lists
//! all, `?q=` filters by name (the filter box does the same in the page).
//!
//! Built from the last reconcile's snapshot (`Engine::last_observed`), so a
//! page view never touches git or the forge once the bot has made a pass;
//! the rendered page is kept for [`CACHE_FOR`] and rebuilt when a newer
//! snapshot arrives. Server-rendered with handlebars (data, never template
//! source), a little CSS, a few lines of inline JS for sorting.
//!
//! Access: with `server.read_token` set, every request needs it (as
//! `Authorization: Bearer <token>` or `?token=<token>`). Without one, the
//! dashboard answers only when the bot listens on a loopback address; a bot
//! listening elsewhere refuses (403) until a token is configured.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};

use crate::engine::{Engine, Observed};
use crate::error::{Error, Result};
use crate::status;
use crate::status::spread;

mod component;

const TEMPLATE: &str = include_str!("../../templates/dashboard.html.hbs");
const CSS: &str = include_str!("../../templates/dashboard.css");
/// How long a rendered page is served as is.
pub const CACHE_FOR: Duration = Duration::from_secs(3);
/// Components listed in each road column (all are in the components table).
const ROAD_ROWS: usize = 12;
/// Journal lines shown, newest first.
const JOURNAL_LINES: usize = 60;

#[derive(Clone)]
struct Dash {
    engine: Arc<Engine>,
    token: Option<String>,
    /// The bot listens on loopback only: no token needed.
    loopback: bool,
    cache: Arc<Mutex<Option<Cached>>>,
    hbs: Arc<handlebars::Handlebars<'static>>,
}

struct Cached {
    /// Which view it is (`all`, token links); filtered views are not kept.
    key: (bool, bool),
    at: Instant,
    observed: Arc<Observed>,
    policy: crate::engine::policy_guard::PolicyHealth,
    html: Arc<String>,
}

/// The dashboard's routes (`/` and `/dashboard`), for a bot listening where
/// its config says.
pub fn router(engine: Arc<Engine>) -> Router {
    let listen = engine.config.server.listen.clone();
    router_on(engine, &listen)
}

/// The dashboard's routes for a bot listening on `listen`.
pub fn router_on(engine: Arc<Engine>, listen: &str) -> Router {
    let mut hbs = handlebars::Handlebars::new();
    hbs.set_strict_mode(false);
    // The template ships in the binary; a broken one is a build-time bug the
    // tests catch, and the page then says so instead of panicking.
    if let Err(e) = hbs.register_template_string("dashboard", TEMPLATE) {
        tracing::error!("dashboard template does not compile: {e}");
    }
    if let Err(e) = hbs.register_template_string("component", component::TEMPLATE) {
        tracing::error!("component template does not compile: {e}");
    }
    let dash = Dash {
        token: engine
            .config
            .server
            .read_token
            .clone()
            .filter(|t| !t.is_empty()),
        loopback: is_loopback(listen),
        engine,
        cache: Arc::new(Mutex::new(None)),
        hbs: Arc::new(hbs),
    };
    Router::new()
        .route("/", get(page))
        .route("/dashboard", get(page))
        .route("/component/{name}", get(component_page))
        .with_state(dash)
}

/// `127.0.0.1:8080`, `[::1]:80`, `localhost:8080` are loopback; `0.0.0.0` is not.
pub fn is_loopback(listen: &str) -> bool {
    let host = match listen.rsplit_once(':') {
        Some((h, _)) => h,
        None => listen,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[derive(serde::Deserialize)]
struct PageQuery {
    token: Option<String>,
    /// `?all=1`: list every component, not only those that differ or fly.
    all: Option<String>,
    /// `?q=`: list the components whose names match (every word, any case).
    q: Option<String>,
}

/// What one view of the main page lists.
#[derive(Debug, Clone, Default)]
pub struct ViewOf {
    pub all: bool,
    pub query: Option<String>,
    /// Appended to the page's own links (`?token=…` when the reader came
    /// with the token in the address, so a click keeps working).
    token: Option<String>,
}

impl ViewOf {
    /// The `?…` of a link on the page, with `extra` (`all=1`) and the token.
    fn href(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = extra.to_vec();
        if let Some(t) = &self.token {
            pairs.push(("token", t));
        }
        if pairs.is_empty() {
            return path.to_string();
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", url_escape(v)))
            .collect();
        format!("{path}?{}", query.join("&"))
    }
}

/// Percent-escape a query value.
fn url_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn html_answer(result: Result<Arc<String>>) -> Response {
    match result {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html.as_str().to_owned(),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!("dashboard: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the dashboard cannot see the world yet: {e}\n"),
            )
                .into_response()
        }
    }
}

async fn page(
    State(dash): State<Dash>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    if let Some(refusal) = refused(&dash, &headers, q.token.as_deref()) {
        return refusal;
    }
    let of = ViewOf {
        all: q.all.as_deref().is_some_and(|a| a != "0" && !a.is_empty()),
        query: q.q.filter(|q| !q.trim().is_empty()),
        token: q.token.filter(|_| dash.token.is_some()),
    };
    html_answer(dash.html(&of).await)
}

async fn component_page(
    State(dash): State<Dash>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    if let Some(refusal) = refused(&dash, &headers, q.token.as_deref()) {
        return refusal;
    }
    if !component::valid_name(&name) {
        return (
            StatusCode::BAD_REQUEST,
            "a component name is letters, digits, `-`, `_` and `.` (at most 100)\n",
        )
            .into_response();
    }
    let of = ViewOf {
        token: q.token.filter(|_| dash.token.is_some()),
        ..ViewOf::default()
    };
    let observed = match dash.observed().await {
        Ok(o) => o,
        Err(e) => return html_answer(Err(e)),
    };
    let data = component::view(
        &observed,
        &name,
        &web_base(&observed, &dash.engine.config.forge.api_url),
        &of,
    );
    match data {
        None => (
            StatusCode::NOT_FOUND,
            format!("no component `{name}` in the product\n"),
        )
            .into_response(),
        Some(data) => html_answer(
            dash.hbs
                .render("component", &data)
                .map(Arc::new)
                .map_err(|e| Error::world(format!("component template: {e}"))),
        ),
    }
}

/// Why a request may not see the page, as the answer to send; `None` lets it in.
fn refused(dash: &Dash, headers: &HeaderMap, query_token: Option<&str>) -> Option<Response> {
    match &dash.token {
        Some(token) => {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let given = bearer.or(query_token);
            if given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
                None
            } else {
                Some((
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "the dashboard needs the read token (Authorization: Bearer, or ?token=)\n",
                )
                    .into_response())
            }
        }
        None if dash.loopback => None,
        None => Some((
            StatusCode::FORBIDDEN,
            "the dashboard is off: the bot listens beyond loopback and no server.read_token is set\n",
        )
            .into_response()),
    }
}

/// Constant-time comparison, so a token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Dash {
    async fn observed(&self) -> Result<Arc<Observed>> {
        Ok(match self.engine.last_observed() {
            Some(o) => o,
            None => {
                // No pass yet (the bot just started): look once ourselves.
                let o = status::observe_now(&self.engine).await?;
                self.engine.remember(o.policy, o.snapshot);
                self.engine
                    .last_observed()
                    .ok_or_else(|| Error::world("no snapshot of the world yet"))?
            }
        })
    }

    async fn html(&self, of: &ViewOf) -> Result<Arc<String>> {
        let observed = self.observed().await?;
        // Only the unfiltered views are kept: a search is cheap and rare.
        let key = (of.all, of.token.is_some());
        let keep = of.query.is_none();
        // The guard's verdict is part of the page: a refused policy shows at once.
        let policy = self.engine.policy_health();
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.as_ref() {
                if keep
                    && c.key == key
                    && Arc::ptr_eq(&c.observed, &observed)
                    && c.policy == policy
                    && c.at.elapsed() < CACHE_FOR
                {
                    return Ok(c.html.clone());
                }
            }
        }
        let journal = self.engine.journal();
        let mut data = view(&observed, &journal, &self.engine.config.forge.api_url, of);
        if policy.ok == Some(false)
            && let (Some(reason), Some(map)) = (policy.reason(), data.as_object_mut())
        {
            map.insert("policy_banner".into(), Value::String(reason));
        }
        let html = Arc::new(
            self.hbs
                .render("dashboard", &data)
                .map_err(|e| Error::world(format!("dashboard template: {e}")))?,
        );
        if keep && let Ok(mut cache) = self.cache.lock() {
            *cache = Some(Cached {
                key,
                at: Instant::now(),
                observed,
                policy,
                html: html.clone(),
            });
        }
        Ok(html)
    }
}

/// Render the default page for `observed` (exposed for tests and benchmarks).
pub fn render(
    observed: &Observed,
    journal: &[crate::engine::JournalEntry],
    api_url: &str,
) -> Result<String> {
    render_view(observed, journal, api_url, &ViewOf::default())
}

/// Render one view of the page (`all`, a `query`) for `observed`.
pub fn render_view(
    observed: &Observed,
    journal: &[crate::engine::JournalEntry],
    api_url: &str,
    of: &ViewOf,
) -> Result<String> {
    let mut hbs = handlebars::Handlebars::new();
    hbs.register_template_string("dashboard", TEMPLATE)
        .map_err(|e| Error::world(format!("dashboard template: {e}")))?;
    hbs.render("dashboard", &view(observed, journal, api_url, of))
        .map_err(|e| Error::world(format!("dashboard template: {e}")))
}

/// Render the page of component `name`; `None` when the product has no such
/// component (exposed for tests and benchmarks).
pub fn render_component(observed: &Observed, name: &str, api_url: &str) -> Result<Option<String>> {
    let mut hbs = handlebars::Handlebars::new();
    hbs.register_template_string("component", component::TEMPLATE)
        .map_err(|e| Error::world(format!("component template: {e}")))?;
    let web = web_base(observed, api_url);
    component::view(observed, name, &web, &ViewOf::default())
        .map(|data| {
            hbs.render("component", &data)
                .map_err(|e| Error::world(format!("component template: {e}")))
        })
        .transpose()
}

#[derive(Serialize)]
struct Link {
    text: String,
    href: String,
}

/// The web address of the forge (`https://github.com`), from a PR's page
/// address if there is one, else from the API address.
fn web_base(o: &Observed, api_url: &str) -> String {
    let product = o.snapshot.product.repo.to_string();
    let from_pr = o.snapshot.product.pulls.iter().find_map(|p| {
        p.pr.html_url
            .split_once(&format!("/{product}/"))
            .map(|(b, _)| b.to_string())
    });
    if let Some(b) = from_pr {
        return b;
    }
    let api = api_url.trim_end_matches('/');
    if let Some(rest) = api.strip_prefix("https://api.") {
        return format!("https://{rest}");
    }
    api.trim_end_matches("/api/v3").to_string()
}

/// Links for the things a journal line names: product PRs, tags, commits.
fn links(line: &str, web: &str, product: &str) -> Vec<Link> {
    let mut out = Vec::new();
    for word in line.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',') {
        let word = word.trim_matches(|c: char| c == '`' || c == ':' || c == '.');
        if let Some(n) = word
            .strip_prefix("product#")
            .filter(|n| n.parse::<u64>().is_ok())
        {
            out.push(Link {
                text: format!("PR #{n}"),
                href: format!("{web}/{product}/pull/{n}"),
            });
        } else if let Some((repo, rest)) = word.split_once('#') {
            if repo.contains('/') && rest.parse::<u64>().is_ok() {
                out.push(Link {
                    text: word.to_string(),
                    href: format!("{web}/{repo}/pull/{rest}"),
                });
            }
        } else if let Some((repo, sha)) = word.split_once('@') {
            if repo.contains('/') && sha.len() >= 7 && sha.chars().all(|c| c.is_ascii_hexdigit()) {
                out.push(Link {
                    text: format!("{repo}@{sha}"),
                    href: format!("{web}/{repo}/commit/{sha}"),
                });
            }
        } else if word.starts_with('v')
            && semver::Version::parse(&word[1..]).is_ok()
            && !out.iter().any(|l| l.text == word)
        {
            out.push(Link {
                text: word.to_string(),
                href: format!("{web}/{product}/releases/tag/{word}"),
            });
        }
    }
    out
}

fn view(
    o: &Observed,
    journal: &[crate::engine::JournalEntry],
    api_url: &str,
    of: &ViewOf,
) -> Value {
    let snap = &o.snapshot;
    let product = snap.product.repo.to_string();
    let web = web_base(o, api_url);
    let road = status::road(o);
    let flying = spread::in_flight(o);
    let listed = spread::listed(o, &flying, of.all, of.query.as_deref());
    let names: Vec<&String> = listed.names.iter().collect();
    let envs: Vec<Value> = road
        .iter()
        .map(|e| {
            let rows: Vec<Value> = names
                .iter()
                .take(ROAD_ROWS)
                .map(|n| {
                    let versions: Vec<String> = e
                        .clusters
                        .iter()
                        .map(|c| c.versions.get(*n).cloned().unwrap_or_else(|| "–".into()))
                        .collect();
                    json!({"name": n, "href": of.href(&format!("/component/{n}"), &[]), "versions": versions})
                })
                .collect();
            json!({
                "name": e.name,
                "follows": e.follows,
                "manual": e.manual,
                "tag": e.tag,
                "tag_url": e.tag.as_ref().map(|t| format!("{web}/{product}/releases/tag/{t}")),
                "waves": e.waves,
                "pr_envs": e.pr_envs,
                "frozen": e.frozen,
                "clusters": e.clusters.iter().map(|c| json!({"name": c.name})).collect::<Vec<_>>(),
                "rows": rows,
                "more": names.len().saturating_sub(ROAD_ROWS),
            })
        })
        .collect();
    let releases: Vec<Value> = status::releases(o, None)
        .into_iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
            if let Some(m) = v.as_object_mut() {
                m.insert("has_score".into(), json!(r.score.is_some()));
                m.insert(
                    "sort_score".into(),
                    json!(r.score.map(i64::from).unwrap_or(-1)),
                );
                m.insert(
                    "url".into(),
                    json!(format!("{web}/{product}/releases/tag/{}", r.tag)),
                );
            }
            v
        })
        .collect();
    let env_names: Vec<String> = road
        .iter()
        .flat_map(|e| {
            e.clusters.iter().map(move |c| {
                if e.clusters.len() > 1 {
                    format!("{}/{}", e.name, c.name)
                } else {
                    e.name.clone()
                }
            })
        })
        .collect();
    let pins = &snap.product.manifest.components;
    let components: Vec<Value> = names
        .iter()
        .filter_map(|n| pins.get(*n).map(|pin| (*n, pin)))
        .map(|(n, pin)| {
            let cells: Vec<String> = road
                .iter()
                .flat_map(|e| {
                    e.clusters
                        .iter()
                        .map(|c| c.versions.get(n).cloned().unwrap_or_else(|| "–".into()))
                })
                .collect();
            json!({
                "name": n,
                "href": of.href(&format!("/component/{n}"), &[]),
                "main": pin.version.to_string(),
                "envs": cells,
                "flying": flying.get(n).map(|r| r.join("; ")),
            })
        })
        .collect();
    let journal: Vec<Value> = journal
        .iter()
        .rev()
        .take(JOURNAL_LINES)
        .map(|j| {
            json!({
                "at": j.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                "action": j.action,
                "outcome": j.outcome,
                "failed": j.outcome.starts_with("failed"),
                "links": links(&format!("{} {}", j.action, j.outcome), &web, &product),
            })
        })
        .collect();
    json!({
        "css": CSS,
        "product": product,
        "product_url": format!("{web}/{product}"),
        "main_short": snap.product.main_sha.get(..7).unwrap_or(&snap.product.main_sha),
        "observed_at": snap.now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        "component_count": pins.len(),
        "listed_count": names.len(),
        "same_everywhere": listed.same_everywhere,
        "same_text": match listed.same_everywhere {
            1 => "1 component runs the same version everywhere".to_string(),
            n => format!("{n} components run the same version everywhere"),
        },
        "listed_text": match names.len() {
            1 => "1 component differs between environments or is in flight".to_string(),
            n => format!("{n} components differ between environments or are in flight"),
        },
        "all": of.all,
        "q": of.query,
        "token": of.token,
        "all_href": of.href("/", &[("all", "1")]),
        "default_href": of.href("/", &[]),
        "envs": envs,
        "pulls": status::open_pulls(o),
        "releases": releases,
        "env_names": env_names,
        "components": components,
        "journal": journal,
        "delivery": delivery(o),
    })
}

/// "1 hotfix", "2 hotfixes".
fn plural(n: usize, one: &str) -> String {
    match (n, one.ends_with('x')) {
        (1, _) => format!("1 {one}"),
        (_, true) => format!("{n} {one}es"),
        _ => format!("{n} {one}s"),
    }
}

/// The window of the dashboard's delivery metrics.
const DELIVERY_DAYS: i64 = 30;

/// The delivery metrics section: a row per environment, and for prod a
/// card per metric with a bar chart per day (SVG drawn here, from numbers).
fn delivery(o: &Observed) -> Value {
    use crate::delivery::{self, chart, text};
    let report = delivery::compute(
        &delivery::Record::from_observed(o),
        chrono::Duration::days(DELIVERY_DAYS),
        o.snapshot.now,
    );
    let spread = |s: &delivery::Spread| match (s.median_seconds, s.p90_seconds) {
        (Some(m), Some(p)) => format!("{} / {}", text::duration(m), text::duration(p)),
        _ => "no data".into(),
    };
    let percent = |r: Option<f64>| r.map_or("no data".into(), |r| format!("{:.0}%", r * 100.0));
    let rows: Vec<Value> = report
        .environments
        .iter()
        .map(|e| {
            let f = &e.deployment_frequency;
            let c = &e.change_failure_rate;
            let r = &e.time_to_restore;
            json!({
                "env": e.env,
                "promotions": f.promotions,
                "per_week": format!("{:.1}", f.per_week),
                "lead": spread(&e.lead_time),
                "lead_count": e.lead_time.count,
                "cfr": percent(c.rate),
                "failed": c.failed,
                "changes": c.changes,
                "restore": spread(&r.restored),
                "incidents": r.incidents,
                "open": r.open,
            })
        })
        .collect();
    let prod = report
        .environments
        .iter()
        .find(|e| Some(&e.env) == report.prod.as_ref());
    let cards: Vec<Value> = prod
        .map(|e| {
            let days = &e.daily;
            let dur = |v: f64| text::duration(v as i64);
            let count = |v: f64| format!("{v} promotions");
            let share = |v: f64| format!("{:.0}% failed", v * 100.0);
            let f = &e.deployment_frequency;
            let c = &e.change_failure_rate;
            let r = &e.time_to_restore;
            vec![
                json!({"id": "deployment-frequency", "name": "Deployment frequency",
                    "figure": format!("{:.1} a week", f.per_week),
                    "counts": format!("{} ({}, {})", plural(f.promotions, "promotion"), plural(f.hotfixes, "hotfix"), plural(f.rollbacks, "rollback")),
                    "svg": chart::bars("promotions per day", &days.iter().map(|d| Some(d.promotions as f64)).collect::<Vec<_>>(), &count)}),
                json!({"id": "lead-time", "name": "Lead time for changes",
                    "figure": spread(&e.lead_time),
                    "counts": format!("median / p90 of {}", plural(e.lead_time.count, "change")),
                    "svg": chart::bars("median lead time per day", &days.iter().map(|d| d.lead_time_median_seconds.map(|s| s as f64)).collect::<Vec<_>>(), &dur)}),
                json!({"id": "change-failure-rate", "name": "Change failure rate",
                    "figure": percent(c.rate),
                    "counts": format!("{} of {} changes failed", c.failed, c.changes),
                    "svg": chart::bars("change failure rate per day", &days.iter().map(|d| d.change_failure_rate).collect::<Vec<_>>(), &share)}),
                json!({"id": "time-to-restore", "name": "Time to restore",
                    "figure": spread(&r.restored),
                    "counts": format!("{}, {} open", plural(r.incidents, "incident"), r.open),
                    "svg": chart::bars("median time to restore per day", &days.iter().map(|d| d.time_to_restore_median_seconds.map(|s| s as f64)).collect::<Vec<_>>(), &dur)}),
            ]
        })
        .unwrap_or_default();
    json!({
        "days": DELIVERY_DAYS,
        "prod": report.prod,
        "rows": rows,
        "cards": cards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_recognised_and_wildcards_are_not() {
        assert!(is_loopback("127.0.0.1:8080"));
        assert!(is_loopback("[::1]:8080"));
        assert!(is_loopback("localhost:80"));
        assert!(!is_loopback("0.0.0.0:8080"));
        assert!(!is_loopback("10.1.2.3:8080"));
    }

    #[test]
    fn journal_lines_link_prs_commits_and_tags() {
        let l = links(
            "status stagecoach/ci=success on acme/product@abc1234f (ok) merge product#3 tag product v1.2.0",
            "https://github.com",
            "acme/product",
        );
        let hrefs: Vec<&str> = l.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "https://github.com/acme/product/commit/abc1234f",
                "https://github.com/acme/product/pull/3",
                "https://github.com/acme/product/releases/tag/v1.2.0"
            ]
        );
    }

    #[test]
    fn tokens_compare_in_full() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"ab", b"abc"));
    }
}
