//! Client addresses behind reverse proxies.
//!
//! A request's peer is its client unless the peer is a trusted proxy
//! (`--trusted-proxies`): then the client is the rightmost address of
//! `X-Forwarded-For` (or, without that header, of `Forwarded`'s `for=`)
//! that is not itself a trusted proxy. Everything left of it was written by
//! the client and may be forged; everything right of it by proxies we
//! trust. An untrusted peer's forwarding headers are ignored.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// An address block: `10.0.0.0/8`, `fd00::/8`, or one address (`::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// Text that is not an address block.
#[derive(Debug, thiserror::Error)]
#[error("invalid address block {0:?} (expected e.g. 10.0.0.0/8, fd00::/8 or 127.0.0.1)")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let bad = || CidrError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let net = net.to_canonical();
        let bits = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return Err(bad());
        }
        Ok(Cidr { net, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in the block (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Whether `ip` is in one of `trusted`.
pub fn trusted(ip: IpAddr, trusted: &[Cidr]) -> bool {
    trusted.iter().any(|c| c.contains(ip))
}

/// The client's address: `peer`, or when `peer` is a trusted proxy, the
/// rightmost forwarded hop that is not (see the module doc). A hop that is
/// not an address (`unknown`, an obfuscated name) stops the walk, and the
/// peer's address is used.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[Cidr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted(peer, trusted_proxies) {
        return peer;
    }
    let hops = forwarded_for(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !trusted(*ip, trusted_proxies) {
                    break;
                }
            }
            None => return peer,
        }
    }
    client
}

/// The hops of `X-Forwarded-For` (every such header, in order), else of
/// `Forwarded`'s `for=` parameters; `None` for a hop that is no address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    let xff = values("x-forwarded-for");
    if !xff.is_empty() {
        return xff.iter().flat_map(|v| v.split(',')).map(node_ip).collect();
    }
    values("forwarded")
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| node_ip(v))
            })
        })
        .collect()
}

/// An address from a forwarded node: `1.2.3.4`, `1.2.3.4:80`, `::1`,
/// `"[::1]:80"` (quotes, brackets and port dropped).
fn node_ip(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let host = match node.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?,
        None => node.rsplit_once(':')?.0,
    };
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter()
            .map(|s| s.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, axum::http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn blocks_parse_and_contain() {
        let c = cidrs(&["10.0.0.0/8", "::1", "fd00::/8", "0.0.0.0/0"]);
        assert!(c[0].contains(ip("10.200.0.1")));
        assert!(!c[0].contains(ip("11.0.0.1")));
        assert!(c[0].contains(ip("::ffff:10.0.0.1")), "mapped IPv4");
        assert!(c[1].contains(ip("::1")) && !c[1].contains(ip("::2")));
        assert!(c[2].contains(ip("fd12::1")) && !c[2].contains(ip("fe80::1")));
        assert!(c[3].contains(ip("192.0.2.1")) && !c[3].contains(ip("::1")));
        assert_eq!(c[1].to_string(), "::1/128");
        for bad in ["10.0.0.0/33", "::/129", "nope", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let t = cidrs(&["127.0.0.1", "10.0.0.0/8"]);
        let local = ip("127.0.0.1");
        let xff = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.5, 10.1.1.1")]);
        assert_eq!(client_ip(local, &xff, &t), ip("203.0.113.5"));
        // Several header lines are one list.
        let split = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.6"),
        ]);
        assert_eq!(client_ip(local, &split, &t), ip("203.0.113.6"));
        // Only trusted hops: the leftmost is the furthest known.
        let inner = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.8")]);
        assert_eq!(client_ip(local, &inner, &t), ip("10.0.0.9"));
        // No header, or a hop that is no address: the peer.
        assert_eq!(client_ip(local, &HeaderMap::new(), &t), local);
        let junk = headers(&[("x-forwarded-for", "203.0.113.5, unknown")]);
        assert_eq!(client_ip(local, &junk, &t), local);
        // An untrusted peer's headers are ignored.
        assert_eq!(client_ip(ip("192.0.2.7"), &xff, &t), ip("192.0.2.7"));
        assert_eq!(client_ip(local, &xff, &[]), local);
    }

    #[test]
    fn forwarded_is_read_without_x_forwarded_for() {
        let t = cidrs(&["127.0.0.1"]);
        let local = ip("127.0.0.1");
        let fwd = headers(&[(
            "forwarded",
            r#"for=198.51.100.1;proto=https, For="[2001:db8::7]:4711";by=127.0.0.1"#,
        )]);
        assert_eq!(client_ip(local, &fwd, &t), ip("2001:db8::7"));
        let port = headers(&[("forwarded", "for=\"203.0.113.9:80\"")]);
        assert_eq!(client_ip(local, &port, &t), ip("203.0.113.9"));
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(client_ip(local, &hidden, &t), local);
        // X-Forwarded-For wins when both are there.
        let both = headers(&[
            ("forwarded", "for=198.51.100.1"),
            ("x-forwarded-for", "203.0.113.5"),
        ]);
        assert_eq!(client_ip(local, &both, &t), ip("203.0.113.5"));
    }
}
