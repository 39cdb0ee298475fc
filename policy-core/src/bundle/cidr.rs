//! IP addresses and CIDR blocks as written in network rules.

use core::fmt;
use core::str::FromStr;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

/// An address block (an [`ipnet::IpNet`] with host bits cleared). A bare address is a
/// full-length block. Host bits are cleared on parse, so `10.1.2.3/8` is stored (and serialized)
/// as `10.0.0.0/8`; IPv4-mapped IPv6 blocks (`::ffff:10.0.0.0/104`) become IPv4 blocks, matching
/// how requests are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpCidr(IpNet);

impl IpCidr {
    /// Builds a block, clearing host bits. `None` when the prefix is too long.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<IpCidr> {
        if let IpAddr::V6(a) = addr {
            if let (Some(v4), true) = (a.to_ipv4_mapped(), prefix_len >= 96) {
                return IpCidr::new(IpAddr::V4(v4), prefix_len.checked_sub(96)?);
            }
        }
        IpNet::new(addr, prefix_len).ok().map(|n| IpCidr(n.trunc()))
    }

    /// The (masked) network address.
    pub fn addr(&self) -> IpAddr {
        self.0.network()
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// The block as an `ipnet` network.
    pub fn as_ipnet(&self) -> IpNet {
        self.0
    }

    /// Inclusive range for IPv4 blocks.
    pub(crate) fn v4_range(&self) -> Option<(u32, u32)> {
        match self.0 {
            IpNet::V4(n) => Some((u32::from(n.network()), u32::from(n.broadcast()))),
            IpNet::V6(_) => None,
        }
    }

    /// Inclusive range for IPv6 blocks.
    pub(crate) fn v6_range(&self) -> Option<(u128, u128)> {
        match self.0 {
            IpNet::V6(n) => Some((u128::from(n.network()), u128::from(n.broadcast()))),
            IpNet::V4(_) => None,
        }
    }

    /// True when `ip` is inside (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical_ip(ip))
    }
}

impl From<IpCidr> for IpNet {
    fn from(c: IpCidr) -> IpNet {
        c.0
    }
}

impl From<IpNet> for IpCidr {
    /// Host bits are cleared; an IPv4-mapped IPv6 block becomes an IPv4 block.
    fn from(n: IpNet) -> IpCidr {
        IpCidr::new(n.addr(), n.prefix_len()).unwrap_or(IpCidr(n.trunc()))
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
        self.0.contains(&other.0)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
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

    /// `address` or `address/prefix`, the prefix 1 to 3 plain digits (leading zeros allowed, as
    /// before `ipnet`, whose own parser refuses them).
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
        let net = match p {
            Some(p) => IpNet::new(addr, p).map_err(|_| CidrParseError)?,
            None => IpNet::from(addr),
        };
        Ok(IpCidr::from(net))
    }
}

impl fmt::Display for IpCidr {
    /// A full-length block is written as a bare address (`10.0.0.1`, not `10.0.0.1/32`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
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
            ("10.0.0.1/032", "10.0.0.1"),
            ("10.0.0.1/08", "10.0.0.0/8"),
            ("::ffff:10.1.2.3", "10.1.2.3"),
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
