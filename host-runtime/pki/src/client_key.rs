//! `CreateClientKey` material: an RSA-2048 key, its self-signed certificate, the password-protected
//! PKCS#12 and the `ClientKeyContent` JSON the SDKs load (docs/protocol.md, "Client keys"; Alibaba's
//! CreateClientKey reference,
//! <https://www.alibabacloud.com/help/en/kms/key-management-service/developer-reference/api-kms-2016-01-20-createclientkey>).
//!
//! The certificate has the shape of the console's: X.509 v3, sha256WithRSAEncryption, 16-byte
//! serial, KeyUsage critical digitalSignature, subject = issuer =
//! `C=CN, ST=Zhejiang, L=Hangzhou, O=aapkit, OU=client key, CN=<AAP name>`.
//! The attribute set and order are the console's; O and OU say aapkit rather than
//! `Alibaba`/`Aliyun` because the certificate is not issued by Alibaba and should not claim to be.
//! No SDK reads the subject: the key id travels separately in `ClientKeyContent.KeyId`.

use base64::Engine as _;
use rcgen::{CertificateParams, DnType, KeyUsagePurpose};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::x509::{self, Key};
use super::{encode_pem, pkcs12, PkiError};

/// `KeyAlgorithm` of every client key.
pub const KEY_ALGORITHM: &str = "RSA_2048";
/// Characters besides letters and digits a password may contain.
pub const PASSWORD_SPECIALS: &str = "~!@#$%^&*?_-";

const SUBJECT_ORGANIZATION: &str = "aapkit";
const SUBJECT_ORGANIZATIONAL_UNIT: &str = "client key";
/// Default client-key lifetime (CreateClientKey; docs/protocol.md, "Client keys", Validity).
pub const DEFAULT_VALIDITY_YEARS: i32 = 5;
/// RFC 5280 ub-common-name.
const MAX_AAP_NAME_CHARS: usize = 64;

/// The result of `CreateClientKey`.
pub struct GeneratedClientKey {
    /// `KAAP.<uuid v4>`.
    pub key_id: String,
    /// The self-signed certificate, PEM: the public record kept by the store
    /// (`GetClientKey.PublicKeyData`).
    pub certificate_pem: String,
    /// The same certificate, DER.
    pub certificate_der: Vec<u8>,
    /// The certificate's SubjectPublicKeyInfo, DER (what signature verification needs).
    pub public_key_der: Vec<u8>,
    /// The password-protected PKCS#12, DER.
    pub pkcs12_der: Vec<u8>,
    /// Base64 of `pkcs12_der` (`CreateClientKey.PrivateKeyData`).
    pub private_key_data: String,
    /// `{"KeyId":"KAAP.<uuid>","PrivateKeyData":"<base64 PKCS#12>"}`, the file the SDKs load.
    pub client_key_content: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl std::fmt::Debug for GeneratedClientKey {
    // The PKCS#12 is only as strong as its password: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedClientKey")
            .field("key_id", &self.key_id)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize)]
struct ClientKeyContent<'a> {
    #[serde(rename = "KeyId")]
    key_id: &'a str,
    #[serde(rename = "PrivateKeyData")]
    private_key_data: &'a str,
}

#[derive(serde::Deserialize)]
struct ClientKeyContentIn {
    #[serde(rename = "KeyId")]
    key_id: String,
    #[serde(rename = "PrivateKeyData")]
    private_key_data: String,
}

/// Loads a `ClientKeyContent` JSON the way the SDKs do: base64 PKCS#12 opened with `password`.
/// Returns the client key id and the private key as PKCS#8 DER.
pub fn load_client_key(client_key_content: &str, password: &str) -> Result<(String, Zeroizing<Vec<u8>>), PkiError> {
    let content: ClientKeyContentIn = serde_json::from_str(client_key_content).map_err(|e| {
        PkiError::Malformed(format!("ClientKeyContent (expected {{\"KeyId\":...,\"PrivateKeyData\":...}}): {e}"))
    })?;
    let pfx = base64::engine::general_purpose::STANDARD
        .decode(content.private_key_data.trim())
        .map_err(|e| PkiError::Malformed(format!("ClientKeyContent PrivateKeyData: bad base64: {e}")))?;
    let (_, pkcs8) = pkcs12::parse(&pfx, password)?;
    Ok((content.key_id, pkcs8))
}

/// `CreateClientKey`'s default NotAfter: NotBefore plus 5 calendar years (the console's keys run
/// e.g. 2021-07-01 to 2026-07-01).
pub fn default_not_after(not_before: OffsetDateTime) -> Result<OffsetDateTime, PkiError> {
    x509::add_years(not_before, DEFAULT_VALIDITY_YEARS)
}

/// The `CreateClientKey` password rule: 8 to 64 characters; only letters, digits and
/// `~!@#$%^&*?_-`; at least two of those three kinds.
pub fn validate_password(password: &str) -> Result<(), PkiError> {
    let len = password.chars().count();
    if !(8..=64).contains(&len) {
        return Err(PkiError::InvalidPassword("it must be 8 to 64 characters long"));
    }
    let (mut digits, mut letters, mut specials) = (false, false, false);
    for c in password.chars() {
        if c.is_ascii_digit() {
            digits = true;
        } else if c.is_ascii_alphabetic() {
            letters = true;
        } else if PASSWORD_SPECIALS.contains(c) {
            specials = true;
        } else {
            return Err(PkiError::InvalidPassword(
                "it may contain only letters, digits and the special characters ~!@#$%^&*?_-",
            ));
        }
    }
    if u8::from(digits) + u8::from(letters) + u8::from(specials) < 2 {
        return Err(PkiError::InvalidPassword(
            "it must contain at least two of: digits, letters, special characters ~!@#$%^&*?_-",
        ));
    }
    Ok(())
}

fn validate_aap_name(aap_name: &str) -> Result<(), PkiError> {
    let len = aap_name.chars().count();
    if len == 0 || len > MAX_AAP_NAME_CHARS {
        return Err(PkiError::InvalidArgument(format!(
            "AAP name must be 1 to {MAX_AAP_NAME_CHARS} characters long (it is the certificate CN)"
        )));
    }
    if aap_name.chars().any(char::is_control) {
        return Err(PkiError::InvalidArgument("AAP name must not contain control characters".into()));
    }
    Ok(())
}

/// Generates a client key for `aap_name`, valid from `not_before` to `not_after`, with the
/// private key in a PKCS#12 protected by `password`.
pub fn generate(
    aap_name: &str,
    password: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<GeneratedClientKey, PkiError> {
    validate_password(password)?;
    validate_aap_name(aap_name)?;
    let (cert_not_before, cert_not_after) = x509::validity(not_before, not_after)?;

    let key = Key::rsa_2048()?;
    let subject = x509::name(&[
        (DnType::CountryName, "CN"),
        (DnType::StateOrProvinceName, "Zhejiang"),
        (DnType::LocalityName, "Hangzhou"),
        (DnType::OrganizationName, SUBJECT_ORGANIZATION),
        (DnType::OrganizationalUnitName, SUBJECT_ORGANIZATIONAL_UNIT),
        (DnType::CommonName, aap_name),
    ]);
    let mut params = CertificateParams::default();
    params.distinguished_name = subject;
    params.serial_number = Some(x509::random_serial()?);
    params.not_before = cert_not_before;
    params.not_after = cert_not_after;
    // The only extension, as in the console's certificate: keyUsage critical digitalSignature.
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let certificate_der = params.self_signed(&key).map_err(|_| PkiError::Crypto("certificate signing"))?.der().to_vec();
    let spki = key.spki();

    let pfx = pkcs12::write(&certificate_der, key.pkcs8(), password)?;
    let private_key_data = base64::engine::general_purpose::STANDARD.encode(&pfx);
    let key_id = format!("KAAP.{}", uuid::Uuid::new_v4());
    let client_key_content =
        serde_json::to_string(&ClientKeyContent { key_id: &key_id, private_key_data: &private_key_data })
            .map_err(|_| PkiError::Crypto("ClientKeyContent encoding"))?;

    Ok(GeneratedClientKey {
        certificate_pem: encode_pem("CERTIFICATE", &certificate_der),
        key_id,
        certificate_der,
        public_key_der: spki,
        pkcs12_der: pfx,
        private_key_data,
        client_key_content,
        not_before,
        not_after,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        for ok in ["abcd1234", "1234____", "abcd-efg", "A1~!@#$%^&*?_-", &"a1".repeat(32)] {
            assert!(validate_password(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("abc123", "8 to 64"),
            (&"a1".repeat(33)[..], "8 to 64"),
            ("abcdefgh", "at least two"),
            ("12345678", "at least two"),
            ("~!@#$%^&", "at least two"),
            ("abcd 1234", "may contain only"),
            ("abcd1234+", "may contain only"),
            ("abcdé1234", "may contain only"),
        ];
        for (bad, rule) in cases {
            let err = validate_password(bad).unwrap_err().to_string();
            assert!(err.contains(rule), "{bad}: {err}");
        }
    }

    #[test]
    fn default_validity_is_five_calendar_years() {
        use time::macros::datetime;
        let nb = datetime!(2021-07-01 04:24:04 UTC);
        assert_eq!(default_not_after(nb).unwrap(), datetime!(2026-07-01 04:24:04 UTC));
        let leap = datetime!(2024-02-29 00:00 UTC);
        assert_eq!(default_not_after(leap).unwrap(), datetime!(2029-02-28 00:00 UTC));
    }

    /// The rule written the long way round, as the CreateClientKey reference states it.
    fn reference_rule(p: &str) -> bool {
        const DIGITS: &str = "0123456789";
        const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        const SPECIALS: &str = "~!@#$%^&*?_-";
        let n = p.chars().count();
        let allowed = p.chars().all(|c| DIGITS.contains(c) || LETTERS.contains(c) || SPECIALS.contains(c));
        let kinds = [DIGITS, LETTERS, SPECIALS].iter().filter(|set| p.chars().any(|c| set.contains(c))).count();
        (8..=64).contains(&n) && allowed && kinds >= 2
    }

    proptest::proptest! {
        #[test]
        fn password_rule_matches_the_reference(p in "[a-c1-3~!?_+ é\\t]{0,70}") {
            proptest::prop_assert_eq!(validate_password(&p).is_ok(), reference_rule(&p));
        }
    }
}
