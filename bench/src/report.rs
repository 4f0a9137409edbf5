//! The results: a table for people, the same rows (and raw details) as JSON.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// One figure of ours next to its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub metric: String,
    pub unit: String,
    pub ours: Option<f64>,
    pub baseline: Option<f64>,
    /// ours / baseline.
    pub ratio: Option<f64>,
    pub note: String,
}

impl Row {
    pub fn new(metric: impl Into<String>, unit: &str, ours: Option<f64>) -> Row {
        Row {
            metric: metric.into(),
            unit: unit.to_owned(),
            ours,
            baseline: None,
            ratio: None,
            note: String::new(),
        }
    }

    pub fn baseline(mut self, baseline: Option<f64>) -> Row {
        self.baseline = baseline;
        self.ratio = match (self.ours, baseline) {
            (Some(o), Some(b)) if b > 0.0 => Some(o / b),
            _ => None,
        };
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }
}

/// One benchmark: its rows, raw details, and why it could not run if it could not.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub name: String,
    pub baseline: String,
    pub rows: Vec<Row>,
    pub details: Value,
    pub blocked: Option<String>,
}

impl Section {
    pub fn new(name: &str, baseline: &str) -> Section {
        Section {
            name: name.to_owned(),
            baseline: baseline.to_owned(),
            rows: Vec::new(),
            details: Value::Null,
            blocked: None,
        }
    }

    pub fn blocked(name: &str, why: impl Into<String>) -> Section {
        let mut s = Section::new(name, "");
        s.blocked = Some(why.into());
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: Value,
    pub mode: String,
    pub sections: Vec<Section>,
}

impl Report {
    pub fn new(mode: &str) -> Report {
        Report {
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            machine: machine(),
            mode: mode.to_owned(),
            sections: Vec::new(),
        }
    }

    pub fn push(&mut self, section: Section) {
        print!("{}", render_section(&section));
        self.sections.push(section);
    }

    /// Writes `<dir>/<date>.json` (a second run the same day gets a time suffix).
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let day = &self.date[..10];
        let mut path = dir.join(format!("{day}.json"));
        if path.exists() {
            path = dir.join(format!("{}.json", self.date.replace(':', "")));
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")?;
        Ok(path)
    }

    #[cfg(test)]
    pub fn render(&self) -> String {
        self.sections.iter().map(render_section).collect()
    }
}

fn render_section(section: &Section) -> String {
    let mut out = format!("\n== {}\n", section.name);
    if let Some(why) = &section.blocked {
        out.push_str(&format!("   not measured: {why}\n"));
        return out;
    }
    if !section.baseline.is_empty() {
        out.push_str(&format!("   baseline: {}\n", section.baseline));
    }
    let width = section
        .rows
        .iter()
        .map(|r| r.metric.len() + r.unit.len() + 3)
        .max()
        .unwrap_or(10)
        .max(10);
    out.push_str(&format!(
        "   {:<width$} {:>12} {:>12} {:>8}  note\n",
        "metric", "ours", "baseline", "ratio"
    ));
    for row in &section.rows {
        let label = format!("{} ({})", row.metric, row.unit);
        out.push_str(&format!(
            "   {:<width$} {:>12} {:>12} {:>8}  {}\n",
            label,
            number(row.ours),
            number(row.baseline),
            row.ratio.map(|r| format!("{r:.2}x")).unwrap_or_default(),
            row.note
        ));
    }
    out
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn machine() -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    serde_json::json!({
        "cpus": cpus,
        "memory_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "cpu_model": model,
        "kernel": kernel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_ours_over_baseline() {
        let row = Row::new("x", "ms", Some(3.0)).baseline(Some(2.0));
        assert_eq!(row.ratio, Some(1.5));
        let none = Row::new("x", "ms", Some(3.0)).baseline(Some(0.0));
        assert_eq!(none.ratio, None);
    }

    #[test]
    fn table_shows_rows_and_blocked_sections() {
        let mut report = Report::new("tiny");
        let mut s = Section::new("launch", "docker");
        s.rows
            .push(Row::new("median", "ms", Some(12.345)).baseline(Some(10.0)));
        report.sections.push(s);
        report
            .sections
            .push(Section::blocked("tmds", "wrk missing"));
        let text = report.render();
        assert!(text.contains("median (ms)"), "{text}");
        assert!(text.contains("12.3"), "{text}");
        assert!(text.contains("1.23x"), "{text}");
        assert!(text.contains("not measured: wrk missing"), "{text}");
    }

    #[test]
    fn json_file_per_day() {
        let dir = tempfile::tempdir().unwrap();
        let report = Report::new("tiny");
        let first = report.write(dir.path()).unwrap();
        let second = report.write(dir.path()).unwrap();
        assert_ne!(first, second);
        let back: Value = serde_json::from_str(&std::fs::read_to_string(first).unwrap()).unwrap();
        assert_eq!(back["mode"], "tiny");
    }
}
