//! Document errors: each names the JSON path, the offending value and what is wrong.

use core::fmt;

use super::span::SourceSpan;

/// One mistake in a bundle document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BundleError {
    path: String,
    value: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    span: Option<SourceSpan>,
}

impl BundleError {
    pub(crate) fn new(path: impl Into<String>, value: impl Into<String>, message: impl Into<String>) -> BundleError {
        BundleError { path: path.into(), value: value.into(), message: message.into(), span: None }
    }

    pub(crate) fn with_span(mut self, span: Option<SourceSpan>) -> BundleError {
        self.span = span;
        self
    }

    pub(crate) fn set_span(&mut self, span: Option<SourceSpan>) {
        self.span = span;
    }

    /// JSONPath of the offending value, e.g. `$.Policies[1].Resources[0]`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The offending value as compact JSON (shortened past 120 characters); empty when the
    /// value is absent (a missing field is reported at its object).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What is wrong and what is expected.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the offending value is in the document text (for a syntax error: where the parser
    /// stopped; for a path inside a string holding JSON: that string). `None` for bundles built
    /// in code, which have no text.
    pub fn span(&self) -> Option<SourceSpan> {
        self.span
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}: {} (value: {})", self.path, self.message, self.value)
        }
    }
}

/// All mistakes found in a bundle (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(transparent)]
pub struct BundleErrors(Vec<BundleError>);

impl BundleErrors {
    /// Wraps a list the caller has checked is not empty.
    pub(crate) fn new(errors: Vec<BundleError>) -> BundleErrors {
        BundleErrors(errors)
    }
}

impl IntoIterator for BundleErrors {
    type Item = BundleError;
    type IntoIter = std::vec::IntoIter<BundleError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a BundleErrors {
    type Item = &'a BundleError;
    type IntoIter = core::slice::Iter<'a, BundleError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl BundleErrors {
    /// The errors, in document order of discovery.
    pub fn errors(&self) -> &[BundleError] {
        &self.0
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for BundleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s) in the policy bundle", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BundleErrors {}

/// Renders a value for `BundleError::value`, shortened on a char boundary.
pub(crate) fn shorten(mut s: String) -> String {
    const MAX: usize = 120;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// JSON rendering of a string value.
pub(crate) fn json_str(s: &str) -> String {
    shorten(serde_json::to_string(s).unwrap_or_default())
}
