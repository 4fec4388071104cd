//! Per-client-address token buckets, in memory: failed authentication,
//! terminal ticket issue and terminal WebSocket upgrades.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bucket's shape: `burst` at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Most requests at once (the bucket's size).
    pub burst: u32,
    /// Refill, in requests per minute.
    pub per_minute: u32,
}

impl Rate {
    /// `burst` at once, `per_minute` after that.
    pub const fn new(burst: u32, per_minute: u32) -> Self {
        Rate { burst, per_minute }
    }
}

/// The limits of one hub.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Requests with a wrong bearer token. When a client's bucket is
    /// empty, every request of it that needs a credential gets 429, the
    /// right credential too (else guessing would go on).
    pub failed_auth: Rate,
    /// `POST /api/pty-ticket`.
    pub tickets: Rate,
    /// `/ws/pty/{worker}` upgrades.
    pub ws_upgrades: Rate,
    /// Loopback clients are not limited, unless the request carries proxy
    /// headers (a reverse proxy on this machine makes every remote client
    /// look local).
    pub exempt_loopback: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            failed_auth: Rate::new(20, 10),
            tickets: Rate::new(60, 60),
            ws_upgrades: Rate::new(60, 60),
            exempt_loopback: true,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Entries kept before full (idle) buckets are dropped.
const PRUNE_AT: usize = 4096;

/// Buckets for one limit, one per client address.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Limiter {
    /// An empty limiter.
    pub fn new(rate: Rate) -> Self {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn per_sec(&self) -> f64 {
        f64::from(self.rate.per_minute) / 60.0
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let burst = f64::from(self.rate.burst);
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_sec()).min(burst);
        b.at = now;
    }

    /// How long until one request is allowed again.
    fn wait(&self, b: &Bucket) -> Duration {
        let per_sec = self.per_sec();
        if per_sec <= 0.0 {
            return Duration::from_secs(3600);
        }
        Duration::from_secs_f64(((1.0 - b.tokens) / per_sec).max(0.0))
    }

    /// Takes one request's worth; `Err(wait)` when the bucket is empty.
    pub fn take(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_AT && !map.contains_key(&ip) {
            let burst = f64::from(self.rate.burst);
            let per_sec = self.per_sec();
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        let b = map.entry(ip).or_insert(Bucket {
            tokens: f64::from(self.rate.burst),
            at: now,
        });
        self.refill(b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.wait(b))
        }
    }

    /// Like [`Limiter::take`] without taking: `Err(wait)` when empty.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = map.get_mut(&ip) else {
            return Ok(());
        };
        self.refill(b, now);
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.wait(b))
        }
    }
}

/// The hub's limiters.
#[derive(Debug)]
pub struct Limiters {
    /// Settings.
    pub limits: RateLimits,
    /// Wrong credentials.
    pub failed_auth: Limiter,
    /// Ticket issue.
    pub tickets: Limiter,
    /// WebSocket upgrades.
    pub ws_upgrades: Limiter,
}

impl Limiters {
    /// Fresh buckets for `limits`.
    pub fn new(limits: RateLimits) -> Self {
        Limiters {
            failed_auth: Limiter::new(limits.failed_auth),
            tickets: Limiter::new(limits.tickets),
            ws_upgrades: Limiter::new(limits.ws_upgrades),
            limits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_says_how_long() {
        let l = Limiter::new(Rate::new(3, 60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([10, 0, 0, 1]));
        let other: IpAddr = IpAddr::from([10, 0, 0, 2]);
        assert!(l.check(ip).is_ok());
        for _ in 0..3 {
            assert!(l.take(ip).is_ok());
        }
        let wait = l.take(ip).err().unwrap_or_default();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(l.check(ip).is_err());
        assert!(l.take(other).is_ok(), "buckets are per address");
    }
}
