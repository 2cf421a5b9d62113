-- What re-attaching to a session's driver after a restart of epoxy needs: drivers are detached
-- processes that outlive the server (issue 11). One row per session whose driver took it; the
-- session's deletion deletes it. `start_ticks` is the process start time from /proc/<pid>/stat
-- (field 22), so that a pid the kernel reused is never taken for the driver.
CREATE TABLE driver_records (
    session        INTEGER PRIMARY KEY REFERENCES sessions (rowid) ON DELETE CASCADE,
    pid            INTEGER NOT NULL,
    start_ticks    INTEGER NOT NULL,
    socket         TEXT    NOT NULL,   -- the Unix socket the driver listens on
    -- The channel's HMAC key, in the clear for the same reason as session_credentials.secret:
    -- the handshake must compute with it.
    secret         TEXT    NOT NULL,
    token          TEXT    NOT NULL,   -- EPOXY_DRIVER_TOKEN of the driver's processes
    spark_ui_port  INTEGER,
    metastore_user TEXT,               -- the driver's HADOOP_USER_NAME credential
    recorded_ms    INTEGER NOT NULL
);
