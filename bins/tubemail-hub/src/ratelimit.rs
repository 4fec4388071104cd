//! Token buckets, in memory: per client address for failed
//! authentication, terminal ticket issue and terminal WebSocket upgrades;
//! per scoped token for the request bytes it sends.

use std::collections::HashMap;
use std::hash::Hash;
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
    /// Request body bytes per minute per scoped token (as much at once);
    /// the shared secret is not limited.
    pub token_bytes_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            failed_auth: Rate::new(20, 10),
            tickets: Rate::new(60, 60),
            ws_upgrades: Rate::new(60, 60),
            exempt_loopback: true,
            token_bytes_per_minute: 64 << 20,
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

/// Buckets for one limit, one per key (a client address by default).
#[derive(Debug)]
pub struct Limiter<K = IpAddr> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
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

    /// How long until `n` are allowed again.
    fn wait(&self, b: &Bucket, n: f64) -> Duration {
        let per_sec = self.per_sec();
        if per_sec <= 0.0 {
            return Duration::from_secs(3600);
        }
        Duration::from_secs_f64(((n - b.tokens) / per_sec).max(0.0))
    }

    /// Takes one request's worth; `Err(wait)` when the bucket is empty.
    pub fn take(&self, key: K) -> Result<(), Duration> {
        self.take_n(key, 1)
    }

    /// Takes `n` (at most a full bucket's worth is ever asked for);
    /// `Err(wait)` until the bucket holds that much.
    pub fn take_n(&self, key: K, n: u64) -> Result<(), Duration> {
        let now = Instant::now();
        let burst = f64::from(self.rate.burst);
        let n = (n as f64).min(burst);
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_AT && !map.contains_key(&key) {
            let per_sec = self.per_sec();
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        self.refill(b, now);
        if b.tokens >= n {
            b.tokens -= n;
            Ok(())
        } else {
            Err(self.wait(b, n))
        }
    }

    /// Like [`Limiter::take`] without taking: `Err(wait)` when empty.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = map.get_mut(key) else {
            return Ok(());
        };
        self.refill(b, now);
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.wait(b, 1.0))
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
    /// Request bytes per scoped token (by token id).
    pub token_bytes: Limiter<String>,
}

impl Limiters {
    /// Fresh buckets for `limits`.
    pub fn new(limits: RateLimits) -> Self {
        Limiters {
            failed_auth: Limiter::new(limits.failed_auth),
            tickets: Limiter::new(limits.tickets),
            ws_upgrades: Limiter::new(limits.ws_upgrades),
            token_bytes: Limiter::new(Rate::new(
                limits.token_bytes_per_minute,
                limits.token_bytes_per_minute,
            )),
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
        assert!(l.check(&ip).is_ok());
        for _ in 0..3 {
            assert!(l.take(ip).is_ok());
        }
        let wait = l.take(ip).err().unwrap_or_default();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(l.check(&ip).is_err());
        assert!(l.take(other).is_ok(), "buckets are per address");
    }

    #[test]
    fn byte_buckets_take_many_at_once() {
        let l: Limiter<String> = Limiter::new(Rate::new(1000, 60_000));
        assert!(l.take_n("a".into(), 600).is_ok());
        let wait = l.take_n("a".into(), 600).err().unwrap_or_default();
        // 200 missing at 1000/s.
        assert!(
            wait > Duration::from_millis(150) && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        assert!(
            l.take_n("b".into(), 5000).is_ok(),
            "capped at a full bucket"
        );
    }
}
