//! Why a client key's public key or certificate was refused.

use core::fmt;

/// An error parsing or checking an RSA public key (PEM, DER or raw components).
///
/// Messages say what was wrong and what is accepted, for a person fixing a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// The text has no `-----BEGIN ...-----` line.
    NoPemBlock,
    /// A `-----BEGIN <label>-----` line has no matching `-----END <label>-----` line.
    UnterminatedPem { label: String },
    /// More than one PEM block; a client key is one certificate or one public key.
    MultiplePemBlocks,
    /// The PEM block holds a private key.
    PrivateKeyPem { label: String },
    /// The PEM block is something else (a CSR, an EC key, ...).
    UnsupportedPemLabel { label: String },
    /// The PEM block has headers (`Proc-Type:`, ...), i.e. legacy encrypted PEM.
    PemHeaders,
    /// The PEM body is not valid base64.
    PemBase64,
    /// The DER structure is malformed: `what` names the part, `problem` says how.
    Der { what: &'static str, problem: &'static str },
    /// The key is not an `rsaEncryption` key; `algorithm` is the OID found (dotted, with a name
    /// when known).
    NotRsa { algorithm: String },
    /// The modulus has fewer than 2048 bits.
    ModulusTooSmall { bits: usize },
    /// The modulus has more than 4096 bits.
    ModulusTooLarge { bits: usize },
    /// The modulus is even (not an RSA modulus).
    EvenModulus,
    /// The public exponent is even, below 3 or at least 2^32; `detail` says which.
    BadExponent { detail: String },
    /// A certificate's notBefore / notAfter is not a valid DER time.
    BadTime { field: &'static str },
}

impl fmt::Display for PublicKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPemBlock => f.write_str(
                "no PEM block found: expected `-----BEGIN CERTIFICATE-----`, \
                 `-----BEGIN PUBLIC KEY-----` or `-----BEGIN RSA PUBLIC KEY-----`",
            ),
            Self::UnterminatedPem { label } => {
                write!(f, "the PEM block `{label}` has no `-----END {label}-----` line")
            }
            Self::MultiplePemBlocks => f.write_str(
                "the text holds more than one PEM block: give only the client key's certificate \
                 or public key",
            ),
            Self::PrivateKeyPem { label } => write!(
                f,
                "the PEM block is a private key (`{label}`): give the client key's certificate \
                 or public key, never its private key"
            ),
            Self::UnsupportedPemLabel { label } => write!(
                f,
                "unsupported PEM block `{label}`: expected `CERTIFICATE`, `PUBLIC KEY` or \
                 `RSA PUBLIC KEY`"
            ),
            Self::PemHeaders => f.write_str(
                "the PEM block has headers (encrypted legacy PEM?): give the plain certificate \
                 or public key",
            ),
            Self::PemBase64 => f.write_str("the PEM body is not valid base64"),
            Self::Der { what, problem } => write!(f, "malformed DER: {what} {problem}"),
            Self::NotRsa { algorithm } => {
                write!(f, "the key is not an RSA key (algorithm {algorithm}): client keys are RSA_2048")
            }
            Self::ModulusTooSmall { bits } => {
                write!(f, "the RSA modulus has {bits} bits: at least 2048 are required (client keys are RSA_2048)")
            }
            Self::ModulusTooLarge { bits } => {
                write!(f, "the RSA modulus has {bits} bits: at most 4096 are supported")
            }
            Self::EvenModulus => f.write_str("the RSA modulus is even, so it is not an RSA modulus"),
            Self::BadExponent { detail } => write!(
                f,
                "the RSA public exponent {detail}: it must be odd, at least 3 and below 2^32 \
                 (usually 65537)"
            ),
            Self::BadTime { field } => write!(
                f,
                "the certificate's {field} is not a valid UTCTime (YYMMDDHHMMSSZ) or \
                 GeneralizedTime (YYYYMMDDHHMMSSZ)"
            ),
        }
    }
}

impl std::error::Error for PublicKeyError {}
