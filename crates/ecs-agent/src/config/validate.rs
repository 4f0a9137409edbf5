//! The validation pass of spec §1.6. Steps whose outcome depends on which layer gave the
//! value run where the value is read (`assemble*`): 2–3 (JSON stop/start timeouts below
//! the minimum are fatal), 4 (unknown logging drivers, fatal), 5–8 (cleanup wait, pull
//! inactivity, cleanup interval, images per cycle), 9 (metadata rate limits). Step 1
//! (region) needs IMDS and is [`super::Config::region`]. Steps 10–11 run here, on the
//! assembled values.

use super::Source;
use super::assemble::SECOND;
use super::assemble_features::PollingWait;
use super::model::Config;
use super::parse::{format_duration, nanos_to_duration};
use super::resolve::Resolver;

/// The port Prometheus metrics would be served on; reserved when they are enabled.
pub const PROMETHEUS_PORT: u16 = 51680;

/// Step 10: only when polling is on, the wait is clamped to 5s..=20s.
pub fn clamp_polling_wait(r: &mut Resolver<'_>, c: &mut Config, given: &PollingWait) {
    const MIN: i64 = 5 * SECOND;
    const MAX: i64 = 20 * SECOND;
    if !c.poll_metrics {
        return;
    }
    let clamped = given.nanos.clamp(MIN, MAX);
    if clamped != given.nanos {
        r.warn(
            "ECS_POLLING_METRICS_WAIT_DURATION",
            super::assemble::given_duration(given.nanos, given.source.unwrap_or(Source::Default)),
            format!(
                "outside the allowed range {}..={} while ECS_POLL_METRICS is on",
                format_duration(nanos_to_duration(MIN)),
                format_duration(nanos_to_duration(MAX))
            ),
        );
        c.polling_metrics_wait = nanos_to_duration(clamped);
    }
}

/// Step 11 (first half): Prometheus metrics reserve their TCP port on top of whatever
/// reserved list is in effect.
pub fn reserve_prometheus_port(c: &mut Config) {
    if c.prometheus_metrics_enabled && !c.reserved_ports.contains(&PROMETHEUS_PORT) {
        c.reserved_ports.push(PROMETHEUS_PORT);
    }
}
