//! Webhook payloads turned into the bot's own small events.
//!
//! Only the fields the engine acts on are read, into private serde structs;
//! every other field GitHub sends (and any it adds later) is ignored, so a
//! payload change elsewhere never breaks the bot. An event is only a hint to
//! reconcile sooner, so anything the bot does not read is `Ok(None)`.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::RepoId;

/// What happened to a pull request, as far as the engine cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrAction {
    Opened,
    Edited,
    Labeled,
    Unlabeled,
    Synchronize,
    Closed { merged: bool },
    Reopened,
}

/// One webhook delivery the bot reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PullRequest {
        repo: RepoId,
        number: u64,
        action: PrAction,
        /// The label added or removed, for `Labeled` / `Unlabeled`.
        label: Option<String>,
        sender: String,
    },
    Review {
        repo: RepoId,
        number: u64,
        reviewer: String,
        /// As GitHub sends it: `approved`, `changes_requested`, `commented`, `dismissed`.
        state: String,
    },
    IssueComment {
        repo: RepoId,
        number: u64,
        author: String,
        body: String,
        /// Comments on PRs arrive as issue comments; this tells them apart.
        is_pull_request: bool,
    },
    Push {
        repo: RepoId,
        git_ref: String,
        after: String,
    },
    Create {
        repo: RepoId,
        ref_type: String,
        git_ref: String,
    },
    Release {
        repo: RepoId,
        tag: String,
        action: String,
    },
    Status {
        repo: RepoId,
        sha: String,
        context: String,
        state: String,
    },
    CheckRun {
        repo: RepoId,
        head_sha: String,
        name: String,
        conclusion: Option<String>,
    },
}

/// A payload of an event the bot reads that is not the JSON it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{event}` webhook payload: {reason}")]
pub struct ParseError {
    pub event: String,
    pub reason: String,
}

impl Event {
    pub fn repo(&self) -> &RepoId {
        match self {
            Event::PullRequest { repo, .. }
            | Event::Review { repo, .. }
            | Event::IssueComment { repo, .. }
            | Event::Push { repo, .. }
            | Event::Create { repo, .. }
            | Event::Release { repo, .. }
            | Event::Status { repo, .. }
            | Event::CheckRun { repo, .. } => repo,
        }
    }

    /// The event family, for metrics labels (`pull_request`, `push`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PullRequest { .. } => "pull_request",
            Event::Review { .. } => "pull_request_review",
            Event::IssueComment { .. } => "issue_comment",
            Event::Push { .. } => "push",
            Event::Create { .. } => "create",
            Event::Release { .. } => "release",
            Event::Status { .. } => "status",
            Event::CheckRun { .. } => "check_run",
        }
    }

    /// One line for logs. Comment bodies are cut short: they are user text.
    pub fn describe(&self) -> String {
        match self {
            Event::PullRequest {
                repo,
                number,
                action,
                label,
                sender,
            } => {
                let label = label
                    .as_deref()
                    .map(|l| format!(" `{l}`"))
                    .unwrap_or_default();
                format!("{repo}#{number} {action:?}{label} by {sender}")
            }
            Event::Review {
                repo,
                number,
                reviewer,
                state,
            } => format!("{repo}#{number} review {state} by {reviewer}"),
            Event::IssueComment {
                repo,
                number,
                author,
                body,
                is_pull_request,
            } => {
                let on = if *is_pull_request { "PR" } else { "issue" };
                let first_line = body.lines().next().unwrap_or_default();
                let short: String = first_line.chars().take(60).collect();
                format!("{repo}#{number} {on} comment by {author}: {short:?}")
            }
            Event::Push {
                repo,
                git_ref,
                after,
            } => format!("{repo} push {git_ref} -> {}", short_sha(after)),
            Event::Create {
                repo,
                ref_type,
                git_ref,
            } => format!("{repo} created {ref_type} {git_ref}"),
            Event::Release { repo, tag, action } => format!("{repo} release {tag} {action}"),
            Event::Status {
                repo,
                sha,
                context,
                state,
            } => format!("{repo} status {context}={state} on {}", short_sha(sha)),
            Event::CheckRun {
                repo,
                head_sha,
                name,
                conclusion,
            } => format!(
                "{repo} check run {name}={} on {}",
                conclusion.as_deref().unwrap_or("pending"),
                short_sha(head_sha)
            ),
        }
    }
}

fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Parse one delivery. `event_name` is the `X-GitHub-Event` header.
/// `Ok(None)`: an event or action the bot does not read (it is not an error).
/// `Err`: an event the bot reads whose body is not the expected JSON.
pub fn parse_event(event_name: &str, body: &[u8]) -> Result<Option<Event>, ParseError> {
    match event_name {
        "pull_request" => {
            let p: PullRequestPayload = decode(event_name, body)?;
            let action = match p.action.as_str() {
                "opened" => PrAction::Opened,
                "edited" => PrAction::Edited,
                "labeled" => PrAction::Labeled,
                "unlabeled" => PrAction::Unlabeled,
                "synchronize" => PrAction::Synchronize,
                "closed" => PrAction::Closed {
                    merged: p.pull_request.merged.unwrap_or(false),
                },
                "reopened" => PrAction::Reopened,
                _ => return Ok(None),
            };
            Ok(Some(Event::PullRequest {
                repo: p.repository.id(event_name)?,
                number: p.number.unwrap_or(p.pull_request.number),
                action,
                label: p.label.map(|l| l.name),
                sender: p.sender.login,
            }))
        }
        "pull_request_review" => {
            let p: ReviewPayload = decode(event_name, body)?;
            if !matches!(p.action.as_str(), "submitted" | "edited" | "dismissed") {
                return Ok(None);
            }
            Ok(Some(Event::Review {
                repo: p.repository.id(event_name)?,
                number: p.pull_request.number,
                reviewer: p.review.user.login,
                // GitHub sends it in lower case (`approved`); taken as sent,
                // so a payload in another spelling shows as what it is.
                state: p.review.state,
            }))
        }
        "issue_comment" => {
            let p: IssueCommentPayload = decode(event_name, body)?;
            // Only new and edited comments can carry a command.
            if !matches!(p.action.as_str(), "created" | "edited") {
                return Ok(None);
            }
            Ok(Some(Event::IssueComment {
                repo: p.repository.id(event_name)?,
                number: p.issue.number,
                author: p.comment.user.login,
                body: p.comment.body.unwrap_or_default(),
                is_pull_request: p.issue.pull_request.is_some(),
            }))
        }
        "push" => {
            let p: PushPayload = decode(event_name, body)?;
            Ok(Some(Event::Push {
                repo: p.repository.id(event_name)?,
                git_ref: p.git_ref,
                after: p.after,
            }))
        }
        "create" => {
            let p: CreatePayload = decode(event_name, body)?;
            Ok(Some(Event::Create {
                repo: p.repository.id(event_name)?,
                ref_type: p.ref_type,
                git_ref: p.git_ref,
            }))
        }
        "release" => {
            let p: ReleasePayload = decode(event_name, body)?;
            Ok(Some(Event::Release {
                repo: p.repository.id(event_name)?,
                tag: p.release.tag_name,
                action: p.action,
            }))
        }
        "status" => {
            let p: StatusPayload = decode(event_name, body)?;
            Ok(Some(Event::Status {
                repo: p.repository.id(event_name)?,
                sha: p.sha,
                context: p.context,
                state: p.state,
            }))
        }
        "check_run" => {
            let p: CheckRunPayload = decode(event_name, body)?;
            Ok(Some(Event::CheckRun {
                repo: p.repository.id(event_name)?,
                head_sha: p.check_run.head_sha,
                name: p.check_run.name,
                conclusion: p.check_run.conclusion,
            }))
        }
        _ => Ok(None),
    }
}

fn decode<T: DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError {
        event: event.to_string(),
        reason: e.to_string(),
    })
}

#[derive(Deserialize)]
struct Repository {
    /// `owner/name`; present in every repository payload GitHub sends.
    full_name: String,
}

impl Repository {
    fn id(&self, event: &str) -> Result<RepoId, ParseError> {
        RepoId::parse(&self.full_name).map_err(|e| ParseError {
            event: event.to_string(),
            reason: format!("repository.full_name: {e}"),
        })
    }
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Label {
    name: String,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    number: Option<u64>,
    pull_request: PullRequestFields,
    label: Option<Label>,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct PullRequestFields {
    number: u64,
    merged: Option<bool>,
}

#[derive(Deserialize)]
struct ReviewPayload {
    action: String,
    review: ReviewFields,
    pull_request: PullNumber,
    repository: Repository,
}

#[derive(Deserialize)]
struct ReviewFields {
    user: User,
    state: String,
}

#[derive(Deserialize)]
struct PullNumber {
    number: u64,
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    action: String,
    issue: IssueFields,
    comment: CommentFields,
    repository: Repository,
}

#[derive(Deserialize)]
struct IssueFields {
    number: u64,
    /// Present (an object of links) only when the issue is a pull request.
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct CommentFields {
    user: User,
    body: Option<String>,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    repository: Repository,
}

#[derive(Deserialize)]
struct CreatePayload {
    #[serde(rename = "ref")]
    git_ref: String,
    ref_type: String,
    repository: Repository,
}

#[derive(Deserialize)]
struct ReleasePayload {
    action: String,
    release: ReleaseFields,
    repository: Repository,
}

#[derive(Deserialize)]
struct ReleaseFields {
    tag_name: String,
}

#[derive(Deserialize)]
struct StatusPayload {
    sha: String,
    context: String,
    state: String,
    repository: Repository,
}

#[derive(Deserialize)]
struct CheckRunPayload {
    check_run: CheckRunFields,
    repository: Repository,
}

#[derive(Deserialize)]
struct CheckRunFields {
    head_sha: String,
    name: String,
    conclusion: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn fixtures() -> Vec<(String, PathBuf)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/webhooks");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("fixtures/webhooks exists")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, p)
            })
            .collect();
        files.sort();
        files
    }

    fn fixture(name: &str) -> (String, Vec<u8>) {
        let event = name.split('.').next().unwrap().to_string();
        let body = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/webhooks")
                .join(name),
        )
        .unwrap();
        (event, body)
    }

    #[test]
    fn every_fixture_parses_and_read_events_yield_an_event() {
        let all = fixtures();
        assert!(all.len() > 40, "fixtures missing: {}", all.len());
        for (name, path) in all {
            let event = name.split('.').next().unwrap();
            let body = std::fs::read(&path).unwrap();
            let parsed = parse_event(event, &body).unwrap_or_else(|e| panic!("{name}: {e}"));
            let ignored_event = matches!(event, "ping" | "issues" | "star");
            let ignored_action = name.contains(".assigned")
                || name.contains(".unassigned")
                || name.contains(".locked")
                || name.contains(".unlocked")
                || name.contains(".converted_to_draft")
                || name.contains(".ready_for_review")
                || name.contains(".review_request")
                || name.contains("issue_comment.deleted");
            match parsed {
                Some(e) => {
                    assert!(!ignored_event && !ignored_action, "{name} read: {e:?}");
                    assert_eq!(e.kind(), event, "{name}");
                    assert!(!e.repo().owner.is_empty(), "{name}");
                    assert!(!e.describe().contains('\n'), "{name}");
                }
                None => assert!(ignored_event || ignored_action, "{name} ignored"),
            }
        }
    }

    #[test]
    fn a_labeled_pull_request_carries_its_label_and_sender() {
        let (event, body) = fixture("pull_request.labeled.json");
        let e = parse_event(&event, &body).unwrap().unwrap();
        match e {
            Event::PullRequest {
                action: PrAction::Labeled,
                label: Some(label),
                sender,
                number,
                ..
            } => {
                assert!(!label.is_empty());
                assert!(!sender.is_empty());
                assert!(number > 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn closed_tells_merged_from_abandoned() {
        let (event, body) = fixture("pull_request.closed.json");
        let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let abandoned = parse_event(&event, &body).unwrap().unwrap();
        assert!(matches!(
            abandoned,
            Event::PullRequest {
                action: PrAction::Closed { merged: false },
                ..
            }
        ));
        json["pull_request"]["merged"] = serde_json::Value::Bool(true);
        let merged = parse_event(&event, json.to_string().as_bytes())
            .unwrap()
            .unwrap();
        assert!(matches!(
            merged,
            Event::PullRequest {
                action: PrAction::Closed { merged: true },
                ..
            }
        ));
    }

    #[test]
    fn an_issue_comment_on_a_pull_request_is_marked_as_such() {
        let (event, body) = fixture("issue_comment.created.json");
        let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        json["issue"]["pull_request"] = serde_json::json!({"url": "x"});
        json["comment"]["body"] = serde_json::json!("/approve");
        let e = parse_event(&event, json.to_string().as_bytes())
            .unwrap()
            .unwrap();
        match e {
            Event::IssueComment {
                body,
                is_pull_request,
                ..
            } => {
                assert_eq!(body, "/approve");
                assert!(is_pull_request);
            }
            other => panic!("{other:?}"),
        }
        json["issue"]
            .as_object_mut()
            .unwrap()
            .remove("pull_request");
        let on_issue = parse_event(&event, json.to_string().as_bytes())
            .unwrap()
            .unwrap();
        assert!(matches!(
            on_issue,
            Event::IssueComment {
                is_pull_request: false,
                ..
            }
        ));
    }

    #[test]
    fn a_review_reads_reviewer_and_state() {
        let (event, body) = fixture("pull_request_review.submitted.json");
        let e = parse_event(&event, &body).unwrap().unwrap();
        assert_eq!(
            e,
            Event::Review {
                repo: e.repo().clone(),
                number: 2,
                reviewer: "Codertocat".into(),
                state: "commented".into(),
            }
        );
    }

    #[test]
    fn push_status_check_run_create_release_read_their_fields() {
        let (ev, body) = fixture("push.json");
        assert!(
            matches!(parse_event(&ev, &body).unwrap(), Some(Event::Push { git_ref, after, .. }) if git_ref.starts_with("refs/") && after.len() == 40)
        );
        let (ev, body) = fixture("status.json");
        assert!(
            matches!(parse_event(&ev, &body).unwrap(), Some(Event::Status { sha, .. }) if sha.len() == 40)
        );
        let (ev, body) = fixture("check_run.completed.json");
        assert!(matches!(
            parse_event(&ev, &body).unwrap(),
            Some(Event::CheckRun {
                conclusion: Some(_),
                ..
            })
        ));
        let (ev, body) = fixture("create.json");
        assert!(
            matches!(parse_event(&ev, &body).unwrap(), Some(Event::Create { ref_type, .. }) if ref_type == "tag")
        );
        let (ev, body) = fixture("release.published.json");
        assert!(
            matches!(parse_event(&ev, &body).unwrap(), Some(Event::Release { action, tag, .. }) if action == "published" && !tag.is_empty())
        );
    }

    #[test]
    fn garbage_for_a_read_event_is_an_error_and_for_others_is_ignored() {
        let e = parse_event("pull_request", b"{not json").unwrap_err();
        assert_eq!(e.event, "pull_request");
        assert!(parse_event("push", br#"{"ref": 3}"#).is_err());
        assert_eq!(parse_event("ping", b"{not json"), Ok(None));
        assert_eq!(parse_event("workflow_run", b""), Ok(None));
    }

    #[test]
    fn describe_is_one_line_even_for_multi_line_comments() {
        let e = Event::IssueComment {
            repo: RepoId::new("acme", "product"),
            number: 7,
            author: "alice".into(),
            body: "/approve\nthanks\nbye".into(),
            is_pull_request: true,
        };
        assert_eq!(
            e.describe(),
            "acme/product#7 PR comment by alice: \"/approve\""
        );
    }
}
