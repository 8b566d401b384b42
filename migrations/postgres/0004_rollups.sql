-- otelcontext PostgreSQL schema, version 4: per-minute rollups for the dashboard.
-- The dashboard read every trace row of its window (and counted every log record): at a few
-- million traces an hour that took seconds. It now reads one row per minute and root service
-- (traces, failed traces, a sketch of their durations) and per minute and service (log records),
-- plus the rows of the partial minutes at the window's ends. Writers keep the rollups in the
-- transaction that writes the rows they count, locking them in key order as the last step; a
-- purge subtracts what it deletes, and dropping a day of logs drops that day's log rollups.
CREATE TABLE trace_rollups (
    tenant_id    text   NOT NULL,
    minute_ns    bigint NOT NULL, -- start of the minute of the traces' start
    root_service text   NOT NULL,
    traces       bigint NOT NULL,
    errors       bigint NOT NULL,
    durations    bytea  NOT NULL, -- otelcontext_domain::dashboard::DurationSketch::encode
    PRIMARY KEY (tenant_id, minute_ns, root_service)
);

CREATE TABLE log_rollups (
    tenant_id    text   NOT NULL,
    minute_ns    bigint NOT NULL,
    service_name text   NOT NULL,
    logs         bigint NOT NULL,
    PRIMARY KEY (tenant_id, minute_ns, service_name)
);

-- Log records already stored are counted here (the minute is floored, as the server floors it).
INSERT INTO log_rollups (tenant_id, minute_ns, service_name, logs)
SELECT tenant_id, GREATEST(floor(timestamp_ns::numeric / 60000000000) * 60000000000, -9223372036854775808)::bigint,
       service_name, count(*)
FROM logs GROUP BY 1, 2, 3;

-- Trace rows already stored are rolled up by the server when it opens the database (their
-- duration sketches are not computed in SQL); the table leaves this list when that is done.
CREATE TABLE rollup_backfill (
    table_name text PRIMARY KEY
);
INSERT INTO rollup_backfill (table_name) SELECT 'traces' WHERE EXISTS (SELECT 1 FROM traces);
