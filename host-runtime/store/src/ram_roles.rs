//! RAM roles and their STS sessions (temporary credentials).
//!
//! - A role is bound to one AAP whose AuthenticationMethod is `RAMRole`: the AAP's policies decide
//!   what its sessions may do. Who may assume it is the role's trust: an OIDC trust (issuer,
//!   audiences, subject pattern, JWKS source; AssumeRoleWithOIDC) and/or a credentials-URI token
//!   (32 random bytes, shown once, only its SHA-256 kept).
//! - A session is an `STS.` AccessKeyId, an AccessKeySecret and a SecurityToken, both sealed at
//!   rest bound to the id ([`crate::seal::sts_session_aad`]), with a whole-second expiry.
//!   Issuing a session is not a control-plane change (no event, no generation bump: the server
//!   must not reload its configuration per credential fetch); deleting the role is, and its
//!   sessions go with it (cascade), which revokes them.
//! - The OpenAPI looks sessions up per request ([`Store::session_credential`]): unsealed
//!   credentials are cached per generation like AccessKeys, filled on first use.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::db::Tx;
use crate::params;
use base64::Engine as _;
use serde::Serialize;
use zeroize::Zeroizing;

use super::account::{random_chars, read_account, ALNUM};
use super::seal::sts_session_aad;
use super::time::{format_time, now};
use super::{read_generation, validate, Store, StoreError};
use crate::access;
use crate::change::{Action, Change, ResourceType};

/// MaxSessionDuration of a role created without one (Alibaba's default).
pub const DEFAULT_MAX_SESSION_DURATION: i64 = 3600;
/// MaxSessionDuration bounds (Alibaba's CreateRole: 3600 to 43200 seconds).
pub const MAX_SESSION_DURATION_RANGE: std::ops::RangeInclusive<i64> = 3600..=43200;
/// The shortest DurationSeconds STS issues (and the credential clients accept).
pub const MIN_DURATION_SECONDS: i64 = 900;
/// DurationSeconds when the caller names none (STS's default), capped by the role's maximum.
pub const DEFAULT_DURATION_SECONDS: i64 = 3600;
/// Audiences (OIDC client ids) per role at most.
pub const MAX_OIDC_AUDIENCES: usize = 50;

/// Unexpired sessions one role may hold at once: each issued session is a row, and a caller with a
/// valid token or credentials-URI token could otherwise grow the store without bound (clients
/// refresh 15 minutes before expiry, so a workload needs few).
pub const MAX_LIVE_SESSIONS_PER_ROLE: i64 = 10_000;

/// The prefix of a session's temporary AccessKeyId (as Alibaba STS issues them).
pub const STS_ACCESS_KEY_ID_PREFIX: &str = "STS.";
const STS_ACCESS_KEY_ID_RANDOM_LEN: usize = 28;
const STS_SECRET_LEN: usize = 44;
/// Random bytes in a SecurityToken (base64 of them follows the `CAIS` prefix Alibaba's tokens have).
const SECURITY_TOKEN_RANDOM_BYTES: usize = 192;
const CREDENTIALS_URI_TOKEN_BYTES: usize = 32;
const ROLE_ID_LEN: usize = 19;
/// Sessions kept in the lookup cache at most (cleared when full; a miss only costs a read).
const SESSION_CACHE_CAPACITY: usize = 10_000;

/// Where a role's OIDC issuer publishes its signing keys. Configuration only: the STS side reads
/// the file or fetches the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// An absolute path to a JWKS JSON document.
    File(String),
    /// An `https://` or `http://` URL serving the JWKS.
    Url(String),
}

/// The OIDC trust of a role (AssumeRoleWithOIDC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcTrust {
    /// The OIDC provider's name: the role accepts `OIDCProviderArn`
    /// `acs:ram::<AccountId>:oidc-provider/<name>`.
    pub provider_name: String,
    /// The token's `iss`, exactly.
    pub issuer: String,
    /// Accepted `aud` values (one must be in the token).
    pub audiences: Vec<String>,
    /// `sub` exactly, or `prefix*`; `None` accepts any subject of the issuer.
    pub subject: Option<String>,
    pub jwks: JwksSource,
}

/// What `create_ram_role` takes.
#[derive(Clone, Debug)]
pub struct RamRoleInput {
    pub name: String,
    pub aap: String,
    pub oidc: Option<OidcTrust>,
    /// Generate a credentials-URI token (returned once by the create).
    pub credentials_uri_token: bool,
    pub max_session_duration: Option<i64>,
    pub description: String,
}

/// The OIDC trust as described (JSON: Alibaba-ish names).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct OidcTrustInfo {
    #[serde(rename = "OIDCProviderArn")]
    pub oidc_provider_arn: String,
    pub issuer_url: String,
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_pattern: Option<String>,
    #[serde(rename = "JwksFile", skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<String>,
    #[serde(rename = "JwksUrl", skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
}

impl OidcTrustInfo {
    pub fn jwks(&self) -> Option<JwksSource> {
        match (&self.jwks_file, &self.jwks_url) {
            (Some(f), None) => Some(JwksSource::File(f.clone())),
            (None, Some(u)) => Some(JwksSource::Url(u.clone())),
            _ => None,
        }
    }
}

/// A role as listed and described. Never the credentials-URI token, nor its hash.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RamRoleInfo {
    pub role_name: String,
    /// 19 digits, like Alibaba's RoleId.
    pub role_id: String,
    /// `acs:ram::<AccountId>:role/<RoleName>`.
    pub arn: String,
    pub aap_name: String,
    pub max_session_duration: i64,
    #[serde(rename = "OIDCTrust", skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcTrustInfo>,
    /// Whether a credentials-URI token is set (`aapkit ram-role issue-token` sets or rotates it).
    pub credentials_uri_enabled: bool,
    pub description: String,
    pub create_date: String,
}

/// A created role, with its credentials-URI token when one was asked for: the only time it is shown.
pub struct CreatedRamRole {
    pub info: RamRoleInfo,
    pub credentials_uri_token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for CreatedRamRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedRamRole")
            .field("info", &self.info)
            .field("credentials_uri_token", &"(not shown)")
            .finish()
    }
}

/// An STS session's credential: what the OpenAPI's signature check and audit need.
#[derive(Clone)]
pub struct SessionCredential {
    /// `STS.` and 28 letters or digits.
    pub id: String,
    pub secret: Zeroizing<String>,
    pub security_token: Zeroizing<String>,
    /// The role's name.
    pub role: String,
    pub session_name: String,
    /// The AAP the role is bound to: its policies decide.
    pub aap: String,
    /// Unix seconds; the credential is refused from this second on.
    pub expires_at: i64,
}

impl SessionCredential {
    /// Expired at `now` (the session is refused from `expires_at` on).
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// Whether `presented` is this session's SecurityToken (constant time).
    pub fn token_matches(&self, presented: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.security_token.as_bytes(), presented.as_bytes()).is_ok()
    }

    /// `Expiration` as the credential clients parse it: `yyyy-MM-ddTHH:mm:ssZ`.
    pub fn expiration(&self) -> String {
        format_time(self.expires_at)
    }
}

impl std::fmt::Debug for SessionCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredential")
            .field("id", &self.id)
            .field("secret", &"(not shown)")
            .field("security_token", &"(not shown)")
            .field("role", &self.role)
            .field("session_name", &self.session_name)
            .field("aap", &self.aap)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Unsealed session credentials of one generation, filled on lookup.
#[derive(Default)]
pub(crate) struct SessionCache(Mutex<Option<(u64, Sessions)>>);

/// Looked-up sessions, by AccessKeyId.
type Sessions = HashMap<String, Arc<SessionCredential>>;

// ---------------------------------------------------------------------------------------------
// Validation

/// RoleName: 1..=64 letters, digits, `.` and `-` (Alibaba's CreateRole).
pub fn validate_role_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::MissingParameter("RoleName"));
    }
    if name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')) {
        return Err(StoreError::invalid(
            "RoleName",
            validate::shorten(name),
            "expected 1 to 64 letters, digits, `.` or `-`",
        ));
    }
    Ok(())
}

/// RoleSessionName: 2..=64 of letters, digits and `_ . @ -` (STS's models).
pub fn validate_session_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::MissingParameter("RoleSessionName"));
    }
    let ok = (2..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'));
    if !ok {
        return Err(StoreError::invalid(
            "RoleSessionName",
            validate::shorten(name),
            "expected 2 to 64 letters, digits, `_`, `.`, `@` or `-`",
        ));
    }
    Ok(())
}

fn http_url(param: &'static str, url: &str) -> Result<(), StoreError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let ok = url.len() <= 1024
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(StoreError::invalid(param, validate::shorten(url), "expected an https:// or http:// URL"));
    }
    Ok(())
}

fn check_oidc(t: &OidcTrust) -> Result<(), StoreError> {
    validate::resource_name("OIDCProviderName", &t.provider_name)?;
    http_url("IssuerUrl", &t.issuer)?;
    if t.audiences.is_empty() {
        return Err(StoreError::MissingParameter("Audiences"));
    }
    if t.audiences.len() > MAX_OIDC_AUDIENCES {
        return Err(StoreError::invalid(
            "Audiences",
            format!("({} audiences)", t.audiences.len()),
            format!("at most {MAX_OIDC_AUDIENCES}"),
        ));
    }
    for a in &t.audiences {
        if a.is_empty() || a.len() > 128 || !a.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::invalid(
                "Audiences",
                validate::shorten(a),
                "expected 1 to 128 visible ASCII characters",
            ));
        }
    }
    if let Some(s) = &t.subject {
        let body = s.strip_suffix('*').unwrap_or(s);
        if s.is_empty() || s.len() > 256 || body.contains('*') || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::invalid(
                "SubjectPattern",
                validate::shorten(s),
                "expected the exact subject, or a prefix followed by one `*`, in visible ASCII",
            ));
        }
    }
    match &t.jwks {
        JwksSource::Url(u) => http_url("JwksUrl", u)?,
        JwksSource::File(f) => {
            if !Path::new(f).is_absolute() || f.chars().any(char::is_control) {
                return Err(StoreError::invalid("JwksFile", validate::shorten(f), "expected an absolute path"));
            }
        }
    }
    Ok(())
}

/// Whether `sub` matches a role's subject pattern (exact, or `prefix*`).
pub fn subject_matches(pattern: &str, sub: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => sub.starts_with(prefix),
        None => sub == pattern,
    }
}

// ---------------------------------------------------------------------------------------------
// Generation of ids and secrets

fn new_role_id() -> Result<String, StoreError> {
    let first = random_chars(b"123456789", 1)?;
    let rest = random_chars(b"0123456789", ROLE_ID_LEN - 1)?;
    Ok(format!("{}{}", first.as_str(), rest.as_str()))
}

fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(&mut buf[..]).map_err(|_| StoreError::Crypto("random generator failed".into()))?;
    Ok(buf)
}

/// A credentials-URI token: base64url (no padding) of 32 random bytes, safe in a query string.
fn new_uri_token() -> Result<Zeroizing<String>, StoreError> {
    let bytes = random_bytes(CREDENTIALS_URI_TOKEN_BYTES)?;
    Ok(Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..])))
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}

// ---------------------------------------------------------------------------------------------
// Rows

type RoleRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    i64,
    String,
    i64,
);

const ROLE_COLUMNS: &str =
    "name, role_id, aap, oidc_provider, oidc_issuer, oidc_audiences, oidc_subject, oidc_jwks_file, \
     oidc_jwks_url, uri_token_sha256 IS NOT NULL, max_session_duration, description, created";

fn role_rows(tx: &Tx<'_>, name: Option<&str>) -> Result<Vec<RoleRow>, StoreError> {
    let rows = tx.query_map(
        &format!("SELECT {ROLE_COLUMNS} FROM ram_roles WHERE CAST(?1 AS TEXT) IS NULL OR name = ?1 ORDER BY name"),
        params![name],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
            ))
        },
    )?;
    Ok(rows)
}

fn row_info(account_id: &str, row: RoleRow) -> Result<RamRoleInfo, StoreError> {
    let (name, role_id, aap, provider, issuer, audiences, subject, jwks_file, jwks_url, uri, max, description, created) =
        row;
    let oidc = match (provider, issuer, audiences) {
        (Some(provider), Some(issuer_url), Some(auds)) => Some(OidcTrustInfo {
            oidc_provider_arn: oidc_provider_arn(account_id, &provider),
            issuer_url,
            audiences: serde_json::from_str(&auds)
                .map_err(|e| StoreError::Corrupt(format!("ram role {name}: audiences: {e}")))?,
            subject_pattern: subject,
            jwks_file,
            jwks_url,
        }),
        (None, None, None) => None,
        _ => return Err(StoreError::Corrupt(format!("ram role {name}: the OIDC trust is half recorded"))),
    };
    Ok(RamRoleInfo {
        arn: role_arn(account_id, &name),
        role_name: name,
        role_id,
        aap_name: aap,
        max_session_duration: max,
        oidc,
        credentials_uri_enabled: uri,
        description,
        create_date: format_time(created),
    })
}

/// `acs:ram::<AccountId>:role/<RoleName>` (RAM's GetRole `Arn`).
pub fn role_arn(account_id: &str, role_name: &str) -> String {
    format!("acs:ram::{account_id}:role/{role_name}")
}

/// `acs:ram::<AccountId>:oidc-provider/<name>` (the `OIDCProviderArn` the clients send).
pub fn oidc_provider_arn(account_id: &str, provider_name: &str) -> String {
    format!("acs:ram::{account_id}:oidc-provider/{provider_name}")
}

pub(crate) fn role_info(tx: &Tx<'_>, name: &str) -> Result<Option<RamRoleInfo>, StoreError> {
    let account = read_account(tx)?;
    role_rows(tx, Some(name))?.into_iter().next().map(|r| row_info(&account.account_id, r)).transpose()
}

fn require_role(tx: &Tx<'_>, name: &str) -> Result<RamRoleInfo, StoreError> {
    role_info(tx, name)?.ok_or_else(|| StoreError::not_found("ram role", name))
}

/// Names of the roles bound to `aap` (an AAP with roles cannot be deleted).
pub(crate) fn roles_of_aap(tx: &Tx<'_>, aap: &str) -> Result<Vec<String>, StoreError> {
    let names: Vec<String> =
        tx.query_map("SELECT name FROM ram_roles WHERE aap = ?1 ORDER BY name", params![aap], |r| r.get(0))?;
    Ok(names)
}

impl Store {
    /// CreateRole (aapkit's): a role bound to a `RAMRole` AAP, with at least one trust. The
    /// credentials-URI token, when asked for, is returned here and never again.
    pub fn create_ram_role(&self, input: &RamRoleInput) -> Result<CreatedRamRole, StoreError> {
        validate_role_name(&input.name)?;
        validate::description(&input.description)?;
        let max = input.max_session_duration.unwrap_or(DEFAULT_MAX_SESSION_DURATION);
        if !MAX_SESSION_DURATION_RANGE.contains(&max) {
            return Err(StoreError::invalid(
                "MaxSessionDuration",
                max.to_string(),
                format!(
                    "expected {} to {} seconds",
                    MAX_SESSION_DURATION_RANGE.start(),
                    MAX_SESSION_DURATION_RANGE.end()
                ),
            ));
        }
        if let Some(t) = &input.oidc {
            check_oidc(t)?;
        }
        if input.oidc.is_none() && !input.credentials_uri_token {
            return Err(StoreError::invalid(
                "Trust",
                "(none)",
                "a role needs an OIDC trust, a credentials-URI token, or both: nobody could assume it otherwise",
            ));
        }
        let token = if input.credentials_uri_token { Some(new_uri_token()?) } else { None };
        let token_hash = token.as_ref().map(|t| sha256(t.as_bytes()));
        let role_id = new_role_id()?;
        let info = self.write(Change::new(ResourceType::RamRole, &input.name, Action::Create, "CreateRole"), |tx| {
            if role_info(tx, &input.name)?.is_some() {
                return Err(StoreError::AlreadyExists { kind: "ram role", name: input.name.clone() });
            }
            let aap = access::aap(tx, &input.aap).map_err(|e| match e {
                StoreError::NotFound { .. } => StoreError::invalid("AapName", &input.aap, "no application access point has this name"),
                other => other,
            })?;
            if aap.authentication_method != "RAMRole" {
                return Err(StoreError::InvalidState(format!(
                    "the application access point {} authenticates by {}; a RAM role needs one created with AuthenticationMethod RAMRole",
                    aap.name, aap.authentication_method
                )));
            }
            let o = input.oidc.as_ref();
            let audiences = o
                .map(|t| serde_json::to_string(&t.audiences))
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let (jwks_file, jwks_url) = match o.map(|t| &t.jwks) {
                Some(JwksSource::File(f)) => (Some(f.as_str()), None),
                Some(JwksSource::Url(u)) => (None, Some(u.as_str())),
                None => (None, None),
            };
            tx.execute(
                "INSERT INTO ram_roles(name, role_id, aap, oidc_provider, oidc_issuer, oidc_audiences, oidc_subject,
                     oidc_jwks_file, oidc_jwks_url, uri_token_sha256, max_session_duration, description, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    input.name,
                    role_id,
                    input.aap,
                    o.map(|t| t.provider_name.as_str()),
                    o.map(|t| t.issuer.as_str()),
                    audiences,
                    o.and_then(|t| t.subject.as_deref()),
                    jwks_file,
                    jwks_url,
                    token_hash,
                    max,
                    input.description,
                    now()
                ],
            )?;
            require_role(tx, &input.name)
        })?;
        Ok(CreatedRamRole { info, credentials_uri_token: token })
    }

    /// GetRole.
    pub fn describe_ram_role(&self, name: &str) -> Result<RamRoleInfo, StoreError> {
        self.read(|tx| require_role(tx, name))
    }

    /// ListRoles (by name).
    pub fn list_ram_roles(&self) -> Result<Vec<RamRoleInfo>, StoreError> {
        self.read(|tx| {
            let account = read_account(tx)?;
            role_rows(tx, None)?.into_iter().map(|r| row_info(&account.account_id, r)).collect()
        })
    }

    /// The role an ARN names: `acs:ram::<this account>:role/<name>` (the account must be this one;
    /// the role name compares exactly). Unknown or malformed: [`StoreError::NotFound`] /
    /// [`StoreError::InvalidParameter`] `RoleArn`.
    pub fn ram_role_by_arn(&self, arn: &str) -> Result<RamRoleInfo, StoreError> {
        let (account_id, name) =
            arn.strip_prefix("acs:ram::").and_then(|r| r.split_once(":role/")).ok_or_else(|| {
                StoreError::invalid("RoleArn", validate::shorten(arn), "expected acs:ram::<AccountId>:role/<RoleName>")
            })?;
        self.read(|tx| {
            let account = read_account(tx)?;
            if account_id != account.account_id {
                return Err(StoreError::not_found("ram role", arn));
            }
            role_info(tx, name)?.ok_or_else(|| StoreError::not_found("ram role", arn))
        })
    }

    /// DeleteRole: the role and every session it issued (revoked from this change on).
    pub fn delete_ram_role(&self, name: &str) -> Result<(), StoreError> {
        self.write(Change::new(ResourceType::RamRole, name, Action::Delete, "DeleteRole"), |tx| {
            require_role(tx, name)?;
            // The cascade would do it; explicit, so the revocation does not hinge on a pragma.
            tx.execute("DELETE FROM sts_sessions WHERE role = ?1", params![name])?;
            tx.execute("DELETE FROM ram_roles WHERE name = ?1", params![name])?;
            Ok(())
        })
    }

    /// Sets a new credentials-URI token on the role (the old one stops working with this change)
    /// and returns it: the only time it is shown.
    pub fn rotate_credentials_uri_token(&self, name: &str) -> Result<Zeroizing<String>, StoreError> {
        let token = new_uri_token()?;
        let hash = sha256(token.as_bytes());
        self.write(Change::new(ResourceType::RamRole, name, Action::Update, "IssueCredentialsUriToken"), |tx| {
            require_role(tx, name)?;
            tx.execute("UPDATE ram_roles SET uri_token_sha256 = ?1 WHERE name = ?2", params![hash, name])?;
            Ok(())
        })?;
        Ok(token)
    }

    /// Whether `token` is the role's credentials-URI token (constant-time comparison of SHA-256
    /// digests). A role without a token, or no such role, is `false`.
    pub fn check_credentials_uri_token(&self, role: &str, token: &str) -> Result<bool, StoreError> {
        let presented = sha256(token.as_bytes());
        let stored: Option<Option<Vec<u8>>> = self.read(|tx| {
            tx.query_opt("SELECT uri_token_sha256 FROM ram_roles WHERE name = ?1", params![role], |r| r.get(0))
        })?;
        Ok(match stored.flatten() {
            Some(h) => aws_lc_rs::constant_time::verify_slices_are_equal(&h, &presented).is_ok(),
            None => false,
        })
    }

    /// Issues temporary credentials of `role` for `duration` seconds from `now`
    /// ([`MIN_DURATION_SECONDS`] up to the role's MaxSessionDuration). The secret and token are
    /// sealed before they are stored; the returned credential is the only clear copy.
    pub fn issue_session(
        &self,
        role: &str,
        session_name: &str,
        duration: i64,
        now: i64,
    ) -> Result<SessionCredential, StoreError> {
        validate_session_name(session_name)?;
        let id = format!("{STS_ACCESS_KEY_ID_PREFIX}{}", random_chars(ALNUM, STS_ACCESS_KEY_ID_RANDOM_LEN)?.as_str());
        let secret = random_chars(ALNUM, STS_SECRET_LEN)?;
        let token_bytes = random_bytes(SECURITY_TOKEN_RANDOM_BYTES)?;
        let token =
            Zeroizing::new(format!("CAIS{}", base64::engine::general_purpose::STANDARD.encode(&token_bytes[..])));
        let sealed_secret = self.sealer.seal(&sts_session_aad(&id, "secret"), secret.as_bytes())?;
        let sealed_token = self.sealer.seal(&sts_session_aad(&id, "token"), token.as_bytes())?;
        let (info, expires_at) = self.write_plain(|tx| {
            let info = require_role(tx, role)?;
            if !(MIN_DURATION_SECONDS..=info.max_session_duration).contains(&duration) {
                return Err(StoreError::invalid(
                    "DurationSeconds",
                    duration.to_string(),
                    format!(
                        "expected {MIN_DURATION_SECONDS} to {} seconds (the role's MaxSessionDuration)",
                        info.max_session_duration
                    ),
                ));
            }
            let expires_at = now
                .checked_add(duration)
                .ok_or_else(|| StoreError::invalid("DurationSeconds", duration.to_string(), "out of range"))?;
            // Expired sessions of the role go first (they are refused anyway), then the cap.
            tx.execute("DELETE FROM sts_sessions WHERE role = ?1 AND expires <= ?2", params![role, now])?;
            let live: i64 =
                tx.query_row("SELECT COUNT(*) FROM sts_sessions WHERE role = ?1", params![role], |r| r.get(0))?;
            if live >= MAX_LIVE_SESSIONS_PER_ROLE {
                return Err(StoreError::LimitExceeded(format!(
                    "role {role} holds {live} unexpired sessions, the most one role may hold; \
                 wait for some to expire or delete and recreate the role"
                )));
            }
            tx.execute(
                "INSERT INTO sts_sessions(id, role, session_name, sealed_secret, sealed_token, expires, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, role, session_name, sealed_secret, sealed_token, expires_at, now],
            )?;
            Ok((info, expires_at))
        })?;
        Ok(SessionCredential {
            id,
            secret,
            security_token: token,
            role: role.to_owned(),
            session_name: session_name.to_owned(),
            aap: info.aap_name,
            expires_at,
        })
    }

    /// The credential of STS session `access_key_id` (per request: cached per generation). An
    /// unknown id, or a session of a deleted role, is [`StoreError::NotFound`] (kind
    /// `security token`). An expired session is returned as it is: the caller refuses it
    /// ([`SessionCredential::is_expired`]) with its own code, until the purge deletes it.
    pub fn session_credential(&self, access_key_id: &str) -> Result<SessionCredential, StoreError> {
        let not_found = || StoreError::not_found("security token", access_key_id);
        if !access_key_id.starts_with(STS_ACCESS_KEY_ID_PREFIX) {
            return Err(not_found());
        }
        let current = self.cache_generation()?;
        {
            let cache = self.sessions.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((g, map)) = cache.as_ref() {
                if *g == current {
                    if let Some(c) = map.get(access_key_id) {
                        return Ok(SessionCredential::clone(c));
                    }
                }
            }
        }
        let (g, found) = self.read(|tx| Ok((read_generation(tx)?, self.load_session(tx, access_key_id)?)))?;
        let cred = Arc::new(found.ok_or_else(not_found)?);
        let mut cache = self.sessions.0.lock().unwrap_or_else(|p| p.into_inner());
        match cache.as_mut() {
            Some((cg, map)) if *cg == g => {
                if map.len() >= SESSION_CACHE_CAPACITY {
                    map.clear();
                }
                map.insert(access_key_id.to_owned(), Arc::clone(&cred));
            }
            // A newer generation already cached: leave it (this read may predate a revocation).
            Some((cg, _)) if *cg > g => {}
            _ => *cache = Some((g, HashMap::from([(access_key_id.to_owned(), Arc::clone(&cred))]))),
        }
        Ok(SessionCredential::clone(&cred))
    }

    fn load_session(&self, tx: &Tx<'_>, id: &str) -> Result<Option<SessionCredential>, StoreError> {
        let row = tx.query_opt(
            "SELECT s.role, s.session_name, s.sealed_secret, s.sealed_token, s.expires, r.aap
                 FROM sts_sessions s JOIN ram_roles r ON r.name = s.role WHERE s.id = ?1",
            params![id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        )?;
        let Some((role, session_name, sealed_secret, sealed_token, expires_at, aap)) = row else { return Ok(None) };
        let text = |part: &str, blob: &[u8]| -> Result<Zeroizing<String>, StoreError> {
            let plain = self.sealer.open(&sts_session_aad(id, part), blob)?;
            Ok(Zeroizing::new(
                std::str::from_utf8(&plain)
                    .map_err(|_| StoreError::Corrupt(format!("sts session {id}: the {part} is not UTF-8")))?
                    .to_owned(),
            ))
        };
        Ok(Some(SessionCredential {
            id: id.to_owned(),
            secret: text("secret", &sealed_secret)?,
            security_token: text("token", &sealed_token)?,
            role,
            session_name,
            aap,
            expires_at,
        }))
    }

    /// Sessions of `role` that have not expired at `now` (count), for describe output.
    pub fn active_session_count(&self, role: &str, now: i64) -> Result<u64, StoreError> {
        self.read(|tx| {
            let n: i64 = tx.query_row(
                "SELECT COUNT(*) FROM sts_sessions WHERE role = ?1 AND expires > ?2",
                params![role, now],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Deletes the sessions expired at `now` (run by [`Store::purge_deleted_keys`]); their
    /// sealed rows are zeroed on disk by `secure_delete`.
    pub fn purge_expired_sessions(&self, now: i64) -> Result<usize, StoreError> {
        self.write_plain(|tx| tx.execute("DELETE FROM sts_sessions WHERE expires <= ?1", params![now]))
    }
}
