-- otelcontext PostgreSQL schema, version 1.
-- Timestamps are bigint unix nanoseconds; ids are lowercase hex text; attributes are plain JSON
-- objects in text columns. Every primary key and unique constraint starts with tenant_id, so the
-- schema can be distributed by tenant (Citus) or sharded by tenant across instances.

CREATE TABLE tenants (
    tenant_id text PRIMARY KEY
);

-- Distinct resources (service, host, pod, ...), stored once and referenced by fingerprint.
CREATE TABLE resources (
    tenant_id       text   NOT NULL,
    fingerprint     bigint NOT NULL,
    service_name    text   NOT NULL,
    attributes_json text   NOT NULL,
    PRIMARY KEY (tenant_id, fingerprint)
);

-- One aggregate row per trace, merged by every batch of its spans. Spans reference it by its id
-- (trace_ref): ids grow with arrival, so the span key is append-like instead of random, which
-- halves the cost of the spans index (docs/benchmarks.md).
CREATE TABLE traces (
    id             bigserial,
    tenant_id      text     NOT NULL,
    trace_id       text     NOT NULL,
    start_ns       bigint   NOT NULL,
    end_ns         bigint   NOT NULL,
    duration_ns    bigint   NOT NULL,
    root_service   text     NOT NULL,
    root_operation text     NOT NULL,
    has_root       boolean  NOT NULL,
    root_start_ns  bigint   NOT NULL,
    status         smallint NOT NULL, -- 0 UNSET, 1 OK, 2 ERROR; only ever increases
    span_count     bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, trace_id)
);
CREATE INDEX traces_tenant_start ON traces (tenant_id, start_ns, id);

CREATE TABLE spans (
    id                       bigserial,
    tenant_id                text     NOT NULL,
    trace_ref                bigint   NOT NULL, -- traces.id
    trace_id                 text     NOT NULL,
    span_id                  text     NOT NULL,
    parent_span_id           text,
    name                     text     NOT NULL,
    kind                     smallint NOT NULL,
    start_ns                 bigint   NOT NULL,
    end_ns                   bigint   NOT NULL,
    duration_ns              bigint   NOT NULL,
    service_name             text     NOT NULL,
    status_code              smallint NOT NULL,
    status_message           text     NOT NULL,
    trace_state              text     NOT NULL,
    flags                    bigint   NOT NULL,
    resource_fp              bigint   NOT NULL,
    scope_name               text     NOT NULL,
    scope_version            text     NOT NULL,
    scope_attributes_json    text,
    attributes_json          text     NOT NULL,
    dropped_attributes_count bigint   NOT NULL,
    events_json              text,
    links_json               text,
    PRIMARY KEY (tenant_id, trace_ref, span_id)
);
CREATE INDEX spans_tenant_start ON spans (tenant_id, start_ns, id);

-- Logs: a plain table, or (DB_POSTGRES_PARTITIONING=daily, passed to this migration as the
-- session setting otelcontext.partitioning) a table range-partitioned by day on timestamp_ns
-- with a DEFAULT partition, so that no insert ever fails. Daily partitions are created ahead by
-- the server. The primary key (the deduplication key) includes the partition column.
DO $$
DECLARE
    partitioned boolean := coalesce(current_setting('otelcontext.partitioning', true), '') = 'daily';
BEGIN
    EXECUTE 'CREATE TABLE logs (
        id                    bigserial,
        tenant_id             text     NOT NULL,
        timestamp_ns          bigint   NOT NULL,
        dedup_key             bigint   NOT NULL,
        observed_ns           bigint   NOT NULL,
        trace_id              text,
        span_id               text,
        severity_number       integer  NOT NULL,
        severity_text         text     NOT NULL,
        level                 smallint NOT NULL,
        body                  text,
        body_is_json          boolean  NOT NULL,
        service_name          text     NOT NULL,
        resource_fp           bigint   NOT NULL,
        scope_name            text     NOT NULL,
        scope_version         text     NOT NULL,
        scope_attributes_json text,
        attributes_json       text     NOT NULL,
        flags                 bigint   NOT NULL,
        event_name            text     NOT NULL,
        template_id           bigint,
        PRIMARY KEY (tenant_id, timestamp_ns, dedup_key)
    )' || CASE WHEN partitioned THEN ' PARTITION BY RANGE (timestamp_ns)' ELSE '' END;
    IF partitioned THEN
        EXECUTE 'CREATE TABLE logs_default PARTITION OF logs DEFAULT';
    END IF;
END
$$;
CREATE INDEX logs_tenant_id ON logs (tenant_id, id);
CREATE INDEX logs_tenant_service_time ON logs (tenant_id, service_name, timestamp_ns);
CREATE INDEX logs_tenant_level_time ON logs (tenant_id, level, timestamp_ns);
CREATE INDEX logs_tenant_trace ON logs (tenant_id, trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_tenant_template_time ON logs (tenant_id, template_id, timestamp_ns) WHERE template_id IS NOT NULL;
-- Trigram indexes on body and service_name are created at start when pg_trgm is available.

-- Raw metric data points.
CREATE TABLE metric_points (
    id                    bigserial,
    tenant_id             text             NOT NULL,
    time_ns               bigint           NOT NULL,
    series_key            bigint           NOT NULL,
    name                  text             NOT NULL,
    description           text             NOT NULL,
    unit                  text             NOT NULL,
    kind                  text             NOT NULL,
    temporality           smallint         NOT NULL,
    is_monotonic          boolean          NOT NULL,
    service_name          text             NOT NULL,
    resource_fp           bigint           NOT NULL,
    scope_name            text             NOT NULL,
    scope_version         text             NOT NULL,
    scope_attributes_json text,
    attributes_json       text             NOT NULL,
    start_ns              bigint           NOT NULL,
    flags                 bigint           NOT NULL,
    value                 double precision,
    count                 bigint,
    sum                   double precision,
    min                   double precision,
    max                   double precision,
    data_json             text,
    PRIMARY KEY (tenant_id, time_ns, series_key)
);
CREATE INDEX metric_points_tenant_name_time ON metric_points (tenant_id, name, time_ns);
CREATE INDEX metric_points_tenant_id ON metric_points (tenant_id, id);

-- Time windows (30 s) of one series; written by the TSDB, merged when a window is written again.
CREATE TABLE metric_buckets (
    id              bigserial,
    tenant_id       text             NOT NULL,
    series_key      bigint           NOT NULL,
    start_ns        bigint           NOT NULL,
    width_ns        bigint           NOT NULL,
    name            text             NOT NULL,
    service_name    text             NOT NULL,
    attributes_json text             NOT NULL,
    count           bigint           NOT NULL,
    sum             double precision,
    min             double precision,
    max             double precision,
    last            double precision,
    last_ns         bigint           NOT NULL,
    data_json       text,
    PRIMARY KEY (tenant_id, series_key, start_ns)
);
CREATE INDEX metric_buckets_tenant_name_start ON metric_buckets (tenant_id, name, start_ns);
CREATE INDEX metric_buckets_tenant_start ON metric_buckets (tenant_id, start_ns, id);

-- Log templates mined by Drain; id is the template's stable hash.
CREATE TABLE drain_templates (
    tenant_id     text   NOT NULL,
    id            bigint NOT NULL,
    template      text   NOT NULL,
    count         bigint NOT NULL,
    first_seen_ns bigint NOT NULL,
    last_seen_ns  bigint NOT NULL,
    sample        text   NOT NULL,
    service_name  text   NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE investigations (
    seq               bigserial,
    tenant_id         text     NOT NULL,
    id                text     NOT NULL,
    created_ns        bigint   NOT NULL,
    updated_ns        bigint   NOT NULL,
    status            text     NOT NULL,
    severity          smallint NOT NULL, -- 0 info, 1 warning, 2 critical
    kind              text     NOT NULL,
    trigger_service   text     NOT NULL,
    trigger_operation text     NOT NULL,
    root_service      text     NOT NULL,
    root_operation    text     NOT NULL,
    summary           text     NOT NULL,
    evidence_json     text     NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX investigations_tenant_created ON investigations (tenant_id, created_ns, seq);

CREATE TABLE graph_snapshots (
    seq              bigserial,
    tenant_id        text             NOT NULL,
    id               text             NOT NULL,
    created_ns       bigint           NOT NULL,
    service_count    bigint           NOT NULL,
    edge_count       bigint           NOT NULL,
    total_calls      bigint           NOT NULL,
    avg_health_score double precision,
    graph_json       text             NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX graph_snapshots_tenant_created ON graph_snapshots (tenant_id, created_ns, seq);
