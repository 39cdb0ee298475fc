//! GetKmsInstance / ListKmsInstances: the one local instance, so tooling that looks the instance
//! up (its id, endpoint, CA) works.

use serde_json::{json, Value};

use super::{paged, ActionContext};
use crate::params::Params;
use crate::OpenApiError;

/// `PageSize` when the caller gives none (Alibaba's default for these lists).
const PAGE_SIZE: i64 = 20;

fn instance_arn(ctx: &ActionContext<'_>) -> String {
    ctx.arn(&format!("keystore/{}", ctx.instance.instance_id))
}

pub fn get_kms_instance(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let id = p.required("KmsInstanceId")?;
    if id != ctx.instance.instance_id {
        return Err(OpenApiError::InstanceNotFound(id.to_owned()));
    }
    let keys = ctx.store.list_keys()?.len();
    let secrets = ctx.store.list_secrets()?.len();
    Ok(json!({
        "KmsInstance": {
            "InstanceId": ctx.instance.instance_id,
            "InstanceName": ctx.instance.instance_id,
            "Status": "Connected",
            "ProductType": "kms_ddi_public_cn",
            "ProductVersion": "3",
            "ChargeType": "PREPAY",
            "SaleStatus": "NORMAL",
            "Spec": 1000,
            "KeyNum": keys,
            "SecretNum": secrets.to_string(),
            "VpcNum": 0,
            "Log": 0,
            "LogStorage": 0,
            "DeletionProtection": false,
            "DeletionProtectionDescription": "",
            "VpcId": "",
            "VswitchIds": Vec::<String>::new(),
            "ZoneIds": Vec::<String>::new(),
            "BindVpcs": { "BindVpc": Vec::<Value>::new() },
            "CaCertificateChainPem": ctx.instance.ca_pem,
            "InstanceEndpoint": ctx.instance.instance_endpoint,
            "CreateTime": ctx.instance.create_time,
            "StartDate": ctx.instance.create_time,
            "EndDate": "",
        }
    }))
}

pub fn list_kms_instances(ctx: &ActionContext<'_>, p: &Params) -> Result<Value, OpenApiError> {
    let page = p.page(PAGE_SIZE)?;
    let all = [ctx.instance.instance_id.clone()];
    Ok(paged(
        page,
        &all,
        "KmsInstances",
        "KmsInstance",
        |id| json!({ "KmsInstanceId": id, "KmsInstanceArn": instance_arn(ctx) }),
    ))
}
