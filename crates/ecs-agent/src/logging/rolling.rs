//! The on-instance log file with the reference's rollover rules (spec
//! config-and-lifecycle §5.3, seelog's rolling file writer):
//!
//! * size: before a write, a file of at least the limit is renamed to `<name>.<N>`,
//!   N one above the highest existing number;
//! * hourly: when the hour differs from the hour of the period's first write, the file
//!   is renamed to `<name>.<YYYY-MM-DD-HH>` of that period;
//! * never: one file.
//!
//! After a rotation the oldest rotated files beyond the roll count are deleted. Only
//! names whose suffix parses (a number, or the hour pattern) count as rotated files.
//!
//! Hours are UTC: the reference takes local time, but its container has no time-zone
//! data, so in its deployment that is UTC; a native agent keeps the same names whatever
//! the host's zone.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::clock::Clock;
use super::settings::{LogSettings, RolloverType};

/// When the file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollPolicy {
    /// Rotate once the file holds at least this many bytes.
    Size {
        max_bytes: u64,
    },
    Hourly,
    Never,
}

impl RollPolicy {
    /// The main log file's policy from the settings.
    pub fn for_logfile(settings: &LogSettings) -> Self {
        match settings.rollover {
            RolloverType::Size => Self::Size {
                max_bytes: max_bytes(settings.max_file_size_mb),
            },
            RolloverType::Hourly => Self::Hourly,
            RolloverType::None => Self::Never,
        }
    }

    /// The audit log's policy: the reference uses size only when the rollover type is
    /// exactly `size`, and hourly for everything else, `none` included.
    pub fn for_audit_log(settings: &LogSettings) -> Self {
        match settings.rollover {
            RolloverType::Size => Self::Size {
                max_bytes: max_bytes(settings.max_file_size_mb),
            },
            RolloverType::Hourly | RolloverType::None => Self::Hourly,
        }
    }
}

/// Decimal megabytes truncated to whole bytes, as the reference's `int(mb*1000000)`.
fn max_bytes(mb: f64) -> u64 {
    // `as` saturates: negative and NaN become 0, huge values u64::MAX.
    (mb * 1_000_000.0) as u64
}

const HOUR_FORMAT: &str = "%Y-%m-%d-%H";

/// A log file that rotates itself; one line per `write` call.
pub struct RollingFile<C: Clock> {
    path: PathBuf,
    policy: RollPolicy,
    max_rolls: i64,
    clock: C,
    file: Option<BufWriter<File>>,
    size: u64,
    /// Hourly: the hour (`YYYY-MM-DD-HH`) of the current period's first write.
    period: Option<String>,
    rotation_error_reported: bool,
}

impl<C: Clock> RollingFile<C> {
    /// Opens (creating it and its directories) `path` for appending.
    pub fn open(
        path: impl Into<PathBuf>,
        policy: RollPolicy,
        max_rolls: i64,
        clock: C,
    ) -> io::Result<Self> {
        let path = path.into();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        let (file, size) = open_append(&path)?;
        Ok(Self {
            path,
            policy,
            max_rolls,
            clock,
            file: Some(file),
            size,
            period: None,
            rotation_error_reported: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line, rotating first if the policy says so.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if let Some(target) = self.rotation_due() {
            match self.rotate(target) {
                Ok(()) => self.rotation_error_reported = false,
                Err(err) => self.report_rotation_error(&err),
            }
        }
        if self.file.is_none() {
            let (file, size) = open_append(&self.path)?;
            self.file = Some(file);
            self.size = size;
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(line)?;
            self.size += line.len() as u64;
        }
        Ok(())
    }

    /// The name to rotate the current file to, when a rotation is due before this write.
    fn rotation_due(&mut self) -> Option<RotateTo> {
        match self.policy {
            RollPolicy::Never => None,
            RollPolicy::Size { max_bytes } => {
                // An empty file is never rotated, even with a zero limit.
                (self.size > 0 && self.size >= max_bytes).then_some(RotateTo::NextNumber)
            }
            RollPolicy::Hourly => {
                let hour = self.clock.now().format(HOUR_FORMAT).to_string();
                match self.period.replace(hour.clone()) {
                    Some(previous) if previous != hour => Some(RotateTo::Hour(previous)),
                    _ => None,
                }
            }
        }
    }

    fn rotate(&mut self, target: RotateTo) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        let dir = self.dir();
        let base = self.base_name();
        let suffix = match target {
            RotateTo::NextNumber => {
                let highest = rotated_files(&dir, &base, SuffixKind::Number)?
                    .last()
                    .map(|(_, key)| key.number)
                    .unwrap_or(0);
                (highest + 1).to_string()
            }
            RotateTo::Hour(hour) => hour,
        };
        let rotated = dir.join(format!("{base}.{suffix}"));
        if rotated.exists() {
            // Two periods of the same hour (a restart in between): keep both contents.
            let mut into = OpenOptions::new().append(true).open(&rotated)?;
            io::copy(&mut File::open(&self.path)?, &mut into)?;
            fs::remove_file(&self.path)?;
        } else {
            fs::rename(&self.path, &rotated)?;
        }
        let (file, size) = open_append(&self.path)?;
        self.file = Some(file);
        self.size = size;
        self.delete_old_rolls(&dir, &base)
    }

    fn delete_old_rolls(&self, dir: &Path, base: &str) -> io::Result<()> {
        if self.max_rolls <= 0 {
            return Ok(());
        }
        let kind = match self.policy {
            RollPolicy::Size { .. } => SuffixKind::Number,
            RollPolicy::Hourly => SuffixKind::Hour,
            RollPolicy::Never => return Ok(()),
        };
        let rolls = rotated_files(dir, base, kind)?;
        let keep = usize::try_from(self.max_rolls).unwrap_or(usize::MAX);
        let excess = rolls.len().saturating_sub(keep);
        for (path, _) in rolls.into_iter().take(excess) {
            fs::remove_file(path)?;
        }
        Ok(())
    }

    fn report_rotation_error(&mut self, err: &io::Error) {
        // Reported once per failure streak: a full disk must not turn into a stderr flood.
        if !self.rotation_error_reported {
            self.rotation_error_reported = true;
            eprintln!(
                "ecs-agent: rotating log file {} failed: {err}",
                self.path.display()
            );
        }
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn base_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl<C: Clock> Write for RollingFile<C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_line(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

enum RotateTo {
    NextNumber,
    Hour(String),
}

#[derive(Clone, Copy)]
enum SuffixKind {
    Number,
    Hour,
}

/// Sort key of a rotated file: its number, or its hour (which sorts as text).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RollKey {
    number: u64,
    hour: String,
}

/// The rotated files of `base` in `dir`, oldest first.
fn rotated_files(dir: &Path, base: &str, kind: SuffixKind) -> io::Result<Vec<(PathBuf, RollKey)>> {
    let prefix = format!("{base}.");
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let key = match kind {
            SuffixKind::Number if suffix.bytes().all(|b| b.is_ascii_digit()) => {
                match suffix.parse::<u64>() {
                    Ok(number) => RollKey {
                        number,
                        hour: String::new(),
                    },
                    Err(_) => continue,
                }
            }
            SuffixKind::Hour if is_hour_suffix(suffix) => RollKey {
                number: 0,
                hour: suffix.to_string(),
            },
            _ => continue,
        };
        found.push((entry.path(), key));
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// `YYYY-MM-DD-HH`.
fn is_hour_suffix(s: &str) -> bool {
    s.len() == 13
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 | 10 => b == b'-',
            _ => b.is_ascii_digit(),
        })
        && chrono::NaiveDateTime::parse_from_str(&format!("{s}:00"), "%Y-%m-%d-%H:%M").is_ok()
}

fn open_append(path: &Path) -> io::Result<(BufWriter<File>, u64)> {
    // Mode 0666 minus umask, as the reference creates it: std's default.
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok((BufWriter::new(file), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_suffix_shape() {
        assert!(is_hour_suffix("2025-01-15-10"));
        assert!(!is_hour_suffix("2025-01-15-24"));
        assert!(!is_hour_suffix("2025-1-15-10"));
        assert!(!is_hour_suffix("2025-01-15T10"));
        assert!(!is_hour_suffix("1"));
    }

    #[test]
    fn size_limit_is_truncated_decimal_megabytes() {
        assert_eq!(max_bytes(5.0), 5_000_000);
        assert_eq!(max_bytes(0.0000015), 1);
        assert_eq!(max_bytes(-1.0), 0);
    }
}
