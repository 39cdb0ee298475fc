//! The AAP family: network rules, policies, application access points, client keys.

use aapkit_store::{
    parse_access_control_rules, AapInfo, AapInput, AapUpdate, ClientKeyInfo, NetworkRuleInfo, NetworkRuleInput,
    NetworkRuleUpdate, PolicyInfo, PolicyInput, PolicyUpdate,
};
use serde_json::{json, Value};

use super::{done, json_text, paged, ActionContext};
use crate::params::Params;
use crate::OpenApiError;

/// `PageSize` when the caller gives none (Alibaba's default for these lists).
const PAGE_SIZE: i64 = 20;

// --- network rules -------------------------------------------------------------------------------

fn rule_arn(ctx: &ActionContext<'_>, name: &str) -> String {
    ctx.arn(&format!("network/{name}"))
}

fn rule_json(ctx: &ActionContext<'_>, r: &NetworkRuleInfo) -> Value {
    json!({
        "Arn": rule_arn(ctx, &r.name),
        "Name": r.name,
        "Type": r.network_type,
        "SourcePrivateIp": json_text(&r.source_private_ip),
        "Description": r.description,
    })
}

pub fn create_network_rule(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let input = NetworkRuleInput {
        name: p.required("Name")?.to_owned(),
        network_type: p.required("Type")?.to_owned(),
        source_private_ip: p
            .json_strings("SourcePrivateIp")?
            .ok_or(OpenApiError::MissingParameter("SourcePrivateIp".into()))?,
        description: p.get("Description").unwrap_or_default().to_owned(),
    };
    let r = ctx.store.create_network_rule(&input)?;
    Ok(rule_json(ctx, &r))
}

pub fn update_network_rule(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let update = NetworkRuleUpdate {
        name: p.required("Name")?.to_owned(),
        source_private_ip: p.json_strings("SourcePrivateIp")?,
        description: p.get("Description").map(str::to_owned),
    };
    ctx.store.update_network_rule(&update)?;
    Ok(done())
}

pub fn describe_network_rule(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let r = ctx.store.describe_network_rule(p.required("Name")?)?;
    Ok(rule_json(ctx, &r))
}

pub fn list_network_rules(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    let all = ctx.store.list_network_rules()?;
    Ok(paged(page, &all, "NetworkRules", "NetworkRule", |r| json!({ "Name": r.name, "Type": r.network_type })))
}

pub fn delete_network_rule(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.delete_network_rule(p.required("Name")?)?;
    Ok(done())
}

// --- policies ------------------------------------------------------------------------------------

fn policy_arn(ctx: &ActionContext<'_>, name: &str) -> String {
    ctx.arn(&format!("policy/{name}"))
}

fn access_control_rules_text(p: &PolicyInfo) -> String {
    json!({ "NetworkRules": p.access_control_rules.network_rules }).to_string()
}

/// `AccessControlRules` (`{"NetworkRules":[...]}`), absent → `None`.
fn network_rules_param(p: &Params) -> Result<Option<Vec<String>>, OpenApiError> {
    p.optional("AccessControlRules").map(parse_access_control_rules).transpose().map_err(OpenApiError::from)
}

pub fn create_policy(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let input = PolicyInput {
        name: p.required("Name")?.to_owned(),
        permissions: p.json_strings("Permissions")?.ok_or(OpenApiError::MissingParameter("Permissions".into()))?,
        resources: p.json_strings("Resources")?.ok_or(OpenApiError::MissingParameter("Resources".into()))?,
        kms_instance: p.required("KmsInstance")?.to_owned(),
        network_rules: network_rules_param(p)?.ok_or(OpenApiError::MissingParameter("AccessControlRules".into()))?,
        description: p.get("Description").unwrap_or_default().to_owned(),
    };
    let r = ctx.store.create_policy(&input)?;
    // CreatePolicy's model types the three lists as JSON text; DescribePolicy's as arrays.
    Ok(json!({
        "Arn": policy_arn(ctx, &r.name),
        "Name": r.name,
        "Description": r.description,
        "KmsInstance": r.kms_instance,
        "Permissions": json_text(&r.permissions),
        "Resources": json_text(&r.resources),
        "AccessControlRules": access_control_rules_text(&r),
    }))
}

pub fn update_policy(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let update = PolicyUpdate {
        name: p.required("Name")?.to_owned(),
        permissions: p.json_strings("Permissions")?,
        resources: p.json_strings("Resources")?,
        network_rules: network_rules_param(p)?,
        description: p.get("Description").map(str::to_owned),
        kms_instance: p.optional("KmsInstance").map(str::to_owned),
    };
    ctx.store.update_policy(&update)?;
    Ok(done())
}

pub fn describe_policy(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let r = ctx.store.describe_policy(p.required("Name")?)?;
    Ok(json!({
        "Arn": policy_arn(ctx, &r.name),
        "Name": r.name,
        "Description": r.description,
        "KmsInstance": r.kms_instance,
        "Permissions": r.permissions,
        "Resources": r.resources,
        "AccessControlRules": access_control_rules_text(&r),
    }))
}

pub fn list_policies(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    let all = ctx.store.list_policies()?;
    Ok(paged(page, &all, "Policies", "Policy", |r| json!({ "Name": r.name })))
}

pub fn delete_policy(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.delete_policy(p.required("Name")?)?;
    Ok(done())
}

// --- application access points -------------------------------------------------------------------

fn aap_json(ctx: &ActionContext<'_>, a: &AapInfo) -> Value {
    json!({
        "Arn": ctx.arn(&format!("applicationaccesspoint/{}", a.name)),
        "Name": a.name,
        "AuthenticationMethod": a.authentication_method,
        "Policies": json_text(&a.policies),
        "Description": a.description,
    })
}

pub fn create_aap(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let input = AapInput {
        name: p.required("Name")?.to_owned(),
        policies: p.json_strings("Policies")?.ok_or(OpenApiError::MissingParameter("Policies".into()))?,
        authentication_method: p.optional("AuthenticationMethod").unwrap_or("ClientKey").to_owned(),
        description: p.get("Description").unwrap_or_default().to_owned(),
    };
    let a = ctx.store.create_aap(&input)?;
    Ok(aap_json(ctx, &a))
}

pub fn update_aap(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let update = AapUpdate {
        name: p.required("Name")?.to_owned(),
        policies: p.json_strings("Policies")?,
        description: p.get("Description").map(str::to_owned),
    };
    ctx.store.update_aap(&update)?;
    Ok(done())
}

pub fn describe_aap(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let a = ctx.store.describe_aap(p.required("Name")?)?;
    Ok(aap_json(ctx, &a))
}

pub fn list_aaps(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    let all = ctx.store.list_aaps()?;
    Ok(paged(
        page,
        &all,
        "ApplicationAccessPoints",
        "ApplicationAccessPoint",
        |a| json!({ "Name": a.name, "AuthenticationMethod": a.authentication_method }),
    ))
}

pub fn delete_aap(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.delete_aap(p.required("Name")?)?;
    Ok(done())
}

// --- client keys ---------------------------------------------------------------------------------

fn client_key_json(k: &ClientKeyInfo) -> Value {
    json!({
        "ClientKeyId": k.client_key_id,
        "AapName": k.aap_name,
        "KeyAlgorithm": k.key_algorithm,
        "KeyOrigin": k.key_origin,
        "NotBefore": k.not_before,
        "NotAfter": k.not_after,
        "CreateTime": k.create_time,
        "PublicKeyData": k.public_key_data,
    })
}

pub fn create_client_key(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let aap = p.required("AapName")?;
    let password = zeroize::Zeroizing::new(p.required("Password")?.to_owned());
    let (not_before, not_after) = match (p.optional("NotBefore"), p.optional("NotAfter")) {
        (Some(b), Some(a)) => (aapkit_store::parse_time("NotBefore", b)?, aapkit_store::parse_time("NotAfter", a)?),
        (None, None) => aapkit_store::default_client_key_window(ctx.now)?,
        (Some(_), None) => return Err(OpenApiError::MissingParameter("NotAfter".into())),
        (None, Some(_)) => return Err(OpenApiError::MissingParameter("NotBefore".into())),
    };
    if not_after <= ctx.now {
        // A key whose window has ended could never be used (the CLI asks for --allow-expired).
        return Err(OpenApiError::invalid("NotAfter", "the validity window has already ended"));
    }
    let created = ctx.store.create_client_key(aap, &password, not_before, not_after)?;
    Ok(json!({
        "ClientKeyId": created.info.client_key_id,
        "KeyAlgorithm": created.info.key_algorithm,
        "PrivateKeyData": created.private_key_data().as_str(),
        "NotBefore": created.info.not_before,
        "NotAfter": created.info.not_after,
    }))
}

pub fn get_client_key(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let k = ctx.store.get_client_key(p.required("ClientKeyId")?)?;
    Ok(client_key_json(&k))
}

pub fn list_client_keys(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let aap = p.optional("AapName");
    if let Some(name) = aap {
        ctx.store.describe_aap(name)?; // an unknown AAP is an error, not an empty list
    }
    let keys = ctx.store.list_client_keys(aap)?;
    // The model's ClientKeys is a plain array (no inner wrapper, no paging).
    Ok(json!({ "ClientKeys": keys.iter().map(client_key_json).collect::<Vec<_>>() }))
}

pub fn delete_client_key(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.delete_client_key(p.required("ClientKeyId")?)?;
    Ok(done())
}
