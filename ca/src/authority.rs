//! The CA directory: the root certificate and key, and the inventory of
//! every certificate issued. Operations are offline and run by an operator.
//!
//! Layout of a CA directory:
//! - `ca.pem`: the federation root certificate (public; give it to every node).
//! - `ca.key`: its private key, mode 0600; sealed with a passphrase if asked.
//! - `inventory.json`: serial, node id, validity and status of every certificate.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::CaError;
use crate::identity::{self, dns_name};
use crate::{keyfile, node_id};

/// Node certificates are short-lived: 30 days unless told otherwise.
pub const DEFAULT_DAYS: u32 = 30;
/// The longest node certificate validity accepted.
pub const MAX_DAYS: u32 = 397;
/// The root's validity.
pub const ROOT_YEARS: i64 = 10;
/// A CRL is good for a week unless told otherwise.
pub const DEFAULT_CRL_DAYS: u32 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    Active,
    Revoked,
}

/// One issued certificate, as the inventory keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCert {
    pub serial: String,
    pub node_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub status: CertStatus,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Inventory {
    name: String,
    /// The number of the last CRL published (CRL numbers must increase).
    crl_number: u64,
    certificates: Vec<IssuedCert>,
}

/// A newly issued certificate and its key, as PEM.
#[derive(Debug)]
pub struct Issued {
    pub record: IssuedCert,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Which certificates to revoke.
#[derive(Debug, Clone)]
pub enum RevokeTarget {
    Serial(String),
    /// Every active certificate of a node (a lost or retired node).
    Node(String),
}

pub struct Authority {
    dir: PathBuf,
    root_pem: String,
    /// `None` when opened for inventory work only.
    key: Option<KeyPair>,
    inventory: Inventory,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn random_serial() -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Positive and of fixed length, so its DER bytes are exactly these.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    bytes.to_vec()
}

fn check_days(days: u32) -> Result<(), CaError> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(CaError::BadValidity(days))
    }
}

impl Authority {
    fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        (
            dir.join("ca.pem"),
            dir.join("ca.key"),
            dir.join("inventory.json"),
        )
    }

    /// Creates a new root CA in `dir`.
    pub fn init(dir: &Path, name: &str, passphrase: Option<&[u8]>) -> Result<Self, CaError> {
        let (cert_path, key_path, inventory_path) = Self::paths(dir);
        if cert_path.exists() || key_path.exists() {
            return Err(CaError::AlreadyExists(cert_path));
        }
        if name.trim().is_empty() || name.len() > 64 {
            return Err(CaError::Unusable(
                "the CA name must be 1 to 64 characters".into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(CaError::io(dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(CaError::io(dir))?;
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "Renkei federation");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(365 * ROOT_YEARS);
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        let stored = match passphrase {
            Some(p) => keyfile::seal(&key_pem, p)?,
            None => key_pem.into_bytes(),
        };
        keyfile::write_private(&key_path, &stored)?;
        std::fs::write(&cert_path, cert.pem()).map_err(CaError::io(&cert_path))?;
        let authority = Self {
            dir: dir.to_path_buf(),
            root_pem: cert.pem(),
            key: Some(key),
            inventory: Inventory {
                name: name.to_string(),
                crl_number: 0,
                certificates: Vec::new(),
            },
        };
        authority.save(&inventory_path)?;
        Ok(authority)
    }

    /// Opens an existing CA; refuses a key others can read, or a key that
    /// is not the root's.
    pub fn open(dir: &Path, passphrase: Option<&[u8]>) -> Result<Self, CaError> {
        let mut authority = Self::open_inventory(dir)?;
        let key_path = Self::paths(dir).1;
        let stored = keyfile::read_private(&key_path)?;
        let key_pem = if keyfile::is_sealed(&stored) {
            keyfile::unseal(&stored, passphrase.ok_or(CaError::PassphraseNeeded)?)?
        } else {
            String::from_utf8(stored).map_err(|_| CaError::CorruptPem {
                what: "the CA key".into(),
                detail: "not text".into(),
            })?
        };
        let key = KeyPair::from_pem(&key_pem).map_err(|e| CaError::CorruptPem {
            what: "the CA key".into(),
            detail: e.to_string(),
        })?;
        let root = identity::parse_cert_pem(authority.root_pem.as_bytes(), "the CA certificate")?;
        identity::check_key_matches(&identity::inspect(&root)?, &key_pem)?;
        authority.key = Some(key);
        Ok(authority)
    }

    /// Opens the CA for inventory work only (list, revoke): no key is read,
    /// so a sealed CA needs no passphrase for these. Signing fails.
    pub fn open_inventory(dir: &Path) -> Result<Self, CaError> {
        let (cert_path, _, inventory_path) = Self::paths(dir);
        if !cert_path.exists() {
            return Err(CaError::NoCa(dir.to_path_buf()));
        }
        let root_pem = std::fs::read_to_string(&cert_path).map_err(CaError::io(&cert_path))?;
        let text = std::fs::read(&inventory_path).map_err(CaError::io(&inventory_path))?;
        let inventory =
            serde_json::from_slice(&text).map_err(|e| CaError::Inventory(e.to_string()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            root_pem,
            key: None,
            inventory,
        })
    }

    fn save(&self, path: &Path) -> Result<(), CaError> {
        // Write then rename, so a crash never leaves half an inventory.
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&self.inventory).expect("inventory serialises");
        std::fs::write(&tmp, text).map_err(CaError::io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(CaError::io(path))
    }

    fn persist(&self) -> Result<(), CaError> {
        self.save(&Self::paths(&self.dir).2)
    }

    pub fn name(&self) -> &str {
        &self.inventory.name
    }

    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    pub fn list(&self) -> &[IssuedCert] {
        &self.inventory.certificates
    }

    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>, CaError> {
        let key = self.key.as_ref().ok_or_else(|| {
            CaError::Unusable("the CA was opened without its key; it cannot sign".into())
        })?;
        Ok(Issuer::from_ca_cert_pem(&self.root_pem, key)?)
    }

    /// Issues a certificate for `node_id` valid for `days` from now.
    pub fn issue(&mut self, node_id: &str, days: u32) -> Result<Issued, CaError> {
        check_days(days)?;
        let now = OffsetDateTime::now_utc();
        // Five minutes of slack for clocks that run a little behind.
        self.issue_with_validity(
            node_id,
            now - Duration::minutes(5),
            now + Duration::days(days as i64),
        )
    }

    /// Issues with an explicit validity window (for renewals planned ahead, and tests).
    pub fn issue_with_validity(
        &mut self,
        node_id: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued, CaError> {
        node_id::validate(node_id)?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let serial = random_serial();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, node_id);
        dn.push(DnType::OrganizationName, self.inventory.name.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = vec![
            SanType::URI(node_id::to_uri(node_id).try_into()?),
            SanType::DnsName(dns_name(node_id).try_into()?),
        ];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.not_before = not_before;
        params.not_after = not_after;
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.signed_by(&key, &self.issuer()?)?;
        let record = IssuedCert {
            serial: data_encoding::HEXLOWER.encode(&serial),
            node_id: node_id.to_string(),
            not_before,
            not_after,
            status: CertStatus::Active,
            revoked_at: None,
        };
        self.inventory.certificates.push(record.clone());
        self.persist()?;
        Ok(Issued {
            record,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Renews a node's certificate: a new key and certificate. The old one
    /// stays valid until it expires (or is revoked), so the node can switch
    /// over without a gap.
    pub fn renew(&mut self, node_id: &str, days: u32) -> Result<Issued, CaError> {
        let known = self
            .inventory
            .certificates
            .iter()
            .any(|c| c.node_id == node_id && c.status == CertStatus::Active);
        if !known {
            return Err(CaError::NotInInventory(format!(
                "an active certificate for node `{node_id}`"
            )));
        }
        self.issue(node_id, days)
    }

    /// Marks certificates revoked; they appear in the next CRL.
    pub fn revoke(&mut self, target: &RevokeTarget) -> Result<Vec<IssuedCert>, CaError> {
        let now = OffsetDateTime::now_utc();
        let mut revoked = Vec::new();
        for cert in &mut self.inventory.certificates {
            let hit = match target {
                RevokeTarget::Serial(s) => cert.serial.eq_ignore_ascii_case(s),
                RevokeTarget::Node(n) => cert.node_id == *n,
            };
            if hit && cert.status == CertStatus::Active {
                cert.status = CertStatus::Revoked;
                cert.revoked_at = Some(now);
                revoked.push(cert.clone());
            }
        }
        if revoked.is_empty() {
            let what = match target {
                RevokeTarget::Serial(s) => format!("an active certificate with serial {s}"),
                RevokeTarget::Node(n) => format!("an active certificate for node `{n}`"),
            };
            return Err(CaError::NotInInventory(what));
        }
        self.persist()?;
        Ok(revoked)
    }

    /// A new CRL listing every revoked certificate, good for `days`.
    pub fn crl_pem(&mut self, days: u32) -> Result<String, CaError> {
        if !(1..=90).contains(&days) {
            return Err(CaError::Crl(format!(
                "a CRL validity of {days} days is out of range (1 to 90)"
            )));
        }
        let now = OffsetDateTime::now_utc();
        self.crl_pem_with_validity(
            now - Duration::minutes(5),
            now + Duration::days(days as i64),
        )
    }

    /// A new CRL with an explicit `thisUpdate` and `nextUpdate` (for tests of
    /// stale CRLs). Every CRL carries the next CRL number, which the
    /// inventory keeps, so nodes can tell a newer CRL from a replayed one.
    pub fn crl_pem_with_validity(
        &mut self,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, CaError> {
        if next_update <= this_update {
            return Err(CaError::Crl(
                "a CRL's next update must come after its this-update time".into(),
            ));
        }
        let now = OffsetDateTime::now_utc();
        self.inventory.crl_number += 1;
        let revoked_certs = self
            .inventory
            .certificates
            .iter()
            .filter(|c| c.status == CertStatus::Revoked)
            .map(|c| {
                let serial = data_encoding::HEXLOWER
                    .decode(c.serial.as_bytes())
                    .map_err(|_| CaError::Inventory(format!("bad serial {}", c.serial)))?;
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&serial),
                    revocation_time: c.revoked_at.unwrap_or(now),
                    reason_code: Some(RevocationReason::Unspecified),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(self.inventory.crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer()?)?;
        self.persist()?;
        crl.pem().map_err(CaError::from)
    }

    /// Checks a certificate as a peer would, against this CA's current
    /// revocations: chain, validity window, revocation and SAN form.
    pub fn verify(&mut self, cert_pem: &[u8]) -> Result<String, CaError> {
        let cert = identity::parse_cert_pem(cert_pem, "the certificate")?;
        let info = identity::inspect(&cert)?;
        let revoked = self
            .inventory
            .certificates
            .iter()
            .any(|c| c.serial == info.serial && c.status == CertStatus::Revoked);
        if revoked {
            return Err(CaError::Revoked(info.serial));
        }
        let trust = crate::tls::Trust::new(self.root_pem.as_bytes(), &[])?;
        trust.verify(&cert)
    }
}
