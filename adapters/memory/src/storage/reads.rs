//! The read ports, and the bucket, template, investigation and snapshot writes, of the memory
//! adapter.

use super::paging::{keyset, positional};
use super::{MemoryStorage, Row};
use async_trait::async_trait;
use otelcontext_domain::{
    Attributes, GraphSnapshot, Investigation, LogRecord, LogTemplate, MetricBucket, MetricPoint, Span, TemplateId,
    TenantId, Trace, TraceId, TraceSummary,
};
use otelcontext_ports::{
    AttributeFilter, BucketQuery, HeatCell, IntelligenceStore, InvestigationQuery, LogId, LogQuery, LogSort, LogStore,
    MetricQuery, MetricStore, Page, SeriesQuery, SnapshotQuery, SortOrder, SpanQuery, StorageError, StoredLog,
    TemplateQuery, TimeRange, TraceQuery, TraceSort, TraceStats, TraceStatsQuery, TraceStore, TrafficPoint,
    validate_catalog_read,
};

fn has_all(attributes: &Attributes, filters: &[AttributeFilter]) -> bool {
    filters.iter().all(|f| attributes.has(&f.key, &f.value))
}

fn span_matches(span: &Span, service: Option<&str>, operation: Option<&str>, attrs: &[AttributeFilter]) -> bool {
    service.is_none_or(|s| span.service_name() == s)
        && operation.is_none_or(|o| span.name == o)
        && has_all(&span.attributes, attrs)
}

fn newest(order: SortOrder) -> bool {
    order == SortOrder::NewestFirst
}

#[async_trait]
impl TraceStore for MemoryStorage {
    async fn get_trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, StorageError> {
        self.read(tenant, |data| {
            let summary = data.traces.get(trace_id)?;
            let mut spans: Vec<Span> =
                data.spans.values().filter(|s| s.value.trace_id == *trace_id).map(|s| s.value.clone()).collect();
            spans.sort_by_key(|s| (s.start_ns, s.span_id));
            let mut logs: Vec<&Row<LogRecord>> =
                data.logs.iter().filter(|l| l.value.trace_id == Some(*trace_id)).collect();
            logs.sort_by_key(|l| (l.value.timestamp_ns, l.id));
            Some(Trace {
                summary: summary.value.clone(),
                spans,
                logs: logs.into_iter().map(|l| l.value.clone()).collect(),
            })
        })
    }

    async fn search_traces(&self, tenant: &TenantId, q: &TraceQuery) -> Result<Page<TraceSummary>, StorageError> {
        q.validate()?;
        let needs_span = q.service.is_some() || q.operation.is_some() || !q.attributes.is_empty();
        let rows = self.read(tenant, |data| {
            data.traces
                .values()
                .filter(|t| q.time.contains(t.value.start_ns))
                .filter(|t| q.status.is_none_or(|s| t.value.status == s))
                .filter(|t| q.min_duration_ns.is_none_or(|d| t.value.duration_ns() >= d))
                .filter(|t| q.max_duration_ns.is_none_or(|d| t.value.duration_ns() <= d))
                .filter(|t| {
                    !needs_span
                        || data.spans.values().any(|s| {
                            s.value.trace_id == t.value.trace_id
                                && span_matches(&s.value, q.service.as_deref(), q.operation.as_deref(), &q.attributes)
                        })
                })
                .map(|t| {
                    let key = match q.sort {
                        TraceSort::Newest | TraceSort::Oldest => t.value.start_ns,
                        TraceSort::Longest | TraceSort::Shortest => t.value.duration_ns(),
                    };
                    (key, t.id, t.value.clone())
                })
                .collect::<Vec<_>>()
        })?;
        keyset(rows, matches!(q.sort, TraceSort::Newest | TraceSort::Longest), q.cursor, q.limit)
    }

    async fn search_spans(&self, tenant: &TenantId, q: &SpanQuery) -> Result<Page<Span>, StorageError> {
        q.validate()?;
        let rows = self.read(tenant, |data| {
            data.spans
                .values()
                .filter(|s| q.time.contains(s.value.start_ns))
                .filter(|s| span_matches(&s.value, q.service.as_deref(), q.operation.as_deref(), &q.attributes))
                .filter(|s| q.kind.is_none_or(|k| s.value.kind == k))
                .filter(|s| q.status.is_none_or(|c| s.value.status.code == c))
                .map(|s| (s.value.start_ns, s.id, s.value.clone()))
                .collect::<Vec<_>>()
        })?;
        keyset(rows, newest(q.sort), q.cursor, q.limit)
    }

    async fn services(&self, tenant: &TenantId, time: TimeRange, limit: usize) -> Result<Vec<String>, StorageError> {
        validate_catalog_read(&time, limit)?;
        self.read(tenant, |data| {
            sorted_names(
                data.spans.values().filter(|s| overlaps(&time, s.value.start_ns, s.value.end_ns)),
                |s| s.value.service_name(),
                limit,
            )
        })
    }

    async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        validate_catalog_read(&time, limit)?;
        self.read(tenant, |data| {
            sorted_names(
                data.spans
                    .values()
                    .filter(|s| s.value.service_name() == service && overlaps(&time, s.value.start_ns, s.value.end_ns)),
                |s| &s.value.name,
                limit,
            )
        })
    }

    async fn trace_stats(&self, tenant: &TenantId, q: &TraceStatsQuery) -> Result<TraceStats, StorageError> {
        self.stats(tenant, q)
    }

    async fn traffic(&self, tenant: &TenantId, q: &SeriesQuery) -> Result<Vec<TrafficPoint>, StorageError> {
        self.series(tenant, q, |q, traces| q.traffic_of(traces))
    }

    async fn latency_heatmap(&self, tenant: &TenantId, q: &SeriesQuery) -> Result<Vec<HeatCell>, StorageError> {
        self.series(tenant, q, |q, traces| q.heatmap_of(traces))
    }
}

/// The aggregates, through the ports' reference functions.
impl MemoryStorage {
    fn stats(&self, tenant: &TenantId, q: &TraceStatsQuery) -> Result<TraceStats, StorageError> {
        q.validate()?;
        self.read(tenant, |data| {
            let logs = data
                .logs
                .iter()
                .filter(|l| l.value.timestamp_ns >= q.start_ns && l.value.timestamp_ns <= q.end_ns)
                .filter(|l| q.services.is_empty() || q.services.iter().any(|s| s == l.value.service_name()))
                .count() as u64;
            q.stats_of(data.traces.values().map(|t| &t.value), logs)
        })
    }

    fn series<R>(
        &self,
        tenant: &TenantId,
        q: &SeriesQuery,
        f: impl for<'a> FnOnce(&SeriesQuery, &mut dyn Iterator<Item = &'a TraceSummary>) -> R,
    ) -> Result<R, StorageError> {
        q.validate()?;
        self.read(tenant, |data| f(q, &mut data.traces.values().map(|t| &t.value)))
    }
}

/// Whether records spanning `[first, last]` fall within `time` (the catalogue's rule, exactly).
fn overlaps(time: &TimeRange, first: i64, last: i64) -> bool {
    time.start_ns.is_none_or(|s| last.max(first) >= s) && time.end_ns.is_none_or(|e| first <= e)
}

/// The distinct names `name` gives the rows, sorted, at most `limit`.
fn sorted_names<'a, T: 'a>(
    rows: impl Iterator<Item = &'a T>,
    name: impl Fn(&'a T) -> &'a str,
    limit: usize,
) -> Vec<String> {
    let names: std::collections::BTreeSet<&str> = rows.map(name).collect();
    names.into_iter().take(limit).map(str::to_owned).collect()
}

/// How many times the terms occur in the record: the memory adapter's relevance.
fn relevance(l: &LogRecord, q: &LogQuery) -> usize {
    let body = format!("{} {}", l.body_text(), l.service_name()).to_lowercase();
    q.text.as_ref().map_or(0, |t| t.terms().iter().map(|term| body.matches(&term.to_lowercase()).count()).sum())
}

#[async_trait]
impl LogStore for MemoryStorage {
    async fn search_logs(&self, tenant: &TenantId, q: &LogQuery) -> Result<Page<StoredLog>, StorageError> {
        q.validate()?;
        let mut rows = self.read(tenant, |data| {
            data.logs
                .iter()
                .filter(|l| q.matches(&l.value))
                .map(|l| (l.value.timestamp_ns, l.id, StoredLog { id: LogId(l.id), record: l.value.clone() }))
                .collect::<Vec<_>>()
        })?;
        match q.sort {
            LogSort::Relevance if q.text.is_some() => {
                rows.sort_by(|a, b| {
                    relevance(&b.2.record, q).cmp(&relevance(&a.2.record, q)).then((b.0, b.1).cmp(&(a.0, a.1)))
                });
                positional(rows.into_iter().map(|(_, _, l)| l).collect(), q.cursor, q.limit)
            }
            LogSort::Oldest => keyset(rows, false, q.cursor, q.limit),
            LogSort::Newest | LogSort::Relevance => keyset(rows, true, q.cursor, q.limit),
        }
    }

    async fn get_log(&self, tenant: &TenantId, id: LogId) -> Result<Option<StoredLog>, StorageError> {
        self.read(tenant, |data| {
            data.logs.iter().find(|l| l.id == id.0).map(|l| StoredLog { id, record: l.value.clone() })
        })
    }
}

#[async_trait]
impl MetricStore for MemoryStorage {
    async fn search_metric_points(
        &self,
        tenant: &TenantId,
        q: &MetricQuery,
    ) -> Result<Page<MetricPoint>, StorageError> {
        q.validate()?;
        let rows = self.read(tenant, |data| {
            data.points
                .iter()
                .filter(|p| q.time.contains(p.value.time_ns))
                .filter(|p| q.name.as_deref().is_none_or(|n| p.value.name == n))
                .filter(|p| q.service.as_deref().is_none_or(|s| p.value.service_name() == s))
                .filter(|p| has_all(&p.value.attributes, &q.attributes))
                .map(|p| (p.value.time_ns, p.id, p.value.clone()))
                .collect::<Vec<_>>()
        })?;
        keyset(rows, newest(q.sort), q.cursor, q.limit)
    }

    async fn write_buckets(&self, tenant: &TenantId, buckets: &[MetricBucket]) -> Result<(), StorageError> {
        if buckets.is_empty() {
            return self.check_available();
        }
        let ids: Vec<i64> = buckets.iter().map(|_| self.id()).collect();
        self.with_tenant(tenant, |data| {
            for (b, id) in buckets.iter().zip(ids) {
                data.buckets
                    .entry((b.series_key(), b.start_ns))
                    .and_modify(|stored| stored.value.merge(b))
                    .or_insert_with(|| Row { id, value: b.clone() });
            }
        })
    }

    async fn search_buckets(&self, tenant: &TenantId, q: &BucketQuery) -> Result<Page<MetricBucket>, StorageError> {
        q.validate()?;
        let rows = self.read(tenant, |data| {
            data.buckets
                .values()
                .filter(|b| q.time.contains(b.value.start_ns))
                .filter(|b| q.name.as_deref().is_none_or(|n| b.value.name == n))
                .filter(|b| q.service.as_deref().is_none_or(|s| b.value.service == s))
                .map(|b| (b.value.start_ns, b.id, b.value.clone()))
                .collect::<Vec<_>>()
        })?;
        keyset(rows, false, q.cursor, q.limit)
    }

    async fn metric_names<'a>(
        &self,
        tenant: &TenantId,
        service: Option<&'a str>,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        validate_catalog_read(&time, limit)?;
        self.read(tenant, |data| {
            sorted_names(
                data.points.iter().filter(|p| {
                    service.is_none_or(|s| p.value.resource.service_name == s)
                        && overlaps(&time, p.value.time_ns, p.value.time_ns)
                }),
                |p| &p.value.name,
                limit,
            )
        })
    }
}

#[async_trait]
impl IntelligenceStore for MemoryStorage {
    async fn upsert_templates(&self, tenant: &TenantId, templates: &[LogTemplate]) -> Result<(), StorageError> {
        if templates.is_empty() {
            return self.check_available();
        }
        self.with_tenant(tenant, |data| {
            for t in templates {
                data.templates.entry(t.id).and_modify(|stored| stored.merge(t)).or_insert_with(|| t.clone());
            }
        })
    }

    async fn list_templates(&self, tenant: &TenantId) -> Result<Vec<LogTemplate>, StorageError> {
        self.read(tenant, |data| data.templates.values().cloned().collect())
    }

    async fn get_template(&self, tenant: &TenantId, id: TemplateId) -> Result<Option<LogTemplate>, StorageError> {
        self.read(tenant, |data| data.templates.get(&id).cloned())
    }

    async fn search_templates(&self, tenant: &TenantId, q: &TemplateQuery) -> Result<Page<LogTemplate>, StorageError> {
        q.validate()?;
        let rows = self.read(tenant, |data| {
            data.templates
                .values()
                .filter(|t| q.matches(t))
                .map(|t| (q.sort_key(t), t.id.as_i64(), t.clone()))
                .collect::<Vec<_>>()
        })?;
        keyset(rows, true, q.cursor, q.limit)
    }

    async fn save_investigation(&self, tenant: &TenantId, inv: &Investigation) -> Result<(), StorageError> {
        let id = self.id();
        self.with_tenant(tenant, |data| {
            data.investigations
                .entry(inv.id.clone())
                .and_modify(|r| r.value = inv.clone())
                .or_insert_with(|| Row { id, value: inv.clone() });
        })
    }

    async fn get_investigation(&self, tenant: &TenantId, id: &str) -> Result<Option<Investigation>, StorageError> {
        self.read(tenant, |data| data.investigations.get(id).map(|r| r.value.clone()))
    }

    async fn search_investigations(
        &self,
        tenant: &TenantId,
        q: &InvestigationQuery,
    ) -> Result<Page<Investigation>, StorageError> {
        q.validate()?;
        let rows = self.read(tenant, |data| {
            data.investigations
                .values()
                .filter(|i| q.time.contains(i.value.created_ns))
                .filter(|i| q.status.is_none_or(|s| i.value.status == s))
                .filter(|i| q.min_severity.is_none_or(|s| i.value.severity >= s))
                .filter(|i| {
                    q.service.as_deref().is_none_or(|s| i.value.trigger_service == s || i.value.root_service == s)
                })
                .map(|i| (i.value.created_ns, i.id, i.value.clone()))
                .collect::<Vec<_>>()
        })?;
        keyset(rows, true, q.cursor, q.limit)
    }

    async fn save_snapshot(&self, tenant: &TenantId, snap: &GraphSnapshot) -> Result<(), StorageError> {
        let id = self.id();
        self.with_tenant(tenant, |data| {
            data.snapshots
                .entry(snap.id.clone())
                .and_modify(|r| r.value = snap.clone())
                .or_insert_with(|| Row { id, value: snap.clone() });
        })
    }

    async fn get_snapshot(&self, tenant: &TenantId, id: &str) -> Result<Option<GraphSnapshot>, StorageError> {
        self.read(tenant, |data| data.snapshots.get(id).map(|r| r.value.clone()))
    }

    async fn search_snapshots(
        &self,
        tenant: &TenantId,
        q: &SnapshotQuery,
    ) -> Result<Page<GraphSnapshot>, StorageError> {
        q.validate()?;
        let rows = self.read(tenant, |data| {
            data.snapshots
                .values()
                .filter(|s| q.time.contains(s.value.created_ns))
                .map(|s| (s.value.created_ns, s.id, s.value.clone()))
                .collect::<Vec<_>>()
        })?;
        keyset(rows, true, q.cursor, q.limit)
    }
}
