//! `bench`: measures ecs-agent and ecs-local against Docker's own time on this machine
//! (issue 7; targets in DESIGN.md "Performance targets"). Run it with `scripts/bench`.
//! Prints a table per measurement and writes them all as JSON to `bench/results/`.

mod control;
mod docker;
mod measure;
mod report;
mod scenarios;
mod stack;
mod tmds;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use crate::report::Report;
use crate::scenarios::Plan;
use crate::stack::Binaries;

#[derive(Parser)]
#[command(name = "bench", about = "Benchmarks of ecs-agent and ecs-local")]
struct Cli {
    /// Everything at full size (the default).
    #[arg(long, conflicts_with = "tiny")]
    all: bool,
    /// N = 1..2, a few requests: checks that the harness works, in seconds.
    #[arg(long)]
    tiny: bool,
    /// Directory of the ecs-agent and ecs-local binaries; default: next to this one.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Where the JSON results go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
    /// Only these parts (comma-separated); default: all but `metadata`, which repeats
    /// measurement 4 alone on its own stack for a spread.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// How many times `--only metadata` runs wrk (each run is its own section).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Tasks of the churn and cleanup parts instead of the plan's.
    #[arg(long)]
    churn_tasks: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// 7: binary sizes.
    Sizes,
    /// 1-5: launch, per-task split, memory, metadata throughput, restart.
    Launch,
    /// 4 alone, `--repeat` times, with the largest launch size running.
    Metadata,
    /// 6: churn.
    Churn,
    /// 8: memory after churned tasks and their cleanup.
    Cleanup,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (mode, mut plan) = if cli.tiny {
        ("tiny", Plan::tiny())
    } else {
        ("full", Plan::full())
    };
    if let Some(n) = cli.churn_tasks {
        plan.churn_tasks = n;
    }
    let bin_dir = match cli.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .context("no directory around the bench binary")?
            .to_path_buf(),
    };
    let binaries = Binaries::in_dir(&bin_dir)?;
    let docker = docker::connect()?;
    // Leftovers of an interrupted run would skew Docker's timings.
    docker::remove_labelled(&docker, docker::BASELINE_LABEL, "true").await?;

    let mut report = Report::new(mode);
    println!("bench ({mode}) on {}", report.machine);
    let parts = if cli.only.is_empty() {
        vec![Part::Sizes, Part::Launch, Part::Churn, Part::Cleanup]
    } else {
        cli.only
    };
    if parts.contains(&Part::Sizes) {
        report.push(scenarios::sizes(&binaries));
    }
    if parts.contains(&Part::Launch) {
        for section in scenarios::launch_and_steady_state(&binaries, &docker, &plan).await {
            report.push(section);
        }
    }
    if parts.contains(&Part::Metadata) {
        for section in scenarios::metadata_only(&binaries, &docker, &plan, cli.repeat).await {
            report.push(section);
        }
    }
    if parts.contains(&Part::Churn) {
        report.push(scenarios::churn(&binaries, &docker, &plan).await);
    }
    if parts.contains(&Part::Cleanup) {
        report.push(scenarios::churn_cleanup(&binaries, &docker, &plan).await);
    }
    let path = report.write(&cli.out)?;
    println!("\nresults written to {}", path.display());
    let blocked: Vec<&str> = report
        .sections
        .iter()
        .filter(|s| s.blocked.is_some())
        .map(|s| s.name.as_str())
        .collect();
    if !blocked.is_empty() {
        anyhow::bail!("not measured: {}", blocked.join("; "));
    }
    Ok(())
}
