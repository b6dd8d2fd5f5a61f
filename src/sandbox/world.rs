//! The demo world: acme's product repo, four landscapes, three components with
//! a history of conventional commits and semver tags, the people who work on
//! them (each with a token), the teams that decide who may approve and hotfix,
//! and the health and smoke scripts the demo policy runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::git;
use super::state::ForgeState;
use crate::error::{Error, Result};
use crate::forge::Permission;

pub const OWNER: &str = "acme";
pub const BOT: &str = "stagecoach-bot";
pub const PRODUCT: &str = "product";

const POLICY_TEMPLATE: &str = include_str!("world/policy.yaml");
const HEALTH_SH: &str = include_str!("world/health.sh");
const SMOKE_SH: &str = include_str!("world/smoke.sh");
const POLICY_PATH: &str = "policies/default.yaml";
/// Stands in for the API URL until a server has one.
const NO_API: &str = "http://127.0.0.1:0";

/// What a test or the demo needs to know about the world.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub dir: PathBuf,
    pub owner: String,
    pub users: Vec<WorldUser>,
    /// Repo names under `owner`.
    pub repos: Vec<String>,
    pub components: Vec<String>,
    /// Landscape repo per environment, road order.
    pub landscapes: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldUser {
    pub login: String,
    pub token: String,
    pub role: String,
    pub permission: Permission,
    /// `org/slug` of the user's teams.
    pub teams: Vec<String>,
}

impl World {
    pub fn token(&self, login: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|u| u.login == login)
            .map(|u| u.token.as_str())
    }

    /// The bot's token (`stagecoach-bot`, admin everywhere).
    pub fn bot_token(&self) -> &str {
        self.token(BOT).unwrap_or_default()
    }

    /// Path of a bare repo by name (`payments`) or full name (`acme/payments`).
    pub fn repo_path(&self, repo: &str) -> PathBuf {
        let (owner, name) = repo.split_once('/').unwrap_or((&self.owner, repo));
        git::repo_path(&self.dir, owner, name)
    }

    /// The bot's `git.url` template: repos are reached by path.
    pub fn git_url_template(&self) -> String {
        format!("{}/repos/{{owner}}/{{name}}.git", self.dir.display())
    }

    fn marker(dir: &Path) -> PathBuf {
        dir.join("forge").join("world.json")
    }
}

struct Person {
    login: &'static str,
    role: &'static str,
    permission: Permission,
    teams: &'static [(&'static str, &'static str)],
}

const PEOPLE: &[Person] = &[
    Person {
        login: BOT,
        role: "the bot",
        permission: Permission::Admin,
        teams: &[],
    },
    Person {
        login: "alice",
        role: "developer",
        permission: Permission::Write,
        teams: &[],
    },
    Person {
        login: "bob",
        role: "developer",
        permission: Permission::Write,
        teams: &[],
    },
    Person {
        login: "ron",
        role: "read-only",
        permission: Permission::Read,
        teams: &[],
    },
    Person {
        login: "rita",
        role: "release manager",
        permission: Permission::Maintain,
        teams: &[("acme", "release-managers")],
    },
    Person {
        login: "olga",
        role: "on-call engineer",
        permission: Permission::Write,
        teams: &[("acme", "on-call")],
    },
];

/// A component's history: (conventional commit message, tag after it).
type History = &'static [(&'static str, Option<&'static str>)];

const COMPONENTS: &[(&str, History)] = &[
    (
        "payments",
        &[
            ("feat: accept card payments", Some("v1.3.0")),
            ("feat(api): partial refunds", Some("v1.4.0")),
            ("fix: round refunds to the cent", Some("v1.4.1")),
            ("fix(deps): bump the TLS library", Some("v1.4.2")),
        ],
    ),
    (
        "checkout",
        &[
            (
                "feat!: a new cart API\n\nBREAKING CHANGE: carts are addressed by id",
                Some("v2.0.0"),
            ),
            ("fix: an empty cart no longer errors", Some("v2.0.1")),
        ],
    ),
    (
        "search",
        &[
            ("feat: search products by name", None),
            ("feat: rank results by popularity", Some("v0.9.0")),
        ],
    ),
];

const LANDSCAPES: &[(&str, &str, &[&str])] = &[
    ("ci", "landscape-ci", &["ci-1"]),
    ("staging", "landscape-staging", &["stg-1"]),
    ("canary", "landscape-canary", &["canary-1"]),
    ("prod", "landscape-prod", &["eu-1", "eu-2", "us-1"]),
];

/// Make the demo world in `dir`, or load it when it is already there.
pub fn create_world(dir: &Path) -> Result<World> {
    create_world_at(dir, None)
}

/// Like `create_world`, with the API URL the policy should name when known.
pub fn create_world_at(dir: &Path, api: Option<&str>) -> Result<World> {
    build_world(dir, api, COMPONENTS.len())
}

/// The demo world grown to `components` components: the demo's three plus
/// `svc-0001`, `svc-0002`, … (copies of one small released repo, `v1.0.0`),
/// pinned in `product.yaml` and deployed on every landscape. For measuring
/// the bot at scale (`benches/resync.rs`, `stagecoach sandbox --components`);
/// loads the world when already there.
pub fn create_world_scaled(dir: &Path, components: usize) -> Result<World> {
    build_world(dir, None, components.max(COMPONENTS.len()))
}

/// Whether `dir` already holds a world (made by any of the `create_world*`).
pub fn world_exists(dir: &Path) -> bool {
    World::marker(dir).exists()
}

/// Components of the demo world before it is grown (payments, checkout, search).
pub fn demo_component_count() -> usize {
    COMPONENTS.len()
}

/// `svc-0001` … `svc-NNNN`: the name of the `i`th grown component.
pub fn scaled_name(i: usize) -> String {
    format!("svc-{i:04}")
}

/// Open `count` product PRs on a running sandbox of a grown world, each
/// bumping one grown component (`svc-0001` 1.0.0 → 1.0.1, then `svc-0002`,
/// …), pushed and opened by four people in turn and not labelled yet: the bot asks for
/// labels and then waits. A PR whose branch is already there is not opened
/// again, so a restarted sandbox keeps its count. Returns how many it opened.
pub async fn open_product_prs(sandbox: &super::Sandbox, count: usize) -> Result<usize> {
    let grown = sandbox
        .world
        .components
        .len()
        .saturating_sub(COMPONENTS.len());
    if count > grown {
        return Err(Error::input(format!(
            "--open-prs {count}: at most {grown}, one per grown component (--components minus the demo's {})",
            COMPONENTS.len()
        )));
    }
    // Four people share the opening: GitHub's content-creation limit (80 a
    // minute per token, enforced by the sandbox) would refuse one person's
    // 200 PRs in a few seconds.
    let openers = ["alice", "bob", "rita", "olga"]
        .into_iter()
        .map(|login| sandbox.person(login))
        .collect::<Result<Vec<_>>>()?;
    let product = sandbox.world.repo_path(PRODUCT);
    let mut opened = 0;
    for i in 1..=count {
        let opener = &openers[i % openers.len()];
        let name = scaled_name(i);
        let branch = format!("bump/{name}");
        let bumped = {
            let repo = git::open(&product)?;
            if git::branch_sha(&repo, &branch).is_some() {
                continue;
            }
            let text = git::read_file(&repo, "main", "product.yaml").ok_or_else(|| {
                Error::world(format!("{}: no product.yaml on main", product.display()))
            })?;
            text.replace(
                &format!("{name}: {{repo: {OWNER}/{name}, version: 1.0.0}}"),
                &format!("{name}: {{repo: {OWNER}/{name}, version: 1.0.1}}"),
            )
        };
        opener
            .commit_files(
                PRODUCT,
                &branch,
                &[("product.yaml", &bumped)],
                &format!("fix({name}): bump to 1.0.1"),
            )
            .await?;
        opener
            .open_pr(PRODUCT, &branch, "main", &format!("{name} 1.0.1"), "")
            .await?;
        opened += 1;
    }
    Ok(opened)
}

/// The history of every scaled component.
const SCALED: History = &[
    ("feat: the first service", Some("v0.1.0")),
    ("feat: ready for production", Some("v1.0.0")),
];

fn build_world(dir: &Path, api: Option<&str>, components: usize) -> Result<World> {
    let marker = World::marker(dir);
    if marker.exists() {
        let text = std::fs::read_to_string(&marker)?;
        let mut world: World = serde_json::from_str(&text)
            .map_err(|e| Error::input(format!("{}: {e}", marker.display())))?;
        world.dir = dir.canonicalize()?;
        return Ok(world);
    }
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let mut state = ForgeState::load(&dir)?;
    let mut users = Vec::new();
    for p in PEOPLE {
        let token = state.ensure_user(p.login, p.role, new_token);
        for (org, slug) in p.teams {
            state.ensure_team(org, slug, &[(p.login, "member")]);
        }
        users.push(WorldUser {
            login: p.login.into(),
            token,
            role: p.role.into(),
            permission: p.permission,
            teams: p.teams.iter().map(|(o, s)| format!("{o}/{s}")).collect(),
        });
    }

    let mut repos = Vec::new();
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    for (name, history) in COMPONENTS {
        versions.insert(name.to_string(), build_component(&dir, name, history)?);
        repos.push(name.to_string());
    }
    let mut template: Option<PathBuf> = None;
    for i in 1..=components.saturating_sub(COMPONENTS.len()) {
        let name = scaled_name(i);
        let path = git::repo_path(&dir, OWNER, &name);
        let version = match &template {
            // A copy of the first one's bare repo: same commits, same tags.
            Some(from) => {
                copy_dir(from, &path)?;
                "1.0.0".to_string()
            }
            None => {
                let v = build_component(&dir, &name, SCALED)?;
                template = Some(path);
                v
            }
        };
        versions.insert(name.clone(), version);
        repos.push(name);
    }
    let component_names = repos.clone();
    build_product(&dir, &versions, api.unwrap_or(NO_API))?;
    repos.push(PRODUCT.to_string());
    for (env, name, clusters) in LANDSCAPES {
        build_landscape(&dir, env, name, clusters, &versions)?;
        repos.push(name.to_string());
    }
    for name in &repos {
        let record = state.ensure_repo(OWNER, name);
        for p in PEOPLE {
            record.permissions.insert(p.login.to_string(), p.permission);
        }
    }
    state.save(&dir)?;
    write_scripts(&dir)?;
    write_tokens(&dir, &users)?;

    let world = World {
        dir: dir.clone(),
        owner: OWNER.into(),
        users,
        repos,
        components: component_names,
        landscapes: LANDSCAPES
            .iter()
            .map(|(env, repo, _)| (env.to_string(), format!("{OWNER}/{repo}")))
            .collect(),
    };
    let text = serde_json::to_string_pretty(&world)
        .map_err(|e| Error::world(format!("world.json: {e}")))?;
    std::fs::write(&marker, text)?;
    Ok(world)
}

/// GitHub-like personal access token (`ghp_` + 36 characters).
fn new_token() -> String {
    let bytes: [u8; 18] = rand::random();
    format!("ghp_{}", hex::encode(bytes))
}

fn person(login: &str) -> (String, String) {
    (login.to_string(), format!("{login}@acme.example"))
}

fn build_component(dir: &Path, name: &str, history: History) -> Result<String> {
    let repo = git::init_bare(&git::repo_path(dir, OWNER, name))?;
    let (author, email) = person("alice");
    let mut version = String::from("0.1.0");
    let mut changes = String::new();
    for (i, (message, tag)) in history.iter().enumerate() {
        if let Some(t) = tag {
            version = t.trim_start_matches('v').to_string();
        }
        let subject = message.lines().next().unwrap_or_default();
        changes.push_str(&format!("- {subject}\n"));
        let files = vec![
            (
                "chart/values.yaml".to_string(),
                component_values(name, &version),
            ),
            (
                "README.md".to_string(),
                format!("# {name}\n\nAcme's {name} service. Changes so far:\n\n{changes}"),
            ),
            (format!("src/change-{i}.txt"), format!("{message}\n")),
        ];
        let sha = git::commit_files(&repo, "main", &files, message, (&author, &email))?;
        if let Some(t) = tag {
            git::tag(&repo, t, &sha, ("release-pipeline", "ci@acme.example"))?;
        }
    }
    Ok(version)
}

fn component_values(name: &str, version: &str) -> String {
    format!(
        "# Helm values of the {name} chart.\nimage:\n  repository: registry.acme.example/{name}\n  tag: \"{version}\"\nreplicas: 2\n"
    )
}

fn product_yaml(versions: &BTreeMap<String, String>) -> String {
    let mut out = String::from(
        "# The acme product: every component and the version that belongs to it.\n\
         # Stagecoach bumps one component per product PR; a product tag pins a whole set.\n\
         components:\n",
    );
    for (name, version) in versions {
        out.push_str(&format!(
            "  {name}: {{repo: {OWNER}/{name}, version: {version}}}   # chart in chart/\n"
        ));
    }
    out.push_str("features:                      # feature toggles, on by default once shipped\n  new-checkout: true\n");
    out
}

pub fn render_policy(dir: &Path, api: &str) -> String {
    POLICY_TEMPLATE
        .replace("{{dir}}", &dir.display().to_string())
        .replace("{{api}}", api)
}

fn build_product(dir: &Path, versions: &BTreeMap<String, String>, api: &str) -> Result<()> {
    let repo = git::init_bare(&git::repo_path(dir, OWNER, PRODUCT))?;
    let (author, email) = person("rita");
    let files = vec![
        ("product.yaml".to_string(), product_yaml(versions)),
        (POLICY_PATH.to_string(), render_policy(dir, api)),
        (
            "README.md".to_string(),
            "# acme product\n\nThe versions of every acme component that ship together.\n"
                .to_string(),
        ),
    ];
    let sha = git::commit_files(
        &repo,
        "main",
        &files,
        "feat: the first acme product",
        (&author, &email),
    )?;
    git::tag(&repo, "v1.0.0", &sha, (&author, &email))?;
    Ok(())
}

fn landscape_values(env: &str, cluster: &str, component: &str, version: &str) -> String {
    format!(
        "# {component} on {cluster} ({env}). Argo CD syncs this file; Stagecoach edits the tag.\n\
         image:\n  repository: registry.acme.example/{component}\n  tag: \"{version}\"   # set by the product\n\
         replicas: 2\n"
    )
}

fn build_landscape(
    dir: &Path,
    env: &str,
    name: &str,
    clusters: &[&str],
    versions: &BTreeMap<String, String>,
) -> Result<()> {
    let repo = git::init_bare(&git::repo_path(dir, OWNER, name))?;
    let mut files = vec![(
        "README.md".to_string(),
        format!("# acme {env}\n\nWhat runs in {env}, one folder per cluster.\n"),
    )];
    for cluster in clusters {
        for (component, version) in versions {
            files.push((
                format!("clusters/{cluster}/{component}/values.yaml"),
                landscape_values(env, cluster, component, version),
            ));
        }
    }
    let (author, email) = person("olga");
    git::commit_files(
        &repo,
        "main",
        &files,
        &format!("feat: the {env} landscape at product v1.0.0"),
        (&author, &email),
    )?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn write_scripts(dir: &Path) -> Result<()> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::create_dir_all(dir.join("world"))?;
    for (name, text) in [("health.sh", HEALTH_SH), ("smoke.sh", SMOKE_SH)] {
        let path = bin.join(name);
        std::fs::write(&path, text)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

fn write_tokens(dir: &Path, users: &[WorldUser]) -> Result<()> {
    let mut text = String::from("# login token role\n");
    for u in users {
        text.push_str(&format!("{} {} {}\n", u.login, u.token, u.role));
    }
    let path = dir.join("forge").join("tokens.txt");
    std::fs::write(&path, text)?;
    Ok(())
}

/// Make the product's policy name this sandbox's URL: a commit on main when it
/// names another one (a restart on another port). Nothing when already right.
pub fn point_policy_at(dir: &Path, api: &str) -> Result<()> {
    let dir = dir.canonicalize()?;
    let repo = git::open(&git::repo_path(&dir, OWNER, PRODUCT))?;
    let wanted = render_policy(&dir, api);
    let current = git::read_file(&repo, "main", POLICY_PATH);
    let Some(current) = current else {
        return Ok(());
    };
    let generated = render_policy(&dir, NO_API);
    // Only a policy the sandbox wrote is re-pointed; a hand-edited one is left alone.
    let ours = current == generated
        || current.replace(&url_in(&current).unwrap_or_default(), api) == wanted;
    if current == wanted || !ours {
        return Ok(());
    }
    git::commit_files(
        &repo,
        "main",
        &[(POLICY_PATH.to_string(), wanted)],
        "chore(policy): point the demo policy at this sandbox",
        ("stagecoach-sandbox", "sandbox@acme.example"),
    )?;
    Ok(())
}

/// The `http://host:port` the policy's prometheus URL names.
fn url_in(policy: &str) -> Option<String> {
    let start = policy.find("http://")?;
    let rest = &policy[start..];
    let end = rest.find("/prometheus")?;
    Some(rest[..end].to_string())
}
