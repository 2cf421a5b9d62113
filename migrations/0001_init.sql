-- Sessions, their tags and statements, scoped to (account, region).
CREATE TABLE sessions (
    rowid            INTEGER PRIMARY KEY,
    account          TEXT    NOT NULL,
    region           TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    spec             TEXT    NOT NULL,          -- JSON: the settings GetSession echoes, in wire form
    timeout_min      INTEGER NOT NULL,          -- Timeout (not part of the Session shape)
    idle_timeout_min INTEGER NOT NULL,
    max_capacity     REAL    NOT NULL,
    status           TEXT    NOT NULL,
    error_message    TEXT,
    created_ms       INTEGER NOT NULL,
    ready_ms         INTEGER,
    completed_ms     INTEGER,
    last_activity_ms INTEGER NOT NULL,
    UNIQUE (account, region, id)
);
-- ListSessions walks this index in (CreatedOn, Id) order, one tenant at a time.
CREATE INDEX sessions_by_tenant_order ON sessions (account, region, created_ms, id);
CREATE INDEX sessions_live ON sessions (status) WHERE status IN ('PROVISIONING', 'READY', 'STOPPING');

CREATE TABLE tags (
    session    INTEGER NOT NULL REFERENCES sessions (rowid) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    -- copies of the session's order key, so a tag-filtered page is one index range scan
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    PRIMARY KEY (session, key)
);
CREATE INDEX tags_by_filter_order ON tags (account, region, key, value, created_ms, id);

CREATE TABLE statements (
    session      INTEGER NOT NULL REFERENCES sessions (rowid) ON DELETE CASCADE,
    id           INTEGER NOT NULL,
    code         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    output       TEXT,                          -- JSON, present once the state is final
    progress     REAL    NOT NULL DEFAULT 0,
    started_ms   INTEGER NOT NULL DEFAULT 0,
    completed_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session, id)
);
CREATE INDEX statements_pending ON statements (session, id) WHERE state IN ('WAITING', 'RUNNING', 'CANCELLING');

-- Server-wide values, e.g. the key that signs pagination tokens and log URLs.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
