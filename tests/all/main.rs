//! One integration binary. Modules mirror the API: in-process router tests per resource,
//! then real-socket tests that start the `stockade` binary, then several instances
//! sharing PostgreSQL and Redis.
//!
//! Every test that touches storage runs once per backend: SQLite always, PostgreSQL with
//! Redis when `STOCKADE_TEST_POSTGRES_URL` and `STOCKADE_TEST_REDIS_URL` are set.

use std::process::ExitCode;

mod harness;

mod availability;
mod cli;
mod cluster;
mod degraded;
mod durability;
mod erp;
mod events;
mod governance;
mod leases;
mod ledger;
mod metrics;
mod nats;
mod openapi;
mod orders;
mod outbox;
mod problems;
mod projection;
mod race;
mod reconcile;
mod returns;
mod slo;
mod timeline;
mod traces;
mod woo_fake;
mod woocommerce;

fn main() -> ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let backends = harness::Backend::available();
    if backends.len() == 1 {
        eprintln!(
            "note: the PostgreSQL and Redis suites did not run (set STOCKADE_TEST_POSTGRES_URL and \
             STOCKADE_TEST_REDIS_URL, as .ci/run does); SQLite only"
        );
    }
    if harness::nats_url().is_none() {
        eprintln!(
            "note: the NATS JetStream suite did not run (set STOCKADE_TEST_NATS_URL, as .ci/run does)"
        );
    }
    let mut trials = Vec::new();
    for register in [
        availability::register,
        cli::register,
        cluster::register,
        degraded::register,
        durability::register,
        erp::register,
        events::register,
        governance::register,
        leases::register,
        ledger::register,
        metrics::register,
        openapi::register,
        nats::register,
        orders::register,
        projection::register,
        outbox::register,
        problems::register,
        race::register,
        reconcile::register,
        returns::register,
        slo::register,
        timeline::register,
        traces::register,
        woo_fake::register,
        woocommerce::register,
    ] {
        register(&mut trials, &backends);
    }
    libtest_mimic::run(&args, trials).exit_code()
}
