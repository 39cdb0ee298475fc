//! Source addresses in atoms: the addresses whose membership in each of a few network sets is the
//! same (the policies' `NetworkRules`, in both bundles), and the merged ranges of a region, printed
//! as CIDR blocks (`10.20.0.0/16 minus 10.20.3.0/24` when that is shorter).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::compiled::ipset::IpSet;

/// A set of addresses: sorted, disjoint, non-adjacent inclusive ranges per family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AddressSet {
    #[serde(skip)]
    v4: Vec<(u32, u32)>,
    #[serde(skip)]
    v6: Vec<(u128, u128)>,
}

/// The addresses with one membership signature, and one of them.
pub(crate) struct Atom {
    pub(crate) addresses: AddressSet,
    pub(crate) representative: IpAddr,
}

/// The atoms of a few sets.
pub(crate) struct Atoms(Vec<Atom>);

/// Cut points of one family: the start of every range and the address after its end.
fn cuts<T: Copy + Ord>(sets: &[&[(T, T)]], zero: T, succ: impl Fn(T) -> Option<T>) -> Vec<T> {
    let mut points = vec![zero];
    for s in sets {
        for &(lo, hi) in s.iter() {
            points.push(lo);
            if let Some(n) = succ(hi) {
                points.push(n);
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    points
}

fn member<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|&(lo, _)| lo <= x);
    i.checked_sub(1).and_then(|j| ranges.get(j)).is_some_and(|&(_, hi)| x <= hi)
}

impl Atoms {
    /// The atoms of `sets` (at most 64 sets are told apart, far more than an AAP pair holds).
    pub(crate) fn new(sets: &[IpSet]) -> Atoms {
        let mut by_signature: BTreeMap<u64, AddressSet> = BTreeMap::new();
        let v4: Vec<&[(u32, u32)]> = sets.iter().map(IpSet::v4_ranges).collect();
        let points = cuts(&v4, 0u32, |x: u32| x.checked_add(1));
        for (i, &lo) in points.iter().enumerate() {
            let hi = points.get(i + 1).map_or(u32::MAX, |n| n - 1);
            let sig = v4.iter().enumerate().fold(0u64, |s, (k, r)| if member(r, lo) { s | 1 << (k % 64) } else { s });
            push(&mut by_signature.entry(sig).or_default().v4, lo, hi);
        }
        let v6: Vec<&[(u128, u128)]> = sets.iter().map(IpSet::v6_ranges).collect();
        let points = cuts(&v6, 0u128, |x: u128| x.checked_add(1));
        for (i, &lo) in points.iter().enumerate() {
            let hi = points.get(i + 1).map_or(u128::MAX, |n| n - 1);
            let sig = v6.iter().enumerate().fold(0u64, |s, (k, r)| if member(r, lo) { s | 1 << (k % 64) } else { s });
            push(&mut by_signature.entry(sig).or_default().v6, lo, hi);
        }
        Atoms(
            by_signature
                .into_values()
                .map(|addresses| {
                    let representative = addresses.representative();
                    Atom { addresses, representative }
                })
                .collect(),
        )
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Atom> {
        self.0.iter()
    }
}

/// Appends `lo..=hi`, merging with the last range when adjacent.
fn push<T: Copy + Ord + Into<u128>>(ranges: &mut Vec<(T, T)>, lo: T, hi: T) {
    if let Some(last) = ranges.last_mut() {
        if last.1.into() + 1 == lo.into() {
            last.1 = hi;
            return;
        }
    }
    ranges.push((lo, hi));
}

fn union<T: Copy + Ord + Into<u128>>(a: &[(T, T)], b: &[(T, T)]) -> Vec<(T, T)> {
    let mut all: Vec<(T, T)> = a.iter().chain(b.iter()).copied().collect();
    all.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(all.len());
    for (lo, hi) in all {
        match out.last_mut() {
            Some(last) if lo.into() <= last.1.into().saturating_add(1) => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The CIDR blocks covering exactly `lo..=hi` (`bits` = 32 or 128): (start, prefix length).
fn cidrs(lo: u128, hi: u128, bits: u32) -> Vec<(u128, u32)> {
    // The last address of the block of 2^k addresses at `start` (aligned, so an OR).
    let last = |start: u128, k: u32| if k >= 128 { u128::MAX } else { start | ((1u128 << k) - 1) };
    let mut out = Vec::new();
    let mut start = lo;
    loop {
        let mut k = if start == 0 { bits } else { start.trailing_zeros().min(bits) };
        while k > 0 && last(start, k) > hi {
            k -= 1;
        }
        out.push((start, bits - k));
        let end = last(start, k);
        if end >= hi {
            return out;
        }
        start = end + 1;
    }
}

impl AddressSet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match crate::bundle::cidr::canonical_ip(ip) {
            IpAddr::V4(a) => member(&self.v4, u32::from(a)),
            IpAddr::V6(a) => member(&self.v6, u128::from(a)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub(crate) fn union_with(&mut self, other: &AddressSet) {
        self.v4 = union(&self.v4, &other.v4);
        self.v6 = union(&self.v6, &other.v6);
    }

    fn representative(&self) -> IpAddr {
        match (self.v4.first(), self.v6.first()) {
            (Some(&(lo, _)), _) => IpAddr::V4(Ipv4Addr::from(lo)),
            (None, Some(&(lo, _))) => IpAddr::V6(Ipv6Addr::from(lo)),
            (None, None) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// The blocks, as `a.b.c.d/n` and `x::/n` strings.
    pub fn cidr_strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.v4 {
            for (start, len) in cidrs(u128::from(lo), u128::from(hi), 32) {
                out.push(format!("{}/{len}", Ipv4Addr::from(u32::try_from(start).unwrap_or(0))));
            }
        }
        for &(lo, hi) in &self.v6 {
            for (start, len) in cidrs(lo, hi, 128) {
                out.push(format!("{}/{len}", Ipv6Addr::from(start)));
            }
        }
        out
    }
}

/// `all IPv4` / `all addresses`, the blocks, or `<block> minus <blocks>` when that is shorter.
impl fmt::Display for AddressSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v4_all = self.v4 == [(0, u32::MAX)];
        let v6_all = self.v6 == [(0, u128::MAX)];
        if v4_all && v6_all {
            return f.write_str("any address");
        }
        let blocks = self.cidr_strings();
        // The complement within the smallest block around an IPv4-only set.
        let minus = match (self.v4.first(), self.v4.last(), self.v6.is_empty()) {
            (Some(&(lo, _)), Some(&(_, hi)), true) => {
                let plen = (lo ^ hi).leading_zeros();
                let mask = if plen == 0 { 0 } else { u32::MAX << (32 - plen) };
                let (base, top) = (lo & mask, (lo & mask) | !mask);
                let holes = AddressSet { v4: gaps(&self.v4, base, top), v6: Vec::new() };
                (!holes.is_empty())
                    .then(|| format!("{}/{plen} minus {}", Ipv4Addr::from(base), holes.cidr_strings().join(", ")))
            }
            _ => None,
        };
        let listed = if blocks.is_empty() { "no address".to_owned() } else { blocks.join(", ") };
        // Everything but a few blocks reads best as what it leaves out.
        let complement = AddressSet { v4: gaps(&self.v4, 0, u32::MAX), v6: gaps(&self.v6, 0, u128::MAX) };
        let all_but = format!("any address minus {}", complement.cidr_strings().join(", "));
        let shortest = [Some(listed), minus, Some(all_but)].into_iter().flatten().min_by_key(String::len);
        f.write_str(&shortest.unwrap_or_default())
    }
}

/// The addresses of `lo..=hi` not in `ranges` (which lie within it).
fn gaps<T: Copy + Ord + Into<u128> + TryFrom<u128>>(ranges: &[(T, T)], lo: T, hi: T) -> Vec<(T, T)> {
    let conv = |v: u128| T::try_from(v).ok();
    let mut out = Vec::new();
    let mut next: u128 = lo.into();
    for &(a, b) in ranges {
        if a.into() > next {
            if let (Some(from), Some(to)) = (conv(next), conv(a.into() - 1)) {
                out.push((from, to));
            }
        }
        match b.into().checked_add(1) {
            Some(n) => next = next.max(n),
            None => return out,
        }
    }
    if next <= hi.into() {
        if let Some(from) = conv(next) {
            out.push((from, hi));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::bundle::cidr::IpCidr;

    fn set(cidrs: &[&str]) -> IpSet {
        let c: Vec<IpCidr> = cidrs.iter().map(|c| c.parse().unwrap()).collect();
        IpSet::from_cidrs(&c)
    }

    #[test]
    fn atoms_split_by_membership() {
        let a = set(&["10.20.0.0/16"]);
        let b = set(&["10.20.3.0/24", "fd00::/8"]);
        let atoms = Atoms::new(&[a, b]);
        // {a only}, {a and b}, {b only (v6)}, {neither}.
        assert_eq!(atoms.iter().count(), 4);
        let only_a = atoms.iter().find(|t| t.addresses.contains("10.20.9.9".parse().unwrap())).unwrap();
        assert!(!only_a.addresses.contains("10.20.3.1".parse().unwrap()));
        assert_eq!(only_a.addresses.to_string(), "10.20.0.0/16 minus 10.20.3.0/24");
    }

    #[test]
    fn blocks_are_exact() {
        let s = AddressSet {
            v4: vec![(u32::from(Ipv4Addr::new(10, 0, 0, 1)), u32::from(Ipv4Addr::new(10, 0, 0, 6)))],
            v6: vec![],
        };
        assert_eq!(s.cidr_strings(), ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]);
        let all = AddressSet { v4: vec![(0, u32::MAX)], v6: vec![(0, u128::MAX)] };
        assert_eq!(all.to_string(), "any address");
    }
}
