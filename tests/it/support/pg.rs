//! A PostgreSQL database per test.
//!
//! Needs PostgreSQL at `postgres://postgres@127.0.0.1:5432/` (or `VPP_TEST_POSTGRES`);
//! `.ci/run` starts the local cluster (`.ci/pg-up`). A test that needs it fails, naming the
//! URL and how to start the server, when it is not reachable. Each database has a random
//! name and is dropped at the end, so tests run in parallel and re-run.

use chrono::Utc;
use sqlx::{Connection, Executor, PgConnection};

/// The URL of the server's administrative connection.
pub(crate) fn admin_url() -> String {
    std::env::var("VPP_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".into())
}

/// `postgres://user@host:port/` of the admin URL, to which a database name is appended.
fn server_url() -> String {
    let admin = admin_url();
    let (scheme, rest) = admin.split_once("://").expect("VPP_TEST_POSTGRES is a postgres:// URL");
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}/")
}

/// An administrative connection; panics, saying how to start the server, when there is none.
pub(crate) async fn admin() -> PgConnection {
    PgConnection::connect(&admin_url())
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {} ({e}); start it with `bash .ci/pg-up`", admin_url()))
}

/// A fresh database, dropped (with its connections) when the test ends, even by a panic.
pub(crate) struct PgDb {
    pub(crate) name: String,
    pub(crate) url: String,
}

impl PgDb {
    /// Creates a database whose name starts with `vpp_it_{tag}` (keep `tag` short: names
    /// are at most 63 bytes).
    pub(crate) async fn create(tag: &str) -> PgDb {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("vpp_it_{tag}_{}_{nanos:x}_{n}", std::process::id());
        let mut admin = admin().await;
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await.expect("CREATE DATABASE");
        let _ = admin.close().await;
        PgDb { url: format!("{}{name}", server_url()), name }
    }

    /// A plain connection to it.
    pub(crate) async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect to the test database")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await: a thread with a runtime of its own does it.
        let dropper = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url()).await?;
                admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).await?;
                admin.close().await
            })
        });
        if let Ok(Err(e)) = dropper.join() {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
