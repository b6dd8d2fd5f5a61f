use super::*;

fn refused(text: &str) -> String {
    let e = Policy::parse(text, "p.yaml").expect_err("refused");
    assert_eq!(e.exit_code(), 2, "{e}");
    e.message().to_owned()
}

const ENV_HEAD: &str = "environments:\n  - name: ci\n    repo: acme/ci\n    follows: product-prs\n    clusters: [ci-1]\n";

#[test]
fn the_builtin_policy_describes_the_four_environments() {
    let p = Policy::builtin();
    let names: Vec<&str> = p.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["ci", "staging", "canary", "prod"]);
    let ci = p.environment("ci").expect("ci");
    assert_eq!(ci.follows, Follows::ProductPrs);
    assert!(matches!(ci.health, Some(HealthSource::Command { .. })));
    assert!(ci.smoke.is_some());
    assert_eq!(ci.pr_envs.as_deref(), Some("envs/pr-{number}"));
    assert_eq!(ci.waves, vec![vec!["ci-1".to_owned()]]);
    let staging = p.environment("staging").expect("staging");
    assert_eq!(staging.follows, Follows::ProductTags);
    let when = staging.when.as_ref().expect("when");
    assert_eq!(when.min_bump, Some(Bump::Minor));
    assert_eq!(when.schedule.as_deref(), Some("0 6 * * 1-5"));
    let stability = staging.stability.as_ref().expect("stability");
    assert_eq!(stability.kpi, 80);
    assert_eq!(stability.signals.len(), 4);
    let canary = p.environment("canary").expect("canary");
    assert_eq!(canary.follows, Follows::Releases);
    assert!(canary.manual);
    let prod = p.environment("prod").expect("prod");
    assert_eq!(prod.follows, Follows::Environment("canary".into()));
    assert!(prod.manual);
    assert_eq!(prod.soak, Duration::from_secs(24 * 3600));
    assert_eq!(prod.waves.len(), 2);
    assert_eq!(p.followers_of("canary").count(), 1);
}

#[test]
fn an_empty_policy_equals_the_builtin_without_environments() {
    let empty = Policy::parse("{}", "empty.yaml").expect("parses");
    let builtin = Policy {
        environments: Vec::new(),
        ..Policy::builtin()
    };
    assert_eq!(empty, builtin);
    assert_eq!(Policy::parse("", "empty.yaml").expect("parses"), builtin);
}

#[test]
fn labels_are_rendered_from_the_policy_formats() {
    let p = Policy::default();
    assert_eq!(p.label_for_risk(RiskLevel::High), "risk: high");
    assert_eq!(
        p.label_for_hotfix(&semver::Version::new(2, 3, 0)),
        "hotfix-to/v2.3.0"
    );
    assert_eq!(p.label_for_coverage(80), "ft-coverage: 80");
    assert_eq!(p.risk_labels().len(), 3);
    assert_eq!(p.bump_for("feat"), Some(Bump::Minor));
    assert_eq!(p.bump_for("docs"), None);
}

#[test]
fn principals_read_users_and_teams() {
    assert_eq!(
        Principal::parse("@acme/release-managers"),
        Ok(Principal::Team {
            org: "acme".into(),
            slug: "release-managers".into()
        })
    );
    assert_eq!(
        Principal::parse("alice"),
        Ok(Principal::User("alice".into()))
    );
    assert!(Principal::parse("@acme").is_err());
    assert!(Principal::parse("al ice").is_err());
    assert!(Principal::User("Alice".into()).is_user("alice"));
}

#[test]
fn an_unknown_key_is_refused_at_its_line() {
    let m = refused("risk:\n  weights: {component: 25}\n  colour: red\n");
    assert!(
        m.starts_with("p.yaml:3:3: risk.colour: unknown field `colour`"),
        "{m}"
    );
}

#[test]
fn thresholds_out_of_order_are_refused_at_the_key() {
    let m = refused("risk:\n  levels: {medium: 70, high: 40}\n");
    assert!(
        m.starts_with("p.yaml:2:12: risk.levels.medium: medium (70) must be below high (40)"),
        "{m}"
    );
    let m = refused("risk:\n  levels: {medium: 0, high: 40}\n");
    assert!(
        m.starts_with("p.yaml:2:20: risk.levels.medium: threshold `0` is out of range"),
        "{m}"
    );
    assert!(refused("risk: {levels: {high: 101}}").contains("1..=100"));
}

#[test]
fn a_negative_weight_is_refused() {
    let m = refused("risk:\n  weights:\n    bump: -5\n");
    assert!(
        m.starts_with("p.yaml:3:11: risk.weights.bump: weight `-5` is out of range; expected a whole number 0..="),
        "{m}"
    );
    assert!(refused("risk: {weights: {bump: 1.5}}").contains("not a whole number"));
    let zero = refused("risk: {weights: {component: 0, change: 0, coverage: 0, bump: 0}}");
    assert!(zero.contains("risk.weights: all weights are 0"), "{zero}");
}

#[test]
fn an_invalid_cron_is_refused_at_its_value() {
    let text = format!(
        "{ENV_HEAD}  - name: staging\n    repo: acme/st\n    follows: product-tags\n    clusters: [s-1]\n    when: {{schedule: \"0 25 * * *\"}}\n"
    );
    let m = refused(&text);
    assert!(
        m.starts_with("p.yaml:10:22: environments[1].when.schedule: cron `0 25 * * *` is invalid"),
        "{m}"
    );
    assert!(m.contains("expected five fields"), "{m}");
}

#[test]
fn a_cron_that_can_never_fire_is_refused_at_load_with_its_key_path() {
    let text = format!(
        "{ENV_HEAD}  - name: staging\n    repo: acme/st\n    follows: product-tags\n    clusters: [s-1]\n    when: {{schedule: \"0 0 30 2 *\"}}\n"
    );
    let m = refused(&text);
    assert!(
        m.starts_with("p.yaml:10:22: environments[1].when.schedule: cron `0 0 30 2 *` never fires"),
        "{m}"
    );
}

#[test]
fn follows_must_name_an_earlier_environment() {
    let later = "environments:\n  - {name: canary, repo: acme/c, follows: prod, clusters: [c]}\n  - {name: prod, repo: acme/p, follows: canary, clusters: [p]}\n";
    let m = refused(later);
    assert!(m.starts_with("p.yaml:2:34: environments[0].follows: `prod` is not an environment listed before `canary`; expected one of product-prs, product-tags, releases"), "{m}");
    let missing =
        format!("{ENV_HEAD}  - {{name: prod, repo: acme/p, follows: qa, clusters: [p]}}\n");
    let m = refused(&missing);
    assert!(
        m.contains("environments[1].follows: `qa` is not an environment"),
        "{m}"
    );
    assert!(m.ends_with("releases, ci"), "{m}");
}

#[test]
fn waves_may_only_name_the_environments_clusters() {
    let text = format!(
        "{ENV_HEAD}  - name: prod\n    repo: acme/p\n    follows: ci\n    clusters: [eu-1, us-1]\n    waves:\n      - [eu-1]\n      - [us-9]\n"
    );
    let m = refused(&text);
    assert!(m.starts_with("p.yaml:12:10: environments[1].waves[1][0]: cluster `us-9` is not in this environment's clusters; expected one of eu-1, us-1"), "{m}");
    let unplaced = format!(
        "{ENV_HEAD}  - {{name: p, repo: a/p, follows: ci, clusters: [a, b], waves: [[a]]}}\n"
    );
    assert!(refused(&unplaced).contains("cluster `b` is in no wave"));
}

#[test]
fn duplicate_environment_names_are_refused() {
    let text = format!(
        "{ENV_HEAD}  - {{name: ci, repo: acme/ci2, follows: product-tags, clusters: [x]}}\n"
    );
    let m = refused(&text);
    assert!(
        m.starts_with("p.yaml:6:6: environments[1].name: environment `ci` is defined twice"),
        "{m}"
    );
}

#[test]
fn bad_durations_and_repos_are_refused_at_their_value() {
    let soak = format!(
        "{ENV_HEAD}  - {{name: prod, repo: acme/p, follows: ci, clusters: [p], soak: one day}}\n"
    );
    let m = refused(&soak);
    assert!(
        m.starts_with("p.yaml:6:66: environments[1].soak: `one day` is not a duration"),
        "{m}"
    );
    let repo =
        "environments:\n  - {name: ci, repo: landscape, follows: product-prs, clusters: [c]}\n";
    assert!(refused(repo).starts_with(
        "p.yaml:2:22: environments[0].repo: repository `landscape`: expected `owner/name`"
    ));
}

#[test]
fn health_needs_exactly_one_source() {
    let text = format!("{ENV_HEAD}    health: {{timeout: 5m}}\n");
    let m = refused(&text);
    assert!(
        m.contains("health needs exactly one of `command`, `argocd` or `commit_status`"),
        "{m}"
    );
    let argo = format!("{ENV_HEAD}    health: {{argocd: {{url: 'http://a'}}}}\n");
    let p = Policy::parse(&argo, "p.yaml").expect("argocd parses");
    assert_eq!(
        p.environments[0].health,
        Some(HealthSource::Argocd {
            url: "http://a".into(),
            app: "{component}-{cluster}".into(),
            token_env: None,
            timeout: Duration::from_secs(600)
        })
    );
}

#[test]
fn label_formats_must_keep_one_placeholder_and_stay_distinguishable() {
    assert!(
        refused("labels: {component: \"component\"}")
            .contains("labels.component: format `component` must contain `{size}` exactly once")
    );
    assert!(refused("labels: {change: \"component: {size}\"}").contains(
        "labels.change: format `component: {size}` cannot be told apart from `labels.component`"
    ));
    assert!(refused("labels: {coverage: \"{n}\"}").contains("needs text before `{n}`"));
}

#[test]
fn sizes_need_two_distinct_words() {
    assert!(refused("sizes: [M]").contains("sizes: needs at least two sizes"));
    assert!(refused("sizes: [S, s]").contains("sizes[1]: size `s` is listed twice"));
}

#[test]
fn a_level_cannot_both_auto_merge_and_wait_for_approval() {
    assert!(
        refused("risk: {auto_merge: [low, high]}")
            .contains("`high` is both auto-merged and waiting for approval")
    );
}

#[test]
fn bad_people_and_kpi_are_refused() {
    assert!(refused("people: {approvers: ['@acme']}").contains("`@acme` is not a team"));
    let kpi =
        format!("{ENV_HEAD}    stability: {{kpi: 120, signals: [{{gates: {{weight: 1}}}}]}}\n");
    assert!(refused(&kpi).contains("kpi `120` is out of range"));
    let empty = format!("{ENV_HEAD}    stability: {{kpi: 80, signals: []}}\n");
    assert!(refused(&empty).contains("stability.signals: is empty"));
}

#[test]
fn a_missing_file_is_bad_input_naming_the_file() {
    let e = Policy::load(Path::new("/nonexistent/policy.yaml")).expect_err("missing");
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.message()
            .starts_with("/nonexistent/policy.yaml: cannot read policy"),
        "{e}"
    );
}

#[test]
fn broken_yaml_is_one_line_with_a_position() {
    let m = refused("risk: {weights: [\n");
    assert!(m.starts_with("p.yaml:"), "{m}");
    assert!(!m.contains('\n'));
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_is_either_a_policy_or_one_line_of_bad_input(text in "[ -~\n\t]{0,200}") {
            if let Err(e) = Policy::parse(&text, "p.yaml") {
                prop_assert_eq!(e.exit_code(), 2);
                prop_assert!(!e.message().contains('\n'));
            }
        }

        #[test]
        fn mangled_builtin_policies_never_panic(cut in 0usize..6000, junk in "[ -~\n]{0,12}") {
            let text = Policy::builtin_text();
            let at = text.char_indices().map(|(i, _)| i).find(|i| *i >= cut.min(text.len())).unwrap_or(text.len());
            let mangled = format!("{}{junk}{}", &text[..at], &text[at..]);
            let _ = Policy::parse(&mangled, "p.yaml");
        }
    }
}

/// Issue 10, point 5: the component tag prefix is a policy setting, per
/// component when a repository tags several.
#[test]
fn component_tag_prefix_defaults_to_tag_prefix_and_can_be_set_per_component() {
    let p = Policy::builtin();
    assert_eq!(p.component_tag_prefix("payments"), "v");
    let p = Policy::parse(
        "versioning:\n  tag_prefix: release-\n  component_tag_prefix: v\n  component_tag_prefixes:\n    payments: payments-v\n",
        "p.yaml",
    )
    .expect("parses");
    assert_eq!(p.component_tag_prefix("payments"), "payments-v");
    assert_eq!(p.component_tag_prefix("checkout"), "v");
    assert_eq!(p.versioning.tag_prefix, "release-");
    let p = Policy::parse("versioning:\n  tag_prefix: r\n", "p.yaml").expect("parses");
    assert_eq!(p.component_tag_prefix("checkout"), "r");

    let e = Policy::parse(
        "versioning:\n  component_tag_prefixes:\n    payments: \"pay v\"\n",
        "p.yaml",
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.message()
            .contains("versioning.component_tag_prefixes.payments: tag prefix \"pay v\""),
        "{e}"
    );
    for bad in ["a..b", "v~", "v^", "v:", "v?", "v*", "v[", "v\\\\", "-v"] {
        let message = refused(&format!("versioning:\n  component_tag_prefix: \"{bad}\"\n"));
        assert!(
            message.contains("versioning.component_tag_prefix: tag prefix"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn the_commented_freeze_example_of_the_default_policy_parses() {
    // Uncomment the example under `freezes:` in policies/default.yaml.
    let text = Policy::builtin_text();
    let example: String = text
        .lines()
        .skip_while(|l| !l.starts_with("freezes:"))
        .skip(1)
        .take_while(|l| l.starts_with("#  "))
        .map(|l| format!("{}\n", &l[1..]))
        .collect();
    assert!(example.contains("- name: weekend"), "{example}");
    let uncommented = text.replace("freezes: []\n", &format!("freezes:\n{example}"));
    let p = Policy::parse(&uncommented, "default.yaml with the example").expect("parses");
    let weekend = &p.freezes[0];
    assert_eq!(weekend.name, "weekend");
    assert_eq!(weekend.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(weekend.duration, Duration::from_secs(62 * 3600));
    assert_eq!(weekend.environments, ["canary", "prod"]);
}
