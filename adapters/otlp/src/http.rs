//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics` with protobuf or JSON bodies,
//! optionally gzip-compressed. Responses (errors too) use the request's encoding.

use crate::reply::{self, Encoding, ExportResponse};
use crate::{ExportError, Receiver, Transport};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otelcontext_ports::{Identity, IngestError, Signal};
use otelcontext_telemetry::KeyValue;
use poem::http::{StatusCode, header};
use poem::{Request, Response, Route, post};
use std::io::Read;
use tokio::io::AsyncReadExt;
use tonic::Code;

/// Body size limits of the HTTP receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HttpLimits {
    /// Largest body on the wire (before decompression).
    pub max_wire_bytes: usize,
    /// Largest body after gzip decompression (gzip bomb guard).
    pub max_decoded_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self { max_wire_bytes: 4 * 1024 * 1024, max_decoded_bytes: 64 * 1024 * 1024 }
    }
}

/// The OTLP/HTTP endpoints over one [`Receiver`].
#[derive(Clone)]
pub struct OtlpHttp {
    receiver: Receiver,
    limits: HttpLimits,
}

/// An error answer: status, gRPC code for the `google.rpc.Status` body, message, metric reason.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    code: Code,
    message: String,
    reason: &'static str,
    retry_after: bool,
}

impl Failure {
    fn new(status: StatusCode, code: Code, message: impl Into<String>, reason: &'static str) -> Self {
        Self { status, code, message: message.into(), reason, retry_after: false }
    }
}

/// Reads the body up to `limit` bytes. A larger body is read on and discarded (up to
/// `drain_cap`) so that the client, still sending, receives the 413 instead of a broken pipe.
async fn read_limited(req: &mut Request, limit: usize, drain_cap: usize) -> Result<Bytes, Failure> {
    let too_large = || {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::ResourceExhausted,
            format!("request body exceeds {limit} bytes"),
            "too_large",
        )
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|len| len > drain_cap) {
        return Err(too_large());
    }
    let mut reader = req.take_body().into_async_read();
    let mut data = Vec::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    let mut chunk = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        let n = reader.read(&mut chunk).await.map_err(|e| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                format!("reading the request body failed: {e}"),
                "read_error",
            )
        })?;
        if n == 0 {
            break;
        }
        total += n;
        if total > drain_cap {
            return Err(too_large());
        }
        if total <= limit {
            data.extend_from_slice(&chunk[..n]);
        }
    }
    if total > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(data))
}

fn gunzip(body: &[u8], limit: usize) -> Result<Bytes, Failure> {
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    let mut out = Vec::with_capacity((body.len() * 4).min(limit));
    decoder.read_to_end(&mut out).map_err(|e| {
        Failure::new(StatusCode::BAD_REQUEST, Code::InvalidArgument, format!("invalid gzip body: {e}"), "bad_encoding")
    })?;
    if out.len() > limit {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::ResourceExhausted,
            format!("decompressed body exceeds {limit} bytes"),
            "too_large",
        ));
    }
    Ok(Bytes::from(out))
}

fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
) -> Result<T, Failure> {
    let bad = |kind: &str, e: &dyn std::fmt::Display| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidArgument,
            format!("failed to decode {kind} body: {e}"),
            "decode_error",
        )
    };
    match encoding {
        Encoding::Protobuf => T::decode(body).map_err(|e| bad("protobuf", &e)),
        Encoding::Json => crate::json::decode(body).map_err(|e| bad("JSON", &e)),
    }
}

impl OtlpHttp {
    /// Endpoints over `receiver`.
    pub fn new(receiver: Receiver, limits: HttpLimits) -> Self {
        Self { receiver, limits }
    }

    /// `POST /traces`, `/logs`, `/metrics` (other methods: 405); mount under `/v1`.
    pub fn routes(self) -> Route {
        let make = |signal: Signal| {
            let this = self.clone();
            post(poem::endpoint::make(move |req: Request| {
                let this = this.clone();
                async move { Ok::<Response, poem::Error>(this.handle(signal, req).await) }
            }))
        };
        Route::new()
            .at("/traces", make(Signal::Traces))
            .at("/logs", make(Signal::Logs))
            .at("/metrics", make(Signal::Metrics))
    }

    fn failure_response(&self, signal: Signal, encoding: Encoding, f: Failure) -> Response {
        self.receiver.metrics.payload_rejected(Transport::Http, f.reason);
        if f.status == StatusCode::TOO_MANY_REQUESTS {
            self.receiver.metrics.http_throttled.add(1, &[KeyValue::new("signal", signal.as_str())]);
        }
        let mut builder = Response::builder().status(f.status).content_type(encoding.content_type());
        if f.retry_after {
            builder = builder.header(header::RETRY_AFTER, "1");
        }
        builder.body(reply::status_body(encoding, f.code, &f.message))
    }

    async fn handle(&self, signal: Signal, mut req: Request) -> Response {
        let content_type =
            req.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("<non-ASCII>").to_owned());
        let encoding = match Encoding::from_content_type(content_type.as_deref()) {
            Ok(e) => e,
            Err(ct) => {
                let f = Failure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    Code::InvalidArgument,
                    format!("unsupported Content-Type {ct:?}; use application/x-protobuf or application/json"),
                    "invalid_content_type",
                );
                return self.failure_response(signal, Encoding::Protobuf, f);
            }
        };
        match self.process(signal, encoding, &mut req).await {
            Ok(resp) => Response::builder()
                .status(StatusCode::OK)
                .content_type(encoding.content_type())
                .body(resp.encode(encoding)),
            Err(f) => self.failure_response(signal, encoding, f),
        }
    }

    async fn process(&self, signal: Signal, encoding: Encoding, req: &mut Request) -> Result<ExportResponse, Failure> {
        let gzip = match req
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
        {
            None => false,
            Some(e) if e.is_empty() || e == "identity" => false,
            Some(e) if e == "gzip" || e == "x-gzip" => true,
            Some(e) => {
                return Err(Failure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    Code::InvalidArgument,
                    format!("unsupported Content-Encoding {e:?}; use gzip or none"),
                    "bad_encoding",
                ));
            }
        };
        let wire = read_limited(req, self.limits.max_wire_bytes, self.limits.max_decoded_bytes).await?;
        let body = if gzip { gunzip(&wire, self.limits.max_decoded_bytes)? } else { wire };
        let identity: Option<Identity> = req.extensions().get::<Identity>().cloned();
        let tenant = req.headers().get("x-tenant-id").map(|v| v.to_str().unwrap_or("<non-ASCII value>").to_owned());
        let (id, tenant) = (identity.as_ref(), tenant.as_deref());
        let r = &self.receiver;
        let result = match signal {
            Signal::Traces => {
                let msg: ExportTraceServiceRequest = decode(&body, encoding)?;
                r.export_traces(Transport::Http, id, tenant, msg).await.map(ExportResponse::Traces)
            }
            Signal::Logs => {
                let msg: ExportLogsServiceRequest = decode(&body, encoding)?;
                r.export_logs(Transport::Http, id, tenant, msg).await.map(ExportResponse::Logs)
            }
            Signal::Metrics => {
                let msg: ExportMetricsServiceRequest = decode(&body, encoding)?;
                r.export_metrics(Transport::Http, id, tenant, msg).await.map(ExportResponse::Metrics)
            }
        };
        result.map_err(|e| match e {
            ExportError::InvalidTenant(m) => {
                Failure::new(StatusCode::BAD_REQUEST, Code::InvalidArgument, m, "invalid_tenant")
            }
            ExportError::ForbiddenTenant(m) => {
                Failure::new(StatusCode::FORBIDDEN, Code::PermissionDenied, m, "forbidden_tenant")
            }
            ExportError::Ingest(e @ IngestError::Throttled { .. }) => Failure {
                retry_after: true,
                ..Failure::new(StatusCode::TOO_MANY_REQUESTS, Code::ResourceExhausted, e.to_string(), "throttled")
            },
            ExportError::Ingest(e @ (IngestError::Unavailable(_) | IngestError::ShuttingDown)) => Failure {
                retry_after: true,
                ..Failure::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, e.to_string(), "unavailable")
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunzip_enforces_the_decoded_limit_and_reports_bad_data() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 10_000).unwrap().len(), 10_000);
        assert_eq!(gunzip(&gz, 9_999).err().unwrap().status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(gunzip(&gz[..gz.len() / 2], 10_000).err().unwrap().status, StatusCode::BAD_REQUEST);
        assert_eq!(gunzip(b"not gzip", 10_000).err().unwrap().status, StatusCode::BAD_REQUEST);
    }
}
