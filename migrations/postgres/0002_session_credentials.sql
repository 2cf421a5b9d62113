-- PostgreSQL twin of ../0002_session_credentials.sql: credentials minted for a session's driver;
-- the SigV4 verifier looks them up here on every request.
CREATE TABLE session_credentials (
    access_key_id text   PRIMARY KEY,
    session       bigint NOT NULL REFERENCES sessions (key) ON DELETE CASCADE,
    -- In the clear: SigV4 keys its HMAC chain with the secret itself (see the SQLite twin).
    secret        text   NOT NULL,
    token_sha256  bytea  NOT NULL,
    arn           text   NOT NULL,
    user_id       text   NOT NULL,
    created_ms    bigint NOT NULL,
    expires_ms    bigint NOT NULL,
    revoked_ms    bigint
);
CREATE INDEX session_credentials_by_session ON session_credentials (session);

-- A session's end ends its credentials in the same transaction as the status change: TIMEOUT
-- expires them at the session's end, STOPPED and FAILED revoke them.
CREATE FUNCTION session_credentials_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'TIMEOUT' THEN
        UPDATE session_credentials
           SET expires_ms = LEAST(expires_ms, COALESCE(NEW.completed_ms, expires_ms))
         WHERE session = NEW.key;
    ELSIF NEW.status IN ('STOPPED', 'FAILED') THEN
        UPDATE session_credentials
           SET revoked_ms = COALESCE(revoked_ms, NEW.completed_ms, 0)
         WHERE session = NEW.key;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER session_credentials_end
AFTER UPDATE OF status ON sessions
FOR EACH ROW WHEN (NEW.status IN ('TIMEOUT', 'STOPPED', 'FAILED'))
EXECUTE FUNCTION session_credentials_end();
