//! `diffBundles` / `formatImpact`: change impact between two bundles (policy-core's
//! `impact::diff_bundles`), the object `aapkit diff --json` prints and the text it prints.

use policy_core::impact::{diff_bundles, format_report, ImpactReport};
use policy_core::CompiledBundle;
use wasm_bindgen::prelude::*;

use crate::bundle::bundle_error;
use crate::convert::to_js;

// The report's JSON shape is policy-core's serde form (PascalCase, shared with the CLI's --json);
// its types carry no tsify derive, so the declaration is written here. `tests/node.test.mjs`
// checks every field of it against a real report.
#[wasm_bindgen(typescript_custom_section)]
const IMPACT_TS: &'static str = r#"
export type ImpactOutcome = { Decision: "Allow" } | { Decision: "Deny"; Code: string };
export type ImpactPrincipal =
  | { Kind: "ClientKeys"; Ids: string[]; AapBefore: string | null; AapAfter: string | null }
  | { Kind: "RamRoleAap"; Aap: string };
export type ImpactResourceClass =
  | { Kind: "None" } | { Kind: "Unmatched" } | { Kind: "AnyKey" } | { Kind: "Any" } | { Kind: "UnknownVersion" }
  | { Kind: "Named" | "Alias" | "Prefix" | "KeyVersion"; Name: string };
export interface ImpactRegion {
  Principal: ImpactPrincipal;
  Scope: string;
  Operation: "KeyOperation" | "KeyByVersion" | "GetSecretValue" | "GenerateRandom" | "Any";
  Resource: ImpactResourceClass;
  /** Merged source ranges: `Summary` such as "10.20.0.0/16 minus 10.20.3.0/24", `Cidrs` covering them exactly. */
  Addresses: { Summary: string; Cidrs: string[] };
  /** Request times `[from, until)`, seconds since the epoch; null where open. */
  Time: { From: number | null; Until: number | null };
  Before: ImpactOutcome;
  After: ImpactOutcome;
  Example: { Caller: string; Api: string; Resource: string | null; SourceIp: string; Scope: string; Time: string };
}
export interface ImpactReport {
  Verdict: "NoChange" | "Narrowing" | "Widening";
  Changes: ImpactRegion[];
  Notes: string[];
}
"#;

fn compile(json: &str, which: &str) -> Result<CompiledBundle, JsValue> {
    policy_core::compile_bundle(json).map_err(|errors| bundle_error(&errors, which))
}

fn diff(old_json: &str, new_json: &str) -> Result<ImpactReport, JsValue> {
    let old = compile(old_json, "old")?;
    let new = compile(new_json, "new")?;
    Ok(diff_bundles(&old, &new))
}

/// Every region of requests whose decision changes from `oldJson` to `newJson`, each with one
/// example request, and the verdict (`NoChange`, `Narrowing`, `Widening`). A bundle that does not
/// compile throws the `Error` `compileBundle` throws (with `errors`), its message prefixed by
/// which bundle ("old bundle: …") and `bundle` set to `"old"` or `"new"`.
#[wasm_bindgen(js_name = diffBundles, unchecked_return_type = "ImpactReport")]
pub fn diff_bundles_js(
    #[wasm_bindgen(js_name = oldJson)] old_json: &str,
    #[wasm_bindgen(js_name = newJson)] new_json: &str,
) -> Result<JsValue, JsValue> {
    to_js(&diff(old_json, new_json)?)
}

/// The same diff as readable rows (what `aapkit diff` prints). Throws as `diffBundles` does.
#[wasm_bindgen(js_name = formatImpact)]
pub fn format_impact(
    #[wasm_bindgen(js_name = oldJson)] old_json: &str,
    #[wasm_bindgen(js_name = newJson)] new_json: &str,
) -> Result<String, JsValue> {
    Ok(format_report(&diff(old_json, new_json)?))
}
