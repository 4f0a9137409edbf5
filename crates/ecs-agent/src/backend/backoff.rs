//! Exponential backoff with added jitter, as the reference's `retry.ExponentialBackoff`:
//! `AddJitter(d, j)` returns `d + uniform[0, d*j)`; jitter is never subtracted.

use std::time::Duration;

/// "Backoff a ×m ≤ b (+j%)" of backend-protocol.md.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
    current: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, multiplier: f64, jitter: f64) -> Self {
        Self {
            initial,
            max,
            multiplier,
            jitter,
            current: initial,
        }
    }

    /// Registration: 3 s ×2 ≤ 192 s (+20 %).
    pub fn registration() -> Self {
        Self::new(Duration::from_secs(3), Duration::from_secs(192), 2.0, 0.2)
    }

    /// ACS reconnects: 250 ms ×1.5 ≤ 2 min (+20 %).
    pub fn acs_reconnect() -> Self {
        Self::new(
            Duration::from_millis(250),
            Duration::from_secs(120),
            1.5,
            0.2,
        )
    }

    /// TCS reconnects: 1 s ×2 ≤ 1 min (+20 %).
    pub fn tcs_reconnect() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60), 2.0, 0.2)
    }

    /// State-change submission after the SDK gave up: 1 s ×1.3 ≤ 30 s (+20 %).
    pub fn state_change() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30), 1.3, 0.2)
    }

    /// The delay to wait now; the next call returns a longer one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        let grown = base.as_secs_f64() * self.multiplier;
        self.current = Duration::from_secs_f64(grown.min(self.max.as_secs_f64()));
        add_jitter(base, self.jitter)
    }

    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// `d + uniform[0, d*fraction)`.
pub fn add_jitter(d: Duration, fraction: f64) -> Duration {
    if fraction <= 0.0 || d.is_zero() {
        return d;
    }
    d + d.mul_f64(fraction * rand::random::<f64>())
}

/// `base + uniform[0, spread)`: the reference's randomised timers (heartbeat, disconnect).
pub fn randomized(base: Duration, spread: Duration) -> Duration {
    base + spread.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_added_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(4), 2.0, 0.2);
        let bounds = [(1.0, 1.2), (2.0, 2.4), (4.0, 4.8), (4.0, 4.8)];
        for (lo, hi) in bounds {
            let d = b.next_delay().as_secs_f64();
            assert!(d >= lo && d < hi, "{d} not in [{lo},{hi})");
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(1200));
    }

    #[test]
    fn jitter_is_only_added() {
        for _ in 0..100 {
            let d = add_jitter(Duration::from_millis(100), 0.5);
            assert!(d >= Duration::from_millis(100) && d < Duration::from_millis(150));
        }
        assert_eq!(add_jitter(Duration::ZERO, 0.5), Duration::ZERO);
    }
}
