//! The backends every storage test runs against, and the trial registry that runs each
//! test once per backend.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use libtest_mimic::Trial;
use stockade::config::{Config, Secret};

/// Where a test's gateway keeps its state.
#[derive(Clone)]
pub enum Backend {
    /// The embedded SQLite ledger in the test's data directory, single-node mechanisms.
    Sqlite,
    /// A fresh PostgreSQL schema, and Redis under a fresh key prefix.
    Postgres(Arc<Services>),
}

/// The outside services a PostgreSQL run needs.
pub struct Services {
    pub postgres: String,
    pub redis: String,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        })
    }
}

impl Backend {
    /// SQLite always; PostgreSQL with Redis when both URLs are given. A URL given for
    /// a service that does not answer is a failure, not a skip.
    pub fn available() -> Vec<Self> {
        let mut out = vec![Self::Sqlite];
        let (pg, redis) = (
            std::env::var("STOCKADE_TEST_POSTGRES_URL").ok(),
            std::env::var("STOCKADE_TEST_REDIS_URL").ok(),
        );
        match (pg, redis) {
            (Some(postgres), Some(redis)) if !postgres.is_empty() && !redis.is_empty() => {
                out.push(Self::Postgres(Arc::new(Services { postgres, redis })));
            }
            (None, None) => {}
            _ => panic!(
                "set both STOCKADE_TEST_POSTGRES_URL and STOCKADE_TEST_REDIS_URL, or neither"
            ),
        }
        out
    }

    /// A fresh place to keep state: a new schema and key prefix on PostgreSQL and Redis.
    pub fn isolate(&self) -> Isolated {
        match self {
            // A prefix of its own even here: NATS subjects and streams are shared.
            Self::Sqlite => Isolated {
                database_url: None,
                redis_url: None,
                prefix: format!("t_{}", ulid::Ulid::new().to_string().to_lowercase()),
                _schema: None,
            },
            Self::Postgres(s) => {
                let schema = format!("t_{}", ulid::Ulid::new().to_string().to_lowercase());
                run_sql(&s.postgres, &format!("CREATE SCHEMA {schema}"));
                let sep = if s.postgres.contains('?') { '&' } else { '?' };
                let url = format!("{}{sep}options=-c%20search_path%3D{schema}", s.postgres);
                Isolated {
                    database_url: Some(url),
                    redis_url: Some(s.redis.clone()),
                    prefix: schema.clone(),
                    _schema: Some(SchemaGuard {
                        admin_url: s.postgres.clone(),
                        schema,
                    }),
                }
            }
        }
    }
}

/// One test's slice of the backends; dropping it drops the PostgreSQL schema.
pub struct Isolated {
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub prefix: String,
    pub _schema: Option<SchemaGuard>,
}

impl Isolated {
    pub fn configure(&self, config: &mut Config) {
        config.database_url = self.database_url.clone().map(Secret::new);
        config.redis_url = self.redis_url.clone().map(Secret::new);
        config.redis_prefix = self.prefix.clone();
    }

    /// The same, as environment variables for a gateway process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("STOCKADE_REDIS_PREFIX", self.prefix.clone())];
        if let Some(url) = &self.database_url {
            env.push(("STOCKADE_DATABASE_URL", url.clone()));
        }
        if let Some(url) = &self.redis_url {
            env.push(("STOCKADE_REDIS_URL", url.clone()));
        }
        env
    }
}

pub struct SchemaGuard {
    admin_url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        run_sql(
            &self.admin_url,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        );
    }
}

/// Runs one statement on its own thread and runtime, so it works from sync code, drops
/// and async tests alike.
pub fn run_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::{Connection, Executor};
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
            // Dropping a test's schema can meet a deadlock with a process of that test still
            // letting go of its connections; PostgreSQL then cancels one side, and running
            // the statement again is safe.
            for attempt in 1.. {
                match conn.execute(sql.as_str()).await {
                    Ok(_) => break,
                    Err(sqlx::Error::Database(e))
                        if e.code().as_deref() == Some("40P01") && attempt < 5 =>
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                    }
                    Err(e) => panic!("{sql}: {e}"),
                }
            }
        });
    })
    .join()
    .unwrap();
}

/// NATS with JetStream, for the event-transport tests, when `STOCKADE_TEST_NATS_URL` is set.
pub fn nats_url() -> Option<String> {
    std::env::var("STOCKADE_TEST_NATS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// A test that runs once per backend.
pub fn trial<F, Fut>(name: &str, backend: Backend, test: F) -> Trial
where
    F: FnOnce(Backend) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let name = format!("{}::{backend}", name.trim_start_matches("all::"));
    Trial::test(name, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(test(backend));
        Ok(())
    })
}

/// A test that does not touch storage.
pub fn once<F: FnOnce() + Send + 'static>(name: &str, test: F) -> Trial {
    Trial::test(name.trim_start_matches("all::"), move || {
        test();
        Ok(())
    })
}

/// Declares a module's tests: `per_backend` run once per backend, `postgres_only` need
/// shared state (several instances), `once` do not touch storage.
#[macro_export]
macro_rules! tests {
    ($(per_backend: [$($b:ident),* $(,)?] $(,)?)? $(postgres_only: [$($p:ident),* $(,)?] $(,)?)? $(nats: [$($n:ident),* $(,)?] $(,)?)? $(once: [$($o:ident),* $(,)?] $(,)?)?) => {
        pub fn register(trials: &mut Vec<libtest_mimic::Trial>, backends: &[$crate::harness::Backend]) {
            let _ = (&trials, backends);
            $($(
                for b in backends {
                    trials.push($crate::harness::trial(concat!(module_path!(), "::", stringify!($b)), b.clone(), $b));
                }
            )*)?
            $($(
                for b in backends.iter().filter(|b| matches!(b, $crate::harness::Backend::Postgres(_))) {
                    trials.push($crate::harness::trial(concat!(module_path!(), "::", stringify!($p)), b.clone(), $p));
                }
            )*)?
            $($(
                if $crate::harness::nats_url().is_some() {
                    for b in backends {
                        trials.push($crate::harness::trial(concat!(module_path!(), "::", stringify!($n)), b.clone(), $n));
                    }
                }
            )*)?
            $($(
                trials.push($crate::harness::once(concat!(module_path!(), "::", stringify!($o)), $o));
            )*)?
        }
    };
}
