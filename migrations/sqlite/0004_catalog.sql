-- The catalogue of names: which services sent spans (and their span names) and which metrics
-- each service reports, with when each was first and last seen (last seen may lag the data by
-- up to ten minutes: the writer rewrites an entry only when it moves by more). Metadata reads
-- come from here instead of scanning spans or points.
CREATE TABLE catalog (
    tenant_id     TEXT    NOT NULL,
    signal        INTEGER NOT NULL, -- 1 span name, 2 metric name
    service_name  TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, signal, service_name, name)
) WITHOUT ROWID;
-- What is stored already is catalogued once, here.
INSERT INTO catalog (tenant_id, signal, service_name, name, first_seen_ns, last_seen_ns)
SELECT tenant_id, 1, service_name, name, min(start_ns), max(end_ns) FROM spans GROUP BY tenant_id, service_name, name;
INSERT INTO catalog (tenant_id, signal, service_name, name, first_seen_ns, last_seen_ns)
SELECT tenant_id, 2, service_name, name, min(time_ns), max(time_ns) FROM metric_points
GROUP BY tenant_id, service_name, name;
