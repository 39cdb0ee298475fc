//! Keys, key versions and aliases.

use aapkit_store::{AliasInfo, KeyInfo, KeyInput, KeyVersionInfo};
use serde_json::{json, Value};

use super::{done, paged, ActionContext};
use crate::params::Params;
use crate::OpenApiError;

/// `PageSize` when the caller gives none (Alibaba's default for these lists).
const PAGE_SIZE: i64 = 10;

/// `DKMSInstanceId`, when given, must name this instance (keys live in it).
fn check_instance(ctx: &ActionContext<'_>, p: &Params) -> Result<(), OpenApiError> {
    match p.optional("DKMSInstanceId") {
        Some(id) if id != ctx.instance.instance_id => Err(OpenApiError::InstanceNotFound(id.to_owned())),
        _ => Ok(()),
    }
}

/// DescribeKey's `KeyMetadata` (every field a string, as the model types them).
fn key_metadata(ctx: &ActionContext<'_>, k: &KeyInfo) -> Value {
    json!({
        "Arn": k.arn,
        "AutomaticRotation": "Disabled",
        "CreationDate": k.creation_date,
        "Creator": k.creator,
        "DKMSInstanceId": ctx.instance.instance_id,
        "DeleteDate": k.delete_date.clone().unwrap_or_default(),
        "DeletionProtection": "Disabled",
        "Description": k.description,
        "KeyId": k.key_id,
        "KeySpec": k.key_spec,
        "KeyState": k.key_state,
        "KeyUsage": k.key_usage,
        "LastRotationDate": k.creation_date,
        "MaterialExpireTime": "",
        "NextRotationDate": "",
        "Origin": k.origin,
        "PrimaryKeyVersion": k.primary_key_version,
        "ProtectionLevel": k.protection_level,
        "RotationInterval": "",
    })
}

pub fn create_key(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    check_instance(ctx, p)?;
    if p.optional("RotationInterval").is_some() && p.bool("EnableAutomaticRotation")? != Some(true) {
        return Err(OpenApiError::invalid("RotationInterval", "only with EnableAutomaticRotation=true"));
    }
    let input = KeyInput {
        key_spec: p.optional("KeySpec").map(str::to_owned),
        key_usage: p.optional("KeyUsage").map(str::to_owned),
        origin: p.optional("Origin").map(str::to_owned),
        protection_level: p.optional("ProtectionLevel").map(str::to_owned),
        description: p.get("Description").unwrap_or_default().to_owned(),
        enable_automatic_rotation: p.bool("EnableAutomaticRotation")?.unwrap_or(false),
    };
    let k = ctx.store.create_key_with(&input)?;
    Ok(json!({ "KeyMetadata": key_metadata(ctx, &k) }))
}

pub fn describe_key(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let k = ctx.store.describe_key(p.required("KeyId")?)?;
    Ok(json!({ "KeyMetadata": key_metadata(ctx, &k) }))
}

pub fn list_keys(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    if p.optional("Filters").is_some() {
        return Err(OpenApiError::invalid("Filters", "filtering is not supported; list all keys and filter locally"));
    }
    let all = ctx.store.list_keys()?;
    Ok(paged(page, &all, "Keys", "Key", |k: &KeyInfo| json!({ "KeyId": k.key_id, "KeyArn": k.arn })))
}

pub fn enable_key(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.enable_key(p.required("KeyId")?)?;
    Ok(done())
}

pub fn disable_key(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.disable_key(p.required("KeyId")?)?;
    Ok(done())
}

pub fn schedule_key_deletion(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let key = p.required("KeyId")?;
    let days = p
        .int("PendingWindowInDays", 7, 366)?
        .ok_or_else(|| OpenApiError::MissingParameter("PendingWindowInDays".into()))?;
    ctx.store.schedule_key_deletion(key, days)?;
    Ok(done())
}

pub fn cancel_key_deletion(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.cancel_key_deletion(p.required("KeyId")?)?;
    Ok(done())
}

fn version_json(v: &KeyVersionInfo) -> Value {
    json!({ "KeyId": v.key_id, "KeyVersionId": v.key_version_id, "CreationDate": v.creation_date })
}

pub fn create_key_version(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let v = ctx.store.create_key_version(p.required("KeyId")?)?;
    Ok(json!({ "KeyVersion": version_json(&v) }))
}

pub fn list_key_versions(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    let all = ctx.store.list_key_versions(p.required("KeyId")?)?;
    Ok(paged(page, &all, "KeyVersions", "KeyVersion", version_json))
}

fn alias_json(ctx: &ActionContext<'_>, a: &AliasInfo) -> Value {
    // The alias name carries its `alias/` prefix, which is also the ARN's resource type.
    json!({ "AliasName": a.alias_name, "AliasArn": ctx.arn(&a.alias_name), "KeyId": a.key_id })
}

pub fn create_alias(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.create_alias(p.required("AliasName")?, p.required("KeyId")?)?;
    Ok(done())
}

pub fn update_alias(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.update_alias(p.required("AliasName")?, p.required("KeyId")?)?;
    Ok(done())
}

pub fn delete_alias(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    ctx.store.delete_alias(p.required("AliasName")?)?;
    Ok(done())
}

pub fn list_aliases(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    let all = ctx.store.list_aliases(None)?;
    Ok(paged(page, &all, "Aliases", "Alias", |a| alias_json(ctx, a)))
}

pub fn list_aliases_by_key_id(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    let key = p.required("KeyId")?;
    ctx.store.describe_key(key)?; // an unknown key is an error, not an empty list
    let all = ctx.store.list_aliases(Some(key))?;
    Ok(paged(page, &all, "Aliases", "Alias", |a| alias_json(ctx, a)))
}
