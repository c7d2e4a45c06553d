//! Checking a CRL before a node trusts it: it must be one X.509 CRL, issued
//! and signed by the federation root, complete (not a delta or a partition),
//! and newer than the one it replaces.
//!
//! Why this matters: webpki refuses a certificate whose revocation status no
//! installed CRL can vouch for. A CRL from another CA, or one whose signature
//! does not verify, vouches for nothing, so installing it would make a node
//! refuse every peer. Such a file is therefore refused before it reaches
//! rustls, and the node keeps the CRL it has.
//!
//! **Decision (stale CRLs):** a CRL whose `nextUpdate` has passed is still
//! accepted and kept in force; the node raises an alarm instead
//! ([`VerifiedCrl::is_stale`]). Refusing it would cut every centre off from
//! every other and from the national node the moment the CA operator is late
//! with a publication: statutory reports and transfers would stop in the
//! middle of an outbreak. Keeping it costs little: revocations published
//! since are unknown either way, node certificates live at most a few weeks,
//! and an older CRL can never replace a newer one.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;
use x509_parser::num_bigint::BigUint;
use x509_parser::oid_registry::OID_X509_EXT_DELTA_CRL_INDICATOR;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

/// Why a CRL was refused. Each message completes "the CRL was refused: …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    #[error("it is not a PEM-encoded CRL ({0})")]
    NotPem(String),
    #[error("the file holds {0} CRLs; the federation publishes exactly one")]
    NotOne(usize),
    #[error("it is not a valid X.509 CRL ({0})")]
    Malformed(String),
    #[error("it was issued by `{found}`, not by the federation root `{expected}`")]
    ForeignIssuer { found: String, expected: String },
    #[error("its signature does not verify with the federation root's key ({0})")]
    BadSignature(String),
    #[error("it is a {0}; the federation publishes complete CRLs only")]
    Partial(&'static str),
    #[error("it is CRL number {offered}, not newer than the installed number {installed}")]
    NotNewer { offered: String, installed: String },
    #[error("it has the installed CRL's number {0} but different contents")]
    SameNumberDifferentContents(String),
    #[error("it was issued at {offered}, not after the installed CRL ({installed})")]
    NotLater { offered: String, installed: String },
    #[error("the federation root cannot be read ({0})")]
    BadRoot(String),
}

/// A CRL that passed [`verify`]: what it says about itself, and its DER for rustls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCrl {
    der: CertificateRevocationListDer<'static>,
    /// The CRL number extension, if the CRL carries one (ours always do).
    pub number: Option<BigUint>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    /// How many certificates it lists as revoked.
    pub revoked: usize,
}

/// How an offered CRL relates to the installed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Succession {
    /// The same CRL (byte for byte): nothing to do.
    Same,
    /// Newer: install it.
    Newer,
}

/// Verifies one PEM CRL against the federation root certificate: exactly one
/// CRL, well-formed, issued by the root's subject, signed by the root's key,
/// and complete.
pub fn verify(root: &CertificateDer<'_>, pem: &[u8]) -> Result<VerifiedCrl, CrlError> {
    let ders = CertificateRevocationListDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CrlError::NotPem(e.to_string()))?;
    let der = match <[_; 1]>::try_from(ders) {
        Ok([der]) => der,
        Err(ders) if ders.is_empty() => {
            return Err(CrlError::NotPem("no `X509 CRL` PEM section found".into()));
        }
        Err(ders) => return Err(CrlError::NotOne(ders.len())),
    };
    let (rest, crl) = CertificateRevocationList::from_der(der.as_ref())
        .map_err(|e| CrlError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CrlError::Malformed(format!(
            "{} bytes after the CRL",
            rest.len()
        )));
    }
    let (_, root) = x509_parser::parse_x509_certificate(root.as_ref())
        .map_err(|e| CrlError::BadRoot(e.to_string()))?;
    // The issuer is compared as DER bytes, as webpki does when it looks for
    // the CRL that covers a certificate: equal text is not enough.
    if crl.issuer().as_raw() != root.subject().as_raw() {
        return Err(CrlError::ForeignIssuer {
            found: crl.issuer().to_string(),
            expected: root.subject().to_string(),
        });
    }
    crl.verify_signature(root.public_key())
        .map_err(|e| CrlError::BadSignature(e.to_string()))?;
    // A delta CRL or one scoped by an issuing distribution point does not
    // cover every node certificate; webpki would then refuse the rest.
    for extension in crl.extensions() {
        if extension.oid == OID_X509_EXT_DELTA_CRL_INDICATOR {
            return Err(CrlError::Partial("delta CRL"));
        }
        if let ParsedExtension::IssuingDistributionPoint(_) = extension.parsed_extension() {
            return Err(CrlError::Partial(
                "CRL scoped by an issuing distribution point",
            ));
        }
    }
    let instant = |t: x509_parser::time::ASN1Time| {
        OffsetDateTime::from_unix_timestamp(t.timestamp())
            .map_err(|e| CrlError::Malformed(format!("a time out of range: {e}")))
    };
    let number = crl.crl_number().cloned();
    let this_update = instant(crl.last_update())?;
    let next_update = crl.next_update().map(instant).transpose()?;
    let revoked = crl.iter_revoked_certificates().count();
    Ok(VerifiedCrl {
        der: CertificateRevocationListDer::from(der.as_ref().to_vec()),
        number,
        this_update,
        next_update,
        revoked,
    })
}

impl VerifiedCrl {
    /// The DER bytes, for rustls.
    pub fn der(&self) -> &CertificateRevocationListDer<'static> {
        &self.der
    }

    /// Whether this CRL may replace `installed`. With CRL numbers on both, the
    /// number must grow (the CA raises it with every publication); otherwise
    /// `thisUpdate` must be later. An older CRL would bring revoked nodes
    /// back, so it is refused; the identical CRL is [`Succession::Same`].
    pub fn succeeds(&self, installed: &VerifiedCrl) -> Result<Succession, CrlError> {
        if self.der == installed.der {
            return Ok(Succession::Same);
        }
        match (&self.number, &installed.number) {
            (Some(offered), Some(current)) if offered == current => {
                Err(CrlError::SameNumberDifferentContents(current.to_string()))
            }
            (Some(offered), Some(current)) if offered < current => Err(CrlError::NotNewer {
                offered: offered.to_string(),
                installed: current.to_string(),
            }),
            (Some(_), Some(_)) => Ok(Succession::Newer),
            _ if self.this_update > installed.this_update => Ok(Succession::Newer),
            _ => Err(CrlError::NotLater {
                offered: rfc3339(self.this_update),
                installed: rfc3339(installed.this_update),
            }),
        }
    }

    /// Whether `nextUpdate` has passed at `now`: the CA should have published
    /// a newer CRL by then. A stale CRL stays in force (see the module docs).
    pub fn is_stale(&self, now: OffsetDateTime) -> bool {
        self.next_update.is_some_and(|next| next < now)
    }
}

/// An instant as RFC 3339 text, for messages.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Authority;
    use time::Duration;

    fn root(ca: &Authority) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(ca.root_pem().as_bytes()).unwrap()
    }

    fn ca(dir: &tempfile::TempDir, name: &str) -> Authority {
        Authority::init(&dir.path().join(name), name, None).unwrap()
    }

    /// The CRL with one bit of its signature flipped, as PEM again.
    fn tampered(pem: &str) -> String {
        let mut der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let body = data_encoding::BASE64.encode(&der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn a_crl_from_the_federation_root_is_accepted_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = ca(&dir, "Federation");
        ca.issue("hc-13103", 30).unwrap();
        ca.revoke(&crate::RevokeTarget::Node("hc-13103".into()))
            .unwrap();
        let crl = verify(&root(&ca), ca.crl_pem(7).unwrap().as_bytes()).unwrap();
        assert_eq!(crl.number, Some(BigUint::from(1u8)));
        assert_eq!(crl.revoked, 1);
        let now = OffsetDateTime::now_utc();
        assert!(crl.this_update <= now);
        assert!(!crl.is_stale(now));
        assert!(crl.is_stale(now + Duration::days(8)));
    }

    #[test]
    fn a_crl_from_a_foreign_ca_is_refused_naming_its_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let ours = ca(&dir, "Federation");
        let mut theirs = ca(&dir, "Impostor");
        let err = verify(&root(&ours), theirs.crl_pem(7).unwrap().as_bytes()).unwrap_err();
        let CrlError::ForeignIssuer { found, expected } = &err else {
            panic!("{err:?}");
        };
        assert!(found.contains("Impostor"), "{err}");
        assert!(expected.contains("Federation"), "{err}");
    }

    #[test]
    fn a_foreign_ca_with_the_same_name_is_refused_by_its_signature() {
        let dir = tempfile::tempdir().unwrap();
        let ours = Authority::init(&dir.path().join("a"), "Federation", None).unwrap();
        let mut twin = Authority::init(&dir.path().join("b"), "Federation", None).unwrap();
        let err = verify(&root(&ours), twin.crl_pem(7).unwrap().as_bytes()).unwrap_err();
        assert!(matches!(err, CrlError::BadSignature(_)), "{err:?}");
        assert!(err.to_string().contains("signature"), "{err}");
    }

    #[test]
    fn a_crl_with_a_tampered_signature_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = ca(&dir, "Federation");
        let good = ca.crl_pem(7).unwrap();
        assert!(verify(&root(&ca), good.as_bytes()).is_ok());
        let err = verify(&root(&ca), tampered(&good).as_bytes()).unwrap_err();
        assert!(matches!(err, CrlError::BadSignature(_)), "{err:?}");
    }

    #[test]
    fn garbage_and_other_pem_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = ca(&dir, "Federation");
        let root = root(&ca);
        for (bytes, what) in [
            (b"not a crl".to_vec(), "PEM"),
            (Vec::new(), "PEM"),
            (ca.root_pem().as_bytes().to_vec(), "PEM"),
            (
                b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".to_vec(),
                "X.509",
            ),
        ] {
            let err = verify(&root, &bytes).unwrap_err();
            assert!(err.to_string().contains(what), "{err}");
        }
        let two = format!("{}{}", ca.crl_pem(7).unwrap(), ca.crl_pem(7).unwrap());
        assert_eq!(verify(&root, two.as_bytes()), Err(CrlError::NotOne(2)));
    }

    #[test]
    fn only_a_newer_crl_succeeds_the_installed_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = ca(&dir, "Federation");
        let root = root(&ca);
        let first = verify(&root, ca.crl_pem(7).unwrap().as_bytes()).unwrap();
        let second = verify(&root, ca.crl_pem(7).unwrap().as_bytes()).unwrap();
        assert_eq!(second.succeeds(&first), Ok(Succession::Newer));
        assert_eq!(second.succeeds(&second), Ok(Succession::Same));
        let err = first.succeeds(&second).unwrap_err();
        assert_eq!(
            err,
            CrlError::NotNewer {
                offered: "1".into(),
                installed: "2".into()
            }
        );
        assert!(err.to_string().contains("not newer"), "{err}");
    }

    #[test]
    fn the_same_number_with_other_contents_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = ca(&dir, "Federation");
        let root = root(&ca);
        let inventory = dir.path().join("Federation").join("inventory.json");
        let saved = std::fs::read(&inventory).unwrap();
        let first = verify(&root, ca.crl_pem(7).unwrap().as_bytes()).unwrap();
        // The CA is restored from a backup taken before that publication, so
        // it signs number 1 again, over other contents.
        std::fs::write(&inventory, saved).unwrap();
        let mut restored = Authority::open(&dir.path().join("Federation"), None).unwrap();
        let again = verify(&root, restored.crl_pem(8).unwrap().as_bytes()).unwrap();
        assert_eq!(again.number, first.number);
        assert_eq!(
            again.succeeds(&first),
            Err(CrlError::SameNumberDifferentContents("1".into()))
        );
    }

    #[test]
    fn without_numbers_this_update_decides() {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = ca(&dir, "Federation");
        let root = root(&ca);
        let mut older = verify(&root, ca.crl_pem(7).unwrap().as_bytes()).unwrap();
        let mut newer = verify(&root, ca.crl_pem(7).unwrap().as_bytes()).unwrap();
        older.number = None;
        newer.number = None;
        newer.this_update = older.this_update + Duration::seconds(1);
        assert_eq!(newer.succeeds(&older), Ok(Succession::Newer));
        assert!(matches!(
            older.succeeds(&newer),
            Err(CrlError::NotLater { .. })
        ));
    }
}
