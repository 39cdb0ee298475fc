//! `aapkit network-rule ...`, `aapkit policy ...`, `aapkit aap ...`.

use clap::Subcommand;
use serde_json::json;

use super::list;
use super::output::{fields, join, lines, Out};
use super::CliError;
use aapkit_store::{
    parse_access_control_rules, AapInfo, AapInput, AapUpdate, NetworkRuleInfo, NetworkRuleInput, NetworkRuleUpdate,
    PolicyInfo, PolicyInput, PolicyUpdate, Store,
};

#[derive(Subcommand, Debug)]
pub enum NetworkRuleCmd {
    /// CreateNetworkRule.
    Create {
        #[arg(long)]
        name: String,
        /// Only `Private`.
        #[arg(long = "type", default_value = "Private")]
        network_type: String,
        /// Private IPs or CIDRs (repeat, JSON array, or comma-separated); at most 800.
        #[arg(long, required = true)]
        source_private_ip: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// UpdateNetworkRule.
    Update {
        #[arg(long)]
        name: String,
        #[arg(long)]
        source_private_ip: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// DescribeNetworkRule.
    Describe {
        #[arg(long)]
        name: String,
    },
    /// ListNetworkRules.
    List,
    /// DeleteNetworkRule (refused while a policy uses it).
    Delete {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// CreatePolicy.
    Create {
        #[arg(long)]
        name: String,
        /// Permission templates, e.g. RbacPermission/Template/CryptoServiceKeyUser (repeat or JSON array).
        #[arg(long, required = true)]
        permissions: Vec<String>,
        /// `key/<id>`, `key/<prefix>*`, `secret/<name>`, `secret/<prefix>*` (repeat or JSON array).
        #[arg(long, required = true)]
        resources: Vec<String>,
        /// The scope: a KMS instance id `kst-...` or `shared`.
        #[arg(long)]
        kms_instance: String,
        /// `{"NetworkRules":["rule", ...]}`.
        #[arg(long, conflicts_with = "network_rules")]
        access_control_rules: Option<String>,
        /// Network rule names (repeat or JSON array); shorthand for --access-control-rules.
        #[arg(long)]
        network_rules: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// UpdatePolicy (KmsInstance cannot change).
    Update {
        #[arg(long)]
        name: String,
        #[arg(long)]
        permissions: Vec<String>,
        #[arg(long)]
        resources: Vec<String>,
        #[arg(long, conflicts_with = "network_rules")]
        access_control_rules: Option<String>,
        #[arg(long)]
        network_rules: Vec<String>,
        /// Accepted only if equal to the current scope.
        #[arg(long)]
        kms_instance: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// DescribePolicy.
    Describe {
        #[arg(long)]
        name: String,
    },
    /// ListPolicies.
    List,
    /// DeletePolicy (refused while an AAP uses it).
    Delete {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AapCmd {
    /// CreateApplicationAccessPoint.
    Create {
        #[arg(long)]
        name: String,
        /// Policy names (repeat or JSON array); at most 3.
        #[arg(long, required = true)]
        policies: Vec<String>,
        /// `ClientKey` (the default) or `RAMRole` (callers use RAM-role sessions: `aapkit ram-role`).
        #[arg(long, default_value = "ClientKey")]
        authentication_method: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// UpdateApplicationAccessPoint.
    Update {
        #[arg(long)]
        name: String,
        #[arg(long)]
        policies: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// DescribeApplicationAccessPoint.
    Describe {
        #[arg(long)]
        name: String,
    },
    /// ListApplicationAccessPoints.
    List,
    /// DeleteApplicationAccessPoint (refused while client keys are bound to it).
    Delete {
        #[arg(long)]
        name: String,
    },
}

/// SourcePrivateIp also takes the comma-separated form the Alibaba docs describe.
fn source_ips(values: &[String]) -> Result<Vec<String>, CliError> {
    Ok(list::expand("source-private-ip", values)?
        .iter()
        .flat_map(|v| v.split(',').map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .collect())
}

fn rule_text(r: &NetworkRuleInfo) -> String {
    fields(&[
        ("Name", r.name.clone()),
        ("Type", r.network_type.clone()),
        ("SourcePrivateIp", join(&r.source_private_ip)),
        ("Description", r.description.clone()),
        ("CreateTime", r.create_time.clone()),
    ])
}

fn policy_text(p: &PolicyInfo) -> String {
    fields(&[
        ("Name", p.name.clone()),
        ("KmsInstance", p.kms_instance.clone()),
        ("Permissions", join(&p.permissions)),
        ("Resources", join(&p.resources)),
        ("NetworkRules", join(&p.access_control_rules.network_rules)),
        ("Description", p.description.clone()),
        ("CreateTime", p.create_time.clone()),
    ])
}

fn aap_text(a: &AapInfo) -> String {
    fields(&[
        ("Name", a.name.clone()),
        ("AuthenticationMethod", a.authentication_method.clone()),
        ("Policies", join(&a.policies)),
        ("Description", a.description.clone()),
        ("CreateTime", a.create_time.clone()),
    ])
}

fn deleted(out: &Out, name: &str) {
    out.emit(&json!({ "Name": name, "Deleted": true }), || format!("deleted {name}"));
}

pub fn run_network_rule(store: &Store, cmd: &NetworkRuleCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        NetworkRuleCmd::Create { name, network_type, source_private_ip, description } => {
            let r = store.create_network_rule(&NetworkRuleInput {
                name: name.clone(),
                network_type: network_type.clone(),
                source_private_ip: source_ips(source_private_ip)?,
                description: description.clone(),
            })?;
            out.emit(&r, || rule_text(&r));
        }
        NetworkRuleCmd::Update { name, source_private_ip, description } => {
            let ips = if source_private_ip.is_empty() { None } else { Some(source_ips(source_private_ip)?) };
            let r = store.update_network_rule(&NetworkRuleUpdate {
                name: name.clone(),
                source_private_ip: ips,
                description: description.clone(),
            })?;
            out.emit(&r, || rule_text(&r));
        }
        NetworkRuleCmd::Describe { name } => {
            let r = store.describe_network_rule(name)?;
            out.emit(&r, || rule_text(&r));
        }
        NetworkRuleCmd::List => {
            let rules = store.list_network_rules()?;
            out.emit(&json!({ "NetworkRules": rules, "TotalCount": rules.len() }), || {
                lines(&rules, |r| format!("{}  {}  {}", r.name, r.network_type, join(&r.source_private_ip)))
            });
        }
        NetworkRuleCmd::Delete { name } => {
            store.delete_network_rule(name)?;
            deleted(out, name);
        }
    }
    Ok(())
}

/// The policy's network rules from `--access-control-rules` or `--network-rules`.
fn rules_arg(acr: &Option<String>, names: &[String]) -> Result<Option<Vec<String>>, CliError> {
    match acr {
        Some(text) => Ok(Some(parse_access_control_rules(text)?)),
        None => list::expand_opt("network-rules", names),
    }
}

pub fn run_policy(store: &Store, cmd: &PolicyCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        PolicyCmd::Create {
            name,
            permissions,
            resources,
            kms_instance,
            access_control_rules,
            network_rules,
            description,
        } => {
            let p = store.create_policy(&PolicyInput {
                name: name.clone(),
                permissions: list::expand("permissions", permissions)?,
                resources: list::expand("resources", resources)?,
                kms_instance: kms_instance.clone(),
                network_rules: rules_arg(access_control_rules, network_rules)?.unwrap_or_default(),
                description: description.clone(),
            })?;
            out.emit(&p, || policy_text(&p));
        }
        PolicyCmd::Update {
            name,
            permissions,
            resources,
            access_control_rules,
            network_rules,
            kms_instance,
            description,
        } => {
            let p = store.update_policy(&PolicyUpdate {
                name: name.clone(),
                permissions: list::expand_opt("permissions", permissions)?,
                resources: list::expand_opt("resources", resources)?,
                network_rules: rules_arg(access_control_rules, network_rules)?,
                description: description.clone(),
                kms_instance: kms_instance.clone(),
            })?;
            out.emit(&p, || policy_text(&p));
        }
        PolicyCmd::Describe { name } => {
            let p = store.describe_policy(name)?;
            out.emit(&p, || policy_text(&p));
        }
        PolicyCmd::List => {
            let ps = store.list_policies()?;
            out.emit(&json!({ "Policies": ps, "TotalCount": ps.len() }), || {
                lines(&ps, |p| format!("{}  {}  {}", p.name, p.kms_instance, join(&p.resources)))
            });
        }
        PolicyCmd::Delete { name } => {
            store.delete_policy(name)?;
            deleted(out, name);
        }
    }
    Ok(())
}

pub fn run_aap(store: &Store, cmd: &AapCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        AapCmd::Create { name, policies, authentication_method, description } => {
            let a = store.create_aap(&AapInput {
                name: name.clone(),
                policies: list::expand("policies", policies)?,
                authentication_method: authentication_method.clone(),
                description: description.clone(),
            })?;
            out.emit(&a, || aap_text(&a));
        }
        AapCmd::Update { name, policies, description } => {
            let a = store.update_aap(&AapUpdate {
                name: name.clone(),
                policies: list::expand_opt("policies", policies)?,
                description: description.clone(),
            })?;
            out.emit(&a, || aap_text(&a));
        }
        AapCmd::Describe { name } => {
            let a = store.describe_aap(name)?;
            out.emit(&a, || aap_text(&a));
        }
        AapCmd::List => {
            let aaps = store.list_aaps()?;
            out.emit(&json!({ "ApplicationAccessPoints": aaps, "TotalCount": aaps.len() }), || {
                lines(&aaps, |a| format!("{}  {}  {}", a.name, a.authentication_method, join(&a.policies)))
            });
        }
        AapCmd::Delete { name } => {
            store.delete_aap(name)?;
            deleted(out, name);
        }
    }
    Ok(())
}
