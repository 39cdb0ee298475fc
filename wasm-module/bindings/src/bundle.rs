//! `validateBundle`, `compileBundle` and the `PolicyHandle` class.

use policy_core::{AccessRequestDoc, BundleErrors, CompiledBundle, DecisionReport, SourceSpan};
use serde::Serialize;
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use crate::convert::{from_json, js_error, to_js};

/// One mistake in a bundle document.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
struct BundleErrorInfo {
    /// A JSONPath such as `$.Policies[1].Resources[0]`.
    path: String,
    /// The offending value as compact JSON; empty when the value is missing.
    value: String,
    message: String,
    /// Line of the offending value in the document, from 1 (policy-core's span).
    line: Option<u32>,
    /// Column of the offending value, from 1, counted in characters.
    column: Option<u32>,
    /// Where the offending value starts and ends in the document.
    span: Option<SourceSpan>,
}

/// The result of `validateBundle`.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
struct BundleValidation {
    ok: bool,
    errors: Vec<BundleErrorInfo>,
}

fn validation(result: Result<(), &BundleErrors>) -> BundleValidation {
    match result {
        Ok(()) => BundleValidation { ok: true, errors: Vec::new() },
        Err(errors) => BundleValidation {
            ok: false,
            errors: errors
                .errors()
                .iter()
                .map(|e| BundleErrorInfo {
                    path: e.path().to_owned(),
                    value: e.value().to_owned(),
                    message: e.message().to_owned(),
                    line: e.span().map(|s| s.line),
                    column: e.span().map(|s| s.column),
                    span: e.span(),
                })
                .collect(),
        },
    }
}

/// Checks a bundle document completely (parse, validation and compilation, so public-key errors
/// are reported too): `{ ok, errors: [{ path, value, message, line, column, span }] }`, each
/// error with the JSONPath of the offending value and its place in `json`. Never throws for a bad
/// document.
#[wasm_bindgen(js_name = validateBundle, unchecked_return_type = "BundleValidation")]
pub fn validate_bundle(json: &str) -> Result<JsValue, JsValue> {
    match policy_core::compile_bundle(json) {
        Ok(_) => to_js(&validation(Ok(()))),
        Err(errors) => to_js(&validation(Err(&errors))),
    }
}

/// Compiles a bundle once for many decisions. Throws an `Error` whose `errors` property holds
/// the same list `validateBundle` returns.
#[wasm_bindgen(js_name = compileBundle)]
pub fn compile_bundle(json: &str) -> Result<PolicyHandle, JsValue> {
    policy_core::compile_bundle(json).map(|bundle| PolicyHandle { bundle }).map_err(|e| bundle_error(&e, ""))
}

/// The `Error` a bundle that does not compile throws: the message, and `errors` as
/// `validateBundle` lists them. With `which` (`"old"`, `"new"`: the bundles of a diff), the
/// message says which bundle and the error's `bundle` property holds it.
pub(crate) fn bundle_error(errors: &BundleErrors, which: &str) -> JsValue {
    let err =
        if which.is_empty() { js_error(&errors.to_string()) } else { js_error(&format!("{which} bundle: {errors}")) };
    let set = |k: &str, v: &JsValue| js_sys::Reflect::set(&err, &JsValue::from_str(k), v).map(|_| ());
    // Setting a property on a fresh Error cannot fail; a failed conversion is reported instead.
    let attached = to_js(&validation(Err(errors)).errors).and_then(|list| set("errors", &list));
    if let Err(e) = attached {
        return e;
    }
    if !which.is_empty() {
        let _ = set("bundle", &JsValue::from_str(which));
    }
    err
}

/// A compiled bundle. Free it with `free()` when replaced (the page does on every edit).
#[wasm_bindgen]
pub struct PolicyHandle {
    bundle: CompiledBundle,
}

impl PolicyHandle {
    pub(crate) fn bundle(&self) -> &CompiledBundle {
        &self.bundle
    }

    fn report(&self, request: JsValue) -> Result<DecisionReport, JsValue> {
        let doc: AccessRequestDoc = from_json(&request, "the access request")?;
        doc.evaluate(&self.bundle).map_err(|e| js_error(&e.to_string()))
    }
}

#[wasm_bindgen]
impl PolicyHandle {
    /// Decides one access request. The report's `Trace` is left empty (see `explain`); a
    /// malformed request (unknown API, bad address or time) throws an `Error` naming the field.
    #[wasm_bindgen(unchecked_return_type = "DecisionReport")]
    pub fn decide(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AccessRequestDoc")] request: JsValue,
    ) -> Result<JsValue, JsValue> {
        let mut r = self.report(request)?;
        r.trace.clear();
        to_js(&r)
    }

    /// Like `decide`, with the per-policy trace: for each policy of the access point, the
    /// outcome of its Scope, Role, Resource and Network checks.
    #[wasm_bindgen(unchecked_return_type = "DecisionReport")]
    pub fn explain(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AccessRequestDoc")] request: JsValue,
    ) -> Result<JsValue, JsValue> {
        to_js(&self.report(request)?)
    }

    /// `Gateway.Scope` of the bundle, if it has one (the default scope of requests).
    #[wasm_bindgen(getter, js_name = gatewayScope)]
    pub fn gateway_scope(&self) -> Option<String> {
        self.bundle.gateway_scope().map(str::to_owned)
    }

    /// `Gateway.MaxSkewSeconds` (900 by default).
    #[wasm_bindgen(getter, js_name = maxSkewSeconds)]
    pub fn max_skew_seconds(&self) -> u32 {
        self.bundle.max_skew_seconds()
    }

    /// The bundle in canonical JSON (lists as arrays, not strings holding arrays).
    #[wasm_bindgen(js_name = canonicalJson)]
    pub fn canonical_json(&self) -> String {
        // A handle is always compiled from a document here (never loaded from the compact form).
        self.bundle.bundle().map_or_else(String::new, |b| b.to_json())
    }
}
