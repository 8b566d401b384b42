//! Per-client request limits of the query surfaces (`/api/*`, `/mcp`): a token bucket per client
//! IP, `rps` a second with a burst of `rps`. The table of clients is bounded: idle clients (whose
//! bucket has refilled) are forgotten, and past the bound new clients share one bucket, so a
//! flood of addresses cannot grow memory.

use otelcontext_domain::ratelimit::TokenBucket;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;

/// Most clients tracked one by one.
pub const MAX_TRACKED_CLIENTS: usize = 100_000;

/// The limiter of one server.
pub struct RateLimiter {
    rate: f64,
    clients: Mutex<Clients>,
    max_clients: usize,
}

struct Clients {
    buckets: HashMap<IpAddr, TokenBucket>,
    /// Shared by the clients that arrive while the table is full.
    overflow: Option<TokenBucket>,
}

impl RateLimiter {
    /// `rps` requests a second (and as burst) per client; `None` when `rps` is 0 (no limit).
    pub fn new(rps: u32) -> Option<Self> {
        Self::bounded(rps, MAX_TRACKED_CLIENTS)
    }

    /// As [`RateLimiter::new`], tracking at most `max_clients` clients one by one.
    pub fn bounded(rps: u32, max_clients: usize) -> Option<Self> {
        (rps > 0).then(|| Self {
            rate: f64::from(rps),
            clients: Mutex::new(Clients { buckets: HashMap::new(), overflow: None }),
            max_clients,
        })
    }

    /// Admits one request of `client` at `now_ns`, or says how long (ns) until it would be.
    pub fn check(&self, client: IpAddr, now_ns: i64) -> Result<(), i64> {
        let (rate, burst) = (self.rate, self.rate);
        let mut c = self.clients.lock();
        if !c.buckets.contains_key(&client) && c.buckets.len() >= self.max_clients {
            c.buckets.retain(|_, b| !b.is_full_at(now_ns, rate, burst));
        }
        if c.buckets.len() < self.max_clients || c.buckets.contains_key(&client) {
            return c
                .buckets
                .entry(client)
                .or_insert_with(|| TokenBucket::full(burst, now_ns))
                .take(now_ns, rate, burst);
        }
        c.overflow.get_or_insert_with(|| TokenBucket::full(burst, now_ns)).take(now_ns, rate, burst)
    }

    /// Clients tracked one by one.
    pub fn tracked(&self) -> usize {
        self.clients.lock().buckets.len()
    }
}

/// The client IP of a request: with `trust_proxy_headers`, the first address of
/// `X-Forwarded-For` (else `X-Real-IP`) when it parses; otherwise the peer address.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    real_ip: Option<&str>,
    trust_proxy_headers: bool,
) -> Option<IpAddr> {
    if trust_proxy_headers {
        let forwarded = forwarded_for.and_then(|v| v.split(',').next()).and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded.or_else(|| real_ip.and_then(|v| v.trim().parse().ok())) {
            return Some(ip);
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn each_client_has_its_own_bucket() {
        let l = RateLimiter::new(2).unwrap();
        assert!(l.check(ip(1), 0).is_ok() && l.check(ip(1), 0).is_ok());
        assert_eq!(l.check(ip(1), 0), Err(S / 2));
        assert!(l.check(ip(2), 0).is_ok(), "another client is not limited by the first");
        assert!(l.check(ip(1), S / 2).is_ok());
        assert!(RateLimiter::new(0).is_none());
    }

    #[test]
    fn the_table_is_bounded_idle_clients_are_forgotten_and_the_rest_share_a_bucket() {
        let l = RateLimiter::bounded(1, 2).unwrap();
        assert!(l.check(ip(1), 0).is_ok() && l.check(ip(2), 0).is_ok());
        // Full: clients 3 and 4 share the overflow bucket.
        assert!(l.check(ip(3), 0).is_ok());
        assert!(l.check(ip(4), 0).is_err());
        assert_eq!(l.tracked(), 2);
        // A second later both tracked clients are idle (full again) and are forgotten.
        assert!(l.check(ip(5), S).is_ok());
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn proxy_headers_are_trusted_only_when_configured() {
        let peer = Some(ip(9));
        let xff = Some(" 203.0.113.7 , 10.0.0.1");
        assert_eq!(client_ip(peer, xff, None, false), peer);
        assert_eq!(client_ip(peer, xff, None, true), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(client_ip(peer, Some("garbage"), Some("2001:db8::1"), true), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(client_ip(peer, Some("garbage"), None, true), peer);
    }
}
