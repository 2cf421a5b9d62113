-- Short-lived credentials minted for a session's driver, so that boto3 inside the session calls
-- this epoxy as the session's role. The store is their only record: the SigV4 verifier looks
-- them up here on every request.
CREATE TABLE session_credentials (
    access_key_id TEXT    PRIMARY KEY,       -- ASIA + 16 base32 characters
    session       INTEGER NOT NULL REFERENCES sessions (rowid) ON DELETE CASCADE,
    -- In the clear: SigV4 keys its HMAC chain with the secret itself, so a hash could never
    -- verify a signature, and a key to encrypt it with would live in this same data dir.
    secret        TEXT    NOT NULL,
    -- The session token is only compared, never used as a key: its SHA-256 is enough.
    token_sha256  BLOB    NOT NULL,
    arn           TEXT    NOT NULL,          -- arn:aws:sts::<account>:assumed-role/<role>/<id>
    user_id       TEXT    NOT NULL,          -- AROA…:<session id>
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    revoked_ms    INTEGER
);
CREATE INDEX session_credentials_by_session ON session_credentials (session);

-- A session's end ends its credentials in the same transaction as the status change, whatever
-- path ends it (StopSession, a dead driver, the timeout sweep, recovery at start). TIMEOUT means
-- the session's time ran out, so its keys expire then; STOPPED and FAILED revoke them. Deleting
-- the session deletes them (ON DELETE CASCADE).
CREATE TRIGGER session_credentials_end_on_timeout
AFTER UPDATE OF status ON sessions
WHEN NEW.status = 'TIMEOUT'
BEGIN
    UPDATE session_credentials
       SET expires_ms = MIN(expires_ms, COALESCE(NEW.completed_ms, expires_ms))
     WHERE session = NEW.rowid;
END;

CREATE TRIGGER session_credentials_end_on_stop
AFTER UPDATE OF status ON sessions
WHEN NEW.status IN ('STOPPED', 'FAILED')
BEGIN
    UPDATE session_credentials
       SET revoked_ms = COALESCE(revoked_ms, NEW.completed_ms, 0)
     WHERE session = NEW.rowid;
END;
