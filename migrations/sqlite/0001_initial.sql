-- otelcontext SQLite schema, version 1.
-- Timestamps are integer unix nanoseconds; ids are lowercase hex text; attributes are plain JSON
-- objects. Every table carries tenant_id and every lookup starts with it.
--
-- Write cost is dominated by indexes on random keys (each insert dirties one page of the index).
-- So spans are unique on (trace_ref, span_id), where trace_ref is the rowid of the trace row:
-- rowids grow with arrival time, which keeps that index append-like. Only the traces table has a
-- random-key index (tenant_id, trace_id), touched once per trace rather than once per span.

-- Distinct resources (service, host, pod, ...), stored once and referenced by fingerprint.
CREATE TABLE resources (
    tenant_id       TEXT    NOT NULL,
    fingerprint     INTEGER NOT NULL,
    service_name    TEXT    NOT NULL,
    attributes_json TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, fingerprint)
) WITHOUT ROWID;

-- One aggregate row per trace, merged by every batch of its spans.
CREATE TABLE traces (
    id             INTEGER PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    trace_id       TEXT    NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    duration_ns    INTEGER NOT NULL,
    root_service   TEXT    NOT NULL,
    root_operation TEXT    NOT NULL,
    has_root       INTEGER NOT NULL,
    root_start_ns  INTEGER NOT NULL,
    status         INTEGER NOT NULL, -- 0 UNSET, 1 OK, 2 ERROR; only ever increases
    span_count     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX traces_tenant_trace ON traces (tenant_id, trace_id);
CREATE INDEX traces_tenant_start ON traces (tenant_id, start_ns);

CREATE TABLE spans (
    id                       INTEGER PRIMARY KEY,
    trace_ref                INTEGER NOT NULL, -- traces.id
    tenant_id                TEXT    NOT NULL,
    trace_id                 TEXT    NOT NULL,
    span_id                  TEXT    NOT NULL,
    parent_span_id           TEXT,
    name                     TEXT    NOT NULL,
    kind                     INTEGER NOT NULL,
    start_ns                 INTEGER NOT NULL,
    end_ns                   INTEGER NOT NULL,
    duration_ns              INTEGER NOT NULL,
    service_name             TEXT    NOT NULL,
    status_code              INTEGER NOT NULL,
    status_message           TEXT    NOT NULL,
    trace_state              TEXT    NOT NULL,
    flags                    INTEGER NOT NULL,
    resource_fp              INTEGER NOT NULL,
    scope_name               TEXT    NOT NULL,
    scope_version            TEXT    NOT NULL,
    scope_attributes_json    TEXT,
    attributes_json          TEXT    NOT NULL,
    dropped_attributes_count INTEGER NOT NULL,
    events_json              TEXT,
    links_json               TEXT
);
CREATE UNIQUE INDEX spans_trace_span ON spans (trace_ref, span_id);
CREATE INDEX spans_tenant_start ON spans (tenant_id, start_ns);

CREATE TABLE logs (
    id                    INTEGER PRIMARY KEY,
    tenant_id             TEXT    NOT NULL,
    timestamp_ns          INTEGER NOT NULL,
    dedup_key             INTEGER NOT NULL,
    observed_ns           INTEGER NOT NULL,
    trace_id              TEXT,
    span_id               TEXT,
    severity_number       INTEGER NOT NULL,
    severity_text         TEXT    NOT NULL,
    body                  TEXT,
    body_is_json          INTEGER NOT NULL,
    service_name          TEXT    NOT NULL,
    resource_fp           INTEGER NOT NULL,
    scope_name            TEXT    NOT NULL,
    scope_version         TEXT    NOT NULL,
    scope_attributes_json TEXT,
    attributes_json       TEXT    NOT NULL,
    flags                 INTEGER NOT NULL,
    event_name            TEXT    NOT NULL
);
-- Deduplication key; also serves time-range scans per tenant.
CREATE UNIQUE INDEX logs_dedup ON logs (tenant_id, timestamp_ns, dedup_key);
CREATE INDEX logs_tenant_trace ON logs (tenant_id, trace_id) WHERE trace_id IS NOT NULL;

-- Raw metric data points (30 s roll-ups are derived from these).
CREATE TABLE metric_points (
    id                    INTEGER PRIMARY KEY,
    tenant_id             TEXT    NOT NULL,
    time_ns               INTEGER NOT NULL,
    series_key            INTEGER NOT NULL,
    name                  TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    unit                  TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    temporality           INTEGER NOT NULL,
    is_monotonic          INTEGER NOT NULL,
    service_name          TEXT    NOT NULL,
    resource_fp           INTEGER NOT NULL,
    scope_name            TEXT    NOT NULL,
    scope_version         TEXT    NOT NULL,
    scope_attributes_json TEXT,
    attributes_json       TEXT    NOT NULL,
    start_ns              INTEGER NOT NULL,
    flags                 INTEGER NOT NULL,
    value                 REAL,
    count                 INTEGER,
    sum                   REAL,
    min                   REAL,
    max                   REAL,
    data_json             TEXT
);
CREATE UNIQUE INDEX metric_points_dedup ON metric_points (tenant_id, time_ns, series_key);
CREATE INDEX metric_points_tenant_name_time ON metric_points (tenant_id, name, time_ns);
