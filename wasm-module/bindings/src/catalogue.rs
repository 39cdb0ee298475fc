//! `apiCatalogue()`: the Instance API operations policy-core knows, for the page's selects.

use policy_core::{Api, ResourceKind};
use serde::Serialize;
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use crate::convert::to_js;

/// An Instance API operation of the catalogue.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
struct ApiInfo {
    name: &'static str,
    /// The permission template (short name) an instance-scope policy must grant.
    #[tsify(type = "\"CryptoServiceKeyUser\" | \"CryptoServiceSecretUser\" | \"SecretUser\"")]
    permission: &'static str,
    #[tsify(type = "\"Key\" | \"Secret\" | \"None\"")]
    resource_kind: &'static str,
    qps_group: &'static str,
}

/// Every Instance API operation: its name, the permission template it needs, the kind of
/// resource it names (`Key`, `Secret` or `None`) and its QPS group.
#[wasm_bindgen(js_name = apiCatalogue, unchecked_return_type = "ApiInfo[]")]
pub fn api_catalogue() -> Result<JsValue, JsValue> {
    let list: Vec<ApiInfo> = Api::ALL
        .iter()
        .map(|a| ApiInfo {
            name: a.name(),
            permission: a.permission().short_name(),
            resource_kind: match a.resource_kind() {
                ResourceKind::Key => "Key",
                ResourceKind::Secret => "Secret",
                ResourceKind::None => "None",
            },
            qps_group: a.qps_group(None).name(),
        })
        .collect();
    to_js(&list)
}
