//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps,
//! 6 digits), as every authenticator app understands them.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;

/// A new random secret, base32 as authenticator apps expect.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    BASE32_NOPAD.encode(&bytes)
}

/// The time step that `unix_seconds` falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The code for one step (HOTP with the step as counter).
pub fn code_for_step(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// Decodes a base32 secret.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    BASE32_NOPAD
        .decode(secret.trim_end_matches('=').as_bytes())
        .ok()
}

/// The current code for a base32 secret (for tests and tools).
pub fn current_code(secret_base32: &str, unix_seconds: i64) -> Option<String> {
    Some(code_for_step(
        &decode_secret(secret_base32)?,
        step_at(unix_seconds),
    ))
}

/// Checks `code` against the steps around `unix_seconds` (one step either
/// side, for clock drift), accepting only steps after `last_used_step` so a
/// code is good once. Returns the step matched.
pub fn verify(
    secret_base32: &str,
    code: &str,
    unix_seconds: i64,
    last_used_step: i64,
) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secret = decode_secret(secret_base32)?;
    let now = step_at(unix_seconds);
    (now - 1..=now + 1)
        .filter(|step| *step > last_used_step)
        .find(|step| constant_time_eq(code_for_step(&secret, *step).as_bytes(), code.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `otpauth://` URI an authenticator app reads from a QR code.
pub fn provisioning_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B, SHA-1 rows (8-digit codes; we use the last 6).
    const RFC_SECRET: &[u8] = b"12345678901234567890";
    const RFC_VECTORS: &[(i64, &str)] = &[
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ];

    #[test]
    fn matches_rfc_6238_vectors() {
        for (time, expected) in RFC_VECTORS {
            assert_eq!(
                code_for_step(RFC_SECRET, step_at(*time)),
                expected[2..],
                "t={time}"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_once() {
        let secret = generate_secret();
        let now = 1_800_000_000;
        let code = current_code(&secret, now).unwrap();
        let step = verify(&secret, &code, now, 0).expect("fresh code accepted");
        assert_eq!(verify(&secret, &code, now, step), None, "replay refused");
    }

    #[test]
    fn tolerates_one_step_of_drift_only() {
        let secret = generate_secret();
        let now = 1_800_000_000;
        let previous = current_code(&secret, now - 30).unwrap();
        assert!(verify(&secret, &previous, now, 0).is_some());
        let old = current_code(&secret, now - 90).unwrap();
        assert_eq!(verify(&secret, &old, now, 0), None);
        assert_eq!(verify(&secret, "12345", now, 0), None);
        assert_eq!(verify(&secret, "abcdef", now, 0), None);
    }

    #[test]
    fn provisioning_uri_escapes() {
        let uri = provisioning_uri("Renkei hc-13103", "staff 1", "ABC");
        assert!(uri.starts_with("otpauth://totp/Renkei%20hc-13103:staff%201?secret=ABC"));
    }
}
