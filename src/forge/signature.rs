//! Webhook signatures: GitHub signs each delivery's body with the shared secret
//! (`X-Hub-Signature-256: sha256=<hex of HMAC-SHA256>`). Checking it before
//! reading the body is what keeps strangers from steering the bot.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "sha256=";

/// Why a delivery's signature was refused; each is told apart so the log says
/// whether the sender forgot to sign, signed badly, or used another secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("X-Hub-Signature-256 header is malformed: expected `sha256=` and 64 hex digits")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body signed with the webhook secret")]
    Mismatch,
}

/// Check `header` (the raw `X-Hub-Signature-256` value) against `body`.
/// The comparison is constant-time, so timing does not leak the right answer.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digest = header
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::Malformed)?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    mac_of(secret, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value GitHub would send for `body` (the sandbox signs with this).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(mac_of(secret, body).finalize().into_bytes())
    )
}

fn mac_of(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed), so this cannot fail;
    // the fallback keeps the no-panic promise without an `expect`.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from GitHub's "Validating webhook deliveries" documentation.
    const DOC_SECRET: &[u8] = b"It's a Secret to Everybody";
    const DOC_BODY: &[u8] = b"Hello, World!";
    const DOC_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn sign_matches_githubs_documented_example() {
        assert_eq!(sign(DOC_SECRET, DOC_BODY), DOC_SIGNATURE);
    }

    #[test]
    fn a_correct_signature_is_accepted() {
        assert_eq!(verify(DOC_SECRET, DOC_BODY, Some(DOC_SIGNATURE)), Ok(()));
    }

    #[test]
    fn a_missing_header_is_told_apart() {
        assert_eq!(
            verify(DOC_SECRET, DOC_BODY, None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn malformed_headers_are_told_apart() {
        for bad in [
            "",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=7571",
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            assert_eq!(
                verify(DOC_SECRET, DOC_BODY, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn another_secret_or_body_is_a_mismatch() {
        assert_eq!(
            verify(b"another secret", DOC_BODY, Some(DOC_SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(DOC_SECRET, b"Hello, World?", Some(DOC_SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_empty_secret_still_signs_without_panicking() {
        let sig = sign(b"", b"x");
        assert_eq!(verify(b"", b"x", Some(&sig)), Ok(()));
    }
}
