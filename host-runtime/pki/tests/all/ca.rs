//! `aapkit init` material: the private CA, the server certificate, the files, rustls loading.

use crate::common;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use aapkit_pki as pki;
use aapkit_pki::{ca, CaMaterial, PkiError};
use common::*;
use rustls::{self, client::danger::ServerCertVerifier as _, pki_types};
use time::macros::datetime;
use time::OffsetDateTime;

const INSTANCE: &str = "kst-hzz62ee817bvyyr5x0001";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn material() -> (CaMaterial, pki::ServerCert) {
    let ca = pki::create_ca(INSTANCE, now()).unwrap();
    let (dns, ips) = ca::default_server_names(INSTANCE);
    let server = pki::issue_server_cert(&ca, &dns, &ips, now()).unwrap();
    (ca, server)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_files_verify_with_openssl_and_have_the_right_modes() {
    let (ca, server) = material();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tls");
    let files = pki::write_init_files(&out, &ca, &server, false).unwrap();
    #[cfg(unix)]
    {
        assert_eq!(mode(&files.ca_cert), 0o644);
        assert_eq!(mode(&files.ca_key), 0o600);
        assert_eq!(mode(&files.server_cert), 0o644);
        assert_eq!(mode(&files.server_key), 0o600);
    }
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4);

    let ok = run(openssl()
        .args(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
        .arg(&files.ca_cert)
        .arg(&files.server_cert));
    assert!(ok.trim().ends_with(": OK"), "{ok}");

    let text = run(openssl().args(["x509", "-noout", "-text", "-in"]).arg(&files.server_cert));
    for needle in [
        &format!("DNS:localhost, DNS:{INSTANCE}.cryptoservice.kms.aliyuncs.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1")[..],
        "TLS Web Server Authentication",
        "Signature Algorithm: ecdsa-with-SHA256",
        "CA:FALSE",
        &format!("Issuer: O = aapkit, CN = aapkit private CA {INSTANCE}"),
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let ca_text = run(openssl().args(["x509", "-noout", "-text", "-in"]).arg(&files.ca_cert));
    assert!(ca_text.contains("CA:TRUE, pathlen:0"), "{ca_text}");
    assert!(ca_text.contains("Certificate Sign, CRL Sign"), "{ca_text}");

    // The keys parse with OpenSSL and match their certificates.
    for (cert, key) in [(&files.ca_cert, &files.ca_key), (&files.server_cert, &files.server_key)] {
        let from_cert = run(openssl().args(["x509", "-noout", "-pubkey", "-in"]).arg(cert));
        let from_key = run(openssl().args(["pkey", "-pubout", "-in"]).arg(key));
        assert_eq!(from_cert, from_key);
    }
}

#[test]
fn validity_windows() {
    let at = datetime!(2030-05-05 12:00 UTC);
    let ca = pki::create_ca(INSTANCE, at).unwrap();
    let server = pki::issue_server_cert(&ca, &["localhost".into()], &[], at).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = write(dir.path(), "ca.pem", ca.certificate_pem());
    let srv_pem = write(dir.path(), "s.pem", server.chain_pem());
    let dates = |p: &Path| run(openssl().args(["x509", "-noout", "-dates", "-in"]).arg(p));
    assert_eq!(dates(&ca_pem), "notBefore=May  5 11:00:00 2030 GMT\nnotAfter=May  5 12:00:00 2040 GMT\n");
    assert_eq!(dates(&srv_pem), "notBefore=May  5 11:00:00 2030 GMT\nnotAfter=May  5 12:00:00 2032 GMT\n");
}

#[test]
fn leap_day_plus_years_lands_on_28_february() {
    let ca = pki::create_ca(INSTANCE, datetime!(2028-02-29 12:00 UTC)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = write(dir.path(), "ca.pem", ca.certificate_pem());
    let dates = run(openssl().args(["x509", "-noout", "-enddate", "-in"]).arg(&pem));
    assert_eq!(dates, "notAfter=Feb 28 12:00:00 2038 GMT\n");
}

#[test]
fn refuses_to_overwrite_unless_forced() {
    let (ca, server) = material();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.key"), "keep me").unwrap();
    let err = pki::write_init_files(dir.path(), &ca, &server, false).unwrap_err();
    assert!(matches!(err, PkiError::AlreadyExists(ref p) if p.ends_with("server.key")), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    // Nothing was written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(dir.path().join("server.key")).unwrap(), "keep me");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let p = dir.path().join("server.key");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let files = pki::write_init_files(dir.path(), &ca, &server, true).unwrap();
    assert_eq!(std::fs::read_to_string(&files.server_key).unwrap(), *server.private_key_pem());
    #[cfg(unix)]
    assert_eq!(mode(&files.server_key), 0o600, "forced overwrite restores 0600");
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

#[test]
fn rustls_loads_the_server_files_and_clients_trusting_the_ca_accept_them() {
    use pki_types::pem::PemObject as _;
    let (ca, server) = material();

    // Server side: the PEM files load into a ServerConfig (key checked against the cert).
    let chain: Vec<pki_types::CertificateDer<'static>> =
        pki_types::CertificateDer::pem_slice_iter(server.chain_pem().as_bytes()).collect::<Result<_, _>>().unwrap();
    assert_eq!(chain.len(), 2);
    let key = pki_types::PrivateKeyDer::from_pem_slice(server.private_key_pem().as_bytes()).unwrap();
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key)
        .unwrap();

    // Client side: webpki accepts the chain for every default name, rejects others.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki_types::CertificateDer::from_pem_slice(ca.certificate_pem().as_bytes()).unwrap()).unwrap();
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build().unwrap();
    let ts = pki_types::UnixTime::now();
    let check = |name: &str| {
        let name = pki_types::ServerName::try_from(name.to_owned()).unwrap();
        verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], ts)
    };
    for good in ["localhost", "127.0.0.1", "::1", &format!("{INSTANCE}.cryptoservice.kms.aliyuncs.com")] {
        check(good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in ["example.com", "10.0.0.1", "kst-other.cryptoservice.kms.aliyuncs.com"] {
        assert!(check(bad).is_err(), "{bad} must not verify");
    }
}

#[test]
fn a_reloaded_ca_issues_certificates_that_verify() {
    let (ca, _) = material();
    let reloaded = CaMaterial::from_pem(INSTANCE, &ca.certificate_pem(), &ca.private_key_pem()).unwrap();
    assert_eq!(reloaded.certificate_der(), ca.certificate_der());
    let server =
        pki::issue_server_cert(&reloaded, &["gw.internal".into()], &["10.1.2.3".parse().unwrap()], now()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = write(dir.path(), "ca.pem", ca.certificate_pem());
    let srv = write(dir.path(), "s.pem", server.chain_pem());
    let ok = run(openssl().args(["verify", "-CAfile"]).arg(&ca_pem).arg(&srv));
    assert!(ok.trim().ends_with(": OK"), "{ok}");

    // A key from another CA is refused.
    let other = pki::create_ca(INSTANCE, now()).unwrap();
    let err = CaMaterial::from_pem(INSTANCE, &ca.certificate_pem(), &other.private_key_pem()).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn bad_arguments_are_rejected_with_a_reason() {
    let ca = pki::create_ca(INSTANCE, now()).unwrap();
    for bad in ["", "-kst", "kst_1", "kst.1", &"k".repeat(64)] {
        let err = pki::create_ca(bad, now()).unwrap_err();
        assert!(err.to_string().contains("instance id"), "{bad:?}: {err}");
    }
    let no_ips: &[IpAddr] = &[];
    for bad in ["", "a..b", "-a.com", "a b", "x_y.com", "*.", &format!("{}.com", "a".repeat(64))] {
        let err = pki::issue_server_cert(&ca, &[bad.to_owned()], no_ips, now()).unwrap_err();
        assert!(err.to_string().contains("not a valid DNS name"), "{bad:?}: {err}");
    }
    let err = pki::issue_server_cert(&ca, &[], no_ips, now()).unwrap_err();
    assert!(err.to_string().contains("at least one"), "{err}");
    // Wildcards are allowed.
    pki::issue_server_cert(&ca, &["*.example.com".into()], no_ips, now()).unwrap();
}
