//! A table of names looked up by name: the catalogue's key ids, aliases, key versions and secret
//! names, 100,000 of each at scale.
//!
//! Written here rather than taken from a hash-map crate because the table is also the compact
//! configuration form (`compact.rs`): one text buffer, one array of end offsets and one array of
//! slots, no pointer and no per-name allocation, with a hash that is the same on every target (the
//! host compiles on x86-64, the filter loads on wasm32), so the guest copies the arrays in instead
//! of rebuilding them. A `HashMap<Box<str>, usize>` held about 3× the bytes and had to be
//! rebuilt name by name.
//!
//! Open addressing with linear probing; beside each slot, 8 bits of the name's hash (`tags`), so a
//! probe that meets another name rarely compares strings. The load factor is kept at or below 0.5
//! for small tables and 0.8 for large ones (`slot_count`).

use core::fmt;

/// An empty slot.
const EMPTY: u32 = u32::MAX;

/// Names `0..len`, each found by [`NameTable::get`]; a name given twice is found at its last index.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct NameTable {
    /// The names, concatenated.
    text: Box<str>,
    /// `ends[i]`: where name `i` ends in `text` (it starts where name `i - 1` ends).
    ends: Box<[u32]>,
    /// A power of two of slots, each `EMPTY` or the index of a name.
    slots: Box<[u32]>,
    /// The top 8 bits of the hash of the name in each slot.
    tags: Box<[u8]>,
}

impl fmt::Debug for NameTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NameTable").field("names", &self.len()).field("slots", &self.slots.len()).finish()
    }
}

/// The slots and their tags, as [`NameTable::parts`] gives them.
pub(crate) type SlotParts = (Box<[u32]>, Box<[u8]>);

/// Why table parts do not make a table (from the compact form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadTable;

/// FxHash's multiplier, applied a word at a time over the name, then a final mix so that the top
/// bits, which pick the slot and the tag, depend on every byte. Not keyed: the names are the
/// bundle's own, never a client's, so nobody can choose colliding ones.
#[inline]
pub(crate) fn hash(name: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let word = |w: &[u8]| <[u8; 8]>::try_from(w).map_or(0, u64::from_le_bytes);
    let mut h = name.len() as u64;
    let mut rest = name;
    while let (Some(w), Some(r)) = (rest.get(..8), rest.get(8..)) {
        h = (h.rotate_left(5) ^ word(w)).wrapping_mul(K);
        rest = r;
    }
    if !rest.is_empty() {
        // The last 8 bytes of the name, overlapping words already taken, when it has 8: one load,
        // not a copy of a variable length (the length is in `h` already).
        let tail = match name.len().checked_sub(8).and_then(|i| name.get(i..)) {
            Some(last) => word(last),
            None => rest.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        };
        h = (h.rotate_left(5) ^ tail).wrapping_mul(K);
    }
    (h ^ (h >> 31)).wrapping_mul(K)
}

impl NameTable {
    /// Builds the table; `None` if the names total 4 GiB or more, or number 2³² − 1 or more.
    pub(crate) fn build<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<NameTable> {
        let mut text = String::new();
        let mut ends = Vec::new();
        for n in names {
            text.push_str(n);
            ends.push(u32::try_from(text.len()).ok()?);
        }
        if u32::try_from(ends.len()).ok()? == EMPTY {
            return None;
        }
        let mut t = NameTable {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
            slots: Box::default(),
            tags: Box::default(),
        };
        t.index();
        Some(t)
    }

    /// A table from its parts as [`NameTable::parts`] gave them; the slots are rebuilt when they
    /// are not given. Every part is checked, so that lookups in a table from untrusted bytes
    /// find only its names and never fail.
    pub(crate) fn from_parts(
        text: Box<str>,
        ends: Box<[u32]>,
        slots: Option<SlotParts>,
    ) -> Result<NameTable, BadTable> {
        let n = u32::try_from(ends.len()).map_err(|_| BadTable)?;
        let mut start = 0usize;
        for &end in ends.iter() {
            let end = end as usize;
            if end < start || !text.is_char_boundary(end) || end > text.len() {
                return Err(BadTable);
            }
            start = end;
        }
        if start != text.len() || n == EMPTY {
            return Err(BadTable);
        }
        let mut t = NameTable { text, ends, slots: Box::default(), tags: Box::default() };
        match slots {
            None => t.index(),
            Some((slots, tags)) => {
                // Slots within the names and a free one left, so every probe ends. Slots that do
                // not lead to their names are not looked for (it would cost a lookup per name,
                // most of the load time): such a table can only fail to find a name, never find
                // the wrong one, since each lookup compares the name it lands on.
                let used = slots.iter().filter(|&&s| s != EMPTY).count();
                let ok = slots.len() == slot_count(t.ends.len())
                    && tags.len() == slots.len()
                    && used <= t.ends.len()
                    && used < slots.len()
                    && slots.iter().all(|&s| s == EMPTY || s < n);
                if !ok {
                    return Err(BadTable);
                }
                t.slots = slots;
                t.tags = tags;
            }
        }
        Ok(t)
    }

    /// `(text, ends, slots, tags)`.
    pub(crate) fn parts(&self) -> (&str, &[u32], &[u32], &[u8]) {
        (&self.text, &self.ends, &self.slots, &self.tags)
    }

    fn index(&mut self) {
        let count = slot_count(self.ends.len());
        let mut slots = vec![EMPTY; count].into_boxed_slice();
        let mut tags = vec![0u8; count].into_boxed_slice();
        let mask = count - 1;
        for i in 0..self.ends.len() {
            let Some(name) = self.name(i) else { continue };
            let h = hash(name.as_bytes());
            let mut at = slot_of(h, count);
            // A name seen before keeps its slot and takes the later index.
            loop {
                match slots.get(at).copied() {
                    Some(EMPTY) => {
                        if let (Some(s), Some(t)) = (slots.get_mut(at), tags.get_mut(at)) {
                            (*s, *t) = (i as u32, tag_of(h));
                        }
                        break;
                    }
                    Some(j) if tags.get(at) == Some(&tag_of(h)) && self.name(j as usize) == Some(name) => {
                        if let Some(s) = slots.get_mut(at) {
                            *s = i as u32;
                        }
                        break;
                    }
                    Some(_) => at = (at + 1) & mask,
                    None => break,
                }
            }
        }
        self.slots = slots;
        self.tags = tags;
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Name `i`.
    #[inline]
    pub(crate) fn name(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i.checked_sub(1) {
            Some(p) => *self.ends.get(p)? as usize,
            None => 0,
        };
        self.text.get(start..end)
    }

    /// The index of `name`.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<usize> {
        let count = self.slots.len();
        if count == 0 {
            return None;
        }
        let h = hash(name.as_bytes());
        let tag = tag_of(h);
        let mask = count - 1;
        let mut at = slot_of(h, count);
        let (text, name) = (self.text.as_bytes(), name.as_bytes());
        // At most every slot once: the table always has an empty slot, but bytes from outside
        // are not trusted to say so.
        for _ in 0..count {
            let s = *self.slots.get(at)?;
            if s == EMPTY {
                return None;
            }
            // The tag, then the length, then the bytes: a probe that meets another name rarely
            // gets to compare strings. (Byte slices: no character-boundary checks.)
            if self.tags.get(at) == Some(&tag) {
                let i = s as usize;
                let end = *self.ends.get(i)? as usize;
                let start = match i.checked_sub(1) {
                    Some(p) => *self.ends.get(p)? as usize,
                    None => 0,
                };
                if end.wrapping_sub(start) == name.len() && text.get(start..end) == Some(name) {
                    return Some(i);
                }
            }
            at = (at + 1) & mask;
        }
        None
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.name(i))
    }
}

/// The number of slots for `n` names, a power of two: load factor at most 0.5 up to 32,768 names
/// (about 1.5 probes a lookup; the slots cost little), at most 0.8 beyond (about 2.8 probes,
/// measured in `probe_stats`: at 100,000 names a lower load would cost 1.9 MiB a table).
fn slot_count(n: usize) -> usize {
    if n <= 1 << 15 {
        (2 * n + 1).next_power_of_two()
    } else {
        (n + n / 4 + 1).next_power_of_two()
    }
}

#[inline]
fn slot_of(h: u64, count: usize) -> usize {
    // The top bits: count is a power of two of at most 2^32 slots.
    let bits = count.trailing_zeros();
    if bits == 0 {
        0
    } else {
        (h >> (64 - bits)) as usize
    }
}

#[inline]
fn tag_of(h: u64) -> u8 {
    // Bits below the slot bits for tables of up to 2^24 slots.
    (h >> 16) as u8
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_each_name_and_nothing_else() {
        let names: Vec<String> = (0..5000).map(|i| format!("key-{i:06}")).collect();
        let t = NameTable::build(names.iter().map(String::as_str)).unwrap();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(t.get(n), Some(i));
            assert_eq!(t.name(i), Some(n.as_str()));
        }
        assert_eq!(t.get("key-005000"), None);
        assert_eq!(t.get(""), None);
        let empty = NameTable::build([]).unwrap();
        assert_eq!(empty.get("x"), None);
    }

    #[test]
    fn parts_round_trip_and_are_checked() {
        let t = NameTable::build(["a", "bé", "", "a"]).unwrap();
        assert_eq!(t.get("a"), Some(3));
        assert_eq!(t.get(""), Some(2));
        let (text, ends, slots, tags) = t.parts();
        let again = NameTable::from_parts(text.into(), ends.into(), Some((slots.into(), tags.into()))).unwrap();
        assert_eq!(again, t);
        // An end inside a character, past the text, or going backwards; slots out of range.
        assert!(NameTable::from_parts("abé".into(), Box::new([1, 3, 4]), None).is_err());
        assert!(NameTable::from_parts("ab".into(), Box::new([1, 3]), None).is_err());
        assert!(NameTable::from_parts("ab".into(), Box::new([2, 1]), None).is_err());
        let mut bad = slots.to_vec();
        bad[0] = 9;
        assert!(NameTable::from_parts(text.into(), ends.into(), Some((bad.into(), tags.into()))).is_err());
        // Slots that do not lead to their names load, and find nothing wrong.
        let mut moved = slots.to_vec();
        moved.rotate_left(1);
        let odd = NameTable::from_parts(text.into(), ends.into(), Some((moved.into(), tags.into()))).unwrap();
        for (i, name) in ["a", "bé", ""].iter().enumerate() {
            assert!(odd.get(name).is_none_or(|j| odd.name(j) == Some(name)), "{i}");
        }
    }

    #[cfg(not(target_family = "wasm"))]
    proptest::proptest! {
        /// Against a HashMap whose later insert wins, as the table's does.
        #[test]
        fn agrees_with_a_hash_map(names in proptest::collection::vec("[a-c/]{0,6}", 0..200), probes in proptest::collection::vec("[a-c/]{0,6}", 0..50)) {
            use proptest::prop_assert_eq;
            let t = NameTable::build(names.iter().map(String::as_str)).unwrap();
            let reference: std::collections::HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
            for p in names.iter().chain(probes.iter()) {
                prop_assert_eq!(t.get(p), reference.get(p.as_str()).copied());
            }
        }
    }
}

#[cfg(test)]
mod probe_stats {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Mean probes per successful lookup over typical names, against linear probing's expected
    /// (1 + 1/(1-a))/2 at load a: about 1.5 for small tables, 2.6–3 for large ones.
    #[test]
    fn probes_stay_short() {
        for (n, fmt, limit) in [(200usize, "app/secret-", 1.8), (1000, "key-", 1.8), (100_000, "alias/k", 3.2)] {
            let names: Vec<String> = (0..n).map(|i| format!("{fmt}{i}")).collect();
            let t = NameTable::build(names.iter().map(String::as_str)).unwrap();
            let count = t.slots.len();
            let mut total = 0usize;
            for name in &names {
                let mut at = slot_of(hash(name.as_bytes()), count);
                let mut probes = 1;
                while t.name(t.slots[at] as usize) != Some(name.as_str()) {
                    at = (at + 1) & (count - 1);
                    probes += 1;
                }
                total += probes;
            }
            let mean = total as f64 / n as f64;
            assert!(mean < limit, "{fmt}: {mean:.2} probes on average");
        }
    }
}
