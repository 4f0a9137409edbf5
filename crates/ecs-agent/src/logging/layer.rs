//! The `tracing` layer that turns events into the reference's log lines and hands them
//! to the outputs, each filtered by its own level.
//!
//! Conventions for callers:
//! * `info!("text")` is a plain message: written with `module=<source file>`.
//! * `info!(key = value, "text")` is structured: fields follow, no `module`. `&str`,
//!   `%display` and `?debug` values are written as strings (quoted); integers, floats
//!   and booleans bare.
//! * `critical!(...)` (an `error!` with `critical = true`) is the reference's
//!   `critical` level. `trace!` is never written, as in the reference.
//! * Events of other crates (targets not starting with `ecs_`) are written only from
//!   `warn` up, so a `debug` agent log is not buried under HTTP-library chatter.

use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use super::clock::Clock;
use super::format::{FieldValue, Level, Record, file_base_name, format_line};
use super::settings::{LogFormat, LogLevel};
use super::writer::LineSink;

/// The field that marks an `error!` event as critical.
pub const CRITICAL_FIELD: &str = "critical";

/// One destination with its own level.
#[derive(Clone)]
pub struct Output {
    pub level: LogLevel,
    pub sink: Arc<dyn LineSink>,
}

impl Output {
    pub fn new(level: LogLevel, sink: Arc<dyn LineSink>) -> Self {
        Self { level, sink }
    }

    fn admits(&self, level: Level) -> bool {
        admits(self.level, level)
    }
}

/// Whether an output set to `threshold` writes a record of `level`.
pub fn admits(threshold: LogLevel, level: Level) -> bool {
    let threshold = match threshold {
        LogLevel::Debug => Level::Debug,
        LogLevel::Info => Level::Info,
        LogLevel::Warn => Level::Warn,
        LogLevel::Error => Level::Error,
        LogLevel::Critical => Level::Critical,
        LogLevel::Off => return false,
    };
    level >= threshold
}

/// Formats events once and writes them to every output whose level admits them.
pub struct EcsLayer<C: Clock> {
    format: LogFormat,
    clock: C,
    outputs: Vec<Output>,
}

impl<C: Clock> EcsLayer<C> {
    pub fn new(format: LogFormat, clock: C, outputs: Vec<Output>) -> Self {
        Self {
            format,
            clock,
            outputs,
        }
    }

    /// Whether any output could write an event of this tracing level and target.
    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        let Some(level) = map_level(metadata.level()) else {
            return false;
        };
        // An `error!` may carry `critical = true`; outputs at `critical` must see it.
        let level = if level == Level::Error {
            Level::Critical
        } else {
            level
        };
        if !is_own_target(metadata.target()) && level < Level::Warn {
            return false;
        }
        self.outputs.iter().any(|o| o.admits(level))
    }

    fn most_verbose(&self) -> tracing::level_filters::LevelFilter {
        use tracing::level_filters::LevelFilter;
        let mut most = LevelFilter::OFF;
        for output in &self.outputs {
            let filter = match output.level {
                LogLevel::Debug => LevelFilter::DEBUG,
                LogLevel::Info => LevelFilter::INFO,
                LogLevel::Warn => LevelFilter::WARN,
                LogLevel::Error | LogLevel::Critical => LevelFilter::ERROR,
                LogLevel::Off => LevelFilter::OFF,
            };
            most = most.max(filter);
        }
        most
    }
}

impl<S: Subscriber, C: Clock> Layer<S> for EcsLayer<C> {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.is_span() || self.wants(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        metadata.is_span() || self.wants(metadata)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.most_verbose())
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let Some(level) = map_level(metadata.level()) else {
            return;
        };
        let mut visitor = FieldCollector::default();
        event.record(&mut visitor);
        let level = if visitor.critical {
            Level::Critical
        } else {
            level
        };
        if !self.outputs.iter().any(|o| o.admits(level)) {
            return;
        }
        let module = metadata
            .file()
            .map(file_base_name)
            .unwrap_or_else(|| metadata.target());
        let record = Record {
            level,
            time: self.clock.now(),
            msg: visitor.msg,
            module: module.to_string(),
            fields: visitor.fields,
        };
        let line = format_line(self.format, &record);
        for output in self.outputs.iter().filter(|o| o.admits(level)) {
            output.sink.write_line(line.as_bytes());
        }
    }
}

fn is_own_target(target: &str) -> bool {
    target.starts_with("ecs_")
}

/// tracing's levels onto the reference's; `TRACE` has no counterpart and is dropped.
fn map_level(level: &tracing::Level) -> Option<Level> {
    match *level {
        tracing::Level::TRACE => None,
        tracing::Level::DEBUG => Some(Level::Debug),
        tracing::Level::INFO => Some(Level::Info),
        tracing::Level::WARN => Some(Level::Warn),
        tracing::Level::ERROR => Some(Level::Error),
    }
}

#[derive(Default)]
struct FieldCollector {
    msg: String,
    fields: Vec<(String, FieldValue)>,
    critical: bool,
}

impl FieldCollector {
    fn push(&mut self, field: &Field, value: FieldValue) {
        // `log.*` fields are the `log` crate bridge's metadata, not the event's data.
        if !field.name().starts_with("log.") {
            self.fields.push((field.name().to_string(), value));
        }
    }
}

impl Visit for FieldCollector {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.push(field, FieldValue::Str(value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.msg = format!("{value:?}");
        } else {
            self.push(field, FieldValue::Str(format!("{value:?}")));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, FieldValue::Str(value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == CRITICAL_FIELD {
            self.critical = value;
        } else {
            self.push(field, FieldValue::Bool(value));
        }
    }
}
