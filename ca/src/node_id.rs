//! The one rule for node ids, used by certificates, the directory and node
//! configs alike, so a certificate can never carry an id the directory could
//! not hold.

/// The longest node id (a DNS label's length).
pub const MAX_LEN: usize = 63;

/// The URI SAN prefix that names a node in its certificate.
pub const URI_PREFIX: &str = "urn:renkei:node:";

/// Why a node id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    #[error("a node id must not be empty")]
    Empty,
    #[error("a node id is at most {MAX_LEN} characters; this one has {0}")]
    TooLong(usize),
    #[error("a node id must start with a lowercase letter")]
    BadStart,
    #[error("a node id must not end with a hyphen")]
    BadEnd,
    #[error("a node id may hold only lowercase letters, digits and hyphens; found {0:?}")]
    Forbidden(char),
}

/// Checks a node id: `[a-z][a-z0-9-]*`, at most 63 characters, not ending in `-`.
pub fn validate(id: &str) -> Result<(), NodeIdError> {
    let len = id.chars().count();
    if len == 0 {
        return Err(NodeIdError::Empty);
    }
    if len > MAX_LEN {
        return Err(NodeIdError::TooLong(len));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NodeIdError::Forbidden(bad));
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(NodeIdError::BadStart);
    }
    if id.ends_with('-') {
        return Err(NodeIdError::BadEnd);
    }
    Ok(())
}

/// The URI SAN for a node id.
pub fn to_uri(id: &str) -> String {
    format!("{URI_PREFIX}{id}")
}

/// The node id named by a URI SAN, if the URI is one of ours and the id is valid.
pub fn from_uri(uri: &str) -> Option<&str> {
    let id = uri.strip_prefix(URI_PREFIX)?;
    validate(id).ok().map(|_| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_federation_ids() {
        for id in ["hc-13103", "national", "a", "hc-13103-replica-2"] {
            assert_eq!(validate(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn refuses_each_kind_of_bad_id() {
        assert_eq!(validate(""), Err(NodeIdError::Empty));
        assert_eq!(validate(&"a".repeat(64)), Err(NodeIdError::TooLong(64)));
        assert_eq!(validate("1hc"), Err(NodeIdError::BadStart));
        assert_eq!(validate("-hc"), Err(NodeIdError::BadStart));
        assert_eq!(validate("hc-"), Err(NodeIdError::BadEnd));
        assert_eq!(validate("HC-1"), Err(NodeIdError::Forbidden('H')));
        assert_eq!(validate("hc 1"), Err(NodeIdError::Forbidden(' ')));
        assert_eq!(validate("hc/../x"), Err(NodeIdError::Forbidden('/')));
        assert_eq!(validate("保健所"), Err(NodeIdError::Forbidden('保')));
    }

    #[test]
    fn uri_round_trip() {
        assert_eq!(to_uri("hc-13103"), "urn:renkei:node:hc-13103");
        assert_eq!(from_uri("urn:renkei:node:hc-13103"), Some("hc-13103"));
        assert_eq!(from_uri("urn:renkei:node:HC"), None);
        assert_eq!(from_uri("https://example.org"), None);
    }
}
