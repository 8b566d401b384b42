//! The file format of a dead-lettered batch, version 1.
//!
//! Two lines of JSON. The first is a header that says what the file is and how to check it:
//! `{"format":"otelcontext-dlq","version":1,"created_unix_nano":…,"records":{…},"body_bytes":…,"body_xxh3":"…"}`.
//! The second, the body, is the list of tenant batches:
//! `[{"tenant":"acme","resources":{"<fingerprint>":"<attributes JSON>"},"spans":[…],"logs":[…],"metric_points":[…]}]`,
//! each record an object of the columns storage keeps (see `otelcontext_domain::codec::objects`),
//! so a replay stores exactly what the first write would have. A body whose length or xxh3-64
//! does not match the header, a header of another format or a newer version, and any record
//! that does not decode make the whole file corrupt.

use otelcontext_domain::TenantId;
use otelcontext_domain::codec::objects::{self, Object, ObjectDecoder, Resources};
use otelcontext_ports::TenantBatch;
use serde::{Deserialize, Serialize};

/// The `format` value of the header.
pub const FORMAT: &str = "otelcontext-dlq";
/// The version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq, Default)]
struct Records {
    spans: u64,
    logs: u64,
    metric_points: u64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    created_unix_nano: i64,
    records: Records,
    body_bytes: u64,
    body_xxh3: String,
}

#[derive(Serialize, Deserialize)]
struct Batch {
    tenant: String,
    #[serde(default)]
    resources: Resources,
    #[serde(default)]
    spans: Vec<Object>,
    #[serde(default)]
    logs: Vec<Object>,
    #[serde(default)]
    metric_points: Vec<Object>,
}

fn checksum(body: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(body))
}

/// The file bytes of `batches`.
pub fn encode(batches: &[TenantBatch], created_ns: i64) -> Vec<u8> {
    let mut records = Records::default();
    let body: Vec<Batch> = batches
        .iter()
        .map(|b| {
            let mut resources = Resources::new();
            records.spans += b.spans.len() as u64;
            records.logs += b.logs.len() as u64;
            records.metric_points += b.metrics.len() as u64;
            Batch {
                tenant: b.tenant.as_str().to_owned(),
                spans: b.spans.iter().map(|s| objects::span_object(s, &mut resources)).collect(),
                logs: b.logs.iter().map(|l| objects::log_object(l, &mut resources)).collect(),
                metric_points: b.metrics.iter().map(|p| objects::point_object(p, &mut resources)).collect(),
                resources,
            }
        })
        .collect();
    let body = serde_json::to_vec(&body).expect("a batch serialises");
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        created_unix_nano: created_ns,
        records,
        body_bytes: body.len() as u64,
        body_xxh3: checksum(&body),
    };
    let mut out = serde_json::to_vec(&header).expect("a header serialises");
    out.push(b'\n');
    out.extend_from_slice(&body);
    out.push(b'\n');
    out
}

/// The batches of a file, or why it cannot be read.
pub fn decode(bytes: &[u8]) -> Result<Vec<TenantBatch>, String> {
    let split = bytes.iter().position(|b| *b == b'\n').ok_or("no header line")?;
    let header: Header = serde_json::from_slice(&bytes[..split]).map_err(|e| format!("header: {e}"))?;
    if header.format != FORMAT {
        return Err(format!("not a dead-letter file (format {:?})", header.format));
    }
    if header.version == 0 || header.version > VERSION {
        return Err(format!("format version {} is not one this build reads (1..={VERSION})", header.version));
    }
    let rest = &bytes[split + 1..];
    let body = rest.strip_suffix(b"\n").unwrap_or(rest);
    if body.len() as u64 != header.body_bytes {
        return Err(format!("body is {} bytes, the header says {}", body.len(), header.body_bytes));
    }
    if checksum(body) != header.body_xxh3 {
        return Err("body checksum mismatch".into());
    }
    let batches: Vec<Batch> = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    let mut found = Records::default();
    let out = batches
        .into_iter()
        .map(|b| {
            let tenant = TenantId::parse(&b.tenant).map_err(|e| format!("tenant {:?}: {e}", b.tenant))?;
            let mut d = ObjectDecoder::new(&b.resources);
            let mut batch = TenantBatch::new(tenant);
            batch.spans = b.spans.iter().map(|o| d.span(o)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
            batch.logs = b.logs.iter().map(|o| d.log(o)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
            batch.metrics =
                b.metric_points.iter().map(|o| d.point(o)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
            found.spans += batch.spans.len() as u64;
            found.logs += batch.logs.len() as u64;
            found.metric_points += batch.metrics.len() as u64;
            Ok(batch)
        })
        .collect::<Result<Vec<_>, String>>()?;
    if found != header.records {
        return Err(format!("holds {found:?}, the header says {:?}", header.records));
    }
    Ok(out)
}
