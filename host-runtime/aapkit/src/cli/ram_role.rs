//! `aapkit ram-role ...`: RAM roles bound to a `RAMRole` AAP, and their trust (an OIDC issuer for
//! AssumeRoleWithOIDC, a credentials-URI token). A credentials-URI token is shown once, when it is
//! made (`create --credentials-uri-token`, `issue-token`); the store keeps only its SHA-256.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{fields, join, lines, Out};
use super::CliError;
use aapkit_store::{JwksSource, OidcTrust, RamRoleInfo, RamRoleInput, Store};

#[derive(Subcommand, Debug)]
pub enum RamRoleCmd {
    /// CreateRole: a role bound to an AAP whose AuthenticationMethod is RAMRole, with an OIDC
    /// trust and/or a credentials-URI token.
    Create(Box<CreateArgs>),
    /// ListRoles.
    List,
    /// GetRole.
    Describe {
        #[arg(long)]
        name: String,
    },
    /// DeleteRole: its sessions stop working at once.
    Delete {
        #[arg(long)]
        name: String,
    },
    /// Set a new credentials-URI token (printed once); the previous one stops working.
    IssueToken {
        #[arg(long)]
        name: String,
    },
}

/// `aapkit ram-role create` (boxed: the largest variant by far).
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// RoleName: 1 to 64 letters, digits, `.` or `-`.
    #[arg(long)]
    name: String,
    /// The AAP (AuthenticationMethod RAMRole) whose policies the sessions get.
    #[arg(long)]
    aap: String,
    /// The OIDC issuer (`iss` of the tokens), e.g. the cluster's service-account issuer.
    #[arg(long, requires = "oidc_audience")]
    oidc_issuer: Option<String>,
    /// Accepted `aud` values (repeat); ACK RRSA tokens use `sts.aliyuncs.com`.
    #[arg(long, requires = "oidc_issuer")]
    oidc_audience: Vec<String>,
    /// `sub` exactly, or `prefix*` (e.g. `system:serviceaccount:apps:*`); any subject if omitted.
    #[arg(long, requires = "oidc_issuer")]
    oidc_subject: Option<String>,
    /// The OIDC provider's name: the role accepts OIDCProviderArn
    /// `acs:ram::<AccountId>:oidc-provider/<name>` (default: the role name).
    #[arg(long, requires = "oidc_issuer")]
    oidc_provider_name: Option<String>,
    /// The issuer's JWKS as a file (made absolute).
    #[arg(long, conflicts_with = "oidc_jwks_url", requires = "oidc_issuer")]
    oidc_jwks_file: Option<PathBuf>,
    /// The issuer's JWKS URL (https:// or http://).
    #[arg(long, requires = "oidc_issuer")]
    oidc_jwks_url: Option<String>,
    /// Generate a credentials-URI token (printed once).
    #[arg(long)]
    credentials_uri_token: bool,
    /// MaxSessionDuration in seconds (3600 to 43200; default 3600).
    #[arg(long)]
    max_session_duration: Option<i64>,
    #[arg(long, default_value = "")]
    description: String,
}

fn describe_text(r: &RamRoleInfo) -> String {
    let mut rows = vec![
        ("RoleName", r.role_name.clone()),
        ("RoleId", r.role_id.clone()),
        ("Arn", r.arn.clone()),
        ("AapName", r.aap_name.clone()),
        ("MaxSessionDuration", r.max_session_duration.to_string()),
        ("CredentialsUri", if r.credentials_uri_enabled { "enabled" } else { "-" }.to_owned()),
    ];
    if let Some(o) = &r.oidc {
        rows.push(("OIDCProviderArn", o.oidc_provider_arn.clone()));
        rows.push(("IssuerUrl", o.issuer_url.clone()));
        rows.push(("Audiences", join(&o.audiences)));
        rows.push(("SubjectPattern", o.subject_pattern.clone().unwrap_or_else(|| "(any)".into())));
        rows.push(("Jwks", o.jwks_file.clone().or_else(|| o.jwks_url.clone()).unwrap_or_default()));
    }
    rows.push(("Description", r.description.clone()));
    rows.push(("CreateDate", r.create_date.clone()));
    fields(&rows)
}

pub fn run(store: &Store, cmd: &RamRoleCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        RamRoleCmd::Create(args) => {
            let CreateArgs {
                name,
                aap,
                oidc_issuer,
                oidc_audience,
                oidc_subject,
                oidc_provider_name,
                oidc_jwks_file,
                oidc_jwks_url,
                credentials_uri_token,
                max_session_duration,
                description,
            } = args.as_ref();
            let oidc = match oidc_issuer {
                None => None,
                Some(issuer) => {
                    let jwks = match (oidc_jwks_file, oidc_jwks_url) {
                        (Some(f), None) => {
                            // Absolute, so the server finds it whatever its working directory.
                            let abs = std::path::absolute(f).map_err(|e| CliError::file(f, e))?;
                            let text = abs.to_str().ok_or_else(|| {
                                CliError::Usage(format!("--oidc-jwks-file {}: not UTF-8", abs.display()))
                            })?;
                            JwksSource::File(text.to_owned())
                        }
                        (None, Some(u)) => JwksSource::Url(u.clone()),
                        _ => {
                            return Err(CliError::Usage(
                                "--oidc-issuer needs one of --oidc-jwks-file or --oidc-jwks-url".into(),
                            ))
                        }
                    };
                    Some(OidcTrust {
                        provider_name: oidc_provider_name.clone().unwrap_or_else(|| name.clone()),
                        issuer: issuer.clone(),
                        audiences: oidc_audience.clone(),
                        subject: oidc_subject.clone(),
                        jwks,
                    })
                }
            };
            let created = store.create_ram_role(&RamRoleInput {
                name: name.clone(),
                aap: aap.clone(),
                oidc,
                credentials_uri_token: *credentials_uri_token,
                max_session_duration: *max_session_duration,
                description: description.clone(),
            })?;
            let mut v = serde_json::to_value(&created.info).map_err(|e| CliError::Usage(e.to_string()))?;
            if let (Some(t), Some(o)) = (&created.credentials_uri_token, v.as_object_mut()) {
                o.insert("CredentialsUriToken".into(), json!(t.as_str()));
            }
            out.emit(&v, || {
                let mut text = describe_text(&created.info);
                if let Some(t) = &created.credentials_uri_token {
                    text.push_str(&fields(&[("CredentialsUriToken", t.to_string())]));
                    text.push_str("the token is shown only this once: store it now");
                }
                text
            });
        }
        RamRoleCmd::List => {
            let roles = store.list_ram_roles()?;
            out.emit(&json!({ "Roles": { "Role": roles }, "TotalCount": roles.len() }), || {
                lines(&roles, |r| format!("{}  {}  aap={}  {}", r.role_name, r.arn, r.aap_name, r.create_date))
            });
        }
        RamRoleCmd::Describe { name } => {
            let r = store.describe_ram_role(name)?;
            out.emit(&json!({ "Role": r }), || describe_text(&r));
        }
        RamRoleCmd::Delete { name } => {
            store.delete_ram_role(name)?;
            out.emit(&json!({ "RoleName": name, "Deleted": true }), || {
                format!("deleted {name}; its sessions are revoked")
            });
        }
        RamRoleCmd::IssueToken { name } => {
            let t = store.rotate_credentials_uri_token(name)?;
            out.emit(&json!({ "RoleName": name, "CredentialsUriToken": t.as_str() }), || {
                format!(
                    "{}the token is shown only this once; the previous one no longer works",
                    fields(&[("RoleName", name.clone()), ("CredentialsUriToken", t.to_string())])
                )
            });
        }
    }
    Ok(())
}
