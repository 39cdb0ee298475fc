//! Client keys: our PKCS#12 has the console's layout, and the official SDK loaders accept it.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use aapkit_pki as pki;
use aapkit_pki::{pkcs12, GeneratedClientKey, PkiError};
use base64::Engine as _;
use common::*;
use time::macros::datetime;
use time::OffsetDateTime;

const PASSWORD: &str = "Aapkit-test_2024";
const AAP: &str = "aap_test-1";

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// One key for the read-only tests (RSA key generation is the slow part).
fn key() -> &'static GeneratedClientKey {
    static KEY: OnceLock<GeneratedClientKey> = OnceLock::new();
    KEY.get_or_init(|| {
        pki::generate(AAP, PASSWORD, datetime!(2024-03-01 10:20:30 UTC), datetime!(2029-03-01 10:20:30 UTC)).unwrap()
    })
}

fn write_p12(dir: &Path, k: &GeneratedClientKey) -> std::path::PathBuf {
    write(dir, "client.p12", b64(&k.private_key_data))
}

#[test]
fn generated_key_has_the_documented_shape() {
    let k = key();
    let uuid = k.key_id.strip_prefix("KAAP.").expect("KAAP. prefix");
    let parsed = uuid::Uuid::parse_str(uuid).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(uuid, parsed.hyphenated().to_string(), "lower-case hyphenated uuid");

    // ClientKeyContent: exactly KeyId then PrivateKeyData.
    let expected = format!(r#"{{"KeyId":"{}","PrivateKeyData":"{}"}}"#, k.key_id, k.private_key_data);
    assert_eq!(k.client_key_content, expected);

    assert!(k.certificate_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(pki::decode_pem(&k.certificate_pem, "CERTIFICATE").unwrap(), k.certificate_der);
    assert_eq!(pki::certificate_public_key(&k.certificate_der).unwrap(), k.public_key_der);

    // Our own reader gets the key back, and it belongs to the certificate.
    assert_eq!(b64(&k.private_key_data), k.pkcs12_der);
    let (cert, pkcs8) = pkcs12::parse(&k.pkcs12_der, PASSWORD).unwrap();
    assert_eq!(cert, k.certificate_der);
    let kp = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
    assert_eq!(kp.public_modulus_len(), 256);
    let mut sig = vec![0; 256];
    kp.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), b"msg", &mut sig).unwrap();
    assert!(verify_rsa_sha256(&k.public_key_der, b"msg", &sig));
}

#[test]
fn load_client_key_reads_client_key_content() {
    let k = key();
    let (id, pkcs8) = pki::client_key::load_client_key(&k.client_key_content, PASSWORD).unwrap();
    assert_eq!(id, k.key_id);
    let kp = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
    let mut sig = vec![0; 256];
    kp.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), b"m", &mut sig).unwrap();
    assert!(verify_rsa_sha256(&k.public_key_der, b"m", &sig));

    let err = pki::client_key::load_client_key(&k.client_key_content, "Wrong-pass1").unwrap_err();
    assert!(matches!(err, PkiError::MacVerifyFailure), "{err}");
    for bad in ["", "{}", r#"{"KeyId":"KAAP.x","PrivateKeyData":"!!"}"#] {
        let err = pki::client_key::load_client_key(bad, PASSWORD).unwrap_err();
        assert!(err.to_string().contains("ClientKeyContent"), "{bad}: {err}");
    }
}

#[test]
fn certificate_fields_match_the_console_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pem = write(dir.path(), "cert.pem", &key().certificate_pem);
    let text = run(openssl().args(["x509", "-noout", "-text", "-in"]).arg(&pem));
    let subject = "C = CN, ST = Zhejiang, L = Hangzhou, O = aapkit, OU = client key, CN = aap_test-1";
    for needle in [
        "Version: 3 (0x2)",
        "Signature Algorithm: sha256WithRSAEncryption",
        &format!("Issuer: {subject}\n"),
        &format!("Subject: {subject}\n"),
        "Not Before: Mar  1 10:20:30 2024 GMT",
        "Not After : Mar  1 10:20:30 2029 GMT",
        "Public-Key: (2048 bit)",
        "Exponent: 65537 (0x10001)",
        "X509v3 Key Usage: critical\n                Digital Signature\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // Only KeyUsage, like the sample ("X509v3 extensions:" + "X509v3 Key Usage").
    assert_eq!(text.matches("X509v3 ").count(), 2, "{text}");
    // 16-byte serial.
    let serial = run(openssl().args(["x509", "-noout", "-serial", "-in"]).arg(&pem));
    assert_eq!(serial.trim().trim_start_matches("serial=").len(), 32, "{serial}");
    // Self-signed signature verifies.
    run(openssl().args(["verify", "-check_ss_sig", "-CAfile"]).arg(&pem).arg(&pem));
}

#[test]
fn pkcs12_structure_matches_the_official_sample() {
    let dir = tempfile::tempdir().unwrap();
    let ours = write_p12(dir.path(), key());
    // `-info` writes the structure to stderr.
    let info = |path: &Path, pass: &str| {
        let out = openssl()
            .args(["pkcs12", "-info", "-legacy", "-noout", "-passin"])
            .arg(format!("pass:{pass}"))
            .arg("-in")
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).replace('\r', "")
    };
    let sample = info(&data_file("sdk-unit-test-client-key.p12"), "1234");
    // The only intended difference: 2048 MAC iterations instead of 1.
    let expected = sample.replace("MAC: sha1, Iteration 1\n", "MAC: sha1, Iteration 2048\n");
    assert_eq!(info(&ours, PASSWORD), expected, "bag order, PBE algorithms or MAC differ from the sample");
    assert_eq!(
        expected,
        "MAC: sha1, Iteration 2048\nMAC length: 20, salt length: 8\n\
         PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC, Iteration 2048\nCertificate bag\n\
         PKCS7 Data\nShrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048\n"
    );
}

#[test]
fn openssl_extracts_cert_then_key_with_one_local_key_id_and_no_friendly_name() {
    let dir = tempfile::tempdir().unwrap();
    let p12 = write_p12(dir.path(), key());
    let out = run(openssl()
        .args(["pkcs12", "-legacy", "-nodes", "-passin"])
        .arg(format!("pass:{PASSWORD}"))
        .arg("-in")
        .arg(&p12));
    assert!(!out.contains("friendlyName"), "{out}");
    let ids: Vec<&str> = out.lines().filter(|l| l.trim_start().starts_with("localKeyID:")).collect();
    assert_eq!(ids.len(), 2, "{out}");
    assert_eq!(ids[0], ids[1]);
    // localKeyID = SHA-1 of the certificate
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &key().certificate_der);
    let hex_id: String = sha1.as_ref().iter().map(|b| format!("{b:02X} ")).collect();
    assert_eq!(ids[0].trim().trim_start_matches("localKeyID: "), hex_id.trim());
    // Go's x/crypto/pkcs12 ToPEM keeps bag order and the Go SDK takes blocks[0] as the
    // certificate and blocks[1] as the key: the certificate must come first.
    let cert_at = out.find("-----BEGIN CERTIFICATE-----").expect("certificate");
    let key_at = out.find("-----BEGIN PRIVATE KEY-----").expect("key");
    assert!(cert_at < key_at, "certificate bag must precede the key bag");

    let key_pem = write(dir.path(), "key.pem", &out[key_at..]);
    let text = run(openssl().args(["pkey", "-noout", "-text", "-in"]).arg(&key_pem));
    assert!(text.contains("Private-Key: (2048 bit"), "{text}");
    let cert_pub = run(openssl().args(["x509", "-noout", "-pubkey", "-in"]).arg(write(
        dir.path(),
        "c.pem",
        &key().certificate_pem,
    )));
    let key_pub = run(openssl().args(["pkey", "-pubout", "-in"]).arg(&key_pem));
    assert_eq!(cert_pub, key_pub);
}

#[test]
fn openssl_rejects_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let p12 = write_p12(dir.path(), key());
    let out = run_failing(
        openssl().args(["pkcs12", "-legacy", "-nodes", "-passin", "pass:Wrong-password1", "-in"]).arg(&p12),
    );
    assert!(out.to_lowercase().contains("mac verify"), "{out}");
}

const PY_LOAD_AND_SIGN: &str = r#"
import sys
from openapi_credential.client import Client
from openapi_credential.models import Config
mode, arg, password, message = sys.argv[1:5]
if mode == "file":
    config = Config(type="rsa_key_pair", client_key_file=arg, password=password)
else:
    config = Config(type="rsa_key_pair", client_key_content=open(arg).read(), password=password)
credential = Client(config)
print(credential.get_access_key_id())
print(credential.get_signature(message))
"#;

fn python_sign(mode: &str, file: &Path, password: &str, message: &str) -> Command {
    let mut cmd = Command::new(sdk_python());
    cmd.args(["-c", PY_LOAD_AND_SIGN, mode]).arg(file).args([password, message]);
    cmd
}

/// The official Python SDK (alibabacloud-dkms-gcs 1.0.2, pyOpenSSL load_pkcs12) loads our
/// ClientKeyContent and signs; the signature verifies with the certificate's public key.
#[test]
fn python_sdk_loads_the_client_key_and_its_signature_verifies() {
    let k = key();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "clientKey_aap_test.json", &k.client_key_content);
    let message = "POST\nabc\napplication/x-protobuf\nThu, 01 Jan 2024 00:00:00 GMT\nx-kms-apiname:Encrypt\n/";
    for mode in ["file", "content"] {
        let out = run(&mut python_sign(mode, &file, PASSWORD, message));
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some(k.key_id.as_str()));
        let auth = lines.next().expect("signature line");
        let sig = b64(auth.strip_prefix("Bearer ").expect("Bearer prefix"));
        assert!(verify_rsa_sha256(&k.public_key_der, message.as_bytes(), &sig), "{mode}");
        assert!(!verify_rsa_sha256(&k.public_key_der, b"other", &sig));
    }
}

#[test]
fn python_sdk_reports_mac_verify_failure_for_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "clientKey.json", &key().client_key_content);
    let out = run_failing(&mut python_sign("file", &file, "Wrong-password1", "x"));
    assert!(out.contains("mac verify failure"), "{out}");
}

const JAVA_LOAD_AND_SIGN: &str = r#"
import java.security.*;
import java.util.Base64;
public class P12Sign {
    public static void main(String[] a) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (java.io.FileInputStream in = new java.io.FileInputStream(a[0])) { ks.load(in, a[1].toCharArray()); }
        String alias = ks.aliases().nextElement();
        PrivateKey key = (PrivateKey) ks.getKey(alias, a[1].toCharArray());
        Signature s = Signature.getInstance("SHA256withRSA");
        s.initSign(key);
        s.update(a[2].getBytes("UTF-8"));
        System.out.println(Base64.getEncoder().encodeToString(s.sign()));
    }
}
"#;

/// Java's KeyStore (as the Java SDK's getPrivatePemFromPk12 uses it) loads the key by its first
/// alias. Runs when `java` is installed (it is on the CI image); otherwise says so and passes.
#[test]
fn java_keystore_loads_the_client_key() {
    if Command::new("java").arg("-version").output().is_err() {
        eprintln!("java not installed: Java KeyStore check NOT run");
        return;
    }
    let k = key();
    let dir = tempfile::tempdir().unwrap();
    let p12 = write_p12(dir.path(), k);
    let src = write(dir.path(), "P12Sign.java", JAVA_LOAD_AND_SIGN);
    let out = run(Command::new("java").arg(&src).arg(&p12).args([PASSWORD, "hello"]));
    let sig = b64(out.trim());
    assert!(verify_rsa_sha256(&k.public_key_der, b"hello", &sig));
}

#[test]
fn password_rules_are_enforced_before_any_work() {
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let later = now + time::Duration::days(5 * 365);
    let cases: &[(&str, &str)] = &[
        ("short1!", "8 to 64"),
        ("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk1!", "8 to 64"),
        ("onlyletters", "at least two"),
        ("1234567890", "at least two"),
        ("!!!!????", "at least two"),
        ("pass word1", "may contain only"),
        ("password1+", "may contain only"),
        ("password1\n", "may contain only"),
    ];
    for (password, rule) in cases {
        let err = pki::generate(AAP, password, now, later).unwrap_err();
        assert!(matches!(err, PkiError::InvalidPassword(_)), "{password:?}: {err}");
        assert!(err.to_string().contains(rule), "{password:?}: {err}");
    }
    for ok in ["abcd1234", "12345678-", "~!@#$%^&*?_-a", "A1234567"] {
        pki::validate_password(ok).unwrap();
    }
}

#[test]
fn bad_validity_and_names_are_rejected() {
    let now = datetime!(2024-01-01 00:00 UTC);
    let err = pki::generate(AAP, PASSWORD, now, now).unwrap_err();
    assert!(err.to_string().contains("NotAfter"), "{err}");
    let err = pki::generate("", PASSWORD, now, now + time::Duration::DAY).unwrap_err();
    assert!(err.to_string().contains("AAP name"), "{err}");
    let err = pki::generate(&"a".repeat(65), PASSWORD, now, now + time::Duration::DAY).unwrap_err();
    assert!(err.to_string().contains("AAP name"), "{err}");
}

#[test]
fn validity_after_2049_uses_generalized_time() {
    let k = pki::generate("far-future", PASSWORD, datetime!(2048-06-01 00:00 UTC), datetime!(2053-06-01 00:00 UTC))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = write(dir.path(), "c.pem", &k.certificate_pem);
    let text = run(openssl().args(["x509", "-noout", "-dates", "-in"]).arg(&pem));
    assert!(text.contains("notBefore=Jun  1 00:00:00 2048 GMT"), "{text}");
    assert!(text.contains("notAfter=Jun  1 00:00:00 2053 GMT"), "{text}");
}
