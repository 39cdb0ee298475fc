//! Resource patterns of one policy and kind: an exact-name set, plus non-redundant sorted
//! prefixes. Among non-redundant prefixes only the greatest one ≤ the name can be its prefix
//! (names sharing a prefix form a contiguous block in byte order), so one binary search decides.

use crate::bundle::model::NamePattern;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PatternSet {
    any: bool,
    /// FxHash, as the other compiled tables (`compiled/mod.rs`): the names are the bundle's own.
    exact: rustc_hash::FxHashSet<Box<str>>,
    prefixes: Vec<Box<str>>,
}

impl PatternSet {
    pub(crate) fn from_patterns<'p>(pats: impl IntoIterator<Item = &'p NamePattern>) -> PatternSet {
        let mut s = PatternSet::default();
        let mut prefixes: Vec<&str> = Vec::new();
        for p in pats {
            match p {
                NamePattern::Exact(e) => {
                    s.exact.insert(e.as_str().into());
                }
                NamePattern::Prefix(p) if p.is_empty() => s.any = true,
                NamePattern::Prefix(p) => prefixes.push(p),
            }
        }
        prefixes.sort_unstable();
        prefixes.dedup();
        // Drop prefixes covered by a shorter one; sorted order puts the shorter first.
        let mut kept: Vec<Box<str>> = Vec::new();
        for p in prefixes {
            if !kept.last().is_some_and(|k| p.starts_with(&**k)) {
                kept.push(p.into());
            }
        }
        s.prefixes = kept;
        s
    }

    /// Whether `*` is among the patterns.
    pub(crate) fn matches_everything(&self) -> bool {
        self.any
    }

    pub(crate) fn exact_names(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().map(|e| &**e)
    }

    /// The non-redundant prefixes (`*` excluded).
    pub(crate) fn prefix_patterns(&self) -> impl Iterator<Item = &str> {
        self.prefixes.iter().map(|p| &**p)
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        if self.any || self.exact.contains(name) {
            return true;
        }
        let i = self.prefixes.partition_point(|p| **p <= *name);
        i.checked_sub(1).and_then(|j| self.prefixes.get(j)).is_some_and(|p| name.starts_with(&**p))
    }
}

/// A set from written patterns (`name`, `prefix*`), for tests.
#[cfg(test)]
pub(crate) fn set(p: &[&str]) -> PatternSet {
    let pats: Vec<NamePattern> = p
        .iter()
        .map(|s| match s.strip_suffix('*') {
            Some(x) => NamePattern::Prefix(x.into()),
            None => NamePattern::Exact((*s).into()),
        })
        .collect();
    PatternSet::from_patterns(&pats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let s = set(&["key-1", "a*", "ab*", "b/c*", "zz"]);
        for (n, want) in [
            ("key-1", true),
            ("key-10", false),
            ("a", true),
            ("abc", true),
            ("b/c/d", true),
            ("b/", false),
            ("zz", true),
            ("zzz", false),
            ("", false),
        ] {
            assert_eq!(s.matches(n), want, "{n}");
        }
        assert!(set(&["*"]).matches(""));
        assert!(!set(&[]).matches("x"));
    }
}
