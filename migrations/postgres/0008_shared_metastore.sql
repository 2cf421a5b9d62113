-- PostgreSQL twin of ../0008_shared_metastore.sql: each node's metastore address, and drivers
-- found by their metastore credential.
ALTER TABLE nodes ADD COLUMN metastore text;
CREATE INDEX driver_records_by_metastore_user ON driver_records (metastore_user);
