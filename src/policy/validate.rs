//! Rules that span several fields of a read policy: thresholds in order,
//! environments that follow earlier ones, waves made of known clusters, label
//! formats that cannot be confused. Pure: a policy in, problems out.

use std::collections::BTreeSet;

use super::locate::KeyPath;
use super::{Environment, Follows, LabelNames, Policy, RiskPolicy, Stability};

/// One thing wrong with a policy, at a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub path: KeyPath,
    pub message: String,
}

/// Every problem, in file order as far as practical; empty when valid.
pub(super) fn problems(policy: &Policy) -> Vec<Problem> {
    let mut out = Vec::new();
    let root = KeyPath::root();
    labels(&policy.labels, &root.key("labels"), &mut out);
    sizes(&policy.sizes, &root.key("sizes"), &mut out);
    risk(&policy.risk, &root.key("risk"), &mut out);
    for kind in policy.versioning.bumps.keys() {
        if kind.trim().is_empty() || kind.contains(char::is_whitespace) {
            let path = root.key("versioning").key("bumps");
            out.push(problem(
                &path,
                format!("commit type `{kind}` is not a word; expected types like `feat` or `fix`"),
            ));
        }
    }
    let versioning = root.key("versioning");
    let prefixes = std::iter::once((
        versioning.key("tag_prefix"),
        Some(&policy.versioning.tag_prefix),
    ))
    .chain(std::iter::once((
        versioning.key("component_tag_prefix"),
        policy.versioning.component_tag_prefix.as_ref(),
    )))
    .chain(
        policy
            .versioning
            .component_tag_prefixes
            .iter()
            .map(|(name, prefix)| {
                (
                    versioning.key("component_tag_prefixes").key(name),
                    Some(prefix),
                )
            }),
    );
    for (path, prefix) in prefixes {
        if let Some(prefix) = prefix.filter(|p| !tag_prefix_ok(p)) {
            out.push(problem(
                &path,
                format!(
                    "tag prefix {prefix:?} cannot start a git tag name; expected text without spaces, `..` or any of ~^:?*[\\ (like `v` or `payments-v`)"
                ),
            ));
        }
    }
    let envs = root.key("environments");
    for (i, env) in policy.environments.iter().enumerate() {
        environment(env, &policy.environments[..i], &envs.index(i), &mut out);
        concurrency(
            env,
            &policy.sizes,
            &envs.index(i).key("concurrency"),
            &mut out,
        );
    }
    freezes(policy, &root.key("freezes"), &mut out);
    out
}

/// Freeze windows name environments that exist, last a while, and are
/// told apart by their names.
fn freezes(policy: &Policy, path: &KeyPath, out: &mut Vec<Problem>) {
    let names: Vec<&str> = policy
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for (i, freeze) in policy.freezes.iter().enumerate() {
        let at = path.index(i);
        if freeze.name.trim().is_empty() {
            out.push(problem(
                &at.key("name"),
                "is empty; expected a name people recognise, like `weekend`",
            ));
        } else if policy.freezes[..i].iter().any(|f| f.name == freeze.name) {
            out.push(problem(
                &at.key("name"),
                format!(
                    "freeze `{}` is defined twice; expected unique names",
                    freeze.name
                ),
            ));
        }
        if freeze.duration.is_zero() {
            out.push(problem(
                &at.key("duration"),
                "is zero; expected how long each window lasts, like `62h`",
            ));
        }
        if freeze.environments.is_empty() {
            out.push(problem(
                &at.key("environments"),
                format!(
                    "is empty; expected the environments that freeze, from {}",
                    names.join(", ")
                ),
            ));
        }
        for (j, env) in freeze.environments.iter().enumerate() {
            if !names.contains(&env.as_str()) {
                out.push(problem(
                    &at.key("environments").index(j),
                    format!(
                        "`{env}` is not an environment of the policy; expected one of {}",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
}

fn concurrency(env: &Environment, sizes: &[String], path: &KeyPath, out: &mut Vec<Problem>) {
    if env.concurrency.max == 0 {
        out.push(problem(
            &path.key("max"),
            "must be at least 1: how many product PRs this environment tests at once",
        ));
    }
    for size in &env.concurrency.alone {
        if !sizes.contains(size) {
            out.push(problem(
                &path.key("alone"),
                format!(
                    "`{size}` is not one of the policy's sizes ({}); expected component sizes that run alone, e.g. [XL]",
                    sizes.join(", ")
                ),
            ));
        }
    }
}

/// Whether `prefix` can start a git tag name (git check-ref-format's rules
/// that a prefix alone can break).
fn tag_prefix_ok(prefix: &str) -> bool {
    !prefix.contains("..")
        && !prefix.starts_with(['-', '/', '.'])
        && !prefix
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
}

fn problem(path: &KeyPath, message: impl Into<String>) -> Problem {
    Problem {
        path: path.clone(),
        message: message.into(),
    }
}

fn labels(names: &LabelNames, path: &KeyPath, out: &mut Vec<Problem>) {
    let formats = [
        ("component", &names.component, Some("{size}")),
        ("change", &names.change, Some("{size}")),
        ("coverage", &names.coverage, Some("{n}")),
        ("functional", &names.functional, Some("{bool}")),
        ("risk", &names.risk, Some("{level}")),
        ("hotfix", &names.hotfix, Some("{version}")),
        ("toggle", &names.toggle, None),
    ];
    let mut stems: Vec<(&str, String)> = Vec::new();
    for (key, format, placeholder) in formats {
        let at = path.key(key);
        let braces = format.matches('{').count() + format.matches('}').count();
        match placeholder {
            Some(p) => {
                let example = super::LabelNames::default();
                let example = match key {
                    "component" => example.component,
                    "change" => example.change,
                    "coverage" => example.coverage,
                    "functional" => example.functional,
                    "risk" => example.risk,
                    _ => example.hotfix,
                };
                if format.matches(p).count() != 1 || braces != 2 {
                    out.push(problem(
                        &at,
                        format!("format `{format}` must contain `{p}` exactly once and no other braces; expected e.g. `{example}`"),
                    ));
                    continue;
                }
                if format
                    .split(p)
                    .next()
                    .is_none_or(|before| before.trim().is_empty())
                {
                    out.push(problem(
                        &at,
                        format!("format `{format}` needs text before `{p}` so its labels can be told apart; expected e.g. `{example}`"),
                    ));
                    continue;
                }
            }
            None if braces > 0 || format.trim().is_empty() => {
                out.push(problem(
                    &at,
                    format!(
                        "toggle label `{format}` must be plain text; expected e.g. `feature-toggle`"
                    ),
                ));
                continue;
            }
            None => {}
        }
        let stem = crate::labels::stem(format);
        if let Some((other, _)) = stems
            .iter()
            .find(|(_, s)| s.starts_with(stem.as_str()) || stem.starts_with(s.as_str()))
        {
            out.push(problem(
                &at,
                format!("format `{format}` cannot be told apart from `labels.{other}`; expected a different text before the placeholder"),
            ));
        }
        stems.push((key, stem));
    }
}

fn sizes(sizes: &[String], path: &KeyPath, out: &mut Vec<Problem>) {
    if sizes.len() < 2 {
        out.push(problem(
            path,
            "needs at least two sizes, smallest first; expected e.g. [S, M, L, XL]",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, size) in sizes.iter().enumerate() {
        let bad = size.is_empty()
            || size.len() > 20
            || !size
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '+'));
        if bad {
            out.push(problem(
                &path.index(i),
                format!(
                    "size `{size}` must be a short word of letters or digits; expected e.g. `XL`"
                ),
            ));
        } else if !seen.insert(size.to_lowercase()) {
            out.push(problem(
                &path.index(i),
                format!("size `{size}` is listed twice; expected each size once"),
            ));
        }
    }
}

fn risk(risk: &RiskPolicy, path: &KeyPath, out: &mut Vec<Problem>) {
    if risk.weights.total() == 0 {
        out.push(problem(
            &path.key("weights"),
            "all weights are 0; expected at least one positive weight",
        ));
    }
    let levels = risk.levels;
    if levels.medium >= levels.high {
        out.push(problem(
            &path.key("levels").key("medium"),
            format!(
                "medium ({}) must be below high ({}); expected 1 <= medium < high <= 100",
                levels.medium, levels.high
            ),
        ));
    }
    for level in &risk.auto_merge {
        if let Some(i) = risk.approval.iter().position(|a| a == level) {
            out.push(problem(
                &path.key("approval").index(i),
                format!("`{level}` is both auto-merged and waiting for approval; expected it in only one of risk.auto_merge and risk.approval"),
            ));
        }
    }
}

fn environment(env: &Environment, earlier: &[Environment], path: &KeyPath, out: &mut Vec<Problem>) {
    let name_ok = !env.name.is_empty()
        && env.name.len() <= 40
        && env
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !name_ok {
        out.push(problem(
            &path.key("name"),
            format!("environment name `{}` must be letters, digits, `-` or `_`; expected e.g. `staging`", env.name),
        ));
    } else if Follows::is_keyword(&env.name) {
        out.push(problem(
            &path.key("name"),
            format!(
                "environment name `{}` is a `follows` keyword; expected another name",
                env.name
            ),
        ));
    } else if earlier.iter().any(|e| e.name == env.name) {
        out.push(problem(
            &path.key("name"),
            format!(
                "environment `{}` is defined twice; expected unique names",
                env.name
            ),
        ));
    }

    if let Follows::Environment(target) = &env.follows {
        if !earlier.iter().any(|e| &e.name == target) {
            let mut choices = vec![
                Follows::PRODUCT_PRS.to_owned(),
                Follows::PRODUCT_TAGS.to_owned(),
                Follows::RELEASES.to_owned(),
            ];
            choices.extend(earlier.iter().map(|e| e.name.clone()));
            out.push(problem(
                &path.key("follows"),
                format!(
                    "`{target}` is not an environment listed before `{}`; expected one of {}",
                    env.name,
                    choices.join(", ")
                ),
            ));
        }
    }

    clusters_and_waves(env, path, out);

    for (i, file) in env.files.iter().enumerate() {
        let at = path.key("files").index(i);
        if file.path.trim().is_empty() || file.key.trim().is_empty() {
            out.push(problem(&at, "needs a non-empty `path` and `key`; expected e.g. {path: \"clusters/{cluster}/{component}/values.yaml\", key: image.tag}"));
        } else if !file.path.contains("{component}") && !file.key.contains("{component}") {
            out.push(problem(&at, format!("`{}` / `{}` never names the component, so every component would share one value; expected `{{component}}` in path or key", file.path, file.key)));
        }
    }
    if env.files.is_empty() {
        out.push(problem(&path.key("files"), "is empty; expected where a component's version lives, e.g. [{path: \"clusters/{cluster}/{component}/values.yaml\", key: image.tag}]"));
    }

    if let Some(template) = &env.pr_envs {
        if !template.contains("{number}") {
            out.push(problem(
                &path.key("pr_envs"),
                format!("`{template}` has no `{{number}}`, so every PR would share one environment; expected e.g. `envs/pr-{{number}}`"),
            ));
        }
    }
    if let Some(when) = &env.when {
        if when.min_bump.is_none() && when.schedule.is_none() {
            out.push(problem(
                &path.key("when"),
                "is empty; expected `min_bump`, `schedule` or both",
            ));
        }
    }
    if let Some(stability) = &env.stability {
        self::stability(stability, &path.key("stability"), out);
    }
}

fn clusters_and_waves(env: &Environment, path: &KeyPath, out: &mut Vec<Problem>) {
    if env.clusters.is_empty() {
        out.push(problem(
            &path.key("clusters"),
            format!(
                "environment `{}` has no clusters; expected e.g. clusters: [eu-1]",
                env.name
            ),
        ));
    }
    let mut known = BTreeSet::new();
    for (i, cluster) in env.clusters.iter().enumerate() {
        if cluster.trim().is_empty() || cluster.contains('/') {
            out.push(problem(
                &path.key("clusters").index(i),
                format!("cluster `{cluster}` must be a plain name; expected e.g. `eu-1`"),
            ));
        } else if !known.insert(cluster.as_str()) {
            out.push(problem(
                &path.key("clusters").index(i),
                format!("cluster `{cluster}` is listed twice; expected each cluster once"),
            ));
        }
    }
    if env.waves.is_empty() {
        return;
    }
    let mut placed = BTreeSet::new();
    for (w, wave) in env.waves.iter().enumerate() {
        let at = path.key("waves").index(w);
        if wave.is_empty() {
            out.push(problem(
                &at,
                "is an empty wave; expected at least one cluster",
            ));
        }
        for (c, cluster) in wave.iter().enumerate() {
            if !known.contains(cluster.as_str()) {
                let list: Vec<&str> = known.iter().copied().collect();
                out.push(problem(&at.index(c), format!("cluster `{cluster}` is not in this environment's clusters; expected one of {}", list.join(", "))));
            } else if !placed.insert(cluster.as_str()) {
                out.push(problem(
                    &at.index(c),
                    format!(
                        "cluster `{cluster}` is in two waves; expected each cluster in one wave"
                    ),
                ));
            }
        }
    }
    if let Some(missing) = env.clusters.iter().find(|c| !placed.contains(c.as_str())) {
        out.push(problem(&path.key("waves"), format!("cluster `{missing}` is in no wave and would never be updated; expected every cluster in one wave")));
    }
}

fn stability(stability: &Stability, path: &KeyPath, out: &mut Vec<Problem>) {
    if stability.signals.is_empty() {
        out.push(problem(
            &path.key("signals"),
            "is empty; expected at least one signal (prometheus, alertmanager, gates, quiet_time)",
        ));
    } else if stability
        .signals
        .iter()
        .map(|s| u64::from(s.weight()))
        .sum::<u64>()
        == 0
    {
        out.push(problem(
            &path.key("signals"),
            "all signal weights are 0; expected at least one positive weight",
        ));
    }
    for (i, signal) in stability.signals.iter().enumerate() {
        if let super::Signal::Prometheus { max, .. } = signal {
            if !max.is_finite() {
                out.push(problem(
                    &path.key("signals").index(i),
                    format!("max `{max}` is not a number; expected e.g. max: 0.01"),
                ));
            }
        }
    }
}
