//! PostgreSQL errors as [`StoreError`]s: described by kind and SQLSTATE, never with SQL text
//! or row data.

use sqlx::postgres::PgConnectOptions;

use crate::store::sql::sqlx_error;
use crate::store::StoreError;

/// The constraint a unique violation hit, if `e` is one.
pub(super) fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => db.constraint().map(str::to_string),
        _ => None,
    }
}

pub(super) fn connect_error(e: sqlx::Error, options: &PgConnectOptions) -> StoreError {
    let target = format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or(options.get_username()));
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // 28xxx: authentication; 3D000: no such database.
            let what = match code.as_str() {
                "3D000" => "the database does not exist".to_string(),
                c if c.starts_with("28") => "authentication failed".to_string(),
                _ => format!("SQLSTATE {code}"),
            };
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {what}"))
        }
        sqlx::Error::Io(io) => StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {}", io.kind())),
        other => match db_error(other) {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {m}")),
            e => e,
        },
    }
}

pub(super) fn db_error(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            tracing::warn!(sqlstate = %code, "PostgreSQL refused an operation");
            match code.as_str() {
                // data_corrupted, index_corrupted
                "XX001" | "XX002" => StoreError::Corrupt(format!("the database reports damaged data (SQLSTATE {code})")),
                _ => StoreError::Unavailable(format!("the database refused the operation (SQLSTATE {code})")),
            }
        }
        E::Tls(_) => StoreError::Unavailable("TLS error reaching the database".into()),
        E::Protocol(_) => StoreError::Unavailable("the database connection broke (protocol error)".into()),
        E::Configuration(msg) => StoreError::Unsafe(msg.to_string()),
        other => sqlx_error(other),
    }
}
