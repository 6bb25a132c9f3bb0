//! A park's monthly green-power statement for an auditor, from its measured ledger: a
//! printable HTML page and a CSV, both listing every certificate cancelled for the park
//! (`GET /api/v1/parks/{park}/statement.html?month=YYYY-MM`, `….csv`). Park managers their
//! own park, operators any (the reader's rule).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::ledger::csv::mwh_text as mwh;
use crate::service::{Error, ParkLedger};

use super::api::{caller, ApiError, Web};

#[derive(Deserialize)]
pub(crate) struct MonthQuery {
    month: Option<String>,
}

/// The first and last local day of `YYYY-MM`.
fn month_days(text: &str) -> Result<(NaiveDate, NaiveDate), Error> {
    let first = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 7)
        .ok_or_else(|| Error::invalid("month", format!("{} is not a month YYYY-MM", crate::domain::limits::quote(text))))?;
    let next = if first.month() == 12 {
        first.with_year(first.year() + 1).and_then(|d| d.with_month(1))
    } else {
        first.with_month(first.month() + 1)
    };
    let last = next.and_then(|d| d.pred_opt()).ok_or_else(|| Error::invalid("month", "is out of range"))?;
    Ok((first, last))
}

async fn ledger_of(web: &Web, headers: &HeaderMap, park: &str, q: MonthQuery) -> Result<(String, ParkLedger), ApiError> {
    let who = caller(web, headers)?;
    let month = q.month.ok_or_else(|| Error::invalid("month", "is required (YYYY-MM)"))?;
    let (first, last) = month_days(&month)?;
    let l = web.svc.reader(&who)?.park_ledger(park, &first.to_string(), &last.to_string(), true).await?;
    Ok((month, l))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn attachment(body: String, content_type: &'static str, filename: &str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// The statement as CSV: a summary block, then one row per certificate (part) cancelled.
pub(crate) async fn csv(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(park): Path<String>,
    Query(q): Query<MonthQuery>,
) -> Result<Response, ApiError> {
    let (month, l) = ledger_of(&web, &headers, &park, q).await?;
    // The summary block is the statement file `vpp ledger --statement` writes.
    let mut out = crate::ledger::statement_csv(std::slice::from_ref(&l.statement));
    out.push_str("\ncertificate_id,asset,interval_start,origin,via,mwh\n");
    for c in &l.certificates {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            c.certificate_id,
            c.asset,
            c.interval_start.to_rfc3339(),
            if c.from_storage { "storage" } else { "direct" },
            if c.own_meter { "own_meter" } else { "pool" },
            mwh(c.wh)
        ));
    }
    Ok(attachment(out, "text/csv; charset=utf-8", &format!("statement-{park}-{month}.csv")))
}

/// The statement as a printable HTML page (no script, styles inline in the page's own
/// stylesheet-free form so it prints anywhere).
pub(crate) async fn html(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(park): Path<String>,
    Query(q): Query<MonthQuery>,
) -> Result<Response, ApiError> {
    let (month, l) = ledger_of(&web, &headers, &park, q).await?;
    let plant = web.svc.plant();
    let p = escape(&park);
    let mut rows = String::new();
    for m in &l.statement.months {
        rows.push_str(&format!(
            "<tr><td>{:04}-{:02}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td></tr>\n",
            m.year,
            m.month,
            mwh(m.consumption_wh),
            mwh(m.own_wh),
            mwh(m.pool_wh),
            mwh(m.cancelled_wh()),
            m.share.map_or("–".to_string(), |s| format!("{:.2} %", 100.0 * s)),
            m.missing_intervals,
            m.gec_issued,
            mwh(m.carried_wh),
            m.location_based_t,
            m.market_based_t
        ));
    }
    let mut certs = String::new();
    for c in &l.certificates {
        certs.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&c.certificate_id),
            escape(&c.asset),
            c.interval_start.with_timezone(&plant.tz()).format("%Y-%m-%d %H:%M"),
            if c.from_storage { "storage" } else { "direct" },
            if c.own_meter { "own meter" } else { "pool" },
            mwh(c.wh)
        ));
    }
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Green-power statement {p} {month}</title></head>\n<body>\n\
         <h1>Green-power statement</h1>\n<p>Park <strong>{p}</strong> of plant {plant_name}, month {month} ({tz}). Figures from meter readings alone: \
         granular certificates (Wh) cancelled against the park's measured consumption, interval by interval (hourly matching); \
         whole green certificates (GEC, 1 MWh) are the floor of the cumulative cancelled MWh, fractions carried. Scope 2 at the \
         Central China grid factor, 0.5271 t/MWh.</p>\n\
         <table border=\"1\" cellspacing=\"0\" cellpadding=\"3\">\n<tr><th>month</th><th>consumed MWh</th><th>own green MWh</th><th>pool green MWh</th><th>green MWh</th>\
         <th>hourly-matched share</th><th>missing intervals</th><th>GEC</th><th>carried MWh</th><th>Scope 2 location t</th><th>Scope 2 market t</th></tr>\n{rows}</table>\n\
         <h2>Certificates cancelled ({n})</h2>\n<table border=\"1\" cellspacing=\"0\" cellpadding=\"3\">\n<tr><th>certificate</th><th>asset</th><th>interval (local)</th>\
         <th>origin</th><th>via</th><th>MWh</th></tr>\n{certs}</table>\n</body></html>\n",
        plant_name = escape(&plant.name),
        tz = escape(&plant.timezone),
        n = l.certificates.len(),
    );
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
