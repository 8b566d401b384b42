//! Responses encoded like the request: OTLP Export responses (with `partial_success`) and
//! `google.rpc.Status` error bodies, in protobuf or JSON.

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;

/// Wire encoding of an OTLP/HTTP exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// Content-Type of bodies in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    /// Parses a Content-Type header: the media type is compared case-insensitively and
    /// parameters (`charset=…`) are ignored. An absent header means protobuf.
    pub fn from_content_type(header: Option<&str>) -> Result<Self, String> {
        let Some(raw) = header else { return Ok(Encoding::Protobuf) };
        let essence = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "" | "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(raw.to_owned()),
        }
    }
}

/// `google.rpc.Status` (details are not used).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value.
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Encodes a status body.
pub fn status_body(encoding: Encoding, code: tonic::Code, message: &str) -> Vec<u8> {
    let status = RpcStatus { code: code as i32, message: message.to_owned() };
    match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&status).expect("status serialises"),
    }
}

/// An Export response of any signal, with its partial success.
pub enum ExportResponse {
    Traces(ExportTraceServiceResponse),
    Logs(ExportLogsServiceResponse),
    Metrics(ExportMetricsServiceResponse),
}

impl ExportResponse {
    /// Encodes the response. A JSON response without partial success is `{}`.
    pub fn encode(&self, encoding: Encoding) -> Vec<u8> {
        let empty = match self {
            Self::Traces(r) => r.partial_success.is_none(),
            Self::Logs(r) => r.partial_success.is_none(),
            Self::Metrics(r) => r.partial_success.is_none(),
        };
        if empty && encoding == Encoding::Json {
            return b"{}".to_vec();
        }
        match (self, encoding) {
            (Self::Traces(r), Encoding::Protobuf) => r.encode_to_vec(),
            (Self::Logs(r), Encoding::Protobuf) => r.encode_to_vec(),
            (Self::Metrics(r), Encoding::Protobuf) => r.encode_to_vec(),
            (Self::Traces(r), Encoding::Json) => serde_json::to_vec(r).expect("response serialises"),
            (Self::Logs(r), Encoding::Json) => serde_json::to_vec(r).expect("response serialises"),
            (Self::Metrics(r), Encoding::Json) => serde_json::to_vec(r).expect("response serialises"),
        }
    }
}

/// Trace response; `partial_success` set only when something was rejected.
pub fn traces_response(rejected: u64, message: Option<String>) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected as i64,
            error_message: message.unwrap_or_default(),
        }),
    }
}

/// Logs response; `partial_success` set only when something was rejected.
pub fn logs_response(rejected: u64, message: Option<String>) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected as i64,
            error_message: message.unwrap_or_default(),
        }),
    }
}

/// Metrics response; `partial_success` set only when something was rejected.
pub fn metrics_response(rejected: u64, message: Option<String>) -> ExportMetricsServiceResponse {
    ExportMetricsServiceResponse {
        partial_success: (rejected > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: rejected as i64,
            error_message: message.unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_table() {
        let cases = [
            (None, Ok(Encoding::Protobuf)),
            (Some("application/x-protobuf"), Ok(Encoding::Protobuf)),
            (Some("application/protobuf"), Ok(Encoding::Protobuf)),
            (Some("application/json"), Ok(Encoding::Json)),
            (Some("application/json; charset=utf-8"), Ok(Encoding::Json)),
            (Some("Application/JSON;charset=UTF-8"), Ok(Encoding::Json)),
            (Some("text/plain"), Err("text/plain".to_owned())),
            (Some("application/jsonx"), Err("application/jsonx".to_owned())),
        ];
        for (header, want) in cases {
            assert_eq!(Encoding::from_content_type(header), want, "{header:?}");
        }
    }

    #[test]
    fn status_bodies_in_both_encodings() {
        let pb = status_body(Encoding::Protobuf, tonic::Code::InvalidArgument, "bad");
        assert_eq!(RpcStatus::decode(pb.as_slice()).unwrap(), RpcStatus { code: 3, message: "bad".into() });
        let js: serde_json::Value =
            serde_json::from_slice(&status_body(Encoding::Json, tonic::Code::ResourceExhausted, "full")).unwrap();
        assert_eq!(js, serde_json::json!({"code": 8, "message": "full"}));
    }

    #[test]
    fn json_responses_are_empty_objects_without_partial_success() {
        assert_eq!(ExportResponse::Traces(traces_response(0, None)).encode(Encoding::Json), b"{}");
        let body: serde_json::Value =
            serde_json::from_slice(&ExportResponse::Logs(logs_response(3, Some("x".into()))).encode(Encoding::Json))
                .unwrap();
        assert_eq!(body["partialSuccess"]["rejectedLogRecords"], serde_json::json!(3));
    }

    #[test]
    fn partial_success_only_when_rejected() {
        assert!(traces_response(0, None).partial_success.is_none());
        let r = logs_response(2, Some("why".into()));
        assert_eq!(r.partial_success.unwrap().rejected_log_records, 2);
    }
}
