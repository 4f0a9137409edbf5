//! `ECS_TASK_METADATA_RPS_LIMIT` (spec endpoints §2.4): one token bucket per
//! `"<client IP>|<path>"`, `burst` deep, refilled at `steady` per second, over every
//! path of the task server. Buckets that have refilled are evicted periodically
//! (quirk 16): a full bucket is indistinguishable from a new one.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The reference's defaults when the configured values are unusable.
pub const DEFAULT_STEADY: u32 = 40;
pub const DEFAULT_BURST: u32 = 60;

#[derive(Clone)]
pub struct Limiter {
    inner: Arc<DefaultKeyedRateLimiter<String>>,
    steady: u32,
}

impl Limiter {
    pub fn new(steady: u32, burst: u32) -> Self {
        let (steady, burst) = match (NonZeroU32::new(steady), NonZeroU32::new(burst)) {
            (Some(s), Some(b)) => (s, b),
            _ => (
                NonZeroU32::new(DEFAULT_STEADY).unwrap_or(NonZeroU32::MIN),
                NonZeroU32::new(DEFAULT_BURST).unwrap_or(NonZeroU32::MIN),
            ),
        };
        let quota = Quota::per_second(steady).allow_burst(burst);
        Limiter {
            inner: Arc::new(RateLimiter::keyed(quota)),
            steady: steady.get(),
        }
    }

    /// Takes one token for `ip|path`; false when the bucket is empty.
    pub fn allow(&self, ip: &str, path: &str) -> bool {
        let mut key = String::with_capacity(ip.len() + path.len() + 1);
        key.push_str(ip);
        key.push('|');
        key.push_str(path);
        self.inner.check_key(&key).is_ok()
    }

    /// The `X-Rate-Limit-*` headers the reference adds to every answer.
    pub fn headers(&self, headers: &mut HeaderMap, forwarded_for: &str, remote: &str) {
        let pairs = [
            ("x-rate-limit-limit", format!("{}.00", self.steady)),
            ("x-rate-limit-duration", "1".to_owned()),
            (
                "x-rate-limit-request-forwarded-for",
                forwarded_for.to_owned(),
            ),
            ("x-rate-limit-request-remote-addr", remote.to_owned()),
        ];
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }

    /// Drops buckets that have refilled: they are indistinguishable from new ones.
    pub fn evict(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }

    pub fn buckets(&self) -> usize {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_limited_per_key() {
        let l = Limiter::new(1, 3);
        assert!((0..3).all(|_| l.allow("1.2.3.4", "/v4/x")));
        assert!(!l.allow("1.2.3.4", "/v4/x"));
        assert!(l.allow("1.2.3.4", "/v4/y"));
        assert!(l.allow("1.2.3.5", "/v4/x"));
    }

    #[test]
    fn zero_values_fall_back_to_defaults() {
        let l = Limiter::new(0, 5);
        assert_eq!(l.steady, DEFAULT_STEADY);
    }
}
