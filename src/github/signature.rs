//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body, keyed by the webhook
//! secret, checked in constant time before anything parses the body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `header` (`sha256=<hex>`) signs `body` with `secret`.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digest) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(expected) = hex::decode(hex_digest) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The header value GitHub would send for `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of GitHub's "validating webhook deliveries" page.
    #[test]
    fn github_test_vector() {
        let secret = b"It's a Secret to Everybody";
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(secret, b"Hello, World!"), header);
        assert!(verify(secret, b"Hello, World!", Some(header)));
        assert!(!verify(secret, b"Hello, World?", Some(header)));
        assert!(!verify(b"another secret", b"Hello, World!", Some(header)));
        assert!(!verify(secret, b"Hello, World!", None));
        assert!(!verify(secret, b"Hello, World!", Some("sha1=757107ea")));
        assert!(!verify(secret, b"Hello, World!", Some("sha256=zz")));
    }
}
