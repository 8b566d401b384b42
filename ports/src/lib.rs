//! Ports of otelcontext: the traits the core offers (driving: ingest, queries, readiness) and
//! the traits it needs (driven: storage, ingest queue, clock, authenticator, database tokens).
//!
//! With the `mocks` feature every trait has a mockall mock (`MockTraceStore`, `MockIngest`, …)
//! for unit tests of downstream crates. With `testkit`, [`conformance`] holds the storage
//! conformance suite that every storage adapter runs.

pub mod auth;
pub mod clock;
pub mod credentials;
pub mod dlq;
pub mod export;
pub mod graph;
pub mod ingest;
pub mod observer;
pub mod queries;
pub mod queue;
pub mod storage;

#[cfg(feature = "testkit")]
pub mod conformance;

pub use auth::{AuthError, Authenticator, Identity};
pub use clock::Clock;
pub use credentials::{AccessToken, TokenSource};
pub use dlq::{DeadLetter, DeadLetterQueue, DlqError, DlqStats, Enqueued};
pub use export::{Export, ExportChunk, ExportQuery, ExportSignal, OtlpEncoder};
pub use graph::{
    DEFAULT_DEPTH, DEFAULT_GRAPH_RANGE_NS, DEFAULT_RCA_RANGE_NS, ErrorChainAnswer, ErrorChainQuery, ErrorOrigin,
    GraphQueries, GraphWindow, ImpactAnswer, ImpactQuery, MAX_DEPTH, MAX_ERROR_CHAINS, MAX_GRAPH_LIMIT,
    MAX_GRAPH_RANGE_NS, MAX_RCA_LIMIT, MAX_RCA_RANGE_NS, MAX_TIMELINE_RANGE_NS, MapAnswer, MapQuery, PathAnswer,
    PathQuery, RcaAnswer, RcaQuery, SignalsAnswer, SignalsQuery, SimilarError, SimilarErrorsAnswer, SimilarErrorsQuery,
    TimelineAnswer, TimelineQuery, TraceErrorChain,
};
pub use ingest::{Ingest, IngestError, IngestReceipt, Signal, TenantLogs, TenantMetrics, TenantSpans};
pub use observer::CommitObserver;
pub use queries::{
    Admin, AdminRefusal, CheckStatus, LogContextQuery, LogTail, MAX_METRIC_BUCKETS_READ, MAX_METRIC_SERIES,
    MetricSeriesAnswer, MetricSeriesQuery, PurgeReport, Queries, QueryError, Readiness, ReadinessReport, SimilarLogHit,
    TailEvent, TailSubscription,
};
pub use queue::{CommitNotifier, IngestQueue, QueueItem, SubmitOutcome};
pub use storage::{
    AttributeFilter, BucketQuery, Cursor, CursorKey, IntelligenceStore, InvestigationQuery, LogId, LogPartition,
    LogQuery, LogSort, LogStore, Maintenance, MetricQuery, MetricStore, Page, PoolStats, RetentionTarget, SignalCounts,
    SnapshotQuery, SortOrder, SpanQuery, Storage, StorageError, StorageStatus, StoredLog, TelemetryWriter,
    TemplateQuery, TemplateSort, TenantBatch, TimeRange, TraceQuery, TraceSort, TraceStore, WriteSummary,
};
pub use storage::{
    CATALOG_SLACK_NS, CatalogCache, CatalogEntry, CatalogSignal, MAX_CATALOG_LIMIT, catalog_entries,
    validate_catalog_read,
};
pub use storage::{
    DASHBOARD_PERCENTILES, FailingService, HeatCell, LATENCY_BOUNDS_NS, MAX_SERIES_STEPS, MAX_STATS_SERVICES,
    SeriesQuery, StatsBuilder, TOP_FAILING_SERVICES, TraceStats, TraceStatsQuery, TrafficPoint, WindowSplit,
    latency_row, nearest_rank,
};

#[cfg(any(test, feature = "mocks"))]
pub use auth::MockAuthenticator;
#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mocks"))]
pub use credentials::MockTokenSource;
#[cfg(any(test, feature = "mocks"))]
pub use dlq::MockDeadLetterQueue;
#[cfg(any(test, feature = "mocks"))]
pub use export::MockExport;
#[cfg(any(test, feature = "mocks"))]
pub use graph::MockGraphQueries;
#[cfg(any(test, feature = "mocks"))]
pub use ingest::MockIngest;
#[cfg(any(test, feature = "mocks"))]
pub use observer::MockCommitObserver;
#[cfg(any(test, feature = "mocks"))]
pub use queries::{MockAdmin, MockLogTail, MockQueries, MockReadiness};
#[cfg(any(test, feature = "mocks"))]
pub use queue::MockIngestQueue;
#[cfg(any(test, feature = "mocks"))]
pub use storage::{
    MockIntelligenceStore, MockLogStore, MockMaintenance, MockMetricStore, MockTelemetryWriter, MockTraceStore,
};
