-- PostgreSQL twin of ../0005_driver_records.sql: how to re-attach to a session's detached driver
-- after a restart of epoxy; `start_ticks` (from /proc/<pid>/stat) guards against pid reuse.
CREATE TABLE driver_records (
    session        bigint  PRIMARY KEY REFERENCES sessions (key) ON DELETE CASCADE,
    pid            bigint  NOT NULL,
    start_ticks    bigint  NOT NULL,
    socket         text    NOT NULL,
    -- In the clear, as in the SQLite twin: the handshake must compute with it.
    secret         text    NOT NULL,
    token          text    NOT NULL,
    spark_ui_port  integer,
    metastore_user text,
    recorded_ms    bigint  NOT NULL
);
