//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body, keyed by the webhook
//! secret, computed as the body arrives and checked in constant time before
//! anything parses the body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The digest a header claims, if it is exactly `sha256=` and 64 hex digits
/// (what GitHub sends); anything else is no signature at all.
pub fn claimed(header: &str) -> Option<[u8; 32]> {
    let digits = header.strip_prefix("sha256=")?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(digits, &mut digest).ok()?;
    Some(digest)
}

/// The HMAC of a body fed as it arrives, checked against a claimed digest at the end.
pub struct Verifier(Hmac<Sha256>);

impl Verifier {
    pub fn new(secret: &[u8]) -> Verifier {
        Verifier(Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length"))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Whether the bytes fed sign to `digest` (compared in constant time).
    pub fn matches(self, digest: &[u8; 32]) -> bool {
        self.0.verify_slice(digest).is_ok()
    }
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

    fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
        let Some(digest) = header.and_then(claimed) else { return false };
        let mut verifier = Verifier::new(secret);
        verifier.update(body);
        verifier.matches(&digest)
    }

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
        // Exactly 64 hex digits: a prefix, a longer value or padding is no signature.
        assert!(!verify(secret, b"Hello, World!", Some(&header[..header.len() - 2])));
        assert!(!verify(secret, b"Hello, World!", Some(&format!("{header}00"))));
        assert!(!verify(secret, b"Hello, World!", Some(&format!(" {header}"))));
        assert!(claimed("sha256=").is_none());
    }
}
