//! Host names and addresses as configured or sent by peers.

use std::net::IpAddr;

/// Whether `host` — a name or address, with or without `:port`, IPv6 in brackets
/// (`127.0.0.1:9090`, `[::1]`, `localhost`) — is this machine. The page's open mode serves only
/// such `Host`s; the sinks warn about plain text to anything else.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST:9090",
            "127.0.0.1",
            "127.0.0.1:8883",
            "[::1]",
            "[::1]:1883",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.5",
            "10.0.0.5:9092",
            "broker.example",
            "[2001:db8::1]:8883",
            "127.0.0.1.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
