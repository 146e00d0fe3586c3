//! Wiring: configuration and policies in, a running gateway out.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::adapters;
use crate::adapters::subscriber::Webhook;
use crate::adapters::woocommerce::Connector;
use crate::adapters::woocommerce::outbound::WooDestination;
use crate::api::{self, AppState};
use crate::cluster;
use crate::cluster::invalidation::{self, Publisher};
use crate::cluster::limiter::RedisLimiter;
use crate::cluster::nats::{Nats, NatsPublisher};
use crate::config::Config;
use crate::governance::Governance;
use crate::governance::ratelimit::RateLimiter;
use crate::metrics::Metrics;
use crate::policy::Policies;
use crate::seed;
use crate::services::Services;
use crate::services::dispatch::Dispatcher;
use crate::services::dispatch::erp::ErpDestination;
use crate::services::projection::ProjectionSettings;
use crate::store::{LocationDef, SqlStore, SqliteSettings, Store};

/// Loads and checks the policies against the routes the API serves.
pub fn load_policies(config: &Config) -> anyhow::Result<Policies> {
    let policies = Policies::load(&config.policies).context("invalid policies")?;
    policies
        .check_routes(&api::served_routes())
        .context("invalid policies")?;
    Ok(policies)
}

/// Loads the policies and opens the store: everything a command needs.
pub async fn open(config: &Config) -> anyhow::Result<(Arc<Policies>, Arc<dyn Store>)> {
    let policies = load_policies(config)?;
    let store = match &config.database_url {
        Some(url) => SqlStore::open_postgres(url.expose(), config.database_pool_size)
            .await
            .context("cannot open the PostgreSQL ledger (STOCKADE_DATABASE_URL)")?,
        None => {
            let settings = SqliteSettings {
                synchronous: config.sqlite_synchronous.clone(),
                ..SqliteSettings::default()
            };
            SqlStore::open_sqlite(&config.data_dir, &settings)
                .await
                .with_context(|| {
                    format!("cannot open the ledger in {}", config.data_dir.display())
                })?
        }
    };
    let locations: Vec<LocationDef> = policies
        .locations
        .iter()
        .map(|l| LocationDef {
            code: l.code.clone(),
            name: l.name.clone(),
        })
        .collect();
    store.sync_locations(&locations).await?;
    Ok((Arc::new(policies), Arc::new(store)))
}

/// Builds the application state; seeds the demo catalog on a fresh demo start.
pub async fn build(config: &Config) -> anyhow::Result<AppState> {
    build_with_erp(config, None).await
}

/// The same, with an ERP adapter given rather than configured (an embedding application's
/// own, or a test's).
pub async fn build_with_erp(
    config: &Config,
    erp: Option<Arc<dyn adapters::ErpAdapter>>,
) -> anyhow::Result<AppState> {
    let (policies, store) = open(config).await?;
    if policies.demo {
        tracing::warn!(policies = %config.policies.display(), "demo policy in use: published API keys are accepted");
        if store.catalog_is_empty().await? {
            let skus = seed::demo_catalog(store.as_ref()).await?;
            tracing::info!(skus, data_dir = %config.data_dir.display(), "seeded the demo catalog");
        }
    }
    let erp = match erp {
        Some(erp) => erp,
        None => adapters::from_config(&config.erp, store.clone())?,
    };
    let retention = Duration::from_secs(u64::from(config.idempotency_retention_hours) * 3600);
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let stores = Connector::all(&policies, &store, &http)?;
    let mut services = Services::new(store.clone(), policies.clone(), erp.clone(), retention)
        .with_woocommerce(stores.clone());
    let mut limiter: Option<Arc<dyn RateLimiter>> = None;
    let mut redis = None;
    if let Some(url) = &config.redis_url {
        let (client, conn) = cluster::connect(url.expose())
            .await
            .context("cannot reach Redis (STOCKADE_REDIS_URL)")?;
        limiter = Some(Arc::new(RedisLimiter::new(
            conn.clone(),
            &config.redis_prefix,
        )));
        redis = Some(conn.clone());
        services = services.with_invalidation(Publisher::new(conn, &config.redis_prefix));
        invalidation::spawn_subscriber(client, &config.redis_prefix, services.cache());
        tracing::info!(redis.prefix = %config.redis_prefix, "cluster mode: rate limits and cache invalidation shared through redis");
    }
    let nats = match &config.nats_url {
        Some(url) => {
            let nats = Nats::connect(url.expose(), &config.nats_prefix)
                .await
                .context("cannot reach NATS (STOCKADE_NATS_URL)")?;
            tracing::info!(nats.prefix = %config.nats_prefix, "events flow through nats jetstream");
            Some(Arc::new(nats))
        }
        None => None,
    };
    let metrics = services.metrics.clone();
    let mut destinations = destinations(&policies, store.clone(), erp, &http, &metrics)?;
    // A store without API access (the demo store before its keys are set) is told nothing.
    for conn in stores.into_iter().filter(|c| c.has_api()) {
        destinations.push(Arc::new(WooDestination::new(conn)));
    }
    if let Some(nats) = &nats {
        destinations.push(Arc::new(NatsPublisher {
            nats: nats.clone(),
            policy: policies.outbox.nats,
        }));
    }
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        destinations,
        policies.outbox.dispatcher.clone(),
        services.outbox_wake(),
    ));
    let governance = Arc::new(Governance::new(policies.clone(), store, limiter, metrics).await?);
    let body_limits = policies.limits.body;
    Ok(AppState {
        services: Arc::new(services),
        governance,
        dispatcher,
        redis,
        nats,
        body_limits,
        request_timeout: config.request_timeout,
    })
}

/// Where outbound events go: the ERP, and every subscriber the policies declare.
fn destinations(
    policies: &Policies,
    store: Arc<dyn Store>,
    erp: Arc<dyn adapters::ErpAdapter>,
    http: &reqwest::Client,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Vec<Arc<dyn adapters::Destination>>> {
    let mut out: Vec<Arc<dyn adapters::Destination>> = vec![Arc::new(ErpDestination::new(
        erp,
        store,
        policies.outbox.erp,
        metrics.clone(),
    ))];
    for s in &policies.subscribers {
        let secret = match (&s.secret_env, &s.secret_file) {
            (Some(var), _) => std::env::var(var)
                .with_context(|| format!("subscriber {}: {var} is not set", s.name))?,
            (None, Some(file)) => std::fs::read_to_string(policies.dir.join(file))
                .with_context(|| format!("subscriber {}: cannot read its secret file", s.name))?
                .trim()
                .to_owned(),
            (None, None) => anyhow::bail!("subscriber {} has no secret", s.name),
        };
        out.push(Arc::new(Webhook::new(
            s.clone(),
            secret.into_bytes(),
            http.clone(),
        )));
    }
    Ok(out)
}

/// The work a running gateway does besides answering requests.
pub fn spawn_background(state: &AppState, projection: ProjectionSettings) {
    state.dispatcher.clone().spawn();
    // With the embedded ledger there is nothing to project: it is the system of record.
    if state.services.erp.system() != "embedded" {
        crate::services::projection::spawn(state.services.clone(), projection);
    }
    if let Some(nats) = &state.nats {
        cluster::nats::spawn_consumer(nats.clone(), state.services.clone());
    }
    crate::services::woocommerce::spawn(&state.services);
    crate::services::slo::spawn_sampler(state.services.clone());
    crate::services::reconcile::spawn_schedule(state.services.clone());
    spawn_purges(state.services.clone(), state.dispatcher.retention());
    state.governance.spawn_upkeep();
}

/// Runs the gateway until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let state = build(&config).await?;
    spawn_background(&state, config.projection);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(listen = %listener.local_addr()?, erp.system = state.services.erp.system(), "stockade listening");
    // Answers are small and written whole: Nagle's delay would only add latency.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    if let Some(addr) = config.metrics_listen {
        let metrics = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        tracing::info!(listen = %metrics.local_addr()?, "metrics listening");
        tokio::spawn(axum::serve(metrics, api::metrics_app(state.clone())).into_future());
    }
    let erp = state.services.erp.clone();
    axum::serve(listener, api::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    erp.shutdown().await;
    tracing::info!("stockade stopped");
    Ok(())
}

/// Hourly: expired idempotency keys, and delivered events and processed webhook
/// deliveries past their retention.
fn spawn_purges(services: Arc<Services>, retention: Duration) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let now = crate::domain::time::now();
            match services.store.purge_idempotency_keys(now).await {
                Ok(n) if n > 0 => tracing::info!(keys = n, "expired idempotency keys purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
            }
            match services.store.purge_delivered(now - retention).await {
                Ok(n) if n > 0 => tracing::info!(deliveries = n, "delivered events purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox purge failed"),
            }
            match services.store.woo_purge_deliveries(now - retention).await {
                Ok(n) if n > 0 => {
                    tracing::info!(deliveries = n, "woocommerce webhook deliveries purged");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "woocommerce delivery purge failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
