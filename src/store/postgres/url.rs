//! The `database` URL: checked without echoing it, and shown with its password masked.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// Checks that a `database` URL is usable, without echoing it.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    PgConnectOptions::from_str(url).map(|_| ()).map_err(|e| format!("not a usable PostgreSQL URL: {e}"))
}

/// A PostgreSQL URL with its password (in the user part or a `password=` parameter) masked.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "postgres://…".into() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(redact("postgres://vpp:s3cret@db:5432/vpp"), "postgres://vpp:***@db:5432/vpp");
        assert_eq!(
            redact("postgresql://vpp@db/vpp?password=s3cret&sslmode=disable"),
            "postgresql://vpp@db/vpp?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://db"), "postgres://db");
        assert!(!redact("postgres://a:b:c@h/d").contains("b:c"));
    }
}
