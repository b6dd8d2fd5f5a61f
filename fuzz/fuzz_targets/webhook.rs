//! Webhook deliveries: any event name and body parse into an event, are
//! ignored, or are refused with an error; any signature header is checked
//! without a panic, and only the right signature passes.
//!
//! Input: `event-name \0 signature-header \0 body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecoach::forge::signature::{sign, verify};
use stagecoach::forge::webhook::parse_event;

const SECRET: &[u8] = b"fuzz-secret";

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
        ] {
            let _ = parse_event(event, data);
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
        let _ = event.describe();
        let _ = event.repo();
    }
});
