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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (mode, plan) = if cli.tiny {
        ("tiny", Plan::tiny())
    } else {
        ("full", Plan::full())
    };
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
    report.push(scenarios::sizes(&binaries));
    for section in scenarios::launch_and_steady_state(&binaries, &docker, &plan).await {
        report.push(section);
    }
    report.push(scenarios::churn(&binaries, &docker, &plan).await);
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
