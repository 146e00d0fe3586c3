//! The command line: `serve` (the default), `openapi`, `import stock`, `ledger verify`,
//! `reconcile`, `policy check`, `keys new`, `audit verify`.

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
    /// Validate the policy directory without starting.
    Policy {
        #[command(subcommand)]
        what: PolicyCommand,
    },
    /// Make API keys.
    Keys {
        #[command(subcommand)]
        what: KeysCommand,
    },
    /// Check the audit log.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
    /// Compare Stockade's stock with the ERP's, the warehouses' last counts and each
    /// store's published stock. Exits 2 when a figure drifted past the policy's threshold.
    Reconcile {
        /// Print the run and its variances as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Load and validate every policy file (STOCKADE_POLICIES, default ./policies).
    Check,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a fresh random API key once, and the hash line to paste into clients.toml.
    New { client: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and name the first broken entry.
    Verify,
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
            let traces = telemetry::init(&config)?;
            let served = startup::serve(config).await;
            traces.shutdown().await;
            served?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            what: ImportCommand::Stock { file },
        } => import_stock(&file).await,
        Command::Ledger {
            what: LedgerCommand::Verify,
        } => verify_ledger().await,
        Command::Policy {
            what: PolicyCommand::Check,
        } => check_policies(),
        Command::Keys {
            what: KeysCommand::New { client },
        } => {
            new_key(&client);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            what: AuditCommand::Verify,
        } => verify_audit().await,
        Command::Reconcile { json } => reconcile(json).await,
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

fn check_policies() -> anyhow::Result<ExitCode> {
    let config = Config::load()?;
    match startup::load_policies(&config) {
        Ok(p) => {
            println!(
                "policies ok: {} clients, {} channels, {} locations, {} routes, {} JWT issuers ({})",
                p.clients.len(),
                p.channels.len(),
                p.locations.len(),
                p.routes.len(),
                p.issuers.len(),
                p.dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn new_key(client: &str) {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    let key = format!(
        "stk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    println!(
        "API key for `{client}` (shown once; store it in the client's secret store):\n\n    {key}\n"
    );
    println!(
        "Add this hash to the client's entry in clients.toml (keep the old hash until the client has switched):\n"
    );
    println!(
        "    api_key_sha256 = [\"{}\"]",
        crate::policy::hash_api_key(&key)
    );
}

async fn verify_audit() -> anyhow::Result<ExitCode> {
    use crate::domain::audit::{ChainBreak, GENESIS, verify};
    let config = Config::load()?;
    let (_, store) = startup::open(&config).await?;
    let (mut after, mut prev, mut count) = (0_i64, GENESIS.to_owned(), 0_u64);
    loop {
        let page = store.audit_chain(after, 5000).await?;
        let Some(last) = page.last() else { break };
        // A gap in `seq` means an entry was removed.
        if let Some((record, expected)) = page
            .iter()
            .zip(after + 1..)
            .find(|(r, expected)| r.seq != *expected)
        {
            eprintln!(
                "audit chain broken at entry {expected}: it is missing (the next is {})",
                record.seq
            );
            return Ok(ExitCode::FAILURE);
        }
        match verify(&prev, &page) {
            Ok(()) => {}
            Err(ChainBreak::Edited { seq }) => {
                eprintln!(
                    "audit chain broken at entry {seq}: its fields no longer match its hash (edited)"
                );
                return Ok(ExitCode::FAILURE);
            }
            Err(ChainBreak::Unlinked { seq }) => {
                eprintln!(
                    "audit chain broken at entry {seq}: it does not follow the entry before it"
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        count += page.len() as u64;
        after = last.seq;
        prev.clone_from(&last.hash);
    }
    println!("audit ok: {count} entries, chain head {prev}");
    Ok(ExitCode::SUCCESS)
}

/// Exit status of a run that found drift past the threshold, so a job can stop on it.
const DRIFTED: u8 = 2;
/// Variances printed by the table (all are kept with the run).
const TABLE_ROWS: u32 = 25;

async fn reconcile(json: bool) -> anyhow::Result<ExitCode> {
    use crate::store::RunState;
    let config = Config::load()?;
    let state = startup::build(&config).await?;
    let services = state.services.clone();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} SKUs, {per_sec}, about {eta} left",
    )?);
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let started = std::time::Instant::now();
    let run = services.reconcile("cli", &progress).await?;
    bar.finish_and_clear();
    let limit = if json { 1000 } else { TABLE_ROWS };
    let variances = services.store.variances(&run.id, limit).await?;
    if json {
        let report = serde_json::json!({"run": run, "variances": variances});
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&run, &variances, started.elapsed());
    }
    Ok(match run.state {
        RunState::Failed => ExitCode::FAILURE,
        _ if run.drifted > 0 => ExitCode::from(DRIFTED),
        _ => ExitCode::SUCCESS,
    })
}

fn print_table(
    run: &crate::store::Run,
    variances: &[crate::domain::reconcile::Variance],
    took: std::time::Duration,
) {
    println!(
        "reconciliation {} {} in {:.1} s: {} SKUs, {} figures compared, {} over the threshold \
         (drift ratio {:.4} %), {} channel figures corrected",
        run.id,
        run.state.as_str(),
        took.as_secs_f64(),
        run.skus,
        run.compared,
        run.drifted,
        run.drift_ratio * 100.0,
        run.corrected
    );
    if let Some(e) = &run.error {
        println!("stopped: {e}");
    }
    if variances.is_empty() {
        println!("every figure compared agrees with Stockade's");
        return;
    }
    let width = |f: &dyn Fn(&crate::domain::reconcile::Variance) -> usize, min: usize| {
        variances.iter().map(f).max().unwrap_or(0).max(min)
    };
    let (sw, kw, lw) = (
        width(&|v| v.source.len(), 6),
        width(&|v| v.sku.len(), 3),
        width(&|v| v.location.as_deref().map_or(1, str::len), 8),
    );
    println!();
    println!(
        "{:<sw$}  {:<kw$}  {:<lw$}  {:>8}  {:>8}  {:>8}  DRIFT",
        "SOURCE", "SKU", "LOCATION", "STOCKADE", "OTHER", "VARIANCE"
    );
    for v in variances {
        println!(
            "{:<sw$}  {:<kw$}  {:<lw$}  {:>8}  {:>8}  {:>+8}  {}",
            v.source,
            v.sku,
            v.location.as_deref().unwrap_or("*"),
            v.stockade,
            v.other,
            v.variance,
            if v.over_threshold { "yes" } else { "" }
        );
    }
    let listed = variances.len() as u64;
    if run.drifted > listed {
        println!(
            "… the rest with GET /v1/admin/reconciliations/{} or --json",
            run.id
        );
    }
}
