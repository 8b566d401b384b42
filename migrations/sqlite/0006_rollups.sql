-- otelcontext SQLite schema, version 6: per-minute rollups for the dashboard.
-- The dashboard read every trace row of its window (and counted every log record): at a few
-- million traces an hour that took seconds. It now reads one row per minute and root service
-- (traces, failed traces, a sketch of their durations) and per minute and service (log records),
-- plus the rows of the partial minutes at the window's ends. The writer keeps the rollups in the
-- same transaction as the rows they count: a new trace adds to its minute, a trace whose summary
-- changes moves from its old rollup to its new one, a purge subtracts what it deletes.
CREATE TABLE trace_rollups (
    tenant_id    TEXT    NOT NULL,
    minute_ns    INTEGER NOT NULL, -- start of the minute of the traces' start
    root_service TEXT    NOT NULL,
    traces       INTEGER NOT NULL,
    errors       INTEGER NOT NULL,
    durations    BLOB    NOT NULL, -- otelcontext_domain::dashboard::DurationSketch::encode
    PRIMARY KEY (tenant_id, minute_ns, root_service)
) WITHOUT ROWID;

CREATE TABLE log_rollups (
    tenant_id    TEXT    NOT NULL,
    minute_ns    INTEGER NOT NULL,
    service_name TEXT    NOT NULL,
    logs         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, minute_ns, service_name)
) WITHOUT ROWID;

-- Rows stored before this version are rolled up by the server when it opens the database (the
-- sketches are not computable in SQL), in chunks of rows by id; each chunk commits with its
-- progress here, and a table leaves this list when it is done.
CREATE TABLE rollup_backfill (
    table_name TEXT    PRIMARY KEY,
    done_id    INTEGER NOT NULL
);
INSERT INTO rollup_backfill (table_name, done_id) SELECT 'traces', 0 WHERE EXISTS (SELECT 1 FROM traces);
INSERT INTO rollup_backfill (table_name, done_id) SELECT 'logs', 0 WHERE EXISTS (SELECT 1 FROM logs);
