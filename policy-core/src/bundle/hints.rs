//! What the parser tells validation: the paths it already reported and the kinds whose names are
//! not all known, so validation does not pile follow-up errors on top. Shared by `parse.rs` and
//! `validate.rs` (neither imports the other).

/// What the parser could not build, so validation does not pile follow-up errors on top.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    /// Paths where a parse error was reported (validation errors at or under them are dropped).
    pub(crate) broken: Vec<String>,
    /// Kinds whose names are not all known (reference checks against them are skipped).
    pub(crate) incomplete: Vec<Kind>,
}

/// The named kinds of a bundle, for reference checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    NetworkRule,
    Policy,
    Aap,
    Key,
}

impl Hints {
    /// True when `path` is at, under or above a reported parse error (so a list with a bad
    /// item is not also reported as empty).
    pub(crate) fn is_broken(&self, path: &str) -> bool {
        let nested = |outer: &str, inner: &str| {
            inner == outer
                || (inner.starts_with(outer) && matches!(inner.as_bytes().get(outer.len()), Some(b'.' | b'[')))
        };
        self.broken.iter().any(|b| nested(b, path) || nested(path, b))
    }
}
