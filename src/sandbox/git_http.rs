//! Git's smart HTTP for the sandbox's bare repos: real `git http-backend` as a CGI, behind GitHub's token auth.
//!
//! `/git/{owner}/{name}.git/{info/refs,git-upload-pack,git-receive-pack}` is
//! GitHub's `https://github.com/{owner}/{name}.git` under a prefix (so it can
//! never shadow an API route). Auth is HTTP basic with the token as the
//! password, whatever the user name (the bot sends `x-access-token`); a
//! missing or unknown token gets 401 with `WWW-Authenticate`, which is what
//! makes git clients and libgit2 ask for credentials. Pushing needs write
//! permission on the repo, as on GitHub.

use std::process::Stdio;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::io::AsyncWriteExt;

use super::access;
use super::faults;
use super::git;
use super::server::Shared;
use crate::forge::Permission;

/// The path prefix git URLs live under.
pub const PREFIX: &str = "/git";

/// Pushes of the sandbox's small repos are far below this; it stops a
/// runaway client from filling memory (GitHub's own push limit is 2 GiB).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// `http://HOST:PORT/git/{owner}/{name}.git`: a `git.url` template for the
/// sandbox listening at `api_url`, placeholders left literal.
pub fn url_template(api_url: &str) -> String {
    format!(
        "{}{PREFIX}/{{owner}}/{{name}}.git",
        api_url.trim_end_matches('/')
    )
}

/// Every request under `PREFIX`.
pub async fn serve(State(app): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let Some((owner, name, service_path)) = parse_path(&path) else {
        return plain(StatusCode::NOT_FOUND, "Repository not found.");
    };
    let query = req.uri().query().unwrap_or_default().to_string();
    let pushing = service_path == "git-receive-pack"
        || (service_path == "info/refs" && query_service(&query) == Some("git-receive-pack"));

    let login = {
        let state = app.state.lock().await;
        let offered = basic_token(req.headers());
        let Some(user) = offered
            .as_deref()
            .and_then(|t| state.user_by_token(t, app.now().timestamp()))
        else {
            if offered.is_some()
                && let Ok(mut s) = app.stats.lock()
            {
                s.git_tokens_refused += 1;
            }
            return unauthorized();
        };
        let login = user.login.clone();
        let needed = if pushing {
            Permission::Write
        } else {
            Permission::Read
        };
        match access::require(&state, owner, name, &login, needed) {
            Ok(()) => login,
            Err(e) if e.status == StatusCode::NOT_FOUND => {
                return plain(StatusCode::NOT_FOUND, "Repository not found.");
            }
            Err(_) => {
                // git shows the body of a 403 to the person pushing.
                return plain(
                    StatusCode::FORBIDDEN,
                    &format!("Permission to {owner}/{name}.git denied to {login}."),
                );
            }
        }
    };
    let repo_dir = git::repo_path(&app.dir, owner, name);
    if !repo_dir.join("HEAD").exists() {
        return plain(StatusCode::NOT_FOUND, "Repository not found.");
    }
    // Counted and faulted like the API (a rule's path starts `/git/`), so a
    // test can see and break what git does over the network too.
    if let Ok(mut s) = app.stats.lock() {
        let u = s.users.entry(login.clone()).or_default();
        u.git_requests += 1;
        if pushing {
            u.git_pushes += 1;
        }
    }
    if let Some(fault) = app.faults.take(req.method(), &path, Some(&login)) {
        if let Ok(mut s) = app.stats.lock() {
            s.faulted += 1;
        }
        if let Some(resp) = faults::apply(&fault).await {
            return resp;
        }
    }
    let cgi = Cgi {
        project_root: app.dir.join("repos"),
        path_info: format!("/{owner}/{name}.git/{service_path}"),
        method: req.method().clone(),
        query,
        headers: req.headers().clone(),
        login,
    };
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large."),
    };
    match cgi.run(&body).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!("sandbox git http-backend: {e}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "git http-backend failed.",
            )
        }
    }
}

/// `/git/acme/product.git/info/refs` → (`acme`, `product`, `info/refs`);
/// only the smart protocol's three endpoints, and names that cannot climb
/// out of the repos directory.
fn parse_path(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix(PREFIX)?.strip_prefix('/')?;
    let (owner, rest) = rest.split_once('/')?;
    let (name, service) = rest.split_once(".git/")?;
    let safe = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let known = matches!(
        service,
        "info/refs" | "git-upload-pack" | "git-receive-pack"
    );
    (safe(owner) && safe(name) && known).then_some((owner, name, service))
}

fn query_service(query: &str) -> Option<&str> {
    query.split('&').find_map(|kv| kv.strip_prefix("service="))
}

/// The token of an `Authorization: Basic` header: the password, or the user
/// name when the password is empty (GitHub takes a token in either place).
fn basic_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
    let token = if password.is_empty() { user } else { password };
    (!token.is_empty()).then(|| token.to_string())
}

fn unauthorized() -> Response {
    let mut resp = plain(StatusCode::UNAUTHORIZED, "Invalid username or token.");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"GitHub\""),
    );
    resp
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// One CGI invocation of `git http-backend`.
struct Cgi {
    project_root: std::path::PathBuf,
    path_info: String,
    method: Method,
    query: String,
    headers: HeaderMap,
    login: String,
}

impl Cgi {
    async fn run(self, body: &[u8]) -> Result<Response, String> {
        let header = |name: HeaderName| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let mut cmd = tokio::process::Command::new("git");
        // Only what the CGI contract says: nothing of the test's or the
        // operator's git environment (GIT_DIR, their config) leaks in.
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_PROJECT_ROOT", &self.project_root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("PATH_INFO", &self.path_info)
            .env("REQUEST_METHOD", self.method.as_str())
            .env("QUERY_STRING", &self.query)
            .env("CONTENT_TYPE", header(header::CONTENT_TYPE))
            .env("CONTENT_LENGTH", body.len().to_string())
            // git clients gzip big request bodies; http-backend inflates them.
            .env("HTTP_CONTENT_ENCODING", header(header::CONTENT_ENCODING))
            .env(
                "GIT_PROTOCOL",
                header(HeaderName::from_static("git-protocol")),
            )
            // Set REMOTE_USER is what enables receive-pack in http-backend.
            .env("REMOTE_USER", &self.login)
            .env("REMOTE_ADDR", "127.0.0.1")
            .arg("http-backend")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            format!("cannot run `git http-backend` (install Debian's git package): {e}")
        })?;
        let mut stdin = child.stdin.take().ok_or("git http-backend: no stdin")?;
        // Written beside the read below: a big pack must not fill the pipe
        // while nobody reads what http-backend answers.
        let body = body.to_vec();
        let writer = tokio::spawn(async move {
            // http-backend may stop reading early (a refused request); that is
            // its answer to give, not a failure here.
            let _ = stdin.write_all(&body).await;
            drop(stdin);
        });
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| format!("git http-backend: {e}"))?;
        let _ = writer.await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !stderr.trim().is_empty() {
            tracing::debug!("git http-backend {}: {}", self.path_info, stderr.trim());
        }
        parse_cgi(&output.stdout).ok_or_else(|| {
            format!(
                "git http-backend {} exited {} without a CGI answer: {}",
                self.path_info,
                output.status,
                stderr.trim()
            )
        })
    }
}

/// A CGI answer: header lines, a blank line, the body. `Status:` sets the
/// status (200 if absent); the rest become response headers.
fn parse_cgi(out: &[u8]) -> Option<Response> {
    let (head, body) = match find(out, b"\r\n\r\n") {
        Some(i) => (&out[..i], &out[i + 4..]),
        None => {
            let i = find(out, b"\n\n")?;
            (&out[..i], &out[i + 2..])
        }
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse::<u16>().ok()?;
            status = StatusCode::from_u16(code).ok()?;
        } else if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    let mut resp = Response::new(Body::from(body.to_vec()));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Some(resp)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_smart_endpoints_of_safe_names_are_served() {
        assert_eq!(
            parse_path("/git/acme/product.git/info/refs"),
            Some(("acme", "product", "info/refs"))
        );
        assert_eq!(
            parse_path("/git/acme/product.git/git-receive-pack"),
            Some(("acme", "product", "git-receive-pack"))
        );
        assert_eq!(parse_path("/git/acme/product.git/HEAD"), None);
        assert_eq!(parse_path("/git/../product.git/info/refs"), None);
        assert_eq!(parse_path("/git/acme/..git/info/refs"), None);
        assert_eq!(parse_path("/repos/acme/product.git/info/refs"), None);
    }

    #[test]
    fn the_token_is_the_password_or_else_the_user_name() {
        let mut h = HeaderMap::new();
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", enc("x-access-token:tok"))).expect("header"),
        );
        assert_eq!(basic_token(&h).as_deref(), Some("tok"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", enc("tok:"))).expect("header"),
        );
        assert_eq!(basic_token(&h).as_deref(), Some("tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!"));
        assert_eq!(basic_token(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        assert_eq!(basic_token(&h), None);
    }

    #[test]
    fn a_cgi_answer_becomes_a_response() {
        let resp = parse_cgi(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope")
            .expect("parsed");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/plain");
        let resp = parse_cgi(b"Content-Type: application/x-git-upload-pack-advertisement\n\n001e")
            .expect("parsed");
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(parse_cgi(b"no blank line").is_none());
    }
}
