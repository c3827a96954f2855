//! Signatures as the Standard Webhooks specification writes them, so that its published
//! verifier libraries accept every delivery unchanged: HMAC-SHA256, keyed with the
//! secret's bytes (the base64 after `whsec_`), over `{webhook-id}.{webhook-timestamp}.{body}`,
//! sent as `v1,` and the base64 (standard alphabet, padded) of the MAC. Several signatures
//! (a secret and the one it replaced, during the rotation's 24 hours) are separated by
//! spaces: a receiver accepts the delivery when any one of them verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `webhook-signature` header of one attempt: one `v1,` signature per key, in the
/// order given (the current secret first).
pub fn signature_header<'a>(
    webhook_id: &str,
    timestamp: i64,
    body: &str,
    keys: impl IntoIterator<Item = &'a [u8]>,
) -> String {
    keys.into_iter()
        .map(|key| signature(webhook_id, timestamp, body, key))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One `v1,<base64>` signature.
fn signature(webhook_id: &str, timestamp: i64, body: &str, key: &[u8]) -> String {
    // HMAC takes a key of any length: longer ones are hashed, shorter ones padded.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of a secret as the specification serializes it: base64 after `whsec_`.
    fn key_of(secret: &str) -> Vec<u8> {
        let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
        STANDARD.decode(encoded).expect("base64")
    }

    /// The specification's reference libraries sign this message with this secret to this
    /// signature (their `test_sign`).
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const MESSAGE_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: i64 = 1_649_367_553;
    const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn the_specification_s_example_signs_to_its_published_signature() {
        let key = key_of(SECRET);
        assert_eq!(
            signature_header(MESSAGE_ID, TIMESTAMP, BODY, [key.as_slice()]),
            SIGNATURE
        );
    }

    #[test]
    fn a_rotated_secret_signs_with_both_keys_the_current_first_separated_by_a_space() {
        let previous = key_of(SECRET);
        let current = [7_u8; 32];
        let header = signature_header(
            MESSAGE_ID,
            TIMESTAMP,
            BODY,
            [current.as_slice(), previous.as_slice()],
        );
        let signatures: Vec<&str> = header.split(' ').collect();
        assert_eq!(signatures.len(), 2);
        assert_eq!(signatures[1], SIGNATURE);
        assert_ne!(signatures[0], SIGNATURE);
        assert!(signatures[0].starts_with("v1,"));
    }

    #[test]
    fn another_body_id_or_timestamp_signs_differently() {
        let key = key_of(SECRET);
        let sign = |id: &str, timestamp: i64, body: &str| {
            signature_header(id, timestamp, body, [key.as_slice()])
        };
        assert_ne!(sign(MESSAGE_ID, TIMESTAMP, "{}"), SIGNATURE);
        assert_ne!(sign("msg_other", TIMESTAMP, BODY), SIGNATURE);
        assert_ne!(sign(MESSAGE_ID, TIMESTAMP + 1, BODY), SIGNATURE);
    }
}
