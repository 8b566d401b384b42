-- Log patterns: what is known of a template beyond its count.
ALTER TABLE drain_templates ADD COLUMN services_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE drain_templates ADD COLUMN severity_json TEXT NOT NULL DEFAULT '{}';
-- Records per minute over the last hour: [[minute since the epoch, records], ...].
ALTER TABLE drain_templates ADD COLUMN activity_json TEXT NOT NULL DEFAULT '[]';
-- Whether the template was spiking when last evaluated (1) or not (0).
ALTER TABLE drain_templates ADD COLUMN spiking INTEGER NOT NULL DEFAULT 0;
UPDATE drain_templates SET services_json = json_array(service_name) WHERE service_name <> '';
CREATE INDEX drain_templates_tenant_count ON drain_templates (tenant_id, count, id);
CREATE INDEX drain_templates_tenant_last_seen ON drain_templates (tenant_id, last_seen_ns, id);
