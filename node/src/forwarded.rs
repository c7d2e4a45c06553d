//! The client's address when a reverse proxy fronts the node.
//!
//! Behind a TLS proxy every request arrives from the proxy's address, so the
//! login throttle would count every user as one client. A proxy listed in
//! `[http] trusted_proxies` is believed about the address it forwards, in the
//! one header `client_address_header` names (`X-Forwarded-For` or RFC 7239
//! `Forwarded: for=`); anyone else's headers are ignored.
//!
//! Only one header is read because a proxy overwrites only the one it sets:
//! nginx and Caddy set `X-Forwarded-For` and pass a client's `Forwarded`
//! through untouched, so reading both would let a client pick its address.
//! The list is read from the right: each proxy appends the address it saw,
//! so the right-most address that is not a trusted proxy is the last one a
//! trusted party vouched for; what the client wrote further left is never
//! read. A header that cannot be read there counts as no header: the request
//! is throttled as the proxy's own, never refused for it.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One trusted proxy: an address, or a network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRange(IpNet);

impl ProxyRange {
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr)
    }
}

impl FromStr for ProxyRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let net = match (text.parse::<IpNet>(), text.parse::<IpAddr>()) {
            (Ok(net), _) => net,
            (_, Ok(addr)) => IpNet::from(addr.to_canonical()),
            _ => {
                return Err(format!(
                    "`{text}` is neither an address nor a network in CIDR form (e.g. 10.0.0.0/8)"
                ));
            }
        };
        if net.prefix_len() == 0 {
            return Err(format!(
                "`{text}` would trust every address, letting any client claim any address; list the proxies' own addresses"
            ));
        }
        // `10.0.0.5/8` is most likely meant as one host; trusting the /8
        // silently would believe sixteen million addresses.
        if net.trunc() != net {
            return Err(format!(
                "`{text}` has bits set past its prefix; write `{}` for the network or the address alone for one host",
                net.trunc()
            ));
        }
        Ok(Self(net))
    }
}

impl fmt::Display for ProxyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for ProxyRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProxyRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The header the trusted proxies set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAddressHeader {
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded`, its `for=` parameters.
    Forwarded,
}

impl ClientAddressHeader {
    pub fn name(self) -> &'static str {
        match self {
            ClientAddressHeader::XForwardedFor => "x-forwarded-for",
            ClientAddressHeader::Forwarded => "forwarded",
        }
    }
}

/// Who sent a request: `peer` (the TCP peer) unless it is a trusted proxy,
/// in which case the right-most forwarded address that is not itself a
/// trusted proxy.
pub fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[ProxyRange],
    header: ClientAddressHeader,
) -> IpAddr {
    let is_trusted = |addr: IpAddr| trusted.iter().any(|range| range.contains(addr));
    // A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`.
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    let Some(hops) = hops(headers, header) else {
        return peer;
    };
    let mut leftmost = None;
    for hop in hops.iter().rev() {
        let parsed = match header {
            ClientAddressHeader::XForwardedFor => parse_node(hop),
            ClientAddressHeader::Forwarded => forwarded_for(hop),
        };
        let Some(addr) = parsed else {
            return peer;
        };
        if !is_trusted(addr) {
            return addr;
        }
        leftmost = Some(addr);
    }
    // Every hop is a trusted proxy: the request began at one of them.
    leftmost.unwrap_or(peer)
}

/// The comma-separated entries of every line of the header, in order; `None`
/// when there is no such header or a line is not visible ASCII.
fn hops(headers: &HeaderMap, header: ClientAddressHeader) -> Option<Vec<&str>> {
    let mut hops = Vec::new();
    for line in headers.get_all(header.name()) {
        hops.extend(line.to_str().ok()?.split(','));
    }
    (!hops.is_empty()).then_some(hops)
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`) or in brackets alone.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let addr = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })?;
    Some(addr.to_canonical())
}

/// The address in one RFC 7239 element's `for=` (`for=192.0.2.60;proto=https`,
/// `for="[2001:db8:cafe::17]:4711"`). An element without exactly one `for`,
/// or with an obfuscated or `unknown` one, names no address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"')?,
            None => value,
        };
        found = Some(parse_node(value)?);
    }
    found
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ranges(list: &[&str]) -> Vec<ProxyRange> {
        list.iter().map(|r| r.parse().unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        map
    }

    const XFF: ClientAddressHeader = ClientAddressHeader::XForwardedFor;
    const RFC: ClientAddressHeader = ClientAddressHeader::Forwarded;

    #[test]
    fn ranges_are_checked_when_read() {
        assert_eq!(
            "127.0.0.1".parse::<ProxyRange>().unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!("::1".parse::<ProxyRange>().unwrap().to_string(), "::1/128");
        assert!(
            "10.0.0.0/8"
                .parse::<ProxyRange>()
                .unwrap()
                .contains(ip("10.9.8.7"))
        );
        let host_bits = "10.0.0.5/8".parse::<ProxyRange>().unwrap_err();
        assert!(host_bits.contains("`10.0.0.0/8`"), "{host_bits}");
        let everyone = "0.0.0.0/0".parse::<ProxyRange>().unwrap_err();
        assert!(everyone.contains("every address"), "{everyone}");
        assert!("::/0".parse::<ProxyRange>().is_err());
        let junk = "proxy.example".parse::<ProxyRange>().unwrap_err();
        assert!(junk.contains("`proxy.example`"), "{junk}");
        assert!("10.0.0.0/33".parse::<ProxyRange>().is_err());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = ranges(&["127.0.0.1/32"]);
        let spoof = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
        ]);
        for header in [XFF, RFC] {
            assert_eq!(
                client_address(ip("192.0.2.9"), &spoof, &trusted, header),
                ip("192.0.2.9")
            );
            // With no proxies configured, nobody is believed.
            assert_eq!(
                client_address(ip("127.0.0.1"), &spoof, &[], header),
                ip("127.0.0.1")
            );
        }
    }

    #[test]
    fn the_rightmost_address_that_is_not_a_trusted_proxy_is_the_client() {
        let trusted = ranges(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        let at = |value: &str| {
            client_address(peer, &headers(&[("x-forwarded-for", value)]), &trusted, XFF)
        };
        assert_eq!(at("203.0.113.7"), ip("203.0.113.7"));
        // What a client wrote itself stays to the left and is never read,
        // however malformed.
        assert_eq!(
            at("1.1.1.1, not-an-address, 203.0.113.7"),
            ip("203.0.113.7")
        );
        // Inner proxies are skipped.
        assert_eq!(at("203.0.113.7, 10.1.2.3, 10.0.0.1"), ip("203.0.113.7"));
        assert_eq!(at(" 2001:db8::7 "), ip("2001:db8::7"));
        assert_eq!(at("[2001:db8::7]:4711"), ip("2001:db8::7"));
        assert_eq!(at("203.0.113.7:4711"), ip("203.0.113.7"));
        assert_eq!(at("::ffff:203.0.113.7"), ip("203.0.113.7"));
        // Only proxies: the request began at the left-most of them.
        assert_eq!(at("10.0.0.2, 10.0.0.1"), ip("10.0.0.2"));
        // Several header lines are one list, in order.
        let two_lines = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.7, 10.0.0.1"),
        ]);
        assert_eq!(
            client_address(peer, &two_lines, &trusted, XFF),
            ip("203.0.113.7")
        );
        // An IPv4 peer seen through a dual-stack socket is still trusted.
        let one = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), &one, &trusted, XFF),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn an_unreadable_header_counts_as_none() {
        let trusted = ranges(&["127.0.0.1"]);
        let peer = ip("127.0.0.1");
        for value in [
            "",
            "203.0.113.7, ",
            "203.0.113.7, garbage",
            "fe80::1%eth0",
            "203.0.113.7;for",
        ] {
            let h = headers(&[("x-forwarded-for", value)]);
            assert_eq!(client_address(peer, &h, &trusted, XFF), peer, "{value:?}");
        }
        let not_ascii = headers(&[("x-forwarded-for", "203.0.113.7\u{e9}")]);
        assert_eq!(client_address(peer, &not_ascii, &trusted, XFF), peer);
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted, XFF), peer);
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let trusted = ranges(&["127.0.0.1"]);
        let peer = ip("127.0.0.1");
        // nginx sets X-Forwarded-For and passes the client's Forwarded on.
        let both = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=198.51.100.66"),
        ]);
        assert_eq!(
            client_address(peer, &both, &trusted, XFF),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(peer, &both, &trusted, RFC),
            ip("198.51.100.66")
        );
        let only_rfc = headers(&[("forwarded", "for=198.51.100.66")]);
        assert_eq!(client_address(peer, &only_rfc, &trusted, XFF), peer);
    }

    #[test]
    fn rfc_7239_elements_are_read_from_the_right() {
        let trusted = ranges(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        let at =
            |value: &str| client_address(peer, &headers(&[("forwarded", value)]), &trusted, RFC);
        assert_eq!(at("for=203.0.113.7"), ip("203.0.113.7"));
        assert_eq!(
            at("For=\"203.0.113.7:4711\";proto=https"),
            ip("203.0.113.7")
        );
        assert_eq!(
            at("for=\"[2001:db8:cafe::17]:4711\""),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            at("for=198.51.100.1, for=203.0.113.7;by=10.0.0.1, proto=https;for=10.0.0.1"),
            ip("203.0.113.7")
        );
        assert_eq!(at("for=junk;by=x, for=203.0.113.7"), ip("203.0.113.7"));
        // Hidden, unknown, missing or doubled `for` names no one.
        for value in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=203.0.113.7;for=198.51.100.1",
            "for=\"203.0.113.7",
            "for",
        ] {
            assert_eq!(at(value), peer, "{value:?}");
        }
    }
}
