//! The command line: `serve` (the default), `openapi`, `import stock`, `ledger verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::{api, import, startup, telemetry};

#[derive(Parser)]
#[command(
    name = "stockade",
    version,
    about = "A governed API gateway for retail inventory and orders"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Print the OpenAPI document.
    Openapi,
    /// Import data.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Check the movement ledger.
    Ledger {
        #[command(subcommand)]
        what: LedgerCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Absolute stock per SKU and location from a CSV file (sku,location,on_hand[,safety_stock]).
    Stock { file: PathBuf },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Check that every position equals the fold of its movements.
    Verify,
}

pub async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", api::openapi().to_pretty_json()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let config = Config::load()?;
            telemetry::init(config.log_format);
            startup::serve(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            what: ImportCommand::Stock { file },
        } => import_stock(&file).await,
        Command::Ledger {
            what: LedgerCommand::Verify,
        } => verify_ledger().await,
    }
}

async fn import_stock(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    let (policies, store) = startup::open(&config).await?;
    let rows = match import::read(file, &policies)? {
        Ok(rows) => rows,
        Err(bad) => {
            for b in bad.iter().take(100) {
                eprintln!("{}:{}: {}", file.display(), b.line, b.reason);
            }
            if bad.len() > 100 {
                eprintln!("… and {} more", bad.len() - 100);
            }
            eprintln!("{} bad row(s); nothing was imported", bad.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let started = std::time::Instant::now();
    let summary =
        import::write(store.as_ref(), &rows, &format!("import:{}", file.display())).await?;
    println!(
        "imported {} rows ({} new SKUs, {} movements) in {:.1} s",
        summary.rows,
        summary.skus_created,
        summary.movements,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

async fn verify_ledger() -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    let (_, store) = startup::open(&config).await?;
    let fold = store.ledger_fold().await?;
    let positions = store.all_positions().await?;
    let key = |r: &crate::store::PositionRow| (r.sku.clone(), r.location.clone(), r.position);
    let fold: Vec<_> = fold.iter().map(key).collect();
    let positions: Vec<_> = positions
        .iter()
        .map(key)
        .filter(|(_, _, p)| *p != Default::default())
        .collect();
    if fold
        .iter()
        .filter(|(_, _, p)| *p != Default::default())
        .eq(positions.iter())
    {
        println!(
            "ledger ok: {} positions equal the fold of their movements",
            positions.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for (f, p) in fold.iter().zip(&positions).filter(|(f, p)| f != p).take(20) {
            eprintln!("mismatch: fold {f:?} vs position {p:?}");
        }
        eprintln!("ledger broken: positions differ from the fold of the movements");
        Ok(ExitCode::FAILURE)
    }
}
