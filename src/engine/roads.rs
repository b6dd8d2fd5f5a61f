//! How a pass's actions fall into roads: the actions that must run one
//! after another (one PR's, one component's, one tag's) and the roads that
//! may run side by side.

use std::collections::HashMap;

use crate::forge::RepoId;

use super::action::Action;
use super::action_fields;

/// How many roads of one pass are acted on at once. Enough for the forge
/// calls and git writes of different roads to overlap; the request budget,
/// not this, keeps the bot inside GitHub's limits.
pub const ROADS_AT_ONCE: usize = 8;

/// The pass's actions grouped into roads: two actions are on one road when
/// they share a road key (`road_keys`), transitively. Each road keeps the
/// decided order, and roads come in the order of their first action.
///
/// `bumps` names the components each open product PR changes: a product PR's
/// merge and a new product PR for the same component are one road (the
/// opening looks for the open PR the merge is closing).
pub fn roads_of<'a>(
    actions: &'a [Action],
    product: &RepoId,
    bumps: &HashMap<u64, Vec<String>>,
) -> Vec<Vec<&'a Action>> {
    // Union-find over action indices, joined through the keys they share.
    let mut parent: Vec<usize> = (0..actions.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_with: HashMap<String, usize> = HashMap::new();
    for (i, action) in actions.iter().enumerate() {
        for key in road_keys(action, product, bumps) {
            match first_with.get(&key) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    // The earlier action's root stays the root: roads keep
                    // the order of their first action.
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    first_with.insert(key, i);
                }
            }
        }
    }
    let mut roads: Vec<Vec<&Action>> = Vec::new();
    let mut road_at: HashMap<usize, usize> = HashMap::new();
    for (i, action) in actions.iter().enumerate() {
        let r = root(&mut parent, i);
        let at = *road_at.entry(r).or_insert_with(|| {
            roads.push(Vec::new());
            roads.len() - 1
        });
        roads[at].push(action);
    }
    roads
}

/// The roads an action is on: its PR (a component PR by its repo too, a
/// product PR with the components it bumps), component, tag and the commit
/// it sets a status on or merges; the environment only when it names none
/// of those (a CI deploy is its PR's road, not every CI change's) or it
/// promotes or rolls back.
fn road_keys(action: &Action, product: &RepoId, bumps: &HashMap<u64, Vec<String>>) -> Vec<String> {
    let f = action_fields(action);
    let mut keys = Vec::new();
    match action {
        Action::Comment { repo, pr, .. } if repo != product => {
            keys.push(format!("pr:{repo}#{pr}"));
        }
        _ if f.pr != 0 => {
            keys.push(format!("pr:{}", f.pr));
            for c in bumps.get(&f.pr).into_iter().flatten() {
                keys.push(format!("component:{c}"));
            }
        }
        _ => {}
    }
    keys.extend(f.component.map(|c| format!("component:{c}")));
    keys.extend(f.tag.map(|t| format!("tag:{t}")));
    match action {
        Action::SetStatus { sha, .. }
        | Action::DeployCi { head_sha: sha, .. }
        | Action::WatchCiHealth { head_sha: sha, .. }
        | Action::RunSmoke { head_sha: sha, .. }
        | Action::Merge { head_sha: sha, .. }
        | Action::RebuildProductPr { old_head: sha, .. } => keys.push(format!("sha:{sha}")),
        _ => {}
    }
    // A landscape's promotions and rollbacks keep their decided order.
    let env_road = matches!(
        action,
        Action::Promote { .. } | Action::WatchPromotion { .. } | Action::Rollback { .. }
    );
    if keys.is_empty() || env_road {
        keys.extend(f.env.map(|e| format!("env:{e}")));
    }
    keys
}

#[cfg(test)]
mod tests {
    use semver::Version;

    use super::*;
    use crate::engine::snapshot::ComponentChange;
    use crate::forge::StatusState;

    fn repo(name: &str) -> RepoId {
        RepoId {
            owner: "acme".into(),
            name: name.into(),
        }
    }

    fn change(component: &str) -> ComponentChange {
        ComponentChange {
            component: component.into(),
            from: Version::new(1, 0, 0),
            to: Version::new(1, 0, 1),
        }
    }

    fn comment(on: &str, pr: u64) -> Action {
        Action::Comment {
            repo: repo(on),
            pr,
            topic: "t".into(),
            body: "b".into(),
        }
    }

    fn status(sha: &str) -> Action {
        Action::SetStatus {
            repo: repo("product"),
            sha: sha.into(),
            context: "stagecoach/ci".into(),
            state: StatusState::Success,
            description: "d".into(),
        }
    }

    fn deploy(pr: u64, sha: &str, component: &str) -> Action {
        Action::DeployCi {
            pr,
            head_sha: sha.into(),
            change: change(component),
            risk: crate::policy::RiskLevel::Low,
        }
    }

    fn merge(pr: u64, sha: &str) -> Action {
        Action::Merge {
            pr,
            head_sha: sha.into(),
            rebuild: None,
        }
    }

    /// Each road as the indices of its actions in `actions`.
    fn shape(actions: &[Action]) -> Vec<Vec<usize>> {
        let bumps = HashMap::from([(1, vec!["payments".to_string()])]);
        roads_of(actions, &repo("product"), &bumps)
            .iter()
            .map(|road| {
                road.iter()
                    .map(|a| {
                        actions
                            .iter()
                            .position(|b| std::ptr::eq(*a, b))
                            .expect("an action of the pass")
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn two_product_prs_are_two_roads_each_in_its_decided_order() {
        let actions = [
            deploy(1, "a1", "payments"),
            deploy(2, "b1", "checkout"),
            comment("product", 1),
            merge(2, "b1"),
        ];
        assert_eq!(shape(&actions), vec![vec![0, 2], vec![1, 3]]);
    }

    #[test]
    fn a_status_goes_with_the_pr_whose_head_it_is_on() {
        // The status says what the merge needs: never raced against it.
        let actions = [status("b1"), deploy(1, "a1", "payments"), merge(2, "b1")];
        assert_eq!(shape(&actions), vec![vec![0, 2], vec![1]]);
    }

    #[test]
    fn the_same_number_in_two_repos_is_two_prs() {
        // Component PR #3 of payments and of checkout, and product PR #3.
        let actions = [
            comment("payments", 3),
            comment("checkout", 3),
            comment("product", 3),
            merge(3, "p3"),
        ];
        assert_eq!(shape(&actions), vec![vec![0], vec![1], vec![2, 3]]);
    }

    #[test]
    fn actions_joined_through_a_later_one_keep_one_road_in_order() {
        // PR 1 and PR 2 look apart until an action of the same component
        // names both: then they are one road, in decided order.
        let actions = [
            deploy(1, "a1", "payments"),
            merge(2, "b1"),
            comment("product", 1),
            Action::RebuildProductPr {
                pr: 2,
                branch: "stagecoach/payments-1.0.1".into(),
                old_head: "b1".into(),
                change: change("payments"),
                carry: vec![],
            },
        ];
        assert_eq!(shape(&actions), vec![vec![0, 1, 2, 3]]);
    }

    #[test]
    fn a_product_prs_merge_and_a_new_product_pr_of_its_component_are_one_road() {
        // Seen in the roads bench: the opening looked for the open PR while
        // the merge closed it, found none and asked GitHub for a second
        // (422). Product PR 1 bumps payments.
        let actions = [
            Action::OpenProductPr {
                change: change("payments"),
                sources: vec![4],
                labels: vec![],
                branch: "stagecoach/payments-1.0.1".into(),
                reason: "component release".into(),
            },
            merge(1, "a1"),
            merge(2, "b1"),
        ];
        assert_eq!(shape(&actions), vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn a_rollback_is_its_environments_road() {
        let rollback = |commit: &str| Action::Rollback {
            env: "ci".into(),
            commit: commit.into(),
            reason: "r".into(),
        };
        let actions = [rollback("c1"), deploy(1, "a1", "payments"), rollback("c2")];
        assert_eq!(shape(&actions), vec![vec![0, 2], vec![1]]);
    }
}
