//! The JSON read API under `/api/v1`, for the page (and scripts): a thin adapter over the
//! service, like the gRPC API. It authenticates with the same `Authenticator`, reaches the
//! service only through the views the caller's principal admits (`service::auth`), and
//! shows the figures the gRPC share service answers with (`service::park_day`,
//! `service::plant_day`).
//!
//! | path | operator | park manager | bot | no or unknown token |
//! | --- | --- | --- | --- | --- |
//! | `GET /api/v1/me` | 200 | 200 | 403 | 401 |
//! | `GET /api/v1/days[?from_day=&to_day=]` | 200 | 200 | 403 | 401 |
//! | `GET /api/v1/days/{day}/parks/{park}` | 200 | own park 200, other 403 | 403 | 401 |
//! | `GET /api/v1/days/{day}/plant` | 200 | 403 | 403 | 401 |
//! | `GET /api/v1/parks/{park}/statement.html?month=YYYY-MM` (and `.csv`; `statement.rs`) | 200 | own park 200, other 403 | 403 | 401 |
//!
//! Errors are `{"error": "<message>", "status": <code>}` with the HTTP status of the
//! service's error (one exhaustive match in `http_status`: 401, 403, 400, 404, 409, 412,
//! 429, 504, 503, 500).

use std::sync::Arc;

use crate::domain::limits::quote;
use crate::domain::sources::{interval_labels as labels, park_stack, plant_stack, point_labels, SourceStack};
use crate::domain::stitch::Stitched;
use crate::domain::Schedule;
use crate::service::{self, Authenticator, DayShare, Error, Principal, Service};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Web {
    pub(crate) svc: Arc<Service>,
    pub(crate) auth: Authenticator,
}

/// A refusal or failure: the service's error.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// The HTTP status of each kind of service error.
fn http_status(e: &Error) -> StatusCode {
    match e {
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::AlreadyExists(_) => StatusCode::CONFLICT,
        Error::FailedPrecondition(_) => StatusCode::PRECONDITION_FAILED,
        Error::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
        Error::Cancelled(_) | Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    status: u16,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = http_status(&self.0);
        if code.is_server_error() {
            tracing::warn!(status = code.as_u16(), error = %self.0.message(), "web api call failed");
        } else {
            tracing::debug!(status = code.as_u16(), error = %self.0.message(), "web api call refused");
        }
        let body = Json(ErrorBody { error: self.0.message(), status: code.as_u16() });
        let mut response = (code, body).into_response();
        if code == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vpp\""));
        }
        response
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The caller, from `authorization: Bearer <token>`; bots have no business with the page.
pub(crate) fn caller(web: &Web, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let header = headers.get(header::AUTHORIZATION).map(|v| v.to_str().map_err(|_| ()));
    let who = web.auth.authenticate(header)?;
    if let Principal::Bot { .. } = who {
        return Err(Error::PermissionDenied("market bots have no access to the green-power page".into()).into());
    }
    Ok(who)
}

fn local_label(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M").to_string()
}

/// `below target` is judged to this tolerance (the LP holds the share to 1e-6 and better).
const TARGET_TOLERANCE: f64 = 1e-6;

#[derive(Serialize)]
struct IntervalShare {
    start: String,
    label: String,
    served_mwh: f64,
    green_mwh: f64,
    share: f64,
    below_target: bool,
    /// The schedule version this interval comes from.
    version: u32,
    demand_mwh: f64,
    interrupted_mwh: f64,
}

/// A whole day's share (stitched across versions after a re-plan).
#[derive(Serialize)]
struct DayShareView {
    served_mwh: f64,
    green_mwh: f64,
    share: f64,
    certificates: u64,
    min_share: Option<f64>,
    meets_target: Option<bool>,
    demand_mwh: f64,
    interrupted_mwh: f64,
    /// Which hours come from which version: `[{version, from, to}]` in local time.
    pieces: Vec<Piece>,
    intervals: Vec<IntervalShare>,
}

/// A run of intervals from one version.
#[derive(Serialize)]
struct Piece {
    version: u32,
    from: String,
    to: String,
}

/// A day's share as JSON, with the target judged.
fn day_share(d: &DayShare, tz: Tz) -> DayShareView {
    let intervals = d
        .intervals
        .iter()
        .map(|i| {
            let start = i.start;
            IntervalShare {
                start: start.to_rfc3339(),
                label: local_label(start, tz),
                served_mwh: i.served_mwh,
                green_mwh: i.green_mwh,
                share: i.share,
                below_target: d.min_share.is_some_and(|a| i.served_mwh > 0.0 && i.share < a - TARGET_TOLERANCE),
                version: i.version,
                demand_mwh: i.demand_mwh,
                interrupted_mwh: i.interrupted_mwh,
            }
        })
        .collect();
    let intervals: Vec<IntervalShare> = intervals;
    let mut pieces: Vec<Piece> = Vec::new();
    for (k, i) in intervals.iter().enumerate() {
        let end = intervals.get(k + 1).map_or_else(|| "24:00".to_string(), |n| n.label.clone());
        match pieces.last_mut() {
            Some(p) if p.version == i.version => p.to = end,
            _ => pieces.push(Piece { version: i.version, from: i.label.clone(), to: end }),
        }
    }
    DayShareView {
        served_mwh: d.served_mwh,
        green_mwh: d.green_mwh,
        share: d.share,
        certificates: d.certificates,
        min_share: d.min_share,
        meets_target: d.min_share.map(|a| d.share >= a - TARGET_TOLERANCE),
        demand_mwh: d.demand_mwh,
        interrupted_mwh: d.interrupted_mwh,
        pieces,
        intervals,
    }
}

#[derive(Serialize)]
struct LayerView {
    key: &'static str,
    label: &'static str,
    green: bool,
    colour: &'static str,
    shown: bool,
    mw: Vec<f64>,
}

#[derive(Serialize)]
struct StackView {
    unit: &'static str,
    derivation: &'static str,
    layers: Vec<LayerView>,
}

const DERIVATION: &str = "proportional sharing per interval: a load's green part is split over the green sources (wind, PV, green storage discharge, green imports, green sell bids) in proportion to their green supply, its grey part over the grey sources (grey storage discharge, grey imports, thermal and grey sell bids) in proportion to their output";

fn stack_view(stack: &SourceStack) -> StackView {
    let shown: Vec<_> = stack.shown().map(|l| l.source).collect();
    StackView {
        unit: "MW",
        derivation: DERIVATION,
        layers: stack
            .layers
            .iter()
            .map(|l| LayerView {
                key: l.source.key(),
                label: l.source.label(),
                green: l.source.green(),
                colour: l.source.colour(),
                shown: shown.contains(&l.source),
                mw: l.mw.clone(),
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct ParkRef {
    name: String,
    node: String,
    min_share: Option<f64>,
}

#[derive(Serialize)]
pub(crate) struct Me {
    role: &'static str,
    name: Option<String>,
    park: Option<String>,
    plant: String,
    timezone: String,
    /// The parks this caller may read.
    parks: Vec<ParkRef>,
    /// May read the whole plant.
    plant_view: bool,
}

pub(crate) async fn me(State(web): State<Web>, headers: HeaderMap) -> ApiResult<Me> {
    let who = caller(&web, &headers)?;
    let plant = web.svc.plant();
    let parks = plant
        .parks
        .iter()
        .filter(|p| who.may_read_park(&p.name))
        .map(|p| ParkRef { name: p.name.clone(), node: p.node.clone(), min_share: p.min_green_share })
        .collect();
    let (role, name, park) = match &who {
        Principal::Operator { name } => ("operator", Some(name.clone()).filter(|n| !n.is_empty()), None),
        Principal::ParkManager { park } => ("park_manager", None, Some(park.clone())),
        Principal::Bot { .. } | Principal::Meter { .. } => {
            return Err(Error::PermissionDenied("market bots and meters have no access".into()).into())
        }
    };
    Ok(Json(Me {
        role,
        name,
        park,
        plant: plant.name.clone(),
        timezone: plant.timezone.clone(),
        parks,
        plant_view: web.svc.operator(&who, "see the whole plant").is_ok(),
    }))
}

#[derive(Deserialize)]
pub(crate) struct DaysQuery {
    from_day: Option<String>,
    to_day: Option<String>,
}

#[derive(Serialize)]
struct DayRef {
    day: String,
    version: u32,
    published_at: String,
    objective: String,
}

#[derive(Serialize)]
pub(crate) struct DayList {
    from_day: String,
    to_day: String,
    /// The latest version of every day with a published schedule, newest day first.
    days: Vec<DayRef>,
}

/// Days listed when the query names none: a year up to a month ahead of today.
fn default_range(svc: &Service) -> (NaiveDate, NaiveDate) {
    let today = svc.delivery_day(Utc::now());
    let to = today.checked_add_days(Days::new(31)).unwrap_or(today);
    let from = to.checked_sub_days(Days::new(365)).unwrap_or(to);
    (from, to)
}

pub(crate) async fn days(State(web): State<Web>, headers: HeaderMap, Query(q): Query<DaysQuery>) -> ApiResult<DayList> {
    let who = caller(&web, &headers)?;
    let reader = web.svc.reader(&who)?;
    let (from, to) = match (q.from_day, q.to_day) {
        (None, None) => default_range(&web.svc),
        (Some(from), to) => service::day_range(&from, to.as_deref().unwrap_or(""))?,
        (None, Some(_)) => return Err(Error::invalid("from_day", "is required when to_day is given").into()),
    };
    let latest = reader.latest_versions(from, to).await?;
    Ok(Json(DayList {
        from_day: from.to_string(),
        to_day: to.to_string(),
        days: latest
            .into_iter()
            .map(|i| DayRef {
                day: i.day.to_string(),
                version: i.version,
                published_at: i.published_at.to_rfc3339(),
                objective: i.objective,
            })
            .collect(),
    }))
}

#[derive(Serialize)]
struct StorageTotal {
    labels: Vec<String>,
    green_mwh: Vec<f64>,
    grey_mwh: Vec<f64>,
}

#[derive(Serialize)]
struct NodePrice {
    node: String,
    yuan_per_mwh: Vec<f64>,
}

#[derive(Serialize)]
pub(crate) struct ParkDay {
    day: String,
    version: u32,
    published_at: String,
    objective: String,
    park: String,
    node: String,
    timezone: String,
    interval_minutes: u32,
    labels: Vec<String>,
    share: DayShareView,
    sources: StackView,
    /// All storages together (the pool the park's green storage energy comes from).
    storage: StorageTotal,
    /// Price at the park's node.
    price: NodePrice,
}

fn sum_points(s: &Schedule, f: impl Fn(&crate::domain::schedule::StorageSchedule) -> &Vec<f64>) -> Vec<f64> {
    let n = s.intervals.len() + 1;
    (0..n).map(|k| s.storages.iter().map(|st| f(st).get(k).copied().unwrap_or(0.0)).sum()).collect()
}

pub(crate) async fn park(State(web): State<Web>, headers: HeaderMap, Path((day, park)): Path<(String, String)>) -> ApiResult<ParkDay> {
    let who = caller(&web, &headers)?;
    let (info, stitched, share) = web.svc.reader(&who)?.park_whole_day(&day, &park).await?;
    let plant = web.svc.plant();
    let day = share.day;
    let s = &stitched.schedule;
    let stack = park_stack(s, &park).ok_or_else(|| Error::NotFound(format!("the {day} schedule has no park {}", quote(&park))))?;
    let node = s.parks.iter().find(|p| p.name == park).map(|p| p.node.clone()).unwrap_or_default();
    let price = s.nodes.iter().find(|n| n.name == node).map(|n| n.price.clone()).unwrap_or_default();
    let tz = plant.tz();
    tracing::debug!(%day, %park, version = info.version, who = ?who, "web: park day");
    Ok(Json(ParkDay {
        day: day.to_string(),
        version: info.version,
        published_at: info.published_at.to_rfc3339(),
        objective: info.objective.clone(),
        park: park.clone(),
        node: node.clone(),
        timezone: plant.timezone.clone(),
        interval_minutes: (s.dt_hours * 60.0).round() as u32,
        labels: labels(s, tz),
        share: day_share(&share, tz),
        sources: stack_view(&stack),
        storage: StorageTotal {
            labels: point_labels(s, tz),
            green_mwh: sum_points(s, |st| &st.energy_green_mwh),
            grey_mwh: sum_points(s, |st| &st.energy_grey_mwh),
        },
        price: NodePrice { node, yuan_per_mwh: price },
    }))
}

#[derive(Serialize)]
struct PlantTotals {
    grey_mwh: f64,
    curtailed_mwh: f64,
    interrupted_mwh: f64,
    imported_mwh: f64,
    exported_mwh: f64,
    cost_yuan: f64,
    co2_t: f64,
    green_premium_yuan_per_mwh: Option<f64>,
}

#[derive(Serialize)]
struct ParkSummary {
    name: String,
    node: String,
    served_mwh: f64,
    green_mwh: f64,
    share: f64,
    min_share: Option<f64>,
    meets_target: Option<bool>,
    demand_mwh: f64,
    interrupted_mwh: f64,
}

#[derive(Serialize)]
struct StorageUnit {
    name: String,
    kind: String,
    node: String,
    green_mwh: Vec<f64>,
    grey_mwh: Vec<f64>,
}

#[derive(Serialize)]
struct StorageUnits {
    labels: Vec<String>,
    units: Vec<StorageUnit>,
}

#[derive(Serialize)]
struct RenewableView {
    name: String,
    kind: String,
    node: String,
    available_mw: Vec<f64>,
    output_mw: Vec<f64>,
    curtailed_mw: Vec<f64>,
    curtailed_mwh: f64,
}

#[derive(Serialize)]
struct LineView {
    name: String,
    from: String,
    to: String,
    flow_mw: Vec<f64>,
    loading: Vec<f64>,
    max_loading: f64,
}

#[derive(Serialize)]
pub(crate) struct PlantDay {
    day: String,
    version: u32,
    published_at: String,
    objective: String,
    plant: String,
    timezone: String,
    interval_minutes: u32,
    labels: Vec<String>,
    share: DayShareView,
    totals: PlantTotals,
    parks: Vec<ParkSummary>,
    sources: StackView,
    storage: StorageUnits,
    renewables: Vec<RenewableView>,
    curtailed_mw: Vec<f64>,
    lines: Vec<LineView>,
    nodes: Vec<NodePrice>,
    warnings: Vec<String>,
}

pub(crate) async fn plant(State(web): State<Web>, headers: HeaderMap, Path(day): Path<String>) -> ApiResult<PlantDay> {
    let who = caller(&web, &headers)?;
    let (day, info, stitched) = web.svc.operator(&who, "see the whole plant")?.whole_day(&day).await?;
    let s = &stitched.schedule;
    let tz = web.svc.plant().tz();
    let dt = s.dt_hours;
    let share = service::plant_day(day, info.version, &stitched);
    let parks = s
        .parks
        .iter()
        .filter_map(|p| service::park_day(day, info.version, &stitched, &p.name).map(|d| (p, d)))
        .map(|(p, d)| ParkSummary {
            name: p.name.clone(),
            node: p.node.clone(),
            served_mwh: d.served_mwh,
            green_mwh: d.green_mwh,
            share: d.share,
            min_share: d.min_share,
            meets_target: d.min_share.map(|a| d.share >= a - TARGET_TOLERANCE),
            demand_mwh: d.demand_mwh,
            interrupted_mwh: d.interrupted_mwh,
        })
        .collect();
    let curtailed_mw =
        (0..s.intervals.len()).map(|t| s.renewables.iter().map(|r| r.curtailed_mw.get(t).copied().unwrap_or(0.0)).sum()).collect();
    let t = &s.totals;
    tracing::debug!(%day, version = info.version, who = ?who, "web: plant day");
    Ok(Json(PlantDay {
        day: day.to_string(),
        version: info.version,
        published_at: info.published_at.to_rfc3339(),
        objective: info.objective.clone(),
        plant: s.plant.clone(),
        timezone: web.svc.plant().timezone.clone(),
        interval_minutes: (dt * 60.0).round() as u32,
        labels: labels(s, tz),
        share: day_share(&share, tz),
        totals: PlantTotals {
            grey_mwh: t.grey_mwh,
            curtailed_mwh: t.curtailed_mwh,
            interrupted_mwh: t.interrupted_mwh,
            imported_mwh: t.imported_mwh,
            exported_mwh: t.exported_mwh,
            cost_yuan: t.cost_yuan,
            co2_t: t.co2_t,
            green_premium_yuan_per_mwh: t.green_premium_yuan_per_mwh,
        },
        parks,
        sources: stack_view(&plant_stack(s)),
        storage: StorageUnits {
            labels: point_labels(s, tz),
            units: s
                .storages
                .iter()
                .map(|st| StorageUnit {
                    name: st.name.clone(),
                    kind: st.kind.name().into(),
                    node: st.node.clone(),
                    green_mwh: st.energy_green_mwh.clone(),
                    grey_mwh: st.energy_grey_mwh.clone(),
                })
                .collect(),
        },
        renewables: s
            .renewables
            .iter()
            .map(|r| RenewableView {
                name: r.name.clone(),
                kind: r.kind.name().into(),
                node: r.node.clone(),
                available_mw: r.available_mw.clone(),
                output_mw: r.output_mw.clone(),
                curtailed_mw: r.curtailed_mw.clone(),
                curtailed_mwh: r.curtailed_mw.iter().sum::<f64>() * dt,
            })
            .collect(),
        curtailed_mw,
        lines: s
            .lines
            .iter()
            .map(|l| LineView {
                name: l.name.clone(),
                from: l.from.clone(),
                to: l.to.clone(),
                flow_mw: l.flow_mw.clone(),
                loading: l.loading.clone(),
                max_loading: l.loading.iter().copied().fold(0.0, f64::max),
            })
            .collect(),
        nodes: s.nodes.iter().map(|n| NodePrice { node: n.name.clone(), yuan_per_mwh: n.price.clone() }).collect(),
        warnings: s.warnings.clone(),
    }))
}

/// Anything else under `/api/`.
pub(crate) async fn not_found() -> ApiError {
    ApiError(Error::NotFound(
        "no such API path; see /api/v1/me, /api/v1/days, /api/v1/days/{day}/parks/{park}, /api/v1/days/{day}/plant".into(),
    ))
}

/// The set-points of the whole day (stitched after a re-plan) as CSV, one row per interval,
/// asset and quantity: what an operator hands to the plants. Operators only.
///
/// Columns: `start_utc,start_local,version,kind,asset,node,quantity,unit,value`.
pub(crate) async fn setpoints_csv(State(web): State<Web>, headers: HeaderMap, Path(day): Path<String>) -> Result<Response, ApiError> {
    let who = caller(&web, &headers)?;
    let (day, _info, Stitched { schedule: s, versions }) = web.svc.operator(&who, "download set-points")?.whole_day(&day).await?;
    let tz = web.svc.plant().tz();
    let mut out = String::from("start_utc,start_local,version,kind,asset,node,quantity,unit,value\n");
    for (t, at) in s.intervals.iter().enumerate() {
        let local = at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
        let version = versions.get(t).copied().unwrap_or_default();
        let mut row = |kind: &str, asset: &str, node: &str, quantity: &str, unit: &str, value: f64| {
            out.push_str(&format!("{},{local},{version},{kind},{asset},{node},{quantity},{unit},{value}\n", at.to_rfc3339()));
        };
        for r in &s.renewables {
            row(r.kind.name(), &r.name, &r.node, "output", "MW", r.output_mw[t]);
            row(r.kind.name(), &r.name, &r.node, "curtailed", "MW", r.curtailed_mw[t]);
        }
        for st in &s.storages {
            row(st.kind.name(), &st.name, &st.node, "charge", "MW", st.charge_mw[t]);
            row(st.kind.name(), &st.name, &st.node, "discharge", "MW", st.discharge_mw[t]);
            row(st.kind.name(), &st.name, &st.node, "energy_at_start", "MWh", st.energy_green_mwh[t] + st.energy_grey_mwh[t]);
        }
        for g in &s.grids {
            row("grid", &g.name, &g.node, "import", "MW", g.import_mw[t]);
            row("grid", &g.name, &g.node, "export", "MW", g.export_mw[t]);
        }
        for u in &s.thermal {
            row("thermal", &u.name, &u.node, "output", "MW", u.output_mw[t]);
        }
        for p in &s.parks {
            row("park", &p.name, &p.node, "interrupted", "MW", p.interrupted_mw[t] + p.curtailed_by_bids_mw[t]);
            row("park", &p.name, &p.node, "served", "MW", p.served_mw[t]);
        }
    }
    let disposition = format!("attachment; filename=\"setpoints-{day}.csv\"");
    let mut response = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
