//! Resource names in classes that every policy of two bundles treats alike.
//!
//! A name is *named* when it is catalogued in either bundle or listed exactly by a policy (each is a
//! class of its own), an *alias* when either bundle has it; any other name belongs to the class of
//! the longest prefix pattern it starts with, or to the class of names matching none. Inside a
//! prefix class every policy matches or misses every name alike: the prefixes of a name that are
//! patterns form a chain ending at its longest one, so they are the same for the whole class.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::compiled::resources::PatternSet;

/// Where a requested resource name falls.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "Kind", content = "Name")]
pub enum NameClass {
    /// No resource (GenerateRandom).
    None,
    /// Exactly this name: catalogued in either bundle or listed exactly by a policy.
    Named(String),
    /// A key alias of either bundle.
    Alias(String),
    /// Other names whose longest prefix pattern is this (`""`: the `*` pattern).
    Prefix(String),
    /// Other names that match no pattern.
    Unmatched,
    /// Any key (key operations on the shared gateway, which are refused whatever the key).
    AnyKey,
    /// Any resource (a client key refused before its request is looked at).
    Any,
    /// A key version of either bundle, as a Decrypt blob names it.
    KeyVersion(String),
    /// Key versions no bundle has.
    UnknownVersion,
}

/// The classes of one kind of name (keys or secrets) over two bundles.
pub(crate) struct NameClasses {
    named: BTreeSet<String>,
    aliases: BTreeSet<String>,
    /// Prefix patterns, and the boundaries the evaluator itself draws (`alias/` for keys).
    prefixes: BTreeSet<String>,
}

impl NameClasses {
    pub(crate) fn new<'a>(
        patterns: impl Iterator<Item = &'a PatternSet>,
        catalogued: impl Iterator<Item = &'a str>,
        aliases: impl Iterator<Item = &'a str>,
        boundaries: &[&str],
    ) -> NameClasses {
        let mut named: BTreeSet<String> = catalogued.map(str::to_owned).collect();
        let mut prefixes: BTreeSet<String> = boundaries.iter().map(|b| (*b).to_owned()).collect();
        for p in patterns {
            if p.matches_everything() {
                prefixes.insert(String::new());
            }
            named.extend(p.exact_names().map(str::to_owned));
            prefixes.extend(p.prefix_patterns().map(str::to_owned));
        }
        let aliases: BTreeSet<String> = aliases.map(str::to_owned).collect();
        NameClasses { named, aliases, prefixes }
    }

    /// The longest prefix in the set that `name` starts with.
    fn longest_prefix<'n>(&self, name: &'n str) -> Option<&'n str> {
        // Prefixes of `name` are among the strings ≤ name; a short scan of the candidates suffices.
        (0..=name.len())
            .rev()
            .filter(|&i| name.is_char_boundary(i))
            .filter_map(|i| name.get(..i))
            .find(|p| self.prefixes.contains(*p))
    }

    /// The class of a requested name.
    pub(crate) fn classify(&self, name: &str) -> NameClass {
        if self.aliases.contains(name) {
            return NameClass::Alias(name.to_owned());
        }
        if self.named.contains(name) {
            return NameClass::Named(name.to_owned());
        }
        match self.longest_prefix(name) {
            Some(p) => NameClass::Prefix(p.to_owned()),
            None => NameClass::Unmatched,
        }
    }

    /// A name of the class of prefix `p` (or of no prefix), if the class has members.
    fn representative(&self, p: Option<&str>) -> Option<String> {
        let base = p.unwrap_or("");
        let fits = |s: &str| {
            !s.is_empty() && self.classify(s) == p.map_or(NameClass::Unmatched, |p| NameClass::Prefix(p.to_owned()))
        };
        if fits(base) {
            return Some(base.to_owned());
        }
        // Extensions that enter no longer prefix and are no named name: some exist, since the sets are finite.
        const TAILS: [&str; 6] = ["~", "\u{1}", "~~", "\u{1}\u{1}", "\u{7f}", "~\u{1}"];
        TAILS
            .iter()
            .map(|t| format!("{base}{t}"))
            .find(|s| fits(s))
            .or_else(|| (0u32..1024).filter_map(char::from_u32).map(|c| format!("{base}{c}")).find(|s| fits(s)))
    }

    /// Every class with a representative name: named names, aliases, prefix classes, and the
    /// unmatched class.
    pub(crate) fn classes(&self) -> impl Iterator<Item = (String, NameClass)> + '_ {
        let named = self.named.iter().map(|n| (n.clone(), NameClass::Named(n.clone())));
        let aliases = self.aliases.iter().map(|a| (a.clone(), NameClass::Alias(a.clone())));
        let prefixes = self
            .prefixes
            .iter()
            .filter_map(|p| self.representative(Some(p)).map(|rep| (rep, NameClass::Prefix(p.clone()))));
        let unmatched = self.representative(None).map(|rep| (rep, NameClass::Unmatched));
        named.chain(aliases).chain(prefixes).chain(unmatched)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::compiled::resources::set;

    #[test]
    fn classes_and_representatives() {
        let a = set(&["app/*", "app/db/*", "ops/root"]);
        let b = set(&["app/d*"]);
        let c = NameClasses::new([&a, &b].into_iter(), ["app/db/x"].into_iter(), std::iter::empty(), &[]);
        assert_eq!(c.classify("app/db/x"), NameClass::Named("app/db/x".into()));
        assert_eq!(c.classify("ops/root"), NameClass::Named("ops/root".into()));
        // `app/db/*` is redundant beside `app/*` in one policy: only the other policy's `app/d*` cuts.
        assert_eq!(c.classify("app/db/y"), NameClass::Prefix("app/d".into()));
        assert_eq!(c.classify("app/dz"), NameClass::Prefix("app/d".into()));
        assert_eq!(c.classify("app/x"), NameClass::Prefix("app/".into()));
        assert_eq!(c.classify("zzz"), NameClass::Unmatched);
        for (rep, class) in c.classes() {
            assert_eq!(c.classify(&rep), class, "{rep:?}");
        }
        assert_eq!(c.classes().count(), 2 + 2 + 1);
    }

    #[test]
    fn the_star_pattern_leaves_no_unmatched_class() {
        let a = set(&["*"]);
        let c = NameClasses::new([&a].into_iter(), std::iter::empty(), std::iter::empty(), &[]);
        assert!(c.classes().all(|(_, class)| class != NameClass::Unmatched));
        assert_eq!(c.classify("anything"), NameClass::Prefix(String::new()));
    }
}
