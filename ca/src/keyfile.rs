//! Private keys on disk: written with mode 0600, refused when others can
//! read them, and (for the CA key) optionally encrypted with a passphrase
//! (argon2id to derive the key, ChaCha20-Poly1305 to seal it).

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};

use crate::error::CaError;

/// Writes a file readable by its owner only; refuses to overwrite.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), CaError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CaError::AlreadyExists(path.to_path_buf())
        } else {
            CaError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })?;
    file.write_all(contents).map_err(CaError::io(path))?;
    file.sync_all().map_err(CaError::io(path))
}

/// Reads a private file, refusing one that group or others can read.
pub fn read_private(path: &Path) -> Result<Vec<u8>, CaError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(CaError::io(path))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(CaError::KeyReadableByOthers {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    std::fs::read(path).map_err(CaError::io(path))
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    format: String,
    salt: String,
    nonce: String,
    ciphertext: String,
}

const FORMAT: &str = "renkei-sealed-key-v1 argon2id chacha20poly1305";

fn derive(passphrase: &[u8], salt: &[u8]) -> Result<[u8; 32], CaError> {
    let params = argon2::Params::new(64 * 1024, 3, 1, Some(32))
        .map_err(|e| CaError::Unusable(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(passphrase, salt, &mut key)
        .map_err(|e| CaError::Unusable(e.to_string()))?;
    Ok(key)
}

/// Seals a key's PEM text with a passphrase.
pub fn seal(pem: &str, passphrase: &[u8]) -> Result<Vec<u8>, CaError> {
    use rand::RngCore;
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let key = derive(passphrase, &salt)?;
    let cipher = ChaCha20Poly1305::new(&key.into());
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), pem.as_bytes())
        .map_err(|_| CaError::Unusable("encryption failed".into()))?;
    let sealed = Sealed {
        format: FORMAT.into(),
        salt: HEXLOWER.encode(&salt),
        nonce: HEXLOWER.encode(&nonce),
        ciphertext: HEXLOWER.encode(&ciphertext),
    };
    Ok(serde_json::to_vec_pretty(&sealed).expect("sealed keys serialise"))
}

/// Whether file contents are a sealed key rather than plain PEM.
pub fn is_sealed(contents: &[u8]) -> bool {
    contents.first() == Some(&b'{')
}

/// Opens a sealed key.
pub fn unseal(contents: &[u8], passphrase: &[u8]) -> Result<String, CaError> {
    let bad = |d: &str| CaError::CorruptPem {
        what: "the sealed CA key".into(),
        detail: d.into(),
    };
    let sealed: Sealed = serde_json::from_slice(contents).map_err(|e| bad(&e.to_string()))?;
    if sealed.format != FORMAT {
        return Err(bad("unknown format"));
    }
    let decode = |s: &str| HEXLOWER.decode(s.as_bytes()).map_err(|_| bad("bad hex"));
    let (salt, nonce, ciphertext) = (
        decode(&sealed.salt)?,
        decode(&sealed.nonce)?,
        decode(&sealed.ciphertext)?,
    );
    if nonce.len() != 12 {
        return Err(bad("bad nonce"));
    }
    let key = derive(passphrase, &salt)?;
    let plain = ChaCha20Poly1305::new(&key.into())
        .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
        .map_err(|_| CaError::WrongPassphrase)?;
    String::from_utf8(plain).map_err(|_| bad("not text"))
}

/// Reads a passphrase file: its first line, without the newline.
pub fn read_passphrase(path: &Path) -> Result<Vec<u8>, CaError> {
    let text = read_private(path)?;
    let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() < 12 {
        return Err(CaError::Unusable(
            "the passphrase must be at least 12 characters".into(),
        ));
    }
    Ok(line.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_unseal() {
        let sealed = seal("-----BEGIN PRIVATE KEY-----\nabc\n", b"a long passphrase").unwrap();
        assert!(is_sealed(&sealed));
        assert_eq!(
            unseal(&sealed, b"a long passphrase").unwrap(),
            "-----BEGIN PRIVATE KEY-----\nabc\n"
        );
        assert!(matches!(
            unseal(&sealed, b"another passphrase"),
            Err(CaError::WrongPassphrase)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_private(&path, b"secret").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_private(&path).unwrap(), b"secret");
        assert!(matches!(
            write_private(&path, b"x"),
            Err(CaError::AlreadyExists(_))
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_private(&path),
            Err(CaError::KeyReadableByOthers { mode: 0o644, .. })
        ));
    }
}
