//! A small GET-JSON client for the monitoring systems the bot reads
//! (Prometheus, Alertmanager, Argo CD), over http:// and https://.
//!
//! TLS is rustls with the pure-Rust `ring` provider (no cmake, no aws-lc) and
//! the platform's trust store. Error messages name the URL without its query
//! or credentials, and never the bearer token, so they are safe to log and to
//! post on a PR.

use std::sync::Once;
use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Cap on a response body: monitoring answers are small; anything bigger is
/// a misconfigured URL, not data to hold in memory.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A reusable client; cheap to clone (connections are pooled inside).
#[derive(Debug, Clone)]
pub struct JsonClient {
    client: reqwest::Client,
}

impl JsonClient {
    /// Build a client. Fails only if the TLS stack cannot load the platform's
    /// trust store.
    pub fn new() -> Result<Self> {
        let client = client_builder()
            .user_agent(concat!("stagecoach/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::world(format!("http client: {}", describe(&e))))?;
        Ok(Self { client })
    }

    /// GET `url` with `params` appended to its query, optionally with a bearer
    /// token, and decode the JSON answer. Any status outside 2xx is an error
    /// naming the status; so is a body that is not the expected JSON.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        params: &[(&str, &str)],
        bearer: Option<&str>,
        timeout: Duration,
    ) -> Result<T> {
        let parsed = Url::parse_with_params(url, params)
            .map_err(|e| Error::input(format!("url `{}`: {e}", redact(url))))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::input(format!(
                "url `{}`: expected http:// or https://",
                redact(url)
            )));
        }
        let shown = shown_url(&parsed);
        let mut request = self.client.get(parsed).timeout(timeout);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Error::world(format!("GET {shown}: {}", describe(&e))))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Error::world(format!("GET {shown}: {}", describe(&e))))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(Error::world(format!(
                    "GET {shown}: answer larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(Error::world(format!(
                "GET {shown}: HTTP {}{}",
                status.as_u16(),
                body_hint(&body)
            )));
        }
        serde_json::from_slice(&body).map_err(|e| {
            Error::world(format!(
                "GET {shown}: answer is not the expected JSON ({e})"
            ))
        })
    }
}

/// A reqwest client builder that works: reqwest is built without a TLS
/// crypto provider (to stay pure Rust, no aws-lc), so one must be installed
/// process-wide before the first client. Every HTTP client in the crate
/// (and its tests) starts here.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_ring_provider();
    reqwest::Client::builder()
}

/// reqwest built without a provider needs one installed process-wide before
/// the first client; doing it here keeps that detail out of `main`.
fn install_ring_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The error's kind and cause chain, without the URL reqwest would add
/// (it may carry a query we do not want in logs).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() || e.is_body() {
        "could not read the answer"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() || e.is_timeout() {
        kind.to_string()
    } else {
        format!("{kind} ({cause})")
    }
}

/// scheme://host[:port]/path — no credentials, no query.
fn shown_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

/// A URL we could not parse, shown without its query, fragment or userinfo,
/// any of which may hold a secret.
fn redact(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or("");
    match without_query.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => without_query.to_string(),
        },
        None => without_query.to_string(),
    }
}

/// The start of an error body, one line, so "HTTP 404" says what the server
/// said about it.
fn body_hint(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_url_drops_credentials_and_query() {
        let url =
            Url::parse("https://user:secret@prom.example:9090/api/v1/query?query=up").unwrap();
        assert_eq!(shown_url(&url), "https://prom.example:9090/api/v1/query");
    }

    #[test]
    fn redact_hides_userinfo_and_query_of_unparsable_urls() {
        assert_eq!(
            redact("http://u:p@host:bad/x?token=1"),
            "http://***@host:bad/x"
        );
        assert_eq!(redact("not a url?x=1"), "not a url");
    }

    #[test]
    fn body_hint_is_one_short_line() {
        let hint = body_hint(b"not\nfound\r\n\x07 here");
        assert_eq!(hint, ": not found here");
        assert!(body_hint(&[b'x'; 1000]).len() < 210);
    }

    #[tokio::test]
    async fn non_http_schemes_are_refused_as_input() {
        let client = JsonClient::new().unwrap();
        let err = client
            .get_json::<serde_json::Value>("file:///etc/passwd", &[], None, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message().contains("expected http:// or https://"));
    }
}
