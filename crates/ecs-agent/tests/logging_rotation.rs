//! File rollover as the reference does it (spec config-and-lifecycle §5.3), on real
//! files in a temporary directory, with a clock the test moves.

use std::fs;
use std::path::Path;

use chrono::{TimeDelta, TimeZone, Utc};
use ecs_agent::logging::{
    self, LogFormat, LogLevel, LogSettings, ManualClock, RollPolicy, RollingFile, RolloverType,
};
use tracing_subscriber::layer::SubscriberExt;

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2025, 1, 15, 10, 58, 0).unwrap())
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path).unwrap()
}

#[test]
fn size_rotation_numbers_files_upwards() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecs-agent.log");
    let mut file =
        RollingFile::open(&path, RollPolicy::Size { max_bytes: 10 }, 24, clock()).unwrap();
    // Each line is 6 bytes: the second write finds 6 < 10 and appends, the third finds
    // 12 >= 10 and rotates first.
    for line in ["line1\n", "line2\n", "line3\n", "line4\n", "line5\n"] {
        file.write_line(line.as_bytes()).unwrap();
    }
    drop(file);
    assert_eq!(
        names(dir.path()),
        ["ecs-agent.log", "ecs-agent.log.1", "ecs-agent.log.2"]
    );
    assert_eq!(read(dir.path().join("ecs-agent.log.1")), "line1\nline2\n");
    assert_eq!(read(dir.path().join("ecs-agent.log.2")), "line3\nline4\n");
    assert_eq!(read(&path), "line5\n");
}

#[test]
fn size_rotation_continues_after_existing_numbers_and_ignores_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecs-agent.log");
    fs::write(dir.path().join("ecs-agent.log.7"), "old7\n").unwrap();
    fs::write(dir.path().join("ecs-agent.log.bak"), "not a roll\n").unwrap();
    fs::write(
        dir.path().join("ecs-agent.log.2025-01-15-09"),
        "hourly roll\n",
    )
    .unwrap();
    fs::write(dir.path().join("other.log.99"), "other file\n").unwrap();
    // An existing file over the limit rotates before the first write of this process.
    fs::write(&path, "previous run\n").unwrap();
    let mut file =
        RollingFile::open(&path, RollPolicy::Size { max_bytes: 5 }, 24, clock()).unwrap();
    file.write_line(b"new\n").unwrap();
    drop(file);
    assert_eq!(read(dir.path().join("ecs-agent.log.8")), "previous run\n");
    assert_eq!(read(&path), "new\n");
    assert_eq!(
        names(dir.path()),
        [
            "ecs-agent.log",
            "ecs-agent.log.2025-01-15-09",
            "ecs-agent.log.7",
            "ecs-agent.log.8",
            "ecs-agent.log.bak",
            "other.log.99"
        ]
    );
}

#[test]
fn roll_count_deletes_the_oldest_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecs-agent.log");
    fs::write(dir.path().join("ecs-agent.log.notanumber"), "kept\n").unwrap();
    let mut file = RollingFile::open(&path, RollPolicy::Size { max_bytes: 1 }, 3, clock()).unwrap();
    for i in 1..=6 {
        file.write_line(format!("l{i}\n").as_bytes()).unwrap();
    }
    drop(file);
    // Five rotations made .1 to .5; only the three newest remain.
    assert_eq!(
        names(dir.path()),
        [
            "ecs-agent.log",
            "ecs-agent.log.3",
            "ecs-agent.log.4",
            "ecs-agent.log.5",
            "ecs-agent.log.notanumber"
        ]
    );
    assert_eq!(read(dir.path().join("ecs-agent.log.3")), "l3\n");
    assert_eq!(read(dir.path().join("ecs-agent.log.5")), "l5\n");
    assert_eq!(read(&path), "l6\n");
}

#[test]
fn roll_count_zero_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let mut file = RollingFile::open(&path, RollPolicy::Size { max_bytes: 1 }, 0, clock()).unwrap();
    for i in 1..=5 {
        file.write_line(format!("{i}\n").as_bytes()).unwrap();
    }
    drop(file);
    assert_eq!(
        names(dir.path()),
        ["a.log", "a.log.1", "a.log.2", "a.log.3", "a.log.4"]
    );
}

#[test]
fn hourly_rotation_names_the_file_by_the_previous_hour() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecs-agent.log");
    let clock = clock();
    // The size limit plays no part in hourly rotation.
    let mut file = RollingFile::open(&path, RollPolicy::Hourly, 24, clock.clone()).unwrap();
    file.write_line(b"at 10:58\n").unwrap();
    clock.advance(TimeDelta::minutes(1));
    file.write_line(b"at 10:59\n").unwrap();
    assert_eq!(names(dir.path()), ["ecs-agent.log"]);
    clock.advance(TimeDelta::minutes(2));
    file.write_line(b"at 11:01\n").unwrap();
    clock.advance(TimeDelta::hours(2));
    file.write_line(b"at 13:01\n").unwrap();
    drop(file);
    assert_eq!(
        names(dir.path()),
        [
            "ecs-agent.log",
            "ecs-agent.log.2025-01-15-10",
            "ecs-agent.log.2025-01-15-11"
        ]
    );
    assert_eq!(
        read(dir.path().join("ecs-agent.log.2025-01-15-10")),
        "at 10:58\nat 10:59\n"
    );
    assert_eq!(
        read(dir.path().join("ecs-agent.log.2025-01-15-11")),
        "at 11:01\n"
    );
    assert_eq!(read(&path), "at 13:01\n");
}

#[test]
fn hourly_roll_count_deletes_the_earliest_hours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecs-agent.log");
    fs::write(
        dir.path().join("ecs-agent.log.2025-01-14-23"),
        "yesterday\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("ecs-agent.log.1"),
        "size roll, not counted\n",
    )
    .unwrap();
    let clock = clock();
    let mut file = RollingFile::open(&path, RollPolicy::Hourly, 2, clock.clone()).unwrap();
    for _ in 0..4 {
        file.write_line(b"x\n").unwrap();
        clock.advance(TimeDelta::hours(1));
    }
    drop(file);
    // Rotations made -10, -11 and -12; with the old -23 only the two latest remain.
    assert_eq!(
        names(dir.path()),
        [
            "ecs-agent.log",
            "ecs-agent.log.1",
            "ecs-agent.log.2025-01-15-11",
            "ecs-agent.log.2025-01-15-12"
        ]
    );
}

#[test]
fn hourly_rotation_into_an_existing_hour_keeps_both_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecs-agent.log");
    fs::write(
        dir.path().join("ecs-agent.log.2025-01-15-10"),
        "earlier run\n",
    )
    .unwrap();
    let clock = clock();
    let mut file = RollingFile::open(&path, RollPolicy::Hourly, 24, clock.clone()).unwrap();
    file.write_line(b"this run\n").unwrap();
    clock.advance(TimeDelta::hours(1));
    file.write_line(b"next hour\n").unwrap();
    drop(file);
    assert_eq!(
        read(dir.path().join("ecs-agent.log.2025-01-15-10")),
        "earlier run\nthis run\n"
    );
}

#[test]
fn no_rollover_keeps_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/ecs-agent.log");
    let clock = clock();
    let mut file = RollingFile::open(&path, RollPolicy::Never, 1, clock.clone()).unwrap();
    for _ in 0..5 {
        file.write_line(b"0123456789\n").unwrap();
        clock.advance(TimeDelta::hours(3));
    }
    drop(file);
    assert_eq!(names(path.parent().unwrap()), ["ecs-agent.log"]);
    assert_eq!(read(&path).lines().count(), 5);
}

#[test]
fn policies_from_settings() {
    let mut settings = LogSettings {
        max_file_size_mb: 0.5,
        ..LogSettings::default()
    };
    assert_eq!(
        RollPolicy::for_logfile(&settings),
        RollPolicy::Size { max_bytes: 500_000 }
    );
    assert_eq!(
        RollPolicy::for_audit_log(&settings),
        RollPolicy::Size { max_bytes: 500_000 }
    );
    settings.rollover = RolloverType::Hourly;
    assert_eq!(RollPolicy::for_logfile(&settings), RollPolicy::Hourly);
    settings.rollover = RolloverType::None;
    assert_eq!(RollPolicy::for_logfile(&settings), RollPolicy::Never);
    // The audit log rotates by size only for exactly `size`, hourly otherwise.
    assert_eq!(RollPolicy::for_audit_log(&settings), RollPolicy::Hourly);
}

#[test]
fn logger_file_output_rotates_hourly_with_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("ecs-agent.log");
    let settings = LogSettings {
        logfile: Some(logfile.clone()),
        level: LogLevel::Off,
        level_on_instance: LogLevel::Info,
        rollover: RolloverType::Hourly,
        format: LogFormat::Logfmt,
        audit_logfile: None,
        ..LogSettings::default()
    };
    let clock = clock();
    let (layer, guard) =
        logging::build(&settings, clock.clone(), Box::new(std::io::sink())).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "ecs_agent::tests", "before");
        guard.flush();
        clock.advance(TimeDelta::hours(1));
        tracing::info!(target: "ecs_agent::tests", "after");
    });
    drop(guard);
    assert_eq!(
        read(dir.path().join("ecs-agent.log.2025-01-15-10")),
        "level=info time=2025-01-15T10:58:00Z msg=\"before\" module=logging_rotation.rs\n"
    );
    assert_eq!(
        read(&logfile),
        "level=info time=2025-01-15T11:58:00Z msg=\"after\" module=logging_rotation.rs\n"
    );
}

#[test]
fn audit_log_writes_message_only_lines() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let settings = LogSettings {
        audit_logfile: Some(audit.clone()),
        ..LogSettings::default()
    };
    let (log, guard) = logging::AuditLog::open(&settings, clock(), None)
        .unwrap()
        .unwrap();
    log.log("2025-01-15T10:04:05Z 200 172.17.0.2:36490 \"/v2/credentials\" \"Go-http-client/1.1\" arn:task GetCredentials 2 default arn:ci");
    drop(guard);
    assert_eq!(
        read(&audit),
        "2025-01-15T10:04:05Z 200 172.17.0.2:36490 \"/v2/credentials\" \"Go-http-client/1.1\" arn:task GetCredentials 2 default arn:ci\n"
    );
    let disabled = LogSettings {
        audit_logfile: None,
        ..LogSettings::default()
    };
    assert!(
        logging::AuditLog::open(&disabled, clock(), None)
            .unwrap()
            .is_none()
    );
}
