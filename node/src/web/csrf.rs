//! CSRF tokens. With a session, the token is derived from the session token
//! (which the page's script-free HTML never sees: the cookie is HttpOnly), so
//! another site cannot know it. Before a session exists (login, the
//! patient's form) a random cookie is echoed in the form (double submit).
//! The cookies are also `SameSite=Strict`.

use axum::http::HeaderValue;
use sha2::{Digest, Sha256};

pub const FORM_COOKIE: &str = "renkei_form";

/// The token a form must carry for this browser.
pub fn token(session: Option<&str>, form_cookie: Option<&str>) -> String {
    match (session, form_cookie) {
        (Some(session), _) => {
            let digest = Sha256::new()
                .chain_update(b"renkei-csrf\0")
                .chain_update(session.as_bytes())
                .finalize();
            data_encoding::HEXLOWER.encode(&digest[..16])
        }
        (None, Some(cookie)) => cookie.to_string(),
        (None, None) => String::new(),
    }
}

/// Whether a submitted token is right (constant time).
pub fn check(expected: &str, submitted: Option<&str>) -> bool {
    let Some(submitted) = submitted else {
        return false;
    };
    !expected.is_empty()
        && expected.len() == submitted.len()
        && expected
            .bytes()
            .zip(submitted.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A fresh pre-session cookie for the login and patient forms.
pub fn new_form_cookie(secure: bool) -> (String, HeaderValue) {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let value = data_encoding::HEXLOWER.encode(&bytes);
    let secure = if secure { "; Secure" } else { "" };
    let header = HeaderValue::from_str(&format!(
        "{FORM_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600{secure}"
    ))
    .expect("hex is header-safe");
    (value, header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_the_session_and_compare_exactly() {
        let a = token(Some("session-a"), None);
        assert_ne!(a, token(Some("session-b"), None));
        assert!(check(&a, Some(&a)));
        assert!(!check(&a, Some(&token(Some("session-b"), None))));
        assert!(!check(&a, None));
        assert!(!check("", Some("")));
        assert_eq!(token(None, Some("c0ffee")), "c0ffee");
    }
}
