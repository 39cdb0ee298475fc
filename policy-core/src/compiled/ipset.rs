//! A set of IP addresses as sorted, disjoint, non-adjacent inclusive ranges: membership is a bucket
//! lookup for IPv4 and one binary search for IPv6, however many rules and CIDR blocks went in.

use std::net::IpAddr;
use std::sync::Arc;

use crate::bundle::cidr::{canonical_ip, IpCidr};

/// Shared: policies over the same network rules hold one set (a compiled bundle keeps one copy, and
/// a decision looks each distinct set up once, `same_set`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IpSet(Arc<Ranges>);

#[derive(Debug, Default, PartialEq, Eq)]
struct Ranges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    /// Bucket index over `v4`, derived from it (see `V4Index`).
    v4_index: V4Index,
}

/// Splits the span from the first range's start to the last one's into equal buckets, at most one
/// per range: `starts[b]` is the number of ranges starting before bucket `b`, so the range holding
/// `x`, if any, is among `starts[b(x)]-1 ..= starts[b(x)+1]-1`. That is usually one or two
/// candidates instead of a binary search of ten dependent, unpredictable steps over 800 ranges.
/// Lopsided sets still answer correctly, a crowded bucket being searched by bisection. The index
/// costs 4 bytes a bucket.
#[derive(Debug, Default, PartialEq, Eq)]
struct V4Index {
    base: u32,
    shift: u32,
    starts: Vec<u32>,
}

impl V4Index {
    fn build(ranges: &[(u32, u32)]) -> V4Index {
        let (Some(&(base, _)), Some(&(last, _))) = (ranges.first(), ranges.last()) else { return V4Index::default() };
        let span = u64::from(last - base) + 1;
        let want = ranges.len() as u64;
        // The smallest shift that leaves at most `want` buckets over the span of range starts.
        let mut shift = 0u32;
        while shift < 31 && (span >> shift) > want {
            shift += 1;
        }
        let buckets = usize::try_from((u64::from(last - base) >> shift) + 1).unwrap_or(0);
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut i = 0usize;
        for b in 0..=buckets as u64 {
            let bucket_start = u64::from(base) + (b << shift);
            while ranges.get(i).is_some_and(|&(lo, _)| u64::from(lo) < bucket_start) {
                i += 1;
            }
            starts.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        V4Index { base, shift, starts }
    }

    /// Whether a range of `ranges` (the ones the index was built on) holds `x`.
    #[inline]
    fn find(&self, ranges: &[(u32, u32)], x: u32) -> bool {
        let Some(off) = x.checked_sub(self.base) else { return false };
        let b = off.checked_shr(self.shift).unwrap_or(0) as usize;
        // Past the last bucket: only the last range can hold x.
        let (from, to) = match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(&f), Some(&t)) => (f as usize, t as usize),
            _ => (ranges.len(), ranges.len()),
        };
        // The candidate is the last range starting at or before x: in this bucket, or the last
        // one starting before it.
        let within = ranges.get(from..to).unwrap_or(&[]);
        let i = from + within.partition_point(|&(lo, _)| lo <= x);
        i.checked_sub(1).and_then(|j| ranges.get(j)).is_some_and(|&(_, hi)| x <= hi)
    }
}

fn merge<T: Copy + Ord>(mut r: Vec<(T, T)>, succ: impl Fn(T) -> Option<T>) -> Vec<(T, T)> {
    r.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        if let Some(last) = out.last_mut() {
            // Overlapping or adjacent (last.hi + 1 == lo) ranges merge.
            if lo <= last.1 || succ(last.1).is_some_and(|n| n == lo) {
                if hi > last.1 {
                    last.1 = hi;
                }
                continue;
            }
        }
        out.push((lo, hi));
    }
    out.shrink_to_fit();
    out
}

fn find<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    // Index of the first range starting after x; the candidate is the one before it.
    let i = ranges.partition_point(|&(lo, _)| lo <= x);
    i.checked_sub(1).and_then(|j| ranges.get(j)).is_some_and(|&(_, hi)| x <= hi)
}

/// An address as the sets compare it: IPv4-mapped IPv6 as IPv4, then a number. (`IpAddr` keeps
/// bytes: converting once per decision, not once per lookup, saves a few dozen instructions.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Addr {
    V4(u32),
    V6(u128),
}

impl Addr {
    #[inline]
    pub(crate) fn of(ip: IpAddr) -> Addr {
        match canonical_ip(ip) {
            IpAddr::V4(a) => Addr::V4(u32::from(a)),
            IpAddr::V6(a) => Addr::V6(u128::from(a)),
        }
    }
}

impl IpSet {
    pub(crate) fn from_cidrs<'c>(cidrs: impl IntoIterator<Item = &'c IpCidr>) -> IpSet {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for c in cidrs {
            if let Some(r) = c.v4_range() {
                v4.push(r);
            } else if let Some(r) = c.v6_range() {
                v6.push(r);
            }
        }
        IpSet::from_ranges(merge(v4, |x: u32| x.checked_add(1)), merge(v6, |x: u128| x.checked_add(1)))
    }

    /// A set from ranges that must be sorted, disjoint and non-adjacent, as `merge` leaves them
    /// (the compact form's); `None` if they are not.
    pub(crate) fn from_merged(v4: Vec<(u32, u32)>, v6: Vec<(u128, u128)>) -> Option<IpSet> {
        fn merged<T: Copy + Ord>(r: &[(T, T)], succ: impl Fn(T) -> Option<T>) -> bool {
            r.iter().all(|&(lo, hi)| lo <= hi)
                && r.windows(2).all(|w| match (w.first(), w.get(1)) {
                    (Some(&(_, hi)), Some(&(lo, _))) => succ(hi).is_some_and(|next| next < lo),
                    _ => true,
                })
        }
        if !merged(&v4, |x: u32| x.checked_add(1)) || !merged(&v6, |x: u128| x.checked_add(1)) {
            return None;
        }
        Some(IpSet::from_ranges(v4, v6))
    }

    /// A set from ranges already sorted, disjoint and non-adjacent.
    fn from_ranges(v4: Vec<(u32, u32)>, v6: Vec<(u128, u128)>) -> IpSet {
        let v4_index = V4Index::build(&v4);
        IpSet(Arc::new(Ranges { v4, v6, v4_index }))
    }

    pub(crate) fn v4_ranges(&self) -> &[(u32, u32)] {
        &self.0.v4
    }

    pub(crate) fn v6_ranges(&self) -> &[(u128, u128)] {
        &self.0.v6
    }

    /// Membership; IPv4-mapped IPv6 addresses are looked up as IPv4.
    #[inline]
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.contains_addr(Addr::of(ip))
    }

    /// Membership of an address already in its canonical, numeric form.
    #[inline]
    pub(crate) fn contains_addr(&self, a: Addr) -> bool {
        match a {
            Addr::V4(x) => self.0.v4_index.find(&self.0.v4, x),
            Addr::V6(x) => find(&self.0.v6, x),
        }
    }

    /// Whether two handles share one set (then their answers are the same).
    #[inline]
    pub(crate) fn same_set(&self, other: &IpSet) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Number of ranges after merging (for tests and stats).
    #[allow(dead_code)]
    pub(crate) fn range_count(&self) -> usize {
        self.0.v4.len() + self.0.v6.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_finds() {
        let c: Vec<IpCidr> = ["10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24", "192.168.1.7", "fd00::/16", "0.0.0.5"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let s = IpSet::from_cidrs(&c);
        assert_eq!(s.range_count(), 4);
        for (ip, want) in [
            ("10.0.0.0", true),
            ("10.0.1.255", true),
            ("10.0.2.0", false),
            ("9.255.255.255", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("0.0.0.5", true),
            ("::ffff:10.0.0.9", true),
            ("fd00:1::1", true),
            ("fd01::", false),
            ("::", false),
        ] {
            assert_eq!(s.contains(ip.parse().unwrap()), want, "{ip}");
        }
        let all = IpSet::from_cidrs(&["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()]);
        assert!(all.contains("255.255.255.255".parse().unwrap()));
        assert!(all.contains("ffff::1".parse().unwrap()));
        assert!(!IpSet::default().contains("1.1.1.1".parse().unwrap()));
    }

    #[test]
    fn bucket_index_edges() {
        // A wide range spanning many buckets, then a crowd of small ones, then one far away.
        let mut c: Vec<IpCidr> = vec!["10.0.0.0/9".parse().unwrap(), "200.0.0.1".parse().unwrap()];
        c.extend((0..64u32).map(|i| IpCidr::new(IpAddr::from([10, 200, 0, (i * 4) as u8]), 31).unwrap()));
        let s = IpSet::from_cidrs(&c);
        for (ip, want) in [
            ("9.255.255.255", false),
            ("10.0.0.0", true),
            ("10.100.0.0", true),
            ("10.127.255.255", true),
            ("10.128.0.0", false),
            ("10.200.0.1", true),
            ("10.200.0.2", false),
            ("10.200.0.252", true),
            ("10.200.0.254", false),
            ("200.0.0.0", false),
            ("200.0.0.1", true),
            ("200.0.0.2", false),
            ("255.255.255.255", false),
        ] {
            assert_eq!(s.contains(ip.parse().unwrap()), want, "{ip}");
            assert_eq!(find(s.v4_ranges(), u32::from(ip.parse::<std::net::Ipv4Addr>().unwrap())), want, "{ip}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    // Addresses from a small space so that blocks overlap, touch and contain the probes.
    fn v4() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (0u32..1024).prop_map(|x| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + x))),
            any::<u32>().prop_map(|x| IpAddr::V4(Ipv4Addr::from(x))),
            Just(IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255))),
            Just(IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0))),
        ]
    }

    fn v6() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (0u128..1024).prop_map(|x| IpAddr::V6(Ipv6Addr::from((0xfd00u128 << 112) + x))),
            any::<u128>().prop_map(|x| IpAddr::V6(Ipv6Addr::from(x))),
            (0u32..1024).prop_map(|x| IpAddr::V6(Ipv4Addr::from(0x0a00_0000 + x).to_ipv6_mapped())),
        ]
    }

    fn cidr() -> impl Strategy<Value = IpCidr> {
        prop_oneof![
            (v4(), prop_oneof![22u8..=32, 0u8..=32]).prop_map(|(a, p)| IpCidr::new(a, p).unwrap()),
            (v6(), prop_oneof![118u8..=128, 0u8..=128]).prop_map(|(a, p)| IpCidr::new(a, p.min(128)).unwrap()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn matches_naive_scan(cidrs in proptest::collection::vec(cidr(), 0..40), probes in proptest::collection::vec(prop_oneof![v4(), v6()], 1..40)) {
            let set = IpSet::from_cidrs(&cidrs);
            for ip in probes {
                let naive = cidrs.iter().any(|c| c.contains(ip));
                prop_assert_eq!(set.contains(ip), naive, "{} in {:?}", ip, cidrs);
                if let IpAddr::V4(a) = canonical_ip(ip) {
                    prop_assert_eq!(find(set.v4_ranges(), u32::from(a)), naive);
                }
            }
        }

        #[test]
        fn cidr_display_round_trips(c in cidr()) {
            prop_assert_eq!(c.to_string().parse::<IpCidr>().unwrap(), c);
        }
    }
}
