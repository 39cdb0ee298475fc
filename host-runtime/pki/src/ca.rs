//! `aapkit init` material: a private CA and the gateway's TLS server certificate.
//!
//! Both keys are ECDSA P-256 (small, fast handshakes, supported by every TLS stack the SDKs use).
//! The CA is self-signed, `CA:true, pathlen:0` (it signs server certificates only), valid 10 years.
//! Server certificates carry the SANs the SDK connects to (by default `localhost`, `127.0.0.1`, `::1`
//! and `<instance-id>.cryptoservice.kms.aliyuncs.com`), the serverAuth EKU, and are valid 2 years.
//! Both start one hour before `now` to tolerate clock skew between hosts.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::x509::{self, Key};
use super::{encode_pem, PkiError};

/// CA lifetime in calendar years.
pub const CA_VALIDITY_YEARS: i32 = 10;
/// Server certificate lifetime in calendar years.
pub const SERVER_VALIDITY_YEARS: i32 = 2;
const BACKDATE: Duration = Duration::hours(1);

/// A private CA: its certificate and signing key.
pub struct CaMaterial {
    instance_id: String,
    key: Key,
    cert_der: Vec<u8>,
    /// The CA as an issuer: its subject name and how its key identifier is found.
    params: CertificateParams,
}

impl std::fmt::Debug for CaMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaMaterial").field("instance_id", &self.instance_id).finish_non_exhaustive()
    }
}

impl CaMaterial {
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// `ca.pem`: the trust anchor clients are given.
    pub fn certificate_pem(&self) -> String {
        encode_pem("CERTIFICATE", &self.cert_der)
    }

    /// `ca.key`: PKCS#8 `PRIVATE KEY` PEM.
    pub fn private_key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(encode_pem("PRIVATE KEY", self.key.pkcs8()))
    }

    /// Reloads a CA written by [`write_init_files`] (to issue a new server certificate later).
    pub fn from_pem(instance_id: &str, cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        use rustls_pki_types::pem::PemObject as _;
        validate_instance_id(instance_id)?;
        let cert_der = super::decode_pem(cert_pem, "CERTIFICATE")?;
        let key_pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| PkiError::InvalidArgument(format!("no PEM block \"PRIVATE KEY\" found: {e}")))?;
        let key = Key::from_pkcs8(key_pkcs8.secret_pkcs8_der(), &rcgen::PKCS_ECDSA_P256_SHA256)
            .ok_or_else(|| PkiError::InvalidArgument("CA key is not an ECDSA P-256 PKCS#8 key".into()))?;
        let fields = x509::read(&cert_der)?;
        if fields.spki != key.spki() {
            return Err(PkiError::InvalidArgument("CA key does not match the CA certificate".into()));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = x509::read_name(&fields.subject)?;
        // Server certificates name the CA's key by the identifier in its certificate.
        if let Some(key_id) = fields.key_id {
            params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(key_id);
        }
        Ok(Self { instance_id: instance_id.to_owned(), key, cert_der, params })
    }
}

/// A server certificate and its key, for rustls.
pub struct ServerCert {
    cert_der: Vec<u8>,
    ca_cert_der: Vec<u8>,
    key: Key,
}

impl std::fmt::Debug for ServerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCert").finish_non_exhaustive()
    }
}

impl ServerCert {
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// `server.pem`: the server certificate followed by the CA certificate.
    pub fn chain_pem(&self) -> String {
        let mut pem = encode_pem("CERTIFICATE", &self.cert_der);
        pem.push_str(&encode_pem("CERTIFICATE", &self.ca_cert_der));
        pem
    }

    /// The private key as PKCS#8 DER.
    pub fn private_key_der(&self) -> &[u8] {
        self.key.pkcs8()
    }

    /// `server.key`: PKCS#8 `PRIVATE KEY` PEM.
    pub fn private_key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(encode_pem("PRIVATE KEY", self.key.pkcs8()))
    }
}

/// The default SANs for an instance: `localhost`, the instance host, `127.0.0.1`, `::1`.
pub fn default_server_names(instance_id: &str) -> (Vec<String>, Vec<IpAddr>) {
    (
        vec!["localhost".to_owned(), format!("{instance_id}.cryptoservice.kms.aliyuncs.com")],
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)],
    )
}

fn validate_instance_id(id: &str) -> Result<(), PkiError> {
    let ok = (1..=63).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidArgument(format!(
            "instance id {id:?} must be 1 to 63 letters, digits or inner hyphens (it becomes a DNS label)"
        )))
    }
}

/// A DNS name for a SAN: LDH labels of 1 to 63 characters, 253 in all; `*.` allowed in front.
fn validate_dns_name(name: &str) -> Result<(), PkiError> {
    let body = name.strip_prefix("*.").unwrap_or(name);
    let labels_ok = body.split('.').all(|l| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if labels_ok && !body.is_empty() && name.len() <= 253 {
        Ok(())
    } else {
        Err(PkiError::InvalidArgument(format!("{name:?} is not a valid DNS name")))
    }
}

/// Parameters shared by the CA and server certificates: subject `O=aapkit, CN=<cn>`, a random
/// serial, valid from one hour before `now` for `years` calendar years.
fn params(common_name: &str, now: OffsetDateTime, years: i32) -> Result<CertificateParams, PkiError> {
    let (not_before, not_after) = x509::validity(now - BACKDATE, x509::add_years(now, years)?)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = x509::name(&[(DnType::OrganizationName, "aapkit"), (DnType::CommonName, common_name)]);
    params.serial_number = Some(x509::random_serial()?);
    params.not_before = not_before;
    params.not_after = not_after;
    Ok(params)
}

fn signing_failed(_: rcgen::Error) -> PkiError {
    PkiError::Crypto("certificate signing")
}

/// Creates the private CA of instance `instance_id`, valid 10 years from `now`.
pub fn create_ca(instance_id: &str, now: OffsetDateTime) -> Result<CaMaterial, PkiError> {
    validate_instance_id(instance_id)?;
    let key = Key::ecdsa_p256()?;
    let mut params = params(&format!("aapkit private CA {instance_id}"), now, CA_VALIDITY_YEARS)?;
    // basicConstraints critical, cA TRUE, pathLenConstraint 0; subjectKeyIdentifier (RFC 7093
    // method 1, rcgen's default)
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert_der = params.self_signed(&key).map_err(signing_failed)?.der().to_vec();
    Ok(CaMaterial { instance_id: instance_id.to_owned(), key, cert_der, params })
}

/// Issues a server certificate for `dns` names and `ips`, signed by `ca`, valid 2 years from `now`.
pub fn issue_server_cert(
    ca: &CaMaterial,
    dns: &[String],
    ips: &[IpAddr],
    now: OffsetDateTime,
) -> Result<ServerCert, PkiError> {
    if dns.is_empty() && ips.is_empty() {
        return Err(PkiError::InvalidArgument("a server certificate needs at least one DNS name or IP address".into()));
    }
    let mut sans = Vec::with_capacity(dns.len() + ips.len());
    for name in dns {
        validate_dns_name(name)?;
        let ia5 = name.as_str().try_into().map_err(|_| PkiError::InvalidArgument(format!("{name:?} is not ASCII")))?;
        sans.push(SanType::DnsName(ia5));
    }
    sans.extend(ips.iter().copied().map(SanType::IpAddress));

    let key = Key::ecdsa_p256()?;
    let mut params = params(&format!("aapkit gateway {}", ca.instance_id), now, SERVER_VALIDITY_YEARS)?;
    // basicConstraints critical, cA FALSE; subjectKeyIdentifier; authorityKeyIdentifier
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.subject_alt_names = sans;
    params.use_authority_key_identifier_extension = true;
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert_der = params.signed_by(&key, &issuer).map_err(signing_failed)?.der().to_vec();
    Ok(ServerCert { cert_der, ca_cert_der: ca.cert_der.clone(), key })
}

/// Where [`write_init_files`] put the files.
#[derive(Debug, Clone)]
pub struct InitFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// Writes `ca.pem` (0644), `ca.key` (0600), `server.pem` (0644) and `server.key` (0600) into
/// `dir` (created if missing). Without `force`, refuses if any of them exists and writes nothing.
/// Each file is written to a temporary name with its final mode, then moved into place, so a
/// key is never readable by others, not even briefly.
pub fn write_init_files(dir: &Path, ca: &CaMaterial, server: &ServerCert, force: bool) -> Result<InitFiles, PkiError> {
    let files = InitFiles {
        ca_cert: dir.join("ca.pem"),
        ca_key: dir.join("ca.key"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    };
    if !force {
        for path in [&files.ca_cert, &files.ca_key, &files.server_cert, &files.server_key] {
            if path.symlink_metadata().is_ok() {
                return Err(PkiError::AlreadyExists(path.clone()));
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Io { path: dir.to_owned(), source })?;
    write_file(&files.ca_cert, ca.certificate_pem().as_bytes(), 0o644, force)?;
    write_file(&files.ca_key, ca.private_key_pem().as_bytes(), 0o600, force)?;
    write_file(&files.server_cert, server.chain_pem().as_bytes(), 0o644, force)?;
    write_file(&files.server_key, server.private_key_pem().as_bytes(), 0o600, force)?;
    Ok(files)
}

fn write_file(path: &Path, contents: &[u8], mode: u32, force: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io { path: path.to_owned(), source };
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| PkiError::Crypto("random file name"))?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", hex::encode(suffix)));

    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(mode);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        #[cfg(unix)]
        {
            // The umask may have narrowed the mode; set it exactly.
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        file.write_all(contents).map_err(io)?;
        file.sync_all().map_err(io)?;
        if force {
            std::fs::rename(&tmp, path).map_err(io)
        } else {
            // hard_link fails if the target exists: no clobbering even if one appeared meanwhile.
            std::fs::hard_link(&tmp, path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    PkiError::AlreadyExists(path.to_owned())
                } else {
                    io(e)
                }
            })
        }
    })();
    // After a rename the temporary name is gone already; otherwise it must not linger.
    let _ = std::fs::remove_file(&tmp);
    result
}
