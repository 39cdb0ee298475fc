//! The policy bundle document: model, strict parser, validation (`docs/bundle-format.md`).

pub(crate) mod cidr;
pub(crate) mod error;
pub(crate) mod hints;
pub(crate) mod json;
pub(crate) mod model;
pub(crate) mod parse;
pub(crate) mod span;
pub(crate) mod validate;

pub use error::{BundleError, BundleErrors};
pub use span::SourceSpan;

/// Parses and validates a bundle document; every mistake is reported, each with its JSON path
/// and its place in `json`.
pub fn parse_bundle(json: &str) -> Result<model::Bundle, BundleErrors> {
    let (bundle, mut ctx) = parse::parse(json);
    validate::validate_into(&bundle, &ctx.hints, &mut ctx.errors);
    if ctx.errors.is_empty() {
        Ok(bundle)
    } else {
        Err(locate(json, ctx.errors, &ctx.occurrences))
    }
}

/// Gives each error that has none the span of its path in `text`. `occurrences` names the
/// errors about a later occurrence of a duplicated key: `(error index, n)`.
pub(crate) fn locate(text: &str, mut errors: Vec<BundleError>, occurrences: &[(usize, usize)]) -> BundleErrors {
    if errors.iter().any(|e| e.span().is_none()) {
        let index = span::SpanIndex::build(text);
        for (i, e) in errors.iter_mut().enumerate() {
            if e.span().is_none() {
                let nth = occurrences.iter().find(|(j, _)| *j == i).map_or(0, |(_, n)| *n);
                let s = index.find(e.path(), nth);
                e.set_span(s);
            }
        }
    }
    BundleErrors::new(errors)
}

impl model::Bundle {
    /// Runs the semantic checks alone (for bundles built in code; the errors have no span).
    pub fn validate(&self) -> Result<(), BundleErrors> {
        let mut errors = Vec::new();
        validate::validate_into(self, &hints::Hints::default(), &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(BundleErrors::new(errors))
        }
    }

    /// The canonical JSON form (arrays, not strings holding arrays).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
