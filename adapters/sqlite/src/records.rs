//! Writes of what the intelligence features persist (metric buckets, log templates,
//! investigations, graph snapshots), run on the writer thread. A bucket or template already
//! stored is read, merged with the domain's rule, and written back.

use crate::writer::{WriterState, map_err};
use otelcontext_domain::codec::rows::{self, StoredRow};
use otelcontext_domain::codec::{self, CodecError};
use otelcontext_domain::{GraphSnapshot, Investigation, LogTemplate, MetricBucket};
use otelcontext_ports::StorageError;
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

/// Rows the writer reads back (to merge), read by the shared decoders.
struct Writer<'a, 'r>(&'a rusqlite::Row<'r>);

fn codec_error(e: rusqlite::Error) -> CodecError {
    CodecError { what: "column", message: e.to_string() }
}

impl StoredRow for Writer<'_, '_> {
    fn text(&self, column: &str) -> Result<Option<String>, CodecError> {
        self.0.get(column).map_err(codec_error)
    }
    fn int(&self, column: &str) -> Result<Option<i64>, CodecError> {
        self.0.get(column).map_err(codec_error)
    }
    fn float(&self, column: &str) -> Result<Option<f64>, CodecError> {
        self.0.get(column).map_err(codec_error)
    }
    fn flag(&self, column: &str) -> Result<Option<bool>, CodecError> {
        self.0.get(column).map_err(codec_error)
    }
}

/// Prepared bucket row (attributes serialised on the caller's task).
pub(crate) struct BucketRow {
    pub bucket: MetricBucket,
    pub series_key: i64,
    pub attributes: String,
}

impl BucketRow {
    pub(crate) fn new(bucket: &MetricBucket) -> Self {
        let attributes = bucket.attributes.to_json();
        Self { series_key: bucket.series_key_for_attributes(&attributes), attributes, bucket: bucket.clone() }
    }
}

const SELECT_BUCKET: &str = "SELECT id, count, sum, min, max, last, last_ns, data_json FROM metric_buckets \
     WHERE tenant_id = ?1 AND series_key = ?2 AND start_ns = ?3";

const UPSERT_BUCKET: &str = "INSERT INTO metric_buckets (tenant_id, series_key, start_ns, width_ns, name, service_name, \
     attributes_json, count, sum, min, max, last, last_ns, data_json) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
     ON CONFLICT (tenant_id, series_key, start_ns) DO UPDATE SET count = excluded.count, sum = excluded.sum, \
     min = excluded.min, max = excluded.max, last = excluded.last, last_ns = excluded.last_ns, \
     data_json = excluded.data_json";

/// Writes buckets of one tenant in one transaction, merging with stored windows.
pub(crate) fn write_buckets(
    state: &mut WriterState,
    tenant: Arc<str>,
    rows: Vec<BucketRow>,
) -> Result<(), StorageError> {
    state.transaction(std::slice::from_ref(&tenant), |tx| {
        let mut select = tx.prepare_cached(SELECT_BUCKET).map_err(map_err)?;
        let mut upsert = tx.prepare_cached(UPSERT_BUCKET).map_err(map_err)?;
        for row in rows {
            let mut b = row.bucket;
            let stored = select
                .query_row(params![&*tenant, row.series_key, b.start_ns], |r| {
                    Ok((r.get::<_, i64>("count")?, rows::bucket_columns_of(&Writer(r)), r.get::<_, i64>("last_ns")?))
                })
                .optional()
                .map_err(map_err)?;
            if let Some((count, columns, last_ns)) = stored {
                let ([sum, min, max, last], histogram) = codec::bucket_values(&columns?)?;
                let mut merged =
                    MetricBucket { count: count.max(0) as u64, sum, min, max, last, last_ns, histogram, ..b.clone() };
                merged.merge(&b);
                b = merged;
            }
            let c = codec::bucket_columns(b.sum, b.min, b.max, b.last, &b.histogram);
            upsert
                .execute(params![
                    &*tenant,
                    row.series_key,
                    b.start_ns,
                    b.width_ns,
                    b.name,
                    b.service,
                    row.attributes,
                    b.count as i64,
                    c.sum,
                    c.min,
                    c.max,
                    c.last,
                    b.last_ns,
                    c.data_json
                ])
                .map_err(map_err)?;
        }
        Ok(())
    })
}

const UPSERT_TEMPLATE: &str = "INSERT INTO drain_templates (tenant_id, id, template, count, first_seen_ns, \
     last_seen_ns, sample, service_name, services_json, severity_json, activity_json, spiking) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
     ON CONFLICT (tenant_id, id) DO UPDATE SET template = excluded.template, count = excluded.count, \
     first_seen_ns = excluded.first_seen_ns, last_seen_ns = excluded.last_seen_ns, sample = excluded.sample, \
     service_name = excluded.service_name, services_json = excluded.services_json, \
     severity_json = excluded.severity_json, activity_json = excluded.activity_json, spiking = excluded.spiking";

/// Upserts templates of one tenant in one transaction.
pub(crate) fn upsert_templates(
    state: &mut WriterState,
    tenant: Arc<str>,
    templates: Vec<LogTemplate>,
) -> Result<(), StorageError> {
    state.transaction(std::slice::from_ref(&tenant), |tx| {
        let select_sql =
            format!("SELECT {} FROM drain_templates WHERE tenant_id = ?1 AND id = ?2", rows::TEMPLATE_COLUMNS);
        let mut select = tx.prepare_cached(&select_sql).map_err(map_err)?;
        let mut upsert = tx.prepare_cached(UPSERT_TEMPLATE).map_err(map_err)?;
        for t in templates {
            let id = t.id.as_i64();
            let stored = select
                .query_row(params![&*tenant, id], |r| Ok(rows::template(&Writer(r))))
                .optional()
                .map_err(map_err)?;
            let merged = match stored.transpose()? {
                Some(mut s) => {
                    s.merge(&t);
                    s
                }
                None => t,
            };
            let [services, severities, activity] = rows::template_json_columns(&merged);
            upsert
                .execute(params![
                    &*tenant,
                    id,
                    merged.template,
                    merged.count as i64,
                    merged.first_seen_ns,
                    merged.last_seen_ns,
                    merged.sample,
                    merged.service,
                    services,
                    severities,
                    activity,
                    i64::from(merged.spiking)
                ])
                .map_err(map_err)?;
        }
        Ok(())
    })
}

const UPSERT_INVESTIGATION: &str = "INSERT INTO investigations (tenant_id, id, created_ns, updated_ns, status, severity, \
     kind, trigger_service, trigger_operation, root_service, root_operation, summary, evidence_json) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
     ON CONFLICT (tenant_id, id) DO UPDATE SET created_ns = excluded.created_ns, updated_ns = excluded.updated_ns, \
     status = excluded.status, severity = excluded.severity, kind = excluded.kind, \
     trigger_service = excluded.trigger_service, trigger_operation = excluded.trigger_operation, \
     root_service = excluded.root_service, root_operation = excluded.root_operation, summary = excluded.summary, \
     evidence_json = excluded.evidence_json";

/// Inserts or replaces an investigation.
pub(crate) fn save_investigation(
    state: &mut WriterState,
    tenant: Arc<str>,
    i: Investigation,
) -> Result<(), StorageError> {
    state.transaction(std::slice::from_ref(&tenant), |tx| {
        tx.prepare_cached(UPSERT_INVESTIGATION)
            .and_then(|mut s| {
                s.execute(params![
                    &*tenant,
                    i.id,
                    i.created_ns,
                    i.updated_ns,
                    i.status.as_str(),
                    i.severity.rank(),
                    i.kind,
                    i.trigger_service,
                    i.trigger_operation,
                    i.root_service,
                    i.root_operation,
                    i.summary,
                    i.evidence.to_string()
                ])
            })
            .map_err(map_err)?;
        Ok(())
    })
}

const UPSERT_SNAPSHOT: &str = "INSERT INTO graph_snapshots (tenant_id, id, created_ns, service_count, edge_count, \
     total_calls, avg_health_score, graph_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
     ON CONFLICT (tenant_id, id) DO UPDATE SET created_ns = excluded.created_ns, \
     service_count = excluded.service_count, edge_count = excluded.edge_count, total_calls = excluded.total_calls, \
     avg_health_score = excluded.avg_health_score, graph_json = excluded.graph_json";

/// Inserts or replaces a snapshot.
pub(crate) fn save_snapshot(state: &mut WriterState, tenant: Arc<str>, s: GraphSnapshot) -> Result<(), StorageError> {
    state.transaction(std::slice::from_ref(&tenant), |tx| {
        tx.prepare_cached(UPSERT_SNAPSHOT)
            .and_then(|mut st| {
                st.execute(params![
                    &*tenant,
                    s.id,
                    s.created_ns,
                    s.service_count as i64,
                    s.edge_count as i64,
                    s.total_calls as i64,
                    s.avg_health_score,
                    s.graph.to_string()
                ])
            })
            .map_err(map_err)?;
        Ok(())
    })
}
