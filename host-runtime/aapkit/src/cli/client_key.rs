//! `aapkit client-key ...`. The private key goes only to the `--output` file (mode 0600); the
//! store keeps the public record.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use zeroize::Zeroizing;

use super::output::{fields, lines, Out};
use super::secrets::read_file_or_stdin;
use super::CliError;
use aapkit_store::{default_client_key_window, format_time, parse_time, ClientKeyInfo, Store, StoreError};
use time::OffsetDateTime;

#[derive(Subcommand, Debug, Clone)]
pub enum ClientKeyCmd {
    /// CreateClientKey: writes the ClientKeyContent JSON ({"KeyId","PrivateKeyData"}) to --output.
    Create {
        #[arg(long, visible_alias = "aap-name")]
        aap: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Start of the validity window, ISO 8601 UTC (e.g. 2025-01-01T00:00:00Z). Give both
        /// --not-before and --not-after, or neither (then: now until five years from now).
        #[arg(long, requires = "not_after")]
        not_before: Option<String>,
        /// End of the validity window, ISO 8601 UTC. Give both --not-before and --not-after, or
        /// neither (then: now until five years from now).
        #[arg(long, requires = "not_before")]
        not_after: Option<String>,
        /// Create the key even though its window has already ended (it can never be used).
        #[arg(long)]
        allow_expired: bool,
        /// Where to write the ClientKeyContent JSON (created with mode 0600; never overwritten).
        #[arg(long)]
        output: PathBuf,
    },
    /// ListClientKeys (of one AAP, or all).
    List {
        #[arg(long, visible_alias = "aap-name")]
        aap: Option<String>,
    },
    /// GetClientKey.
    Get {
        #[arg(long)]
        client_key_id: String,
    },
    /// DeleteClientKey: the key stops working at the gateway's next reload. Refused when the audit
    /// log shows a call with the key in the last 7 days, unless --force.
    Delete {
        #[arg(long)]
        client_key_id: String,
        /// Delete even though the key was used in the last 7 days.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args, Debug, Clone)]
#[group(id = "password_source", required = true, multiple = false)]
pub struct PasswordArgs {
    /// File holding the PKCS#12 password (`-` for stdin). One trailing newline (`\n` or `\r\n`) is
    /// removed, as editors and `echo` add one. (--secret-data-file, by contrast, keeps every byte.)
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    #[arg(long)]
    password_env: Option<String>,
    /// The password itself (visible in the process list: prefer --password-file).
    #[arg(long)]
    password: Option<String>,
}

impl PasswordArgs {
    fn read(&self, out: &Out) -> Result<Zeroizing<String>, CliError> {
        let pw = if let Some(path) = &self.password_file {
            let bytes = read_file_or_stdin(path)?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| CliError::Usage(format!("--password-file {}: not UTF-8", path.display())))?;
            // One line: drop the final newline an editor adds.
            Zeroizing::new(
                text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(text).to_owned(),
            )
        } else if let Some(var) = &self.password_env {
            Zeroizing::new(std::env::var(var).map_err(|_| {
                CliError::Usage(format!("--password-env {var}: the variable is not set (or not UTF-8)"))
            })?)
        } else if let Some(p) = &self.password {
            out.warn("--password puts the password in the process list and shell history; prefer --password-file or --password-env");
            Zeroizing::new(p.clone())
        } else {
            return Err(CliError::Usage("give --password-file, --password-env or --password".into()));
        };
        check_password(&pw)?;
        Ok(pw)
    }
}

/// The CreateClientKey password rule (the PKI module's, which the PKCS#12 writer enforces too).
pub fn check_password(pw: &str) -> Result<(), StoreError> {
    aapkit_pki::validate_password(pw).map_err(|e| StoreError::invalid("Password", "(not shown)", e.to_string()))
}

/// Creates `path` with mode 0600, refusing to overwrite.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CliError::file(path, e))?;
    f.write_all(contents).and_then(|()| f.sync_all()).map_err(|e| CliError::file(path, e))
}

/// Creates a client key for `aap` (the store's CreateClientKey, the one the OpenAPI runs too)
/// and writes its ClientKeyContent to `output` (0600, never overwritten). If the file cannot be
/// written the key is deleted again: nothing usable is left behind.
pub(crate) fn create_client_key(
    store: &Store,
    aap: &str,
    password: &str,
    nb: i64,
    na: i64,
    output: &Path,
) -> Result<ClientKeyInfo, CliError> {
    if output.exists() {
        return Err(CliError::Usage(format!(
            "--output {}: the file exists; it is never overwritten",
            output.display()
        )));
    }
    let created = store.create_client_key(aap, password, nb, na)?;
    let written = created
        .client_key_content()
        .map_err(CliError::from)
        .and_then(|content| write_private_file(output, content.as_bytes()));
    if let Err(e) = written {
        // The private key is lost with the file: the registered key could never be used.
        let _ = store.delete_client_key(&created.info.client_key_id);
        return Err(e);
    }
    Ok(created.info)
}

fn key_text(k: &ClientKeyInfo) -> String {
    fields(&[
        ("ClientKeyId", k.client_key_id.clone()),
        ("AapName", k.aap_name.clone()),
        ("KeyAlgorithm", k.key_algorithm.clone()),
        ("NotBefore", k.not_before.clone()),
        ("NotAfter", k.not_after.clone()),
        ("DaysToExpiry", k.days_to_expiry.to_string()),
        ("CreateTime", k.create_time.clone()),
    ])
}

pub fn run(store: &Store, cmd: &ClientKeyCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        ClientKeyCmd::Create { aap, password, not_before, not_after, allow_expired, output } => {
            let password = password.read(out)?;
            let (nb, na) = match (not_before, not_after) {
                (Some(b), Some(a)) => (parse_time("NotBefore", b)?, parse_time("NotAfter", a)?),
                // Alibaba's default, the store's (the OpenAPI uses the same): now until five years on.
                (None, None) => default_client_key_window(OffsetDateTime::now_utc().unix_timestamp())?,
                _ => return Err(CliError::Usage("--not-before and --not-after go together".into())),
            };
            let now = OffsetDateTime::now_utc().unix_timestamp();
            if na <= now && !allow_expired {
                return Err(StoreError::invalid(
                    "NotAfter",
                    format_time(na),
                    "the validity window has already ended, so the key could never be used; pass \
                     --allow-expired to create it anyway",
                )
                .into());
            }
            let info = create_client_key(store, aap, &password, nb, na, output)?;
            out.emit(
                &json!({
                    "ClientKeyId": info.client_key_id,
                    "AapName": info.aap_name,
                    "KeyAlgorithm": info.key_algorithm,
                    "NotBefore": info.not_before,
                    "NotAfter": info.not_after,
                    "Output": output,
                }),
                || format!("{}wrote {} (mode 0600)", key_text(&info), output.display()),
            );
        }
        ClientKeyCmd::List { aap } => {
            let keys = store.list_client_keys(aap.as_deref())?;
            out.emit(&json!({ "ClientKeys": keys, "TotalCount": keys.len() }), || {
                lines(&keys, |k| {
                    format!(
                        "{}  {}  {} .. {}  ({})",
                        k.client_key_id,
                        k.aap_name,
                        k.not_before,
                        k.not_after,
                        if k.days_to_expiry < 0 {
                            "expired".to_owned()
                        } else {
                            format!("{} days to expiry", k.days_to_expiry)
                        }
                    )
                })
            });
        }
        ClientKeyCmd::Get { client_key_id } => {
            let k = store.get_client_key(client_key_id)?;
            out.emit(&k, || key_text(&k));
        }
        ClientKeyCmd::Delete { client_key_id, force } => {
            super::audit::check_recent_use(store, client_key_id, *force, out)?;
            store.delete_client_key(client_key_id)?;
            out.emit(&json!({ "ClientKeyId": client_key_id, "Deleted": true }), || format!("deleted {client_key_id}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_password;

    #[test]
    fn password_rules() {
        for (pw, ok) in [
            ("abcd1234", true),
            ("Abcdefgh", false),
            ("abc_defg", true),
            ("abcdefgh", false),
            ("12345678", false),
            ("Ab1", false),
            ("abcd 1234", false),
            ("abcd1234\u{e9}", false),
        ] {
            assert_eq!(check_password(pw).is_ok(), ok, "{pw}");
        }
        assert!(check_password(&"aB".repeat(33)).is_err());
    }
}
