//! URL pieces for the GitHub API: safe path segments, the endpoint family a
//! path belongs to (for metrics), and the `Link: rel="next"` of a page.

use std::fmt::Write as _;

/// Percent-encode one path segment (label names hold spaces and colons,
/// and nothing a user typed may add a `/` or a `?` to a path).
pub fn seg(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The endpoint family of an API path, a small fixed vocabulary for metrics:
/// `/repos/o/r/pulls/1/merge` → `pulls`, `/repos/o/r/issues/1/labels` →
/// `issues/labels`, `/orgs/o/teams/t/memberships/u` → `teams`, `/user` → `user`.
pub fn family(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        ["repos", _, _, "issues", "comments", ..] => "issues/comments".into(),
        ["repos", _, _, "issues", _, sub, ..] => format!("issues/{}", known(sub)),
        ["repos", _, _, kind, ..] => known(kind).into(),
        ["orgs", _, "teams", ..] => "teams".into(),
        [first, ..] => known(first).into(),
        [] => "root".into(),
    }
}

/// Keep metric labels bounded: only names we expect, else `other`.
fn known(name: &str) -> &str {
    const KNOWN: &[&str] = &[
        "pulls",
        "issues",
        "labels",
        "comments",
        "events",
        "statuses",
        "commits",
        "collaborators",
        "releases",
        "tags",
        "git",
        "user",
        "app",
        "orgs",
        "repos",
    ];
    if KNOWN.contains(&name) { name } else { "other" }
}

/// The `rel="next"` target of a `Link` header, turned into a path relative to
/// the API root `base` (which may carry a path, like GHE's `/api/v3`).
/// A link to another host is not followed: credentials stay with GitHub.
pub fn next_page(link_header: &str, base: &http::Uri) -> Option<String> {
    let target = link_header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })?;
    let uri: http::Uri = target.parse().ok()?;
    if let Some(authority) = uri.authority() {
        if Some(authority) != base.authority() {
            return None;
        }
    }
    let path_and_query = uri.path_and_query()?.as_str();
    let base_path = base.path().trim_end_matches('/');
    let relative = path_and_query
        .strip_prefix(base_path)
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path_and_query);
    Some(relative.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_with_spaces_colons_and_slashes_are_encoded() {
        assert_eq!(seg("component: XL"), "component%3A%20XL");
        assert_eq!(seg("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(seg("stagecoach-bot"), "stagecoach-bot");
    }

    #[test]
    fn families_are_a_small_vocabulary() {
        assert_eq!(family("/repos/acme/p/pulls/3/merge"), "pulls");
        assert_eq!(family("/repos/acme/p/pulls?state=open"), "pulls");
        assert_eq!(family("/repos/acme/p/issues/3/labels/x"), "issues/labels");
        assert_eq!(
            family("/repos/acme/p/issues/comments/99"),
            "issues/comments"
        );
        assert_eq!(family("/repos/acme/p/issues/3/events"), "issues/events");
        assert_eq!(family("/orgs/acme/teams/rm/memberships/rita"), "teams");
        assert_eq!(family("/user"), "user");
        assert_eq!(family("/repos/acme/p/wat"), "other");
    }

    #[test]
    fn next_link_is_made_relative_to_the_api_root() {
        let gh: http::Uri = "https://api.github.com".parse().unwrap();
        let link = "<https://api.github.com/repositories/1/pulls?page=2&per_page=100>; rel=\"next\", <https://api.github.com/repositories/1/pulls?page=5>; rel=\"last\"";
        assert_eq!(
            next_page(link, &gh).as_deref(),
            Some("/repositories/1/pulls?page=2&per_page=100")
        );

        let ghe: http::Uri = "https://ghe.example/api/v3".parse().unwrap();
        let link = "<https://ghe.example/api/v3/repos/a/b/tags?page=3>; rel=\"next\"";
        assert_eq!(
            next_page(link, &ghe).as_deref(),
            Some("/repos/a/b/tags?page=3")
        );
    }

    #[test]
    fn the_last_page_and_foreign_hosts_have_no_next() {
        let gh: http::Uri = "https://api.github.com".parse().unwrap();
        assert_eq!(
            next_page("<https://api.github.com/x?page=1>; rel=\"prev\"", &gh),
            None
        );
        assert_eq!(
            next_page("<https://evil.example/x?page=2>; rel=\"next\"", &gh),
            None
        );
        assert_eq!(next_page("garbage", &gh), None);
    }
}
