//! `aapkit audit ...`: the audit log of client-key calls, the management events and the expiry
//! notices, read from the store the server writes them to.

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::output::{escape_field, lines, Out};
use super::CliError;
use aapkit_store::{format_time, parse_time, Action, AuditQuery, EventQuery, ResourceType, Store};

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Instance API calls made with client keys, newest first.
    Query {
        /// The client key id (`access_key_id`).
        #[arg(long)]
        client_key: Option<String>,
        #[arg(long, visible_alias = "aap-name")]
        aap: Option<String>,
        /// API name, e.g. Encrypt.
        #[arg(long)]
        api: Option<String>,
        #[arg(long, value_enum)]
        decision: Option<Decision>,
        /// From: a duration back from now (30s, 15m, 24h, 7d, 2w) or a time (2025-01-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Up to (exclusive): same forms as --since.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Management events: create, update and delete of keys, aliases, secrets, network rules,
    /// policies, AAPs and client keys, newest first.
    Events {
        /// key, alias, secret, network-rule, policy, aap or client-key.
        #[arg(long)]
        resource_type: Option<String>,
        #[arg(long)]
        resource_name: Option<String>,
        /// Create, Update or Delete.
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Client-key expiry notices (180, 90, 30 and 7 days before NotAfter), newest first.
    Notices {
        #[arg(long)]
        client_key: Option<String>,
    },
    /// Delete audit rows and management events older than the retention (the server also does
    /// this at start and hourly).
    Prune {
        #[arg(long, default_value_t = crate::ops::audit_sink::DEFAULT_RETENTION_DAYS,
              value_parser = clap::value_parser!(u32).range(1..))]
        retention_days: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Decision {
    Allow,
    Deny,
}

/// `7d`, `24h`, `15m`, `30s`, `2w` back from `now`, or an RFC 3339 time.
pub fn parse_when(flag: &'static str, text: &str, now: i64) -> Result<i64, CliError> {
    let t = text.trim();
    let unit = t.chars().last().and_then(|c| match c {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3_600),
        'd' => Some(86_400),
        'w' => Some(7 * 86_400),
        _ => None,
    });
    if let Some(unit) = unit {
        let digits = t.get(..t.len() - 1).unwrap_or_default();
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 =
                digits.parse().map_err(|_| CliError::Usage(format!("--{flag} {text:?}: the number is too large")))?;
            return n
                .checked_mul(unit)
                .and_then(|d| now.checked_sub(d))
                .ok_or_else(|| CliError::Usage(format!("--{flag} {text:?}: the duration is too large")));
        }
    }
    parse_time(flag, t).map_err(|_| {
        CliError::Usage(format!(
            "--{flag} {text:?}: expected a duration back from now (30s, 15m, 24h, 7d, 2w) or a time like 2025-01-01T00:00:00Z"
        ))
    })
}

fn window(since: &Option<String>, until: &Option<String>, now: i64) -> Result<(Option<i64>, Option<i64>), CliError> {
    let s = since.as_deref().map(|v| parse_when("since", v, now)).transpose()?;
    let u = until.as_deref().map(|v| parse_when("until", v, now)).transpose()?;
    Ok((s, u))
}

pub fn run(store: &Store, cmd: &AuditCmd, out: &Out) -> Result<(), CliError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match cmd {
        AuditCmd::Query { client_key, aap, api, decision, since, until, limit } => {
            let (since, until) = window(since, until, now)?;
            let rows = store.query_audit(&AuditQuery {
                client_key: client_key.clone(),
                aap: aap.clone(),
                api: api.clone(),
                allowed: decision.map(|d| d == Decision::Allow),
                since,
                until,
                limit: *limit,
            })?;
            out.emit(&json!({ "AuditLogs": rows, "Count": rows.len() }), || {
                // Every field escaped: rows hold what requests carried, never terminal input.
                lines(&rows, |r| {
                    let dash = |s: &str| if s.is_empty() { "-".to_owned() } else { escape_field(s).into_owned() };
                    let mut line = format!(
                        "{}  {}  {}  {:<5} {:<28} {:<22} {}  {}  {}  {} us",
                        format_time(r.time),
                        escape_field(&r.request_id),
                        escape_field(&r.access_key_id),
                        if r.allowed { "allow" } else { "deny" },
                        escape_field(&r.api),
                        dash(&r.error_code),
                        dash(&r.resource),
                        dash(&r.aap),
                        escape_field(&r.source_ip),
                        r.latency_us
                    );
                    if !r.detail.is_empty() {
                        line.push_str(&format!("  detail: {}", escape_field(&r.detail)));
                    }
                    line
                })
            });
        }
        AuditCmd::Events { resource_type, resource_name, action, actor, since, until, limit } => {
            let (since, until) = window(since, until, now)?;
            let resource_type = resource_type
                .as_deref()
                .map(|t| {
                    ResourceType::parse(t).ok_or_else(|| {
                        CliError::Usage(format!(
                            "--resource-type {t:?}: expected one of {}",
                            ResourceType::ALL.map(ResourceType::as_str).join(", ")
                        ))
                    })
                })
                .transpose()?;
            let action = action
                .as_deref()
                .map(|a| {
                    Action::parse(a)
                        .ok_or_else(|| CliError::Usage(format!("--action {a:?}: expected Create, Update or Delete")))
                })
                .transpose()?;
            let events = store.query_events(&EventQuery {
                resource_type,
                resource_name: resource_name.clone(),
                action,
                actor: actor.clone(),
                since,
                until,
                limit: *limit,
            })?;
            out.emit(&json!({ "Events": events, "Count": events.len() }), || {
                lines(&events, |e| {
                    format!(
                        "{}  {:<10} {:<6} {:<12} {}  ({})",
                        escape_field(&e.time),
                        escape_field(&e.actor),
                        escape_field(&e.action),
                        escape_field(&e.resource_type),
                        escape_field(&e.resource_name),
                        escape_field(&e.operation)
                    )
                })
            });
        }
        AuditCmd::Notices { client_key } => {
            let notices = store.list_expiry_notices(client_key.as_deref())?;
            out.emit(&json!({ "Notices": notices, "Count": notices.len() }), || {
                lines(&notices, |n| {
                    format!(
                        "{}  {}  {:>3}-day notice  NotAfter {}  webhook {}{}",
                        format_time(n.notified_at),
                        escape_field(&n.client_key_id),
                        n.threshold_days,
                        format_time(n.not_after),
                        escape_field(&n.delivery),
                        if n.last_error.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", escape_field(&n.last_error))
                        }
                    )
                })
            });
        }
        AuditCmd::Prune { retention_days } => {
            let before = now - i64::from(*retention_days) * 86_400;
            let n = store.prune_audit(before)?;
            out.emit(&n, || {
                format!(
                    "removed {} audit rows and {} management events older than {}",
                    n.audit_rows,
                    n.management_events,
                    format_time(before)
                )
            });
        }
    }
    Ok(())
}

/// How recent a call must be for `client-key delete` to ask for `--force`.
pub const RECENT_USE_SECS: i64 = 7 * 86_400;

/// The refusal (or, with `force`, the warning) for deleting a client key that was used recently.
pub fn check_recent_use(store: &Store, client_key_id: &str, force: bool, out: &Out) -> Result<(), CliError> {
    // The key must exist; its absence is the more useful error.
    store.get_client_key(client_key_id)?;
    let Some(last) = store.client_key_last_call(client_key_id)? else {
        return Ok(());
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if now - last.time > RECENT_USE_SECS {
        return Ok(());
    }
    let what = format!(
        "the client key {client_key_id} was used {} ago (last call {} {} from {} at {}); deleting it breaks the \
         application that holds it. See `aapkit audit query --client-key {client_key_id} --since 7d`",
        human_age(now - last.time),
        escape_field(&last.api),
        if last.allowed { "allowed" } else { "denied" },
        escape_field(&last.source_ip),
        format_time(last.time)
    );
    if force {
        out.warn(&format!("{what}; deleting anyway (--force)"));
        Ok(())
    } else {
        Err(CliError::Refused(format!("{what}. Pass --force to delete it anyway")))
    }
}

fn human_age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7_200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3_600),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_and_times() {
        let now = 1_000_000;
        assert_eq!(parse_when("since", "7d", now).unwrap(), now - 7 * 86_400);
        assert_eq!(parse_when("since", "24h", now).unwrap(), now - 86_400);
        assert_eq!(parse_when("since", "15m", now).unwrap(), now - 900);
        assert_eq!(parse_when("since", "30s", now).unwrap(), now - 30);
        assert_eq!(parse_when("since", "2w", now).unwrap(), now - 14 * 86_400);
        assert_eq!(parse_when("since", "1970-01-02T00:00:00Z", now).unwrap(), 86_400);
        for bad in ["d", "7x", "-7d", "7.5d", "", "yesterday", "99999999999999999999d"] {
            assert!(parse_when("since", bad, now).is_err(), "{bad}");
        }
    }
}
