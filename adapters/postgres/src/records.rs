//! Writes of what the intelligence features persist. Buckets and templates already stored are
//! locked, merged with the domain's rule and updated; new ones are inserted; both in one
//! transaction with one statement per step.

use crate::error::map_sqlx_error;
use crate::read::Stored;
use crate::text::{clean, clean_json};
use otelcontext_domain::codec;
use otelcontext_domain::codec::rows;
use otelcontext_domain::{GraphSnapshot, Investigation, LogTemplate, MetricBucket};
use otelcontext_ports::StorageError;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::collections::HashMap;

fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    name: &str,
) -> Result<T, StorageError> {
    row.try_get(name).map_err(map_sqlx_error)
}

const UPSERT_BUCKETS: &str = "INSERT INTO metric_buckets (tenant_id, series_key, start_ns, width_ns, name, service_name, \
    attributes_json, count, sum, min, max, last, last_ns, data_json) \
    SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], \
    $8::bigint[], $9::double precision[], $10::double precision[], $11::double precision[], $12::double precision[], \
    $13::bigint[], $14::text[]) \
    ON CONFLICT (tenant_id, series_key, start_ns) DO UPDATE SET count = excluded.count, sum = excluded.sum, \
    min = excluded.min, max = excluded.max, last = excluded.last, last_ns = excluded.last_ns, data_json = excluded.data_json";

/// Writes buckets of one tenant, merging with stored windows.
pub(crate) async fn write_buckets(pool: &PgPool, tenant: &str, buckets: &[MetricBucket]) -> Result<(), StorageError> {
    let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
    register_tenant(&mut tx, tenant).await?;
    lock_for(&mut tx, "otelcontext.metric_buckets", tenant).await?;
    // Merge within the write first (the same window twice), in a stable order for locking.
    let mut merged: Vec<(i64, String, MetricBucket)> = Vec::new();
    let mut index: HashMap<(i64, i64), usize> = HashMap::new();
    for b in buckets {
        let attributes = b.attributes.to_json();
        let key = (b.series_key_for_attributes(&attributes), b.start_ns);
        match index.get(&key) {
            Some(&i) => merged[i].2.merge(b),
            None => {
                index.insert(key, merged.len());
                merged.push((key.0, attributes, b.clone()));
            }
        }
    }
    merged.sort_by_key(|(series, _, b)| (*series, b.start_ns));
    let stored = sqlx::query(
        "SELECT series_key, start_ns, count, sum, min, max, last, last_ns, data_json FROM metric_buckets \
         WHERE tenant_id = $1 AND (series_key, start_ns) IN (SELECT * FROM UNNEST($2::bigint[], $3::bigint[])) \
         ORDER BY series_key, start_ns FOR UPDATE",
    )
    .bind(tenant)
    .bind(merged.iter().map(|(s, _, _)| *s).collect::<Vec<_>>())
    .bind(merged.iter().map(|(_, _, b)| b.start_ns).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await
    .map_err(map_sqlx_error)?;
    for row in &stored {
        let key = (get::<i64>(row, "series_key")?, get::<i64>(row, "start_ns")?);
        let Some(&i) = index.get(&key) else { continue };
        let ([sum, min, max, last], histogram) = codec::bucket_values(&rows::bucket_columns_of(&Stored(row))?)?;
        let incoming = merged[i].2.clone();
        let mut current = MetricBucket {
            count: get::<i64>(row, "count")?.max(0) as u64,
            sum,
            min,
            max,
            last,
            last_ns: get(row, "last_ns")?,
            histogram,
            ..incoming.clone()
        };
        current.merge(&incoming);
        merged[i].2 = current;
    }
    let mut cols =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (series, attributes, b) in &merged {
        let c = codec::bucket_columns(b.sum, b.min, b.max, b.last, &b.histogram);
        cols.0.push(*series);
        cols.1.push(b.start_ns);
        cols.2.push(b.width_ns);
        cols.3.push(clean(&b.name));
        cols.4.push(clean(&b.service));
        cols.5.push(clean_json(attributes.clone()));
        cols.6.push(b.count as i64);
        cols.7.push(c.sum);
        cols.8.push(c.min);
        cols.9.push(c.max);
        cols.10.push(c.last);
        cols.11.push(b.last_ns);
        cols.12.push(c.data_json);
    }
    sqlx::query(UPSERT_BUCKETS)
        .bind(tenant)
        .bind(cols.0)
        .bind(cols.1)
        .bind(cols.2)
        .bind(cols.3)
        .bind(cols.4)
        .bind(cols.5)
        .bind(cols.6)
        .bind(cols.7)
        .bind(cols.8)
        .bind(cols.9)
        .bind(cols.10)
        .bind(cols.11)
        .bind(cols.12)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx_error)?;
    tx.commit().await.map_err(map_sqlx_error)
}

/// Serialises writers of one kind of record for one tenant until the transaction ends, so a
/// window or template first written by two servers at once is merged, not overwritten.
async fn lock_for(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    what: &str,
    tenant: &str,
) -> Result<(), StorageError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))")
        .bind(what)
        .bind(tenant)
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    Ok(())
}

async fn register_tenant(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, tenant: &str) -> Result<(), StorageError> {
    sqlx::query("INSERT INTO tenants (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(tenant)
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    Ok(())
}

/// Upserts templates of one tenant, merging with stored ones.
pub(crate) async fn upsert_templates(
    pool: &PgPool,
    tenant: &str,
    templates: &[LogTemplate],
) -> Result<(), StorageError> {
    let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
    register_tenant(&mut tx, tenant).await?;
    lock_for(&mut tx, "otelcontext.drain_templates", tenant).await?;
    let mut merged: Vec<LogTemplate> = Vec::new();
    for t in templates {
        match merged.iter_mut().find(|m| m.id == t.id) {
            Some(m) => m.merge(t),
            None => merged.push(t.clone()),
        }
    }
    merged.sort_by_key(|t| t.id.as_i64());
    let ids: Vec<i64> = merged.iter().map(|t| t.id.as_i64()).collect();
    let stored = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM drain_templates WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE",
        rows::TEMPLATE_COLUMNS
    )))
    .bind(tenant)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(map_sqlx_error)?;
    for row in &stored {
        let mut current = rows::template(&Stored(row))?;
        if let Some(m) = merged.iter_mut().find(|m| m.id == current.id) {
            current.merge(m);
            *m = current;
        }
    }
    let json: Vec<[String; 3]> = merged.iter().map(rows::template_json_columns).collect();
    let json_column = |i: usize| json.iter().map(|c| c[i].clone()).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO drain_templates (tenant_id, id, template, count, first_seen_ns, last_seen_ns, sample, service_name, \
         services_json, severity_json, activity_json, spiking) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], \
         $9::text[], $10::text[], $11::text[], $12::smallint[]) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET template = excluded.template, count = excluded.count, \
         first_seen_ns = excluded.first_seen_ns, last_seen_ns = excluded.last_seen_ns, sample = excluded.sample, \
         service_name = excluded.service_name, services_json = excluded.services_json, \
         severity_json = excluded.severity_json, activity_json = excluded.activity_json, spiking = excluded.spiking",
    )
    .bind(tenant)
    .bind(ids)
    .bind(merged.iter().map(|t| clean(&t.template)).collect::<Vec<_>>())
    .bind(merged.iter().map(|t| t.count as i64).collect::<Vec<_>>())
    .bind(merged.iter().map(|t| t.first_seen_ns).collect::<Vec<_>>())
    .bind(merged.iter().map(|t| t.last_seen_ns).collect::<Vec<_>>())
    .bind(merged.iter().map(|t| clean(&t.sample)).collect::<Vec<_>>())
    .bind(merged.iter().map(|t| clean(&t.service)).collect::<Vec<_>>())
    .bind(json_column(0).into_iter().map(clean_json).collect::<Vec<_>>())
    .bind(json_column(1))
    .bind(json_column(2))
    .bind(merged.iter().map(|t| i16::from(t.spiking)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .map_err(map_sqlx_error)?;
    tx.commit().await.map_err(map_sqlx_error)
}

/// Inserts or replaces an investigation.
pub(crate) async fn save_investigation(pool: &PgPool, tenant: &str, i: &Investigation) -> Result<(), StorageError> {
    let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
    register_tenant(&mut tx, tenant).await?;
    sqlx::query(
        "INSERT INTO investigations (tenant_id, id, created_ns, updated_ns, status, severity, kind, trigger_service, \
         trigger_operation, root_service, root_operation, summary, evidence_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET created_ns = excluded.created_ns, updated_ns = excluded.updated_ns, \
         status = excluded.status, severity = excluded.severity, kind = excluded.kind, \
         trigger_service = excluded.trigger_service, trigger_operation = excluded.trigger_operation, \
         root_service = excluded.root_service, root_operation = excluded.root_operation, summary = excluded.summary, \
         evidence_json = excluded.evidence_json",
    )
    .bind(tenant)
    .bind(clean(&i.id))
    .bind(i.created_ns)
    .bind(i.updated_ns)
    .bind(i.status.as_str())
    .bind(i.severity.rank() as i16)
    .bind(clean(&i.kind))
    .bind(clean(&i.trigger_service))
    .bind(clean(&i.trigger_operation))
    .bind(clean(&i.root_service))
    .bind(clean(&i.root_operation))
    .bind(clean(&i.summary))
    .bind(clean_json(i.evidence.to_string()))
    .execute(&mut *tx)
    .await
    .map_err(map_sqlx_error)?;
    tx.commit().await.map_err(map_sqlx_error)
}

/// Inserts or replaces a snapshot.
pub(crate) async fn save_snapshot(pool: &PgPool, tenant: &str, s: &GraphSnapshot) -> Result<(), StorageError> {
    let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
    register_tenant(&mut tx, tenant).await?;
    sqlx::query(
        "INSERT INTO graph_snapshots (tenant_id, id, created_ns, service_count, edge_count, total_calls, \
         avg_health_score, graph_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET created_ns = excluded.created_ns, \
         service_count = excluded.service_count, edge_count = excluded.edge_count, total_calls = excluded.total_calls, \
         avg_health_score = excluded.avg_health_score, graph_json = excluded.graph_json",
    )
    .bind(tenant)
    .bind(clean(&s.id))
    .bind(s.created_ns)
    .bind(s.service_count as i64)
    .bind(s.edge_count as i64)
    .bind(s.total_calls as i64)
    .bind(s.avg_health_score)
    .bind(clean_json(s.graph.to_string()))
    .execute(&mut *tx)
    .await
    .map_err(map_sqlx_error)?;
    tx.commit().await.map_err(map_sqlx_error)
}
