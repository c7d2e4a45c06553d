//! Random bearer tokens (sessions, self-report links): handed out once,
//! stored only as SHA-256 digests.

use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest, Sha256};

/// A new 256-bit token, URL-safe.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    BASE64URL_NOPAD.encode(&bytes)
}

/// The digest under which a token is stored.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether a string could be a token we issued (cheap check before lookup).
pub fn looks_valid(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_well_formed() {
        let a = generate();
        assert!(looks_valid(&a));
        assert_ne!(a, generate());
        assert_eq!(digest(&a).len(), 32);
        assert!(!looks_valid("short"));
    }
}
