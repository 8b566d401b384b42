-- The catalogue of names: which services sent spans (and their span names) and which metrics
-- each service reports, with when each was first and last seen (last seen may lag the data by
-- up to ten minutes: the writer rewrites an entry only when it moves by more). Metadata reads
-- come from here instead of scanning spans or points.
CREATE TABLE catalog (
    tenant_id     text     NOT NULL,
    signal        smallint NOT NULL, -- 1 span name, 2 metric name
    service_name  text     NOT NULL,
    name          text     NOT NULL,
    first_seen_ns bigint   NOT NULL,
    last_seen_ns  bigint   NOT NULL,
    PRIMARY KEY (tenant_id, signal, service_name, name)
);
-- What is stored already is catalogued once, here.
INSERT INTO catalog (tenant_id, signal, service_name, name, first_seen_ns, last_seen_ns)
SELECT tenant_id, 1, service_name, name, min(start_ns), max(end_ns) FROM spans GROUP BY tenant_id, service_name, name;
INSERT INTO catalog (tenant_id, signal, service_name, name, first_seen_ns, last_seen_ns)
SELECT tenant_id, 2, service_name, name, min(time_ns), max(time_ns) FROM metric_points
GROUP BY tenant_id, service_name, name;
