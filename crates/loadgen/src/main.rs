//! Stockade's load generator.
//!
//! - `run`: drives a scenario against a target, either at a constant arrival rate (open
//!   loop: latency counts from when each request was due, so a stalled server cannot hide
//!   its queue) or at saturation (every connection sends back to back), and reports
//!   throughput, latency percentiles and errors as a table and as JSON.
//! - `bare`: the baseline server, hyper answering one fixed body.
//! - `sqlite-bare`: the baseline for order acceptance, bare SQLite write transactions of
//!   the same shape, durable (WAL, `synchronous = FULL`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod bare;
mod report;
mod runner;
mod scenarios;
mod sqlite_bare;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load tests for Stockade, and the baselines to compare it with"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive a scenario against a target and report.
    Run {
        /// `http://host:port`
        #[arg(long)]
        target: String,
        #[arg(long, value_enum)]
        scenario: scenarios::Kind,
        /// Requests per second; omit for a saturation run.
        #[arg(long)]
        rate: Option<u64>,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Sent but not measured, before the measured part.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        #[arg(long, default_value = "stockade-demo-key")]
        key: String,
        /// For `uncached`: SKUs `CAT-0000000` … are drawn from this many.
        #[arg(long, default_value_t = 1000)]
        catalog: u64,
        /// A label for the report.
        #[arg(long)]
        label: Option<String>,
        /// Also write the report here, as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Serve a fixed body on every path: the bare-server baseline.
    Bare {
        #[arg(long)]
        listen: String,
        #[arg(long)]
        body: PathBuf,
    },
    /// Bare SQLite write transactions shaped like one order acceptance.
    SqliteBare {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run {
            target,
            scenario,
            rate,
            connections,
            seconds,
            warmup,
            key,
            catalog,
            label,
            json,
        } => {
            let plan = runner::Plan {
                target,
                rate,
                connections,
                duration: Duration::from_secs(seconds),
                warmup: Duration::from_secs(warmup),
            };
            let scenario = scenarios::build(scenario, &key, catalog);
            let label = label.unwrap_or_else(|| scenario.name().to_owned());
            let report = runner::run(&plan, scenario, &label).await?;
            report.print();
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
            }
        }
        Command::Bare { listen, body } => bare::serve(&listen, std::fs::read(body)?).await?,
        Command::SqliteBare { dir, seconds, json } => {
            let report = sqlite_bare::run(&dir, Duration::from_secs(seconds)).await?;
            report.print();
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
            }
        }
    }
    Ok(())
}
