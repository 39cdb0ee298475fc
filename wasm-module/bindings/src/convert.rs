//! JS ⇄ Rust value conversion shared by the exported functions.

use serde::Serialize;
use wasm_bindgen::JsValue;

/// Serializes to a plain JS object (maps become objects, `None` becomes `null`).
pub(crate) fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    let ser = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true).serialize_missing_as_null(true);
    v.serialize(&ser).map_err(|e| js_error(&format!("cannot convert the result to JavaScript: {e}")))
}

/// A JS `Error` with `message`.
pub(crate) fn js_error(message: &str) -> JsValue {
    js_sys::Error::new(message).into()
}

/// Reads a JS value through JSON text, so serde's `deny_unknown_fields` holds (a misspelt
/// field is an error, not silently ignored: `serde_wasm_bindgen::from_value` ignores it).
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(v: &JsValue, what: &str) -> Result<T, JsValue> {
    let text = js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| js_error(&format!("{what}: expected an object")))?;
    serde_json::from_str(&text).map_err(|e| js_error(&format!("{what}: {e}")))
}
