-- otelcontext SQLite schema, version 5: trace rows are found by a small integer key.
-- The unique index on (tenant_id, trace_id) held the tenant and the 32-character hex id for every
-- trace: the one index a span write touches at a random place, it outgrew the page cache first and
-- dirtied a page per new trace. It is replaced by a non-unique index on trace_key, the first 60
-- bits of the trace id (the first 15 hex digits), about a third of the size per entry; a lookup
-- compares tenant and full id in the row. The writer is the only writer and looks a trace up
-- before it inserts one, so a trace still has one row per tenant (docs/benchmarks.md has the
-- measurements).

ALTER TABLE traces ADD COLUMN trace_key INTEGER NOT NULL DEFAULT 0;
UPDATE traces SET trace_key =
    (instr('0123456789abcdef', substr(trace_id, 1, 1)) - 1) * 72057594037927936 +
    (instr('0123456789abcdef', substr(trace_id, 2, 1)) - 1) * 4503599627370496 +
    (instr('0123456789abcdef', substr(trace_id, 3, 1)) - 1) * 281474976710656 +
    (instr('0123456789abcdef', substr(trace_id, 4, 1)) - 1) * 17592186044416 +
    (instr('0123456789abcdef', substr(trace_id, 5, 1)) - 1) * 1099511627776 +
    (instr('0123456789abcdef', substr(trace_id, 6, 1)) - 1) * 68719476736 +
    (instr('0123456789abcdef', substr(trace_id, 7, 1)) - 1) * 4294967296 +
    (instr('0123456789abcdef', substr(trace_id, 8, 1)) - 1) * 268435456 +
    (instr('0123456789abcdef', substr(trace_id, 9, 1)) - 1) * 16777216 +
    (instr('0123456789abcdef', substr(trace_id, 10, 1)) - 1) * 1048576 +
    (instr('0123456789abcdef', substr(trace_id, 11, 1)) - 1) * 65536 +
    (instr('0123456789abcdef', substr(trace_id, 12, 1)) - 1) * 4096 +
    (instr('0123456789abcdef', substr(trace_id, 13, 1)) - 1) * 256 +
    (instr('0123456789abcdef', substr(trace_id, 14, 1)) - 1) * 16 +
    (instr('0123456789abcdef', substr(trace_id, 15, 1)) - 1) * 1;
DROP INDEX traces_tenant_trace;
CREATE INDEX traces_key ON traces (trace_key);
