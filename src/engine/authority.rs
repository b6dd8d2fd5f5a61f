//! Who may approve, hotfix and promote: the policy's people, confirmed by the
//! forge's permissions. The judgement is pure; asking the forge is the edge.

use crate::error::Result;
use crate::forge::{Forge, Permission, RepoId};
use crate::policy::Principal;

use super::snapshot::Authority;

/// Pure: `user` is allowed when the policy names them (or a team they are in)
/// and the forge gives them at least write access.
pub fn judge(
    role: &str,
    principals: &[Principal],
    user: &str,
    permission: Permission,
    in_team: &dyn Fn(&str, &str) -> bool,
) -> Authority {
    let named = principals.iter().any(|p| match p {
        Principal::User(u) => u.eq_ignore_ascii_case(user),
        Principal::Team { org, slug } => in_team(org, slug),
    });
    if !named {
        let list: Vec<String> = principals.iter().map(Principal::to_string).collect();
        return Authority::Refused(format!(
            "not listed in people.{role} ({})",
            if list.is_empty() {
                "nobody".to_string()
            } else {
                list.join(", ")
            }
        ));
    }
    if permission < Permission::Write {
        return Authority::Refused(format!(
            "has {} access to the repository; write is needed",
            format!("{permission:?}").to_lowercase()
        ));
    }
    Authority::Allowed
}

/// The edge: ask the forge for the facts, then judge.
pub async fn resolve(
    forge: &dyn Forge,
    repo: &RepoId,
    role: &str,
    principals: &[Principal],
    user: &str,
) -> Result<Authority> {
    let permission = forge.permission(repo, user).await?;
    let mut teams = Vec::new();
    for p in principals {
        if let Principal::Team { org, slug } = p {
            if forge.is_team_member(org, slug, user).await? {
                teams.push((org.clone(), slug.clone()));
            }
        }
    }
    Ok(judge(role, principals, user, permission, &|org, slug| {
        teams.iter().any(|(o, s)| o == org && s == slug)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> Vec<Principal> {
        vec![Principal::Team {
            org: "acme".into(),
            slug: "release-managers".into(),
        }]
    }

    #[test]
    fn a_team_member_with_write_access_is_allowed() {
        let a = judge(
            "approvers",
            &team(),
            "rita",
            Permission::Maintain,
            &|_, _| true,
        );
        assert_eq!(a, Authority::Allowed);
    }

    #[test]
    fn a_read_only_user_is_refused_even_when_named() {
        let a = judge(
            "approvers",
            &[Principal::User("ron".into())],
            "ron",
            Permission::Read,
            &|_, _| false,
        );
        assert!(matches!(a, Authority::Refused(why) if why.contains("read access")));
    }

    #[test]
    fn someone_outside_the_policy_is_refused_with_the_list() {
        let a = judge("approvers", &team(), "bob", Permission::Admin, &|_, _| {
            false
        });
        assert!(matches!(a, Authority::Refused(why) if why.contains("@acme/release-managers")));
    }
}
