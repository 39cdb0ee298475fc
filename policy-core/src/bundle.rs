//! The policy bundle document: model, strict parser, validation (`docs/bundle-format.md`).

pub(crate) mod cidr;
pub(crate) mod error;
pub(crate) mod json;
pub(crate) mod model;
pub(crate) mod parse;
pub(crate) mod validate;

pub use error::{BundleError, BundleErrors};

/// Parses and validates a bundle document; every mistake is reported, each with its JSON path.
pub fn parse_bundle(json: &str) -> Result<model::Bundle, BundleErrors> {
    parse::parse_bundle(json)
}

impl model::Bundle {
    /// Runs the semantic checks alone (for bundles built in code).
    pub fn validate(&self) -> Result<(), BundleErrors> {
        let mut errors = Vec::new();
        validate::validate_into(self, &parse::Hints::default(), &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(BundleErrors(errors))
        }
    }

    /// The canonical JSON form (arrays, not strings holding arrays).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
