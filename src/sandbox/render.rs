//! GitHub's JSON shapes for the sandbox's records: the same field names, types
//! and URLs GitHub answers with (checked against the official OpenAPI schemas in
//! `fixtures/openapi/`), so clients written for GitHub parse them unchanged.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::git::CommitInfo;
use super::state::{
    CommentRecord, ForgeState, IssueEventRecord, LabelRecord, PullRecord, ReleaseRecord,
    RepoRecord, ReviewRecord, StatusRecord,
};
use crate::forge::Permission;

/// Where the sandbox lives, for the URLs inside every answer.
#[derive(Debug, Clone)]
pub struct Urls {
    pub api: String,
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn node_id(kind: &str, id: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}:{id}"))
}

impl Urls {
    /// A user (GitHub's `simple-user`). Unknown logins still render, with id 0.
    pub fn user(&self, state: &ForgeState, login: &str) -> Value {
        let id = state.users.get(login).map(|u| u.id).unwrap_or(0);
        let kind = if login.ends_with("[bot]") {
            "Bot"
        } else {
            "User"
        };
        self.account(login, id, kind)
    }

    /// An organisation as a repository's `owner` (a user of type Organization).
    pub fn org(&self, state: &ForgeState, login: &str) -> Value {
        let id = state.orgs.get(login).map(|o| o.id).unwrap_or(0);
        self.account(login, id, "Organization")
    }

    /// An organisation as webhooks carry it in `organization` (GitHub's
    /// `organization-simple`, which has its own URLs, not a user's).
    pub fn organization(&self, state: &ForgeState, login: &str) -> Value {
        let id = state.orgs.get(login).map(|o| o.id).unwrap_or(0);
        let url = format!("{}/orgs/{login}", self.api);
        json!({
            "login": login,
            "id": id,
            "node_id": node_id("Organization", id),
            "url": url,
            "repos_url": format!("{url}/repos"),
            "events_url": format!("{url}/events"),
            "hooks_url": format!("{url}/hooks"),
            "issues_url": format!("{url}/issues"),
            "members_url": format!("{url}/members{{/member}}"),
            "public_members_url": format!("{url}/public_members{{/member}}"),
            "avatar_url": format!("{}/_avatars/{login}", self.api),
            "description": null
        })
    }

    fn account(&self, login: &str, id: u64, kind: &str) -> Value {
        let a = &self.api;
        json!({
            "login": login,
            "id": id,
            "node_id": node_id("User", id),
            "avatar_url": format!("{a}/_avatars/{login}"),
            "gravatar_id": "",
            "url": format!("{a}/users/{login}"),
            "html_url": format!("{a}/{login}"),
            "followers_url": format!("{a}/users/{login}/followers"),
            "following_url": format!("{a}/users/{login}/following{{/other_user}}"),
            "gists_url": format!("{a}/users/{login}/gists{{/gist_id}}"),
            "starred_url": format!("{a}/users/{login}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{a}/users/{login}/subscriptions"),
            "organizations_url": format!("{a}/users/{login}/orgs"),
            "repos_url": format!("{a}/users/{login}/repos"),
            "events_url": format!("{a}/users/{login}/events{{/privacy}}"),
            "received_events_url": format!("{a}/users/{login}/received_events"),
            "type": kind,
            "site_admin": false
        })
    }

    /// A repository (GitHub's `repository` / `full-repository`), with the
    /// caller's permissions when known.
    pub fn repo(&self, state: &ForgeState, r: &RepoRecord, viewer: Option<&str>) -> Value {
        let a = &self.api;
        let full = r.full_name();
        let base = format!("{a}/repos/{full}");
        let created = ts(&r.created_at);
        let mut v = json!({
            "id": r.id,
            "node_id": node_id("Repository", r.id),
            "name": r.name,
            "full_name": full,
            "private": false,
            "owner": self.org(state, &r.owner),
            "html_url": format!("{a}/{full}"),
            "description": null,
            "fork": false,
            "url": base,
            "clone_url": format!("{a}/{full}.git"),
            "mirror_url": null,
            "hooks_url": format!("{base}/hooks"),
            "svn_url": format!("{a}/{full}"),
            "homepage": null,
            "language": null,
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 0,
            "default_branch": r.default_branch,
            "open_issues_count": r.pulls.iter().filter(|p| p.state == "open").count(),
            "open_issues": r.pulls.iter().filter(|p| p.state == "open").count(),
        });
        let flags = json!({
            "is_template": false,
            "topics": [],
            "has_issues": true,
            "has_projects": false,
            "has_wiki": false,
            "has_pages": false,
            "has_downloads": true,
            "has_discussions": false,
            "archived": false,
            "disabled": false,
            "visibility": "public",
            "pushed_at": created,
            "created_at": created,
            "updated_at": created,
            "allow_rebase_merge": true,
            "allow_squash_merge": true,
            "allow_merge_commit": true,
            "allow_auto_merge": false,
            "delete_branch_on_merge": false,
            "allow_forking": true,
            "web_commit_signoff_required": false,
            "license": null,
            "custom_properties": {}
        });
        if let (Value::Object(target), Value::Object(more)) = (&mut v, flags) {
            target.extend(more);
        }
        for (key, path) in REPO_URLS {
            let value = if let Some(rest) = path.strip_prefix('@') {
                rest.replace("FULL", &full)
            } else {
                format!("{base}{path}")
            };
            v[*key] = Value::String(value);
        }
        if let Some(login) = viewer {
            // Only GET /repos/{o}/{r} answers a `full-repository`, with these
            // counts; a repository inside a pull request or a webhook has none.
            v["network_count"] = json!(0);
            v["subscribers_count"] = json!(0);
            let p = state.permission(r, login);
            v["permissions"] = json!({
                "admin": p >= Permission::Admin,
                "maintain": p >= Permission::Maintain,
                "push": p >= Permission::Write,
                "triage": p >= Permission::Triage,
                "pull": p >= Permission::Read,
            });
        }
        v
    }

    pub fn label(&self, r: &RepoRecord, l: &LabelRecord) -> Value {
        json!({
            "id": l.id,
            "node_id": node_id("Label", l.id),
            "url": format!("{}/repos/{}/labels/{}", self.api, r.full_name(), encode(&l.name)),
            "name": l.name,
            "description": l.description,
            "color": l.color,
            "default": false
        })
    }

    pub fn labels_of(&self, r: &RepoRecord, names: &[String]) -> Vec<Value> {
        names
            .iter()
            .filter_map(|n| r.labels.get(n))
            .map(|l| self.label(r, l))
            .collect()
    }

    /// A pull request (`pull-request`, the full single-PR shape; lists use it too).
    /// `head_sha` is the live head; `mergeable` is computed by the caller.
    pub fn pull(
        &self,
        state: &ForgeState,
        r: &RepoRecord,
        p: &PullRecord,
        base_sha: &str,
        mergeable: Option<bool>,
        commits: usize,
    ) -> Value {
        let a = &self.api;
        let full = r.full_name();
        let url = format!("{a}/repos/{full}/pulls/{}", p.number);
        let issue_url = format!("{a}/repos/{full}/issues/{}", p.number);
        let html = format!("{a}/{full}/pull/{}", p.number);
        let merged = p.merged_at.is_some();
        let side = |git_ref: &str, sha: &str| {
            json!({
                "label": format!("{}:{}", r.owner, git_ref),
                "ref": git_ref,
                "sha": sha,
                "user": self.org(state, &r.owner),
                "repo": self.repo(state, r, None),
            })
        };
        let mergeable_state = match (p.state.as_str(), mergeable) {
            ("closed", _) => "unknown",
            (_, Some(true)) => "clean",
            (_, Some(false)) => "dirty",
            (_, None) => "unknown",
        };
        let links = json!({
            "self": {"href": url},
            "html": {"href": html},
            "issue": {"href": issue_url},
            "comments": {"href": format!("{issue_url}/comments")},
            "review_comments": {"href": format!("{url}/comments")},
            "review_comment": {"href": format!("{a}/repos/{full}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{url}/commits")},
            "statuses": {"href": format!("{a}/repos/{full}/statuses/{}", p.head_sha)}
        });
        let counts = json!({
            "comments": r.comments.iter().filter(|c| c.issue_number == p.number).count(),
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": commits,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0
        });
        let mut out = json!({
            "url": url,
            "id": p.id,
            "node_id": node_id("PullRequest", p.id),
            "html_url": html,
            "diff_url": format!("{html}.diff"),
            "patch_url": format!("{html}.patch"),
            "issue_url": issue_url,
            "commits_url": format!("{url}/commits"),
            "review_comments_url": format!("{url}/comments"),
            "review_comment_url": format!("{a}/repos/{full}/pulls/comments{{/number}}"),
            "comments_url": format!("{issue_url}/comments"),
            "statuses_url": format!("{a}/repos/{full}/statuses/{}", p.head_sha),
            "number": p.number,
            "state": p.state,
            "locked": false,
            "title": p.title,
            "user": self.user(state, &p.user),
            "body": if p.body.is_empty() { Value::Null } else { Value::String(p.body.clone()) },
            "labels": self.labels_of(r, &p.labels),
            "milestone": null,
            "active_lock_reason": null,
            "created_at": ts(&p.created_at),
            "updated_at": ts(&p.updated_at),
            "closed_at": p.closed_at.as_ref().map(ts),
            "merged_at": p.merged_at.as_ref().map(ts),
            "merge_commit_sha": p.merge_commit_sha,
            "assignee": null,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": side(&p.head_ref, &p.head_sha),
            "base": side(&p.base_ref, base_sha),
            "_links": links,
            "author_association": association(state, r, &p.user),
            "auto_merge": null,
            "draft": false,
            "merged": merged,
            "mergeable": if p.state == "open" { json!(mergeable) } else { Value::Null },
            "rebaseable": if p.state == "open" { json!(mergeable) } else { Value::Null },
            "mergeable_state": mergeable_state,
            "merged_by": p.merged_by.as_deref().map(|m| self.user(state, m))
        });
        if let (Value::Object(target), Value::Object(more)) = (&mut out, counts) {
            target.extend(more);
        }
        out
    }

    /// A PR seen as an issue (the `issue` of `issue_comment` payloads).
    pub fn issue(&self, state: &ForgeState, r: &RepoRecord, p: &PullRecord) -> Value {
        let a = &self.api;
        let full = r.full_name();
        let url = format!("{a}/repos/{full}/issues/{}", p.number);
        let html = format!("{a}/{full}/pull/{}", p.number);
        json!({
            "url": url,
            "repository_url": format!("{a}/repos/{full}"),
            "labels_url": format!("{url}/labels{{/name}}"),
            "comments_url": format!("{url}/comments"),
            "events_url": format!("{url}/events"),
            "html_url": html,
            "id": p.id,
            "node_id": node_id("Issue", p.id),
            "number": p.number,
            "title": p.title,
            "user": self.user(state, &p.user),
            "labels": self.labels_of(r, &p.labels),
            "state": p.state,
            "locked": false,
            "assignee": null,
            "assignees": [],
            "milestone": null,
            "comments": r.comments.iter().filter(|c| c.issue_number == p.number).count(),
            "created_at": ts(&p.created_at),
            "updated_at": ts(&p.updated_at),
            "closed_at": p.closed_at.as_ref().map(ts),
            "author_association": association(state, r, &p.user),
            "active_lock_reason": null,
            "body": if p.body.is_empty() { Value::Null } else { Value::String(p.body.clone()) },
            "pull_request": {
                "url": format!("{a}/repos/{full}/pulls/{}", p.number),
                "html_url": html,
                "diff_url": format!("{html}.diff"),
                "patch_url": format!("{html}.patch"),
                "merged_at": p.merged_at.as_ref().map(ts)
            },
            "performed_via_github_app": null,
            "state_reason": null,
            "reactions": self.no_reactions(&url)
        })
    }

    /// A `reactions` rollup with nothing in it (nobody reacts in the sandbox).
    fn no_reactions(&self, subject_url: &str) -> Value {
        json!({
            "url": format!("{subject_url}/reactions"),
            "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
            "confused": 0, "heart": 0, "rocket": 0, "eyes": 0
        })
    }

    pub fn comment(&self, state: &ForgeState, r: &RepoRecord, c: &CommentRecord) -> Value {
        let a = &self.api;
        let full = r.full_name();
        json!({
            "id": c.id,
            "node_id": node_id("IssueComment", c.id),
            "url": format!("{a}/repos/{full}/issues/comments/{}", c.id),
            "html_url": format!("{a}/{full}/pull/{}#issuecomment-{}", c.issue_number, c.id),
            "issue_url": format!("{a}/repos/{full}/issues/{}", c.issue_number),
            "body": c.body,
            "user": self.user(state, &c.user),
            "created_at": ts(&c.created_at),
            "updated_at": ts(&c.updated_at),
            "author_association": association(state, r, &c.user),
            "performed_via_github_app": null,
            "reactions": self.no_reactions(&format!("{a}/repos/{full}/issues/comments/{}", c.id))
        })
    }

    pub fn review(&self, state: &ForgeState, r: &RepoRecord, v: &ReviewRecord) -> Value {
        let a = &self.api;
        let full = r.full_name();
        let html = format!(
            "{a}/{full}/pull/{}#pullrequestreview-{}",
            v.pull_number, v.id
        );
        let pr_url = format!("{a}/repos/{full}/pulls/{}", v.pull_number);
        let mut out = json!({
            "id": v.id,
            "node_id": node_id("PullRequestReview", v.id),
            "user": self.user(state, &v.user),
            "body": v.body,
            "state": v.state,
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": association(state, r, &v.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
            "commit_id": v.commit_id
        });
        if let Some(t) = &v.submitted_at {
            out["submitted_at"] = json!(ts(t));
        }
        out
    }

    pub fn status(&self, state: &ForgeState, r: &RepoRecord, s: &StatusRecord) -> Value {
        json!({
            "url": format!("{}/repos/{}/statuses/{}", self.api, r.full_name(), s.sha),
            "avatar_url": null,
            "id": s.id,
            "node_id": node_id("StatusContext", s.id),
            "state": s.state,
            "description": s.description,
            "target_url": s.target_url,
            "context": s.context,
            "created_at": ts(&s.created_at),
            "updated_at": ts(&s.created_at),
            "creator": self.user(state, &s.creator)
        })
    }

    pub fn release(&self, state: &ForgeState, r: &RepoRecord, rel: &ReleaseRecord) -> Value {
        let a = &self.api;
        let full = r.full_name();
        let url = format!("{a}/repos/{full}/releases/{}", rel.id);
        json!({
            "url": url,
            "html_url": format!("{a}/{full}/releases/tag/{}", encode(&rel.tag_name)),
            "assets_url": format!("{url}/assets"),
            "upload_url": format!("{a}/uploads/repos/{full}/releases/{}/assets{{?name,label}}", rel.id),
            "tarball_url": format!("{a}/repos/{full}/tarball/{}", encode(&rel.tag_name)),
            "zipball_url": format!("{a}/repos/{full}/zipball/{}", encode(&rel.tag_name)),
            "id": rel.id,
            "node_id": node_id("Release", rel.id),
            "tag_name": rel.tag_name,
            "target_commitish": rel.target_commitish,
            "name": rel.name,
            "body": rel.body,
            "draft": rel.draft,
            "prerelease": rel.prerelease,
            "immutable": false,
            "created_at": ts(&rel.created_at),
            "updated_at": ts(&rel.published_at.unwrap_or(rel.created_at)),
            "published_at": rel.published_at.as_ref().map(ts),
            "author": self.user(state, &rel.author),
            "assets": []
        })
    }

    /// A release as webhooks carry it: GitHub's webhook `release` has no
    /// `immutable` or `updated_at` (the REST answer has both).
    pub fn release_in_hook(&self, release: &Value) -> Value {
        let mut v = release.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("immutable");
            o.remove("updated_at");
        }
        v
    }

    /// A commit as a `status` webhook carries it: GitHub's webhook schema
    /// has no `verified_at` in `commit.verification` (the REST answer does).
    pub fn commit_in_hook(&self, commit: &Value) -> Value {
        let mut v = commit.clone();
        if let Some(o) = v["commit"]["verification"].as_object_mut() {
            o.remove("verified_at");
        }
        v
    }

    /// A review as webhooks carry it: the same fields as the REST answer,
    /// but the state in lower case (`approved`), as GitHub sends it.
    pub fn review_in_hook(&self, review: &Value) -> Value {
        let mut v = review.clone();
        if let Some(state) = v["state"].as_str() {
            v["state"] = json!(state.to_ascii_lowercase());
        }
        v
    }

    /// A pull request as a `pull_request_review` webhook carries it: without
    /// the counts and merge state of the full pull request.
    pub fn pull_in_review_hook(&self, pull: &Value) -> Value {
        let mut v = pull.clone();
        if let Some(o) = v.as_object_mut() {
            for key in [
                "additions",
                "changed_files",
                "comments",
                "commits",
                "deletions",
                "maintainer_can_modify",
                "mergeable",
                "mergeable_state",
                "merged",
                "merged_by",
                "rebaseable",
                "review_comments",
            ] {
                o.remove(key);
            }
        }
        v
    }

    pub fn issue_event(&self, state: &ForgeState, r: &RepoRecord, e: &IssueEventRecord) -> Value {
        let color = r
            .labels
            .get(&e.label)
            .map(|l| l.color.clone())
            .unwrap_or_else(|| "ededed".into());
        json!({
            "id": e.id,
            "node_id": node_id("LabeledEvent", e.id),
            "url": format!("{}/repos/{}/issues/events/{}", self.api, r.full_name(), e.id),
            "actor": self.user(state, &e.actor),
            "event": e.event,
            "commit_id": null,
            "commit_url": null,
            "created_at": ts(&e.created_at),
            "label": {"name": e.label, "color": color},
            "performed_via_github_app": null
        })
    }

    /// A commit as in `GET .../pulls/{n}/commits` (GitHub's `commit` shape).
    pub fn commit(&self, r: &RepoRecord, c: &CommitInfo) -> Value {
        let base = format!("{}/repos/{}", self.api, r.full_name());
        let date = DateTime::<Utc>::from_timestamp(c.time, 0)
            .map(|t| ts(&t))
            .unwrap_or_default();
        let person = json!({"name": c.author_name, "email": c.author_email, "date": date});
        json!({
            "sha": c.sha,
            "node_id": node_id("Commit", r.id),
            "commit": {
                "author": person,
                "committer": person,
                "message": c.message,
                "tree": {"sha": c.tree, "url": format!("{base}/git/trees/{}", c.tree)},
                "url": format!("{base}/git/commits/{}", c.sha),
                "comment_count": 0,
                // The sandbox signs nothing.
                "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
            },
            "url": format!("{base}/commits/{}", c.sha),
            "html_url": format!("{}/{}/commit/{}", self.api, r.full_name(), c.sha),
            "comments_url": format!("{base}/commits/{}/comments", c.sha),
            "author": null,
            "committer": null,
            "parents": c.parents.iter().map(|p| json!({
                "sha": p,
                "url": format!("{base}/commits/{p}"),
                "html_url": format!("{}/{}/commit/{p}", self.api, r.full_name()),
            })).collect::<Vec<_>>()
        })
    }

    pub fn tag(&self, r: &RepoRecord, name: &str, sha: &str) -> Value {
        let base = format!("{}/repos/{}", self.api, r.full_name());
        json!({
            "name": name,
            "commit": {"sha": sha, "url": format!("{base}/commits/{sha}")},
            "zipball_url": format!("{base}/zipball/refs/tags/{}", encode(name)),
            "tarball_url": format!("{base}/tarball/refs/tags/{}", encode(name)),
            "node_id": node_id("Ref", r.id)
        })
    }
}

/// The templated URLs of a repository, relative to its API URL (`@` = absolute).
const REPO_URLS: &[(&str, &str)] = &[
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_url", "@git://sandbox/FULL.git"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("ssh_url", "@git@sandbox:FULL.git"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
];

/// GitHub's `author_association` for a user on a repo.
fn association(state: &ForgeState, r: &RepoRecord, login: &str) -> &'static str {
    if login == r.owner {
        "OWNER"
    } else if state.permission(r, login) >= Permission::Write {
        "COLLABORATOR"
    } else {
        "NONE"
    }
}

/// Percent-encode a path segment (label and tag names carry spaces, colons, slashes).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
