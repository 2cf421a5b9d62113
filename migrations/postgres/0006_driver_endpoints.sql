-- PostgreSQL twin of ../0006_driver_endpoints.sql: a driver's TCP endpoint ("host:port", NULL
-- without --driver-listen) and the identity of the host it runs on ('' before this migration).
ALTER TABLE driver_records ADD COLUMN tcp TEXT;
ALTER TABLE driver_records ADD COLUMN host TEXT NOT NULL DEFAULT '';
