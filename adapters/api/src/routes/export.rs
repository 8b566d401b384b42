//! Export of the caller's tenant as OTLP/JSON lines: the route.

use crate::*;
use otelcontext_ports::{ExportChunk, ExportQuery, ExportSignal};
use poem_openapi::payload::Binary;

#[derive(ApiResponse)]
enum ExportResponse {
    /// OTLP/JSON export requests, one per line (`ExportTraceServiceRequest`,
    /// `ExportLogsServiceRequest` or `ExportMetricsServiceRequest`, as `signal` says), up to 1000
    /// records each, oldest first. `POST` each line to `/v1/traces`, `/v1/logs` or `/v1/metrics`
    /// (`Content-Type: application/json`) to load it again. A transfer that ends without its
    /// final chunk was cut short: export again.
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ok(Binary<poem::Body>),
    /// A parameter is malformed or missing (signal, time, range, tenant).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

failure_into!(ExportResponse);

/// The body of a chunk's lines.
fn bytes(chunk: &ExportChunk) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.lines.iter().map(|l| l.len() + 1).sum());
    for line in &chunk.lines {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Export.
pub struct ExportRoutes(pub(crate) Arc<QueryApi>);

#[OpenApi]
impl ExportRoutes {
    /// Export the caller's tenant as OTLP/JSON lines that `POST /v1/*` accepts again.
    ///
    /// Streams every record of one signal whose time (span start, log timestamp, point time)
    /// lies in the range — everything retained by default — oldest first, so a tenant can be
    /// backed up, moved to another server or tenant, or handed to a colleague reproducing an
    /// incident.
    #[oai(path = "/export", method = "get", tag = "ApiTags::Export", operation_id = "exportTelemetry")]
    async fn export(
        &self,
        req: &Request,
        /// `traces`, `logs` or `metrics`.
        signal: Query<Option<String>>,
        /// From (inclusive): RFC 3339 or unix nanoseconds (default: everything retained).
        start: Query<Option<String>>,
        /// To (inclusive): RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end` (or now), e.g. `24h`.
        time_range: Query<Option<String>>,
        /// Tenant to export (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> ExportResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let Some(signal) = signal.0.as_deref().and_then(ExportSignal::parse) else {
            return Failure::bad("invalid signal", format!("{:?}: expected traces, logs or metrics", signal.0)).into();
        };
        let now = now_ns();
        let (time, _) = or_return!(params::names_query(start.0, end.0, time_range.0, None, now));
        let query = ExportQuery { signal, start_ns: time.start_ns.unwrap_or(0), end_ns: time.end_ns.unwrap_or(now) };
        let Some(export) = self.0.export.clone() else {
            return ExportResponse::Unavailable(ErrorBody::new("export unavailable", None));
        };
        // The first step runs before answering, so a bad range or an unavailable database is a
        // status, not a cut stream.
        let first = match export.chunk(&tenant, &query, None).await {
            Ok(c) => c,
            Err(e) => return Failure::from(e).into(),
        };
        let stream = futures_util::stream::unfold(Some((first, export, tenant, query)), |state| async move {
            let (chunk, export, tenant, query) = state?;
            let body = bytes(&chunk);
            let next = match chunk.next {
                None => None,
                Some(cursor) => match export.chunk(&tenant, &query, Some(cursor)).await {
                    Ok(c) => Some((c, export, tenant, query)),
                    Err(e) => {
                        tracing::warn!(error = %e, "export cut short");
                        return Some((Err(std::io::Error::other(e.to_string())), None));
                    }
                },
            };
            Some((Ok::<_, std::io::Error>(body), next))
        });
        ExportResponse::Ok(Binary(poem::Body::from_bytes_stream(stream)))
    }
}
