//! Line shapes of the reference logger (spec config-and-lifecycle §5.2) and the level
//! filtering of the two outputs (§5.1), through the real layer and writer threads.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use ecs_agent::critical;
use ecs_agent::logging::{self, LogFormat, LogLevel, LogSettings, ManualClock, RolloverType};
use tracing::{debug, error, info, trace, warn};
use tracing_subscriber::layer::SubscriberExt;

/// Events from an integration test have the test file as target; the layer writes
/// events below `warn` only for the agent's own targets, so the tests name one.
const T: &str = "ecs_agent::tests";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2025, 1, 15, 10, 4, 5).unwrap())
}

/// Runs `f` under a logger with `settings` whose stdout is captured; returns stdout.
fn capture(settings: &LogSettings, f: impl FnOnce()) -> String {
    let out = Buffer::default();
    let (layer, guard) = logging::build(settings, clock(), Box::new(out.clone())).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    drop(guard);
    out.text()
}

fn settings(format: LogFormat, level: LogLevel) -> LogSettings {
    LogSettings {
        format,
        level,
        level_on_instance: LogLevel::Off,
        logfile: None,
        audit_logfile: None,
        ..LogSettings::default()
    }
}

#[test]
fn logfmt_plain_message_has_module() {
    let out = capture(&settings(LogFormat::Logfmt, LogLevel::Info), || {
        info!(target: T, "Loading configuration");
    });
    assert_eq!(
        out,
        "level=info time=2025-01-15T10:04:05Z msg=\"Loading configuration\" module=logging_format.rs\n"
    );
}

#[test]
fn logfmt_quotes_like_go() {
    let out = capture(&settings(LogFormat::Logfmt, LogLevel::Info), || {
        warn!(
            target: T,
            "Invalid format for \"ECS_CHECKPOINT\", expected a boolean.\nnext line\ttab 🖖🏼 \u{1}"
        );
    });
    assert_eq!(
        out,
        "level=warn time=2025-01-15T10:04:05Z msg=\"Invalid format for \\\"ECS_CHECKPOINT\\\", \
         expected a boolean.\\nnext line\\ttab 🖖🏼 \\x01\" module=logging_format.rs\n"
    );
}

#[test]
fn logfmt_structured_message_has_fields_and_no_module() {
    let out = capture(&settings(LogFormat::Logfmt, LogLevel::Info), || {
        info!(target: T, version = "1.105.1", commit = "a8b3e7d3", "Starting Amazon ECS Agent");
        let err = io::Error::other("ThrottlingException: Rate exceeded");
        error!(
            target: T,
            error = %err,
            attempts = 3,
            ratio = 0.5,
            ok = false,
            quoted = "say \"hi\"\n",
            "Error registering container instance"
        );
    });
    assert_eq!(
        out,
        "level=info time=2025-01-15T10:04:05Z msg=\"Starting Amazon ECS Agent\" version=\"1.105.1\" commit=\"a8b3e7d3\"\n\
         level=error time=2025-01-15T10:04:05Z msg=\"Error registering container instance\" \
         error=\"ThrottlingException: Rate exceeded\" attempts=3 ratio=0.5 ok=false quoted=\"say \\\"hi\\\"\\n\"\n"
    );
}

#[test]
fn json_plain_message() {
    let out = capture(&settings(LogFormat::Json, LogLevel::Info), || {
        warn!(target: T, "Unable to fetch user data: blackholed");
        info!(target: T, "a \"quote\" <b>\n🖖🏼");
    });
    assert_eq!(
        out,
        "{\"level\":\"warn\",\"time\":\"2025-01-15T10:04:05Z\",\"msg\":\"Unable to fetch user data: blackholed\",\"module\":\"logging_format.rs\"}\n\
         {\"level\":\"info\",\"time\":\"2025-01-15T10:04:05Z\",\"msg\":\"a \\\"quote\\\" <b>\\n🖖🏼\",\"module\":\"logging_format.rs\"}\n"
    );
}

#[test]
fn json_structured_message_sorts_fields_and_escapes_html() {
    let out = capture(&settings(LogFormat::Json, LogLevel::Info), || {
        info!(target: T, version = "1.105.1", commit = "a8b3e7d3", "Starting Amazon ECS Agent");
        info!(target: T, b = 2, a = "<x & y>", c = true, "m \"q\" \u{2028}");
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"level":"info","time":"2025-01-15T10:04:05Z","msg":"Starting Amazon ECS Agent","commit":"a8b3e7d3","version":"1.105.1"}"#,
            r#"{"level":"info","time":"2025-01-15T10:04:05Z","msg":"m \"q\" \u2028","a":"\u003cx \u0026 y\u003e","b":2,"c":true}"#,
        ]
    );
    for line in lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn critical_level_and_trace_dropped() {
    let out = capture(&settings(LogFormat::Logfmt, LogLevel::Debug), || {
        critical!(target: T, "Cloud-init failure detected");
        trace!(target: T, "never written");
        debug!(target: T, "debug written");
    });
    assert_eq!(
        out,
        "level=critical time=2025-01-15T10:04:05Z msg=\"Cloud-init failure detected\" module=logging_format.rs\n\
         level=debug time=2025-01-15T10:04:05Z msg=\"debug written\" module=logging_format.rs\n"
    );
}

#[test]
fn stdout_level_filters() {
    let emit = || {
        debug!(target: T, "d");
        info!(target: T, "i");
        warn!(target: T, "w");
        error!(target: T, "e");
        critical!(target: T, "c");
    };
    let msgs = |level| {
        capture(&settings(LogFormat::Logfmt, level), emit)
            .lines()
            .map(|l| {
                l.split("msg=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .trim_matches('"')
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("")
    };
    assert_eq!(msgs(LogLevel::Debug), "diwec");
    assert_eq!(msgs(LogLevel::Info), "iwec");
    assert_eq!(msgs(LogLevel::Warn), "wec");
    assert_eq!(msgs(LogLevel::Error), "ec");
    assert_eq!(msgs(LogLevel::Critical), "c");
    assert_eq!(msgs(LogLevel::Off), "");
}

#[test]
fn other_crates_are_written_from_warn_up() {
    let out = capture(&settings(LogFormat::Logfmt, LogLevel::Debug), || {
        debug!(target: "hyper::proto", "chatter");
        info!(target: "hyper::proto", "more chatter");
        warn!(target: "hyper::proto", "worth knowing");
    });
    assert_eq!(
        out,
        "level=warn time=2025-01-15T10:04:05Z msg=\"worth knowing\" module=logging_format.rs\n"
    );
}

#[test]
fn each_output_has_its_own_level() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("ecs-agent.log");
    let settings = LogSettings {
        logfile: Some(logfile.clone()),
        level: LogLevel::Warn,
        level_on_instance: LogLevel::Debug,
        rollover: RolloverType::Size,
        ..settings(LogFormat::Logfmt, LogLevel::Warn)
    };
    let out = capture(&settings, || {
        debug!(target: T, "to file only");
        warn!(target: T, "to both");
    });
    assert_eq!(
        out,
        "level=warn time=2025-01-15T10:04:05Z msg=\"to both\" module=logging_format.rs\n"
    );
    assert_eq!(
        std::fs::read_to_string(&logfile).unwrap(),
        "level=debug time=2025-01-15T10:04:05Z msg=\"to file only\" module=logging_format.rs\n\
         level=warn time=2025-01-15T10:04:05Z msg=\"to both\" module=logging_format.rs\n"
    );

    // A file level of `none` writes no file lines; stdout is unaffected.
    let quiet = dir.path().join("quiet.log");
    let settings = LogSettings {
        logfile: Some(quiet.clone()),
        level_on_instance: LogLevel::Off,
        ..settings
    };
    let out = capture(&settings, || warn!(target: T, "stdout only"));
    assert!(out.contains("stdout only"));
    assert!(!quiet.exists() || std::fs::read_to_string(&quiet).unwrap().is_empty());
}

#[test]
fn flush_writes_everything_logged_so_far() {
    let out = Buffer::default();
    let (layer, guard) = logging::build(
        &settings(LogFormat::Logfmt, LogLevel::Info),
        clock(),
        Box::new(out.clone()),
    )
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..1000 {
            info!(target: T, n = i, "line");
        }
    });
    guard.flush();
    assert_eq!(out.text().lines().count(), 1000);
}
