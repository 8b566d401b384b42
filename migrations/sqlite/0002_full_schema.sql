-- otelcontext SQLite schema, version 2: the full schema.
-- * logs gain template_id (Drain template) and level (the severity level derived from the number,
--   else the text: 1 TRACE, 5 DEBUG, 9 INFO, 13 WARN, 17 ERROR, 21 FATAL), with an index for
--   every filter the query API offers; full-text search over body and service name (FTS5).
-- * tenants registry, metric_buckets, drain_templates, investigations, graph_snapshots.
-- Every index starts with tenant_id.

CREATE TABLE tenants (
    tenant_id TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT OR IGNORE INTO tenants (tenant_id) SELECT DISTINCT tenant_id FROM resources;

ALTER TABLE logs ADD COLUMN template_id INTEGER;
ALTER TABLE logs ADD COLUMN level INTEGER NOT NULL DEFAULT 9;
UPDATE logs SET level = CASE
    WHEN severity_number BETWEEN 1 AND 4 THEN 1
    WHEN severity_number BETWEEN 5 AND 8 THEN 5
    WHEN severity_number BETWEEN 9 AND 12 THEN 9
    WHEN severity_number BETWEEN 13 AND 16 THEN 13
    WHEN severity_number BETWEEN 17 AND 20 THEN 17
    WHEN severity_number BETWEEN 21 AND 24 THEN 21
    WHEN upper(severity_text) LIKE 'TRAC%' THEN 1
    WHEN upper(severity_text) LIKE 'DEB%' THEN 5
    WHEN upper(severity_text) LIKE 'WARN%' THEN 13
    WHEN upper(severity_text) LIKE 'ERR%' THEN 17
    WHEN upper(severity_text) IN ('FATAL', 'CRITICAL', 'CRIT', 'PANIC', 'EMERG', 'EMERGENCY', 'ALERT') THEN 21
    ELSE 9
END;
CREATE INDEX logs_tenant_service_time ON logs (tenant_id, service_name, timestamp_ns);
CREATE INDEX logs_tenant_level_time ON logs (tenant_id, level, timestamp_ns);
CREATE INDEX logs_tenant_template_time ON logs (tenant_id, template_id, timestamp_ns) WHERE template_id IS NOT NULL;

-- Full-text search: an external-content FTS5 table over logs, filled from existing rows once here.
-- The writer adds each new row to it in the same transaction, and retention removes rows from it
-- before deleting them: measured 4x faster than insert/delete triggers (a trigger makes FTS5
-- flush its pending terms for every row; docs/benchmarks.md). An update of a body (no code path
-- does that) is still followed by a trigger.
CREATE VIRTUAL TABLE logs_fts USING fts5(
    body, service_name,
    content = 'logs', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER logs_fts_au AFTER UPDATE OF body, service_name ON logs BEGIN
    INSERT INTO logs_fts (logs_fts, rowid, body, service_name) VALUES ('delete', old.id, old.body, old.service_name);
    INSERT INTO logs_fts (rowid, body, service_name) VALUES (new.id, new.body, new.service_name);
END;
INSERT INTO logs_fts (logs_fts) VALUES ('rebuild');

-- Time windows (30 s) of one series; written by the TSDB, merged when a window is written again.
CREATE TABLE metric_buckets (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT    NOT NULL,
    series_key      INTEGER NOT NULL,
    start_ns        INTEGER NOT NULL,
    width_ns        INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    service_name    TEXT    NOT NULL,
    attributes_json TEXT    NOT NULL,
    count           INTEGER NOT NULL,
    sum             REAL,
    min             REAL,
    max             REAL,
    last            REAL,
    last_ns         INTEGER NOT NULL,
    data_json       TEXT
);
CREATE UNIQUE INDEX metric_buckets_series_start ON metric_buckets (tenant_id, series_key, start_ns);
CREATE INDEX metric_buckets_tenant_name_start ON metric_buckets (tenant_id, name, start_ns);
CREATE INDEX metric_buckets_tenant_start ON metric_buckets (tenant_id, start_ns);

-- Log templates mined by Drain; id is the template's stable hash.
CREATE TABLE drain_templates (
    tenant_id     TEXT    NOT NULL,
    id            INTEGER NOT NULL,
    template      TEXT    NOT NULL,
    count         INTEGER NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns  INTEGER NOT NULL,
    sample        TEXT    NOT NULL,
    service_name  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;

CREATE TABLE investigations (
    seq               INTEGER PRIMARY KEY,
    tenant_id         TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    created_ns        INTEGER NOT NULL,
    updated_ns        INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    severity          INTEGER NOT NULL, -- 0 info, 1 warning, 2 critical
    kind              TEXT    NOT NULL,
    trigger_service   TEXT    NOT NULL,
    trigger_operation TEXT    NOT NULL,
    root_service      TEXT    NOT NULL,
    root_operation    TEXT    NOT NULL,
    summary           TEXT    NOT NULL,
    evidence_json     TEXT    NOT NULL
);
CREATE UNIQUE INDEX investigations_tenant_id ON investigations (tenant_id, id);
CREATE INDEX investigations_tenant_created ON investigations (tenant_id, created_ns);

CREATE TABLE graph_snapshots (
    seq              INTEGER PRIMARY KEY,
    tenant_id        TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    created_ns       INTEGER NOT NULL,
    service_count    INTEGER NOT NULL,
    edge_count       INTEGER NOT NULL,
    total_calls      INTEGER NOT NULL,
    avg_health_score REAL,
    graph_json       TEXT    NOT NULL
);
CREATE UNIQUE INDEX graph_snapshots_tenant_id ON graph_snapshots (tenant_id, id);
CREATE INDEX graph_snapshots_tenant_created ON graph_snapshots (tenant_id, created_ns);
