//! The validation pass of spec §1.6. Steps whose outcome depends on which layer gave the
//! value run where the value is read (`assemble*`): 2–3 (JSON stop/start timeouts below
//! the minimum are fatal), 4 (unknown logging drivers, fatal), 5–8 (cleanup wait, pull
//! inactivity, cleanup interval, images per cycle), 9 (metadata rate limits). Step 1
//! (region) needs IMDS and is [`super::Config::region`]. Steps 10–11 run here, on the
//! assembled values.

use super::Source;
use super::assemble::SECOND;
use super::assemble_features::Metrics;
use super::parse::{format_duration, nanos_to_duration};
use super::resolve::Resolver;

/// The port Prometheus metrics would be served on; reserved when they are enabled.
pub const PROMETHEUS_PORT: u16 = 51680;

/// Step 10: only when polling is on, the wait is clamped to 5s..=20s.
pub fn clamp_polling_wait(r: &mut Resolver<'_>, m: &mut Metrics) {
    const MIN: i64 = 5 * SECOND;
    const MAX: i64 = 20 * SECOND;
    if !m.poll_metrics {
        return;
    }
    let nanos = m.polling_wait_nanos;
    let clamped = nanos.clamp(MIN, MAX);
    if clamped != nanos {
        let given = super::assemble::given_duration(
            nanos,
            m.polling_wait_source.unwrap_or(Source::Default),
        );
        r.warn(
            "ECS_POLLING_METRICS_WAIT_DURATION",
            given,
            format!(
                "outside the allowed range {}..={} while ECS_POLL_METRICS is on",
                format_duration(nanos_to_duration(MIN)),
                format_duration(nanos_to_duration(MAX))
            ),
        );
        m.polling_metrics_wait = nanos_to_duration(clamped);
    }
}

/// Step 11 (first half): Prometheus metrics reserve their TCP port on top of whatever
/// reserved list is in effect.
pub fn reserve_prometheus_port(enabled: bool, reserved_ports: &mut Vec<u16>) {
    if enabled && !reserved_ports.contains(&PROMETHEUS_PORT) {
        reserved_ports.push(PROMETHEUS_PORT);
    }
}
