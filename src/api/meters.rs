//! `MeterService` and `LedgerService`: thin adapters over the service's meters view and
//! a reader's park ledger (`service::meters`).

use std::sync::Arc;

use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::ledger::WH_PER_MWH;
use crate::service::{Accepted, Cancelled, MeterReading, ParkLedger, Service};
use crate::store::ReadingOutcome;

use super::auth::principal;
use super::convert::{instant, timestamp};
use super::pb;
use super::pb::ledger_service_server::LedgerService;
use super::pb::meter_service_server::MeterService;

fn mwh(wh: impl Into<i128>) -> f64 {
    wh.into() as f64 / WH_PER_MWH as f64
}

/// The meter service.
#[derive(Clone)]
pub struct MeterApi {
    svc: Arc<Service>,
}

impl MeterApi {
    /// Over the service.
    pub fn new(svc: Arc<Service>) -> MeterApi {
        MeterApi { svc }
    }
}

fn readings(batch: pb::ReadingBatch) -> Result<Vec<MeterReading>, Status> {
    batch
        .readings
        .into_iter()
        .enumerate()
        .map(|(k, r)| {
            Ok(MeterReading {
                interval_start: instant(r.interval_start.as_ref(), &format!("readings[{k}].interval_start"))?,
                meter: r.meter,
                quantity: r.quantity,
                value_mwh: r.value_mwh,
                reason: (!r.reason.is_empty()).then_some(r.reason),
            })
        })
        .collect()
}

fn ack(a: &Accepted) -> pb::ReadingAck {
    let r = a.record();
    let outcome = match a.outcome {
        ReadingOutcome::Created(_) => pb::ReadingOutcome::Created,
        ReadingOutcome::Existing(_) => pb::ReadingOutcome::Existing,
        ReadingOutcome::Corrected(_) => pb::ReadingOutcome::Corrected,
        ReadingOutcome::Conflict(_) => pb::ReadingOutcome::Conflict,
    };
    pb::ReadingAck {
        meter: r.reading.meter.clone(),
        quantity: r.reading.quantity.clone(),
        interval_start: Some(timestamp(r.reading.interval_start)),
        outcome: outcome as i32,
        revision: r.revision,
        stored_mwh: mwh(r.reading.value_wh),
    }
}

/// Counts one batch's outcomes into `acks`, keeping the ack of every reading `keep` says.
fn tally(acks: &mut pb::ReadingAcks, batch: &[Accepted], keep: impl Fn(&Accepted) -> bool) {
    for a in batch {
        match a.outcome {
            ReadingOutcome::Created(_) => acks.created += 1,
            ReadingOutcome::Existing(_) => acks.existing += 1,
            ReadingOutcome::Corrected(_) => acks.corrected += 1,
            ReadingOutcome::Conflict(_) => acks.conflicts += 1,
        }
        if keep(a) {
            acks.acks.push(ack(a));
        }
    }
}

#[tonic::async_trait]
impl MeterService for MeterApi {
    async fn submit_readings(&self, request: Request<pb::ReadingBatch>) -> Result<Response<pb::ReadingAcks>, Status> {
        let who = principal(&request)?;
        let meters = self.svc.meter(&who)?;
        let batch = readings(request.into_inner())?;
        let done = meters.submit(batch, "grpc").await?;
        let mut acks = pb::ReadingAcks::default();
        tally(&mut acks, &done, |_| true);
        Ok(Response::new(acks))
    }

    async fn stream_readings(&self, request: Request<Streaming<pb::ReadingBatch>>) -> Result<Response<pb::ReadingAcks>, Status> {
        let who = principal(&request)?;
        let meters = self.svc.meter(&who)?;
        let mut stream = request.into_inner();
        let mut acks = pb::ReadingAcks::default();
        while let Some(batch) = stream.next().await {
            let done = meters.submit(readings(batch?)?, "grpc").await?;
            tally(&mut acks, &done, |a| !matches!(a.outcome, ReadingOutcome::Created(_)));
        }
        Ok(Response::new(acks))
    }
}

/// The ledger service.
#[derive(Clone)]
pub struct LedgerApi {
    svc: Arc<Service>,
}

impl LedgerApi {
    /// Over the service.
    pub fn new(svc: Arc<Service>) -> LedgerApi {
        LedgerApi { svc }
    }
}

fn park_ledger(park: String, l: ParkLedger) -> pb::ParkLedger {
    let years = l
        .statement
        .years()
        .into_iter()
        .map(|y| pb::LedgerYear {
            year: y.year,
            consumption_mwh: mwh(y.consumption_wh),
            own_green_mwh: mwh(y.own_wh),
            pool_green_mwh: mwh(y.pool_wh),
            green_mwh: mwh(y.own_wh + y.pool_wh),
            share: y.share,
            missing_intervals: y.missing_intervals as u64,
            gec_issued: y.gec_issued,
            scope2_location_t: y.location_based_t,
            scope2_market_t: y.market_based_t,
        })
        .collect();
    let planned: Vec<Option<f64>> = l.statement.months.iter().map(|m| l.planned_share(m.year, m.month)).collect();
    pb::ParkLedger {
        park,
        months: l
            .statement
            .months
            .iter()
            .zip(planned)
            .map(|(m, planned_share)| pb::LedgerMonth {
                planned_share,
                deviation: m.share.zip(planned_share).map(|(measured, planned)| measured - planned),
                month: format!("{:04}-{:02}", m.year, m.month),
                consumption_mwh: mwh(m.consumption_wh),
                own_green_mwh: mwh(m.own_wh),
                pool_green_mwh: mwh(m.pool_wh),
                green_mwh: mwh(m.cancelled_wh()),
                share: m.share,
                missing_intervals: m.missing_intervals as u64,
                gec_issued: m.gec_issued,
                carried_mwh: mwh(m.carried_wh),
                scope2_location_t: m.location_based_t,
                scope2_market_t: m.market_based_t,
            })
            .collect(),
        intervals: l
            .intervals
            .into_iter()
            .map(|i| {
                let (c, o, p) = i.measured.unwrap_or_default();
                pb::LedgerInterval {
                    start: Some(timestamp(i.start)),
                    missing: i.measured.is_none(),
                    missing_what: i.missing,
                    consumption_mwh: mwh(c),
                    own_green_mwh: mwh(o),
                    pool_green_mwh: mwh(p),
                }
            })
            .collect(),
        certificates: l.certificates.into_iter().map(certificate).collect(),
        years,
    }
}

fn certificate(c: Cancelled) -> pb::CancelledCertificate {
    pb::CancelledCertificate {
        certificate_id: c.certificate_id,
        asset: c.asset,
        interval_start: Some(timestamp(c.interval_start)),
        from_storage: c.from_storage,
        own_meter: c.own_meter,
        mwh: mwh(c.wh),
    }
}

type CertificateStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::CertificateDay, Status>> + Send>>;

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    async fn get_park_ledger(&self, request: Request<pb::ParkLedgerRequest>) -> Result<Response<pb::ParkLedger>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let ledger = self.svc.reader(&who)?.park_ledger(&req.park, &req.from_day, &req.to_day, !req.statement_only).await?;
        Ok(Response::new(park_ledger(req.park, ledger)))
    }

    type StreamCertificatesStream = CertificateStream;

    async fn stream_certificates(&self, request: Request<pb::CertificateStreamRequest>) -> Result<Response<CertificateStream>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let park = req.park.clone();
        let days = self.svc.reader(&who)?.watch_certificates(&req.park, &req.from_day).await?;
        let stream = days.map(move |item| {
            item.map(|d| pb::CertificateDay {
                park: park.clone(),
                day: d.day.to_string(),
                certificates: d.certificates.into_iter().map(certificate).collect(),
                replaces: d.replaces,
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_reading_revisions(&self, request: Request<pb::ReadingKey>) -> Result<Response<pb::ReadingRevisions>, Status> {
        let who = principal(&request)?;
        let op = self.svc.operator(&who, "read the revisions of a reading")?;
        let req = request.into_inner();
        let start = instant(req.interval_start.as_ref(), "interval_start")?;
        let revisions = op
            .reading_revisions(&req.meter, &req.quantity, start)
            .await?
            .into_iter()
            .map(|r| pb::ReadingRevision {
                revision: r.revision,
                value_mwh: mwh(r.reading.value_wh),
                reason: r.reading.reason.unwrap_or_default(),
                source: r.reading.source,
                received_at: Some(timestamp(r.reading.received_at)),
            })
            .collect();
        Ok(Response::new(pb::ReadingRevisions { revisions }))
    }
}
