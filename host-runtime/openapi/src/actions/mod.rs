//! The actions: one function each, from the request's parameters to the response JSON the
//! 3.3.1 SDK models name and type (docs/openapi.md lists them). Every write is one store call:
//! validation, limits, the transaction and its management event live there, shared with the CLI.

mod aap;
mod instance;
mod keys;
mod secrets;

use aapkit_store::{Account, Store};
use serde_json::{json, Value};

use crate::params::{Page, Params};
use crate::service::InstanceInfo;
use crate::OpenApiError;

/// What an action runs with.
pub struct ActionContext<'a> {
    /// The management store, its actor set to the caller.
    pub store: &'a Store,
    pub instance: &'a InstanceInfo,
    pub account: &'a Account,
    pub now: i64,
}

impl ActionContext<'_> {
    /// `acs:kms:<region>:<account>:<resource>`.
    pub fn arn(&self, resource: &str) -> String {
        format!("acs:kms:{}:{}:{resource}", self.account.region_id, self.account.account_id)
    }
}

pub type Handler = fn(&ActionContext<'_>, &Params) -> Result<Value, OpenApiError>;

/// The handler of `action`, or `None` for an action this endpoint does not serve.
pub fn lookup(action: &str) -> Option<Handler> {
    Some(match action {
        "CreateNetworkRule" => aap::create_network_rule,
        "UpdateNetworkRule" => aap::update_network_rule,
        "DescribeNetworkRule" => aap::describe_network_rule,
        "ListNetworkRules" => aap::list_network_rules,
        "DeleteNetworkRule" => aap::delete_network_rule,
        "CreatePolicy" => aap::create_policy,
        "UpdatePolicy" => aap::update_policy,
        "DescribePolicy" => aap::describe_policy,
        "ListPolicies" => aap::list_policies,
        "DeletePolicy" => aap::delete_policy,
        "CreateApplicationAccessPoint" => aap::create_aap,
        "UpdateApplicationAccessPoint" => aap::update_aap,
        "DescribeApplicationAccessPoint" => aap::describe_aap,
        "ListApplicationAccessPoints" => aap::list_aaps,
        "DeleteApplicationAccessPoint" => aap::delete_aap,
        "CreateClientKey" => aap::create_client_key,
        "GetClientKey" => aap::get_client_key,
        "ListClientKeys" => aap::list_client_keys,
        "DeleteClientKey" => aap::delete_client_key,
        "CreateKey" => keys::create_key,
        "DescribeKey" => keys::describe_key,
        "ListKeys" => keys::list_keys,
        "EnableKey" => keys::enable_key,
        "DisableKey" => keys::disable_key,
        "ScheduleKeyDeletion" => keys::schedule_key_deletion,
        "CancelKeyDeletion" => keys::cancel_key_deletion,
        "CreateKeyVersion" => keys::create_key_version,
        "ListKeyVersions" => keys::list_key_versions,
        "CreateAlias" => keys::create_alias,
        "UpdateAlias" => keys::update_alias,
        "DeleteAlias" => keys::delete_alias,
        "ListAliases" => keys::list_aliases,
        "ListAliasesByKeyId" => keys::list_aliases_by_key_id,
        "CreateSecret" => secrets::create_secret,
        "PutSecretValue" => secrets::put_secret_value,
        "DescribeSecret" => secrets::describe_secret,
        "ListSecrets" => secrets::list_secrets,
        "ListSecretVersionIds" => secrets::list_secret_version_ids,
        "UpdateSecretVersionStage" => secrets::update_secret_version_stage,
        "DeleteSecret" => secrets::delete_secret,
        "RestoreSecret" => secrets::restore_secret,
        "GetKmsInstance" => instance::get_kms_instance,
        "ListKmsInstances" => instance::list_kms_instances,
        _ => return None,
    })
}

/// Every action name this endpoint serves (docs and tests).
pub const ACTIONS: &[&str] = &[
    "CreateNetworkRule",
    "UpdateNetworkRule",
    "DescribeNetworkRule",
    "ListNetworkRules",
    "DeleteNetworkRule",
    "CreatePolicy",
    "UpdatePolicy",
    "DescribePolicy",
    "ListPolicies",
    "DeletePolicy",
    "CreateApplicationAccessPoint",
    "UpdateApplicationAccessPoint",
    "DescribeApplicationAccessPoint",
    "ListApplicationAccessPoints",
    "DeleteApplicationAccessPoint",
    "CreateClientKey",
    "GetClientKey",
    "ListClientKeys",
    "DeleteClientKey",
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "CreateKeyVersion",
    "ListKeyVersions",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "ListAliasesByKeyId",
    "CreateSecret",
    "PutSecretValue",
    "DescribeSecret",
    "ListSecrets",
    "ListSecretVersionIds",
    "UpdateSecretVersionStage",
    "DeleteSecret",
    "RestoreSecret",
    "GetKmsInstance",
    "ListKmsInstances",
];

/// A List* response: `{<outer>: {<inner>: [items of the page]}, PageNumber, PageSize, TotalCount}`.
fn paged<T>(page: Page, all: &[T], outer: &str, inner: &str, item: impl Fn(&T) -> Value) -> Value {
    let items: Vec<Value> = page.slice(all).iter().map(item).collect();
    json!({
        outer: { inner: items },
        "PageNumber": page.number,
        "PageSize": page.size,
        "TotalCount": all.len(),
    })
}

/// The empty success body (`RequestId` is added by the service).
fn done() -> Value {
    json!({})
}

/// A JSON array rendered as a string, as the models type `SourcePrivateIp`, `Policies`, ....
fn json_text(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_action_has_a_handler_and_no_other_does() {
        for a in ACTIONS {
            assert!(lookup(a).is_some(), "{a}");
        }
        assert!(lookup("GetSecretValueX").is_none());
        assert!(lookup("createkey").is_none(), "action names are case-sensitive");
    }
}
