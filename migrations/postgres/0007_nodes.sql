-- PostgreSQL twin of ../0007_nodes.sql: nodes and their leases, session ownership. The lease is
-- compared with the database's clock (now()), never a node's, so nodes with skewed clocks agree
-- on who is alive.
CREATE TABLE nodes (
    node_id       text        COLLATE "C" PRIMARY KEY,
    advertise_url text        NOT NULL,
    capacity      integer     NOT NULL,
    started_ms    bigint      NOT NULL,
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE sessions ADD COLUMN owner_node  text COLLATE "C";
ALTER TABLE sessions ADD COLUMN owner_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN home_node   text COLLATE "C";
CREATE INDEX sessions_by_owner ON sessions (owner_node) WHERE status IN ('PROVISIONING', 'READY', 'STOPPING');
