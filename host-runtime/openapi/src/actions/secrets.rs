//! Secrets and their versions (values are never returned here: GetSecretValue is the data path).

use aapkit_store::{SecretInfo, SecretValueInput, SecretVersionInfo};
use base64::Engine;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{paged, ActionContext};
use crate::params::Params;
use crate::OpenApiError;

/// `PageSize` when the caller gives none (Alibaba's default for these lists).
const PAGE_SIZE: i64 = 10;

/// `SecretData` as bytes: text is stored as sent; binary arrives base64-encoded.
fn secret_value(p: &Params, version_id: Option<String>, stages: Vec<String>) -> Result<SecretValueInput, OpenApiError> {
    let data = p.required("SecretData")?;
    let (data, data_type) = match p.optional("SecretDataType").unwrap_or("text") {
        "text" => (Zeroizing::new(data.as_bytes().to_vec()), aapkit_store::SecretDataType::Text),
        "binary" => (
            Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|_| OpenApiError::invalid("SecretData", "binary secret data must be base64"))?,
            ),
            aapkit_store::SecretDataType::Binary,
        ),
        _ => return Err(OpenApiError::invalid("SecretDataType", "expected text or binary")),
    };
    Ok(SecretValueInput { data, data_type, version_id, version_stages: stages })
}

fn stages_json(stages: &[String]) -> Value {
    json!({ "VersionStage": stages })
}

pub fn create_secret(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    if let Some(id) = p.optional("DKMSInstanceId") {
        if id != ctx.instance.instance_id {
            return Err(OpenApiError::InstanceNotFound(id.to_owned()));
        }
    }
    match p.optional("SecretType") {
        None | Some("Generic") => {}
        Some(_) => return Err(OpenApiError::invalid("SecretType", "only Generic secrets are supported")),
    }
    if p.bool("EnableAutomaticRotation")? == Some(true) {
        return Err(OpenApiError::invalid(
            "EnableAutomaticRotation",
            "rotation applies to managed secrets only (Generic secrets: PutSecretValue)",
        ));
    }
    if p.optional("ExtendedConfig").is_some() {
        return Err(OpenApiError::invalid("ExtendedConfig", "applies to managed secrets only"));
    }
    let name = p.required("SecretName")?;
    let key = p.required("EncryptionKeyId")?;
    let version_id = p.required("VersionId")?.to_owned();
    let value = secret_value(p, Some(version_id.clone()), Vec::new())?;
    let s = ctx.store.create_secret(name, key, p.get("Description").unwrap_or_default(), value)?;
    Ok(json!({
        "Arn": ctx.arn(&format!("secret/{}", s.secret_name)),
        "AutomaticRotation": "Disabled",
        "DKMSInstanceId": ctx.instance.instance_id,
        "ExtendedConfig": "",
        "NextRotationDate": "",
        "RotationInterval": "",
        "SecretName": s.secret_name,
        "SecretType": s.secret_type,
        "VersionId": version_id,
    }))
}

pub fn put_secret_value(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let name = p.required("SecretName")?;
    let version_id = p.required("VersionId")?.to_owned();
    let stages = p.json_strings("VersionStages")?.unwrap_or_default();
    let v = ctx.store.put_secret_value(name, secret_value(p, Some(version_id), stages)?)?;
    Ok(json!({ "SecretName": name, "VersionId": v.version_id, "VersionStages": stages_json(&v.version_stages) }))
}

fn describe_json(ctx: &ActionContext<'_>, s: &SecretInfo) -> Value {
    let updated = s.versions.iter().map(|v| v.create_time.as_str()).max().unwrap_or(&s.create_time);
    let mut out = json!({
        "Arn": ctx.arn(&format!("secret/{}", s.secret_name)),
        "AutomaticRotation": "Disabled",
        "CreateTime": s.create_time,
        "DKMSInstanceId": ctx.instance.instance_id,
        "Description": s.description,
        "EncryptionKeyId": s.encryption_key_id,
        "SecretName": s.secret_name,
        "SecretType": s.secret_type,
        "UpdateTime": updated,
    });
    if let (Some(t), Value::Object(map)) = (&s.planned_delete_time, &mut out) {
        map.insert("PlannedDeleteTime".into(), Value::String(t.clone()));
    }
    out
}

pub fn describe_secret(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let s = ctx.store.describe_secret(p.required("SecretName")?)?;
    Ok(describe_json(ctx, &s))
}

pub fn list_secrets(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    if p.optional("Filters").is_some() {
        return Err(OpenApiError::invalid(
            "Filters",
            "filtering is not supported; list all secrets and filter locally",
        ));
    }
    let all = ctx.store.list_secrets()?;
    Ok(paged(page, &all, "SecretList", "Secret", |s| {
        let mut item = json!({
            "SecretName": s.secret_name,
            "SecretType": s.secret_type,
            "CreateTime": s.create_time,
            "UpdateTime": s.versions.iter().map(|v| v.create_time.as_str()).max().unwrap_or(&s.create_time),
        });
        if let (Some(t), Value::Object(map)) = (&s.planned_delete_time, &mut item) {
            map.insert("PlannedDeleteTime".into(), Value::String(t.clone()));
        }
        item
    }))
}

pub fn list_secret_version_ids(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    let name = p.required("SecretName")?;
    let all = ctx.store.list_secret_version_ids(name, p.bool("IncludeDeprecated")?.unwrap_or(false))?;
    let mut out = paged(
        page,
        &all,
        "VersionIds",
        "VersionId",
        |v: &SecretVersionInfo| json!({ "VersionId": v.version_id, "CreateTime": v.create_time, "VersionStages": stages_json(&v.version_stages) }),
    );
    if let Value::Object(map) = &mut out {
        map.insert("SecretName".into(), Value::String(name.to_owned()));
    }
    Ok(out)
}

pub fn update_secret_version_stage(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let name = p.required("SecretName")?;
    let stage = p.required("VersionStage")?;
    let (remove, move_to) = (p.optional("RemoveFromVersion"), p.optional("MoveToVersion"));
    if remove.is_none() && move_to.is_none() {
        return Err(OpenApiError::MissingParameter("RemoveFromVersion or MoveToVersion".into()));
    }
    ctx.store.update_secret_version_stage(name, stage, remove, move_to)?;
    Ok(json!({ "SecretName": name }))
}

pub fn delete_secret(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let name = p.required("SecretName")?;
    let window = p.int("RecoveryWindowInDays", 7, 30)?;
    let force = p.bool("ForceDeleteWithoutRecovery")?.unwrap_or(false);
    let d = ctx.store.delete_secret(name, window, force)?;
    Ok(json!({ "SecretName": d.secret_name, "PlannedDeleteTime": d.planned_delete_time }))
}

pub fn restore_secret(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let s = ctx.store.restore_secret(p.required("SecretName")?)?;
    Ok(json!({ "SecretName": s.secret_name }))
}
