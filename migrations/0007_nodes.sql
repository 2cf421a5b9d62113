-- Several epoxy nodes serving one fleet (issue 12). SQLite is the single-node store, but it keeps
-- the same ownership columns as PostgreSQL so that one code path serves both: the node that runs a
-- session's driver owns it, and every write of that owner is fenced by `owner_epoch`, which a
-- take-over (a restart, or another node adopting a dead node's sessions) raises by one.
CREATE TABLE nodes (
    node_id       TEXT    PRIMARY KEY,
    advertise_url TEXT    NOT NULL,   -- how other nodes reach this one (logs on its disk)
    capacity      INTEGER NOT NULL,   -- session drivers it runs at once (placement)
    started_ms    INTEGER NOT NULL,
    heartbeat_ms  INTEGER NOT NULL    -- the lease: on the store's clock (here, the one machine's)
);
ALTER TABLE sessions ADD COLUMN owner_node  TEXT;
ALTER TABLE sessions ADD COLUMN owner_epoch INTEGER NOT NULL DEFAULT 0;
-- The node whose data dir has the session's log and work dirs (it started the driver).
ALTER TABLE sessions ADD COLUMN home_node   TEXT;
CREATE INDEX sessions_by_owner ON sessions (owner_node) WHERE status IN ('PROVISIONING', 'READY', 'STOPPING');
