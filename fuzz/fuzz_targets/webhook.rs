//! Webhook deliveries: any event name and body parse into an event, are
//! ignored, or are refused with an error; any signature header is checked
//! without a panic, and only the right signature passes. A parsed event is
//! about the repository the body names (`repository.full_name`) and
//! describes itself starting with that repository.
//!
//! Input: `event-name \0 signature-header \0 body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecoach::forge::signature::{sign, verify};
use stagecoach::forge::webhook::{Event, parse_event};

const SECRET: &[u8] = b"fuzz-secret";

/// What a parsed event must say about the body it came from.
fn check_event(event: &Event, body: &[u8]) {
    let repo = event.repo().to_string();
    // Read as plain JSON too. (That can fail where the event parsed: serde
    // skips fields the bot ignores without checking their UTF-8, and GitHub
    // only sends UTF-8; then there is nothing to compare with.)
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        assert_eq!(
            json["repository"]["full_name"].as_str(),
            Some(repo.as_str()),
            "the event's repository is not the body's repository.full_name"
        );
    }
    let (owner, name) = repo.split_once('/').expect("owner/name");
    assert!(!owner.is_empty() && !name.is_empty() && !name.contains('/'));
    assert!(
        event.describe().starts_with(&repo),
        "the description does not start with the repository: {}",
        event.describe()
    );
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let (Some(name), Some(header), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        // Still exercise the body parser for every event the bot reads.
        for event in [
            "pull_request",
            "pull_request_review",
            "issue_comment",
            "push",
            "create",
            "release",
            "status",
            "check_run",
        ] {
            if let Ok(Some(e)) = parse_event(event, data) {
                check_event(&e, data);
            }
        }
        return;
    };
    let name = String::from_utf8_lossy(name);
    let header = std::str::from_utf8(header).ok();
    let good = sign(SECRET, body);
    if verify(SECRET, body, header).is_ok() {
        assert_eq!(
            header.map(str::trim).map(str::to_ascii_lowercase),
            Some(good.clone()),
            "a signature other than the right one passed"
        );
    }
    assert!(verify(SECRET, body, Some(&good)).is_ok());
    if let Ok(Some(event)) = parse_event(&name, body) {
        check_event(&event, body);
    }
});
