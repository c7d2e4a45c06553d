//! The CRL a node's `Trust` will install: only one from the federation root,
//! only a newer one at run time, and a stale one stays in force.

use renkei_ca::{Authority, CaError, CrlError, RevokeTarget, Succession, Trust};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::{Duration, OffsetDateTime};

fn cert(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    ca: Authority,
    foreign: Authority,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::init(&dir.path().join("ca"), "Test federation", None).unwrap();
    let foreign = Authority::init(&dir.path().join("other"), "Other federation", None).unwrap();
    Setup {
        _dir: dir,
        ca,
        foreign,
    }
}

#[test]
fn a_node_does_not_start_with_a_crl_from_another_ca() {
    let mut s = setup();
    let crl = s.foreign.crl_pem(7).unwrap().into_bytes();
    let err = Trust::new(s.ca.root_pem().as_bytes(), &[crl]).unwrap_err();
    assert!(
        matches!(err, CaError::CrlRefused(CrlError::ForeignIssuer { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("not by the federation root"),
        "{err}"
    );
}

#[test]
fn a_refused_crl_leaves_the_installed_one_in_force() {
    let mut s = setup();
    let minato = s.ca.issue("hc-13103", 30).unwrap();
    let shinjuku = s.ca.issue("hc-13104", 30).unwrap();
    let first = s.ca.crl_pem(7).unwrap().into_bytes();
    let trust = Trust::new(s.ca.root_pem().as_bytes(), std::slice::from_ref(&first)).unwrap();
    assert_eq!(
        trust.set_crls(std::slice::from_ref(&first)).unwrap(),
        Succession::Same
    );

    // A foreign CRL is refused, and every valid peer still verifies.
    let foreign = s.foreign.crl_pem(7).unwrap().into_bytes();
    assert!(matches!(
        trust.set_crls(&[foreign]),
        Err(CaError::CrlRefused(CrlError::ForeignIssuer { .. }))
    ));
    assert_eq!(trust.verify(&cert(&minato.cert_pem)).unwrap(), "hc-13103");
    assert_eq!(trust.installed_crl().unwrap().number, Some(1u8.into()));

    // A newer CRL revokes; the older one cannot bring the revoked node back.
    s.ca.revoke(&RevokeTarget::Node("hc-13104".into())).unwrap();
    let second = s.ca.crl_pem(7).unwrap().into_bytes();
    assert_eq!(trust.set_crls(&[second]).unwrap(), Succession::Newer);
    assert!(matches!(
        trust.verify(&cert(&shinjuku.cert_pem)),
        Err(CaError::Revoked(_))
    ));
    let err = trust.set_crls(&[first]).unwrap_err();
    assert!(
        matches!(err, CaError::CrlRefused(CrlError::NotNewer { .. })),
        "{err:?}"
    );
    assert!(matches!(
        trust.verify(&cert(&shinjuku.cert_pem)),
        Err(CaError::Revoked(_))
    ));
    assert_eq!(trust.verify(&cert(&minato.cert_pem)).unwrap(), "hc-13103");

    // Nor can the CRL be taken away, or garbage put in its place.
    assert!(trust.set_crls(&[]).is_err());
    assert!(trust.set_crls(&[b"garbage".to_vec()]).is_err());
    assert_eq!(trust.installed_crl().unwrap().number, Some(2u8.into()));
}

#[test]
fn a_stale_crl_stays_in_force() {
    let mut s = setup();
    let minato = s.ca.issue("hc-13103", 30).unwrap();
    let shinjuku = s.ca.issue("hc-13104", 30).unwrap();
    s.ca.revoke(&RevokeTarget::Node("hc-13104".into())).unwrap();
    let now = OffsetDateTime::now_utc();
    let stale =
        s.ca.crl_pem_with_validity(now - Duration::days(10), now - Duration::days(3))
            .unwrap()
            .into_bytes();
    let trust = Trust::new(s.ca.root_pem().as_bytes(), &[stale]).unwrap();
    assert!(trust.installed_crl().unwrap().is_stale(now));
    // Valid peers still talk; revoked ones are still refused.
    assert_eq!(trust.verify(&cert(&minato.cert_pem)).unwrap(), "hc-13103");
    assert!(matches!(
        trust.verify(&cert(&shinjuku.cert_pem)),
        Err(CaError::Revoked(_))
    ));
}
