//! IP addresses and CIDR blocks as written in network rules.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Serialize, Serializer};

/// An address block. A bare address is a full-length block. Host bits are cleared on parse, so
/// `10.1.2.3/8` is stored (and serialized) as `10.0.0.0/8`; IPv4-mapped IPv6 blocks
/// (`::ffff:10.0.0.0/104`) become IPv4 blocks, matching how requests are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpCidr {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpCidr {
    /// Builds a block, clearing host bits. `None` when the prefix is too long.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<IpCidr> {
        match addr {
            IpAddr::V4(a) if prefix_len <= 32 => {
                let m = mask32(prefix_len);
                Some(IpCidr { addr: IpAddr::V4(Ipv4Addr::from(u32::from(a) & m)), prefix_len })
            }
            IpAddr::V6(a) => {
                if let (Some(v4), true) = (a.to_ipv4_mapped(), prefix_len >= 96) {
                    return IpCidr::new(IpAddr::V4(v4), prefix_len.checked_sub(96)?);
                }
                if prefix_len > 128 {
                    return None;
                }
                let m = mask128(prefix_len);
                Some(IpCidr { addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & m)), prefix_len })
            }
            IpAddr::V4(_) => None,
        }
    }

    /// The (masked) network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Inclusive range for IPv4 blocks.
    pub(crate) fn v4_range(&self) -> Option<(u32, u32)> {
        match self.addr {
            IpAddr::V4(a) => {
                let lo = u32::from(a);
                Some((lo, lo | !mask32(self.prefix_len)))
            }
            IpAddr::V6(_) => None,
        }
    }

    /// Inclusive range for IPv6 blocks.
    pub(crate) fn v6_range(&self) -> Option<(u128, u128)> {
        match self.addr {
            IpAddr::V6(a) => {
                let lo = u128::from(a);
                Some((lo, lo | !mask128(self.prefix_len)))
            }
            IpAddr::V4(_) => None,
        }
    }

    /// True when `ip` is inside (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (canonical_ip(ip), self.addr) {
            (IpAddr::V4(a), IpAddr::V4(_)) => self.v4_range().is_some_and(|(lo, hi)| (lo..=hi).contains(&u32::from(a))),
            (IpAddr::V6(a), IpAddr::V6(_)) => {
                self.v6_range().is_some_and(|(lo, hi)| (lo..=hi).contains(&u128::from(a)))
            }
            _ => false,
        }
    }
}

/// The address blocks a `Type=Private` network rule may name: RFC 1918, shared address space
/// (RFC 6598 `100.64.0.0/10`), IPv6 unique local (`fc00::/7`), and for local use loopback and
/// link-local. The one definition of "private" in aapkit.
pub const PRIVATE_RANGES: [&str; 9] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "fc00::/7",
    "::1",
    "fe80::/10",
];

impl IpCidr {
    /// True when the whole block lies inside one of [`PRIVATE_RANGES`].
    pub fn is_private(&self) -> bool {
        PRIVATE_RANGES.iter().filter_map(|r| r.parse::<IpCidr>().ok()).any(|r| r.covers(self))
    }

    /// True when `other` lies wholly inside this block.
    pub fn covers(&self, other: &IpCidr) -> bool {
        match (self.v4_range(), other.v4_range(), self.v6_range(), other.v6_range()) {
            (Some((lo, hi)), Some((olo, ohi)), _, _) => lo <= olo && ohi <= hi,
            (_, _, Some((lo, hi)), Some((olo, ohi))) => lo <= olo && ohi <= hi,
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn mask32(p: u8) -> u32 {
    if p == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(p.min(32)))
    }
}

fn mask128(p: u8) -> u128 {
    if p == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(p.min(128)))
    }
}

/// Why a CIDR string does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidrParseError;

impl fmt::Display for CidrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IPv4/IPv6 address or CIDR block (e.g. `192.168.0.0/16`, `10.0.0.1`, `fd00::/8`)")
    }
}

impl FromStr for IpCidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<IpCidr, CidrParseError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrParseError);
                }
                (a, Some(p.parse::<u8>().map_err(|_| CidrParseError)?))
            }
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| CidrParseError)?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        IpCidr::new(addr, p.unwrap_or(full)).ok_or(CidrParseError)
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix_len == full {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix_len)
        }
    }
}

impl Serialize for IpCidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for (i, o) in [
            ("10.0.0.1", "10.0.0.1"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("fd00::1/8", "fd00::/8"),
            ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
            ("2001:db8::1", "2001:db8::1"),
        ] {
            assert_eq!(i.parse::<IpCidr>().unwrap().to_string(), o);
        }
        for bad in ["", "10.0.0.1/33", "10.0.0/8", "fd00::/129", "10.0.0.1/", "10.0.0.1/+8", "x", " 10.0.0.1"] {
            assert!(bad.parse::<IpCidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn private_ranges() {
        for (block, private) in [
            ("10.0.0.0/8", true),
            ("10.1.2.3", true),
            ("172.16.0.0/12", true),
            ("172.32.0.1", false),
            ("192.168.5.0/24", true),
            ("192.168.0.0/15", false),
            ("100.64.0.0/10", true),
            ("100.128.0.1", false),
            ("127.0.0.1", true),
            ("169.254.1.1", true),
            ("8.8.8.8", false),
            ("0.0.0.0/0", false),
            ("::ffff:10.0.0.1", true),
            ("::ffff:8.8.8.8", false),
            ("fd00::/8", true),
            ("fc00::/7", true),
            ("fc00::/6", false),
            ("::1", true),
            ("fe80::1", true),
            ("2001:db8::/32", false),
            ("::/0", false),
        ] {
            assert_eq!(block.parse::<IpCidr>().unwrap().is_private(), private, "{block}");
        }
    }

    #[test]
    fn contains_mapped() {
        let c: IpCidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!c.contains("11.0.0.0".parse().unwrap()));
    }
}
