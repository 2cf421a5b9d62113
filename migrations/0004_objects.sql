-- S3: buckets (global names, owned by one account), objects and in-progress multipart uploads.
-- Object bytes live in files under <data-dir>/objects/blobs/<blob>; these rows say which file
-- holds which key. A row is committed only after its file is complete and fsynced.
CREATE TABLE s3_buckets (
    name       TEXT    PRIMARY KEY,
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX s3_buckets_by_account ON s3_buckets (account, name);

CREATE TABLE s3_objects (
    bucket       TEXT    NOT NULL REFERENCES s3_buckets (name),
    key          BLOB    NOT NULL,          -- UTF-8 bytes: BLOB order is S3's byte order
    blob         TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    etag         TEXT    NOT NULL,          -- without quotes
    content_type TEXT,
    metadata     TEXT    NOT NULL,          -- JSON object of x-amz-meta-* values
    modified_ms  INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);

CREATE TABLE s3_uploads (
    id           TEXT    PRIMARY KEY,
    bucket       TEXT    NOT NULL REFERENCES s3_buckets (name),
    key          BLOB    NOT NULL,
    content_type TEXT,
    metadata     TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL
);
CREATE INDEX s3_uploads_by_bucket ON s3_uploads (bucket, key, created_ms);

CREATE TABLE s3_parts (
    upload      TEXT    NOT NULL REFERENCES s3_uploads (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    blob        TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    etag        TEXT    NOT NULL,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload, number)
);
