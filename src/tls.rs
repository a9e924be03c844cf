//! TLS material: a self-signed ECDSA P-256 certificate made on first start, or the operator's own.
//!
//! The generated key is PKCS#8 PEM, mode 0400; the certificate names `localhost`, `127.0.0.1`,
//! `::1` and every `[tls] hosts` entry. Clients pin the certificate file itself.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, SanType, PKCS_ECDSA_P256_SHA256,
};

use crate::secrets::{check_secret_permissions, write_secret_file};

/// Years a generated certificate stays valid.
const GENERATED_CERT_VALIDITY_YEARS: i64 = 25;

/// Where the certificate and key live, and the extra names a generated certificate must carry.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate (chain) file.
    pub cert_path: PathBuf,
    /// PEM PKCS#8 private key file.
    pub key_path: PathBuf,
    /// Extra subject alternative names (DNS names or IP addresses).
    pub hosts: Vec<String>,
}

/// The PEM-encoded certificate and key the server presents.
#[derive(Clone)]
pub struct TlsIdentity {
    /// PEM certificate chain.
    pub cert_pem: Vec<u8>,
    /// PEM private key.
    pub key_pem: Vec<u8>,
}

/// Failures while preparing TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("generating the TLS certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Only one of the two files exists.
    #[error("{present} exists but {missing} does not: restore it, or remove both to generate a new pair")]
    HalfPair {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// The key file is readable by others.
    #[error("{0}")]
    Permissions(String),
}

/// Loads the certificate and key, generating a self-signed pair when neither file exists.
pub fn load_or_generate(settings: &TlsSettings) -> Result<TlsIdentity, TlsError> {
    let cert_exists = settings.cert_path.exists();
    let key_exists = settings.key_path.exists();
    match (cert_exists, key_exists) {
        (false, false) => generate(settings)?,
        (true, false) => {
            return Err(TlsError::HalfPair {
                present: settings.cert_path.clone(),
                missing: settings.key_path.clone(),
            })
        }
        (false, true) => {
            return Err(TlsError::HalfPair {
                present: settings.key_path.clone(),
                missing: settings.cert_path.clone(),
            })
        }
        (true, true) => {}
    }
    check_secret_permissions(&settings.key_path).map_err(TlsError::Permissions)?;
    Ok(TlsIdentity {
        cert_pem: read(&settings.cert_path)?,
        key_pem: read(&settings.key_path)?,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn generate(settings: &TlsSettings) -> Result<(), TlsError> {
    let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let params = certificate_params(&settings.hosts)?;
    let cert = params.self_signed(&key_pair)?;
    write_secret_file(&settings.key_path, key_pair.serialize_pem().as_bytes()).map_err(
        |source| TlsError::Io {
            path: settings.key_path.clone(),
            source,
        },
    )?;
    write_public_file(&settings.cert_path, cert.pem().as_bytes()).map_err(|source| {
        TlsError::Io {
            path: settings.cert_path.clone(),
            source,
        }
    })?;
    Ok(())
}

fn certificate_params(extra_hosts: &[String]) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "localhost");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(365 * GENERATED_CERT_VALIDITY_YEARS);
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_hosts.iter().cloned());
    names.dedup();
    params.subject_alt_names = names
        .iter()
        .map(|host| san_for(host))
        .collect::<Result<_, _>>()?;
    Ok(params)
}

fn san_for(host: &str) -> Result<SanType, rcgen::Error> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(SanType::IpAddress(ip)),
        Err(_) => Ok(SanType::DnsName(host.try_into()?)),
    }
}

fn write_public_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut file = fs::File::create(path)?;
    file.write_all(contents)?;
    // Readable by everyone despite the server's umask: a certificate is public, and clients
    // on this host pin it.
    file.set_permissions(fs::Permissions::from_mode(0o644))?;
    file.sync_all()
}
