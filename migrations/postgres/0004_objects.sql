-- PostgreSQL twin of ../0004_objects.sql: S3 buckets, objects and multipart uploads. Keys are
-- bytea, whose order is S3's byte order.
CREATE TABLE s3_buckets (
    name       text COLLATE "C" PRIMARY KEY,
    account    text NOT NULL,
    region     text NOT NULL,
    created_ms bigint NOT NULL
);
CREATE INDEX s3_buckets_by_account ON s3_buckets (account, name);

CREATE TABLE s3_objects (
    bucket       text COLLATE "C" NOT NULL REFERENCES s3_buckets (name),
    key          bytea  NOT NULL,
    blob         text   NOT NULL,
    size         bigint NOT NULL,
    etag         text   NOT NULL,
    content_type text,
    metadata     text   NOT NULL,
    modified_ms  bigint NOT NULL,
    PRIMARY KEY (bucket, key)
);

CREATE TABLE s3_uploads (
    id           text COLLATE "C" PRIMARY KEY,
    bucket       text COLLATE "C" NOT NULL REFERENCES s3_buckets (name),
    key          bytea  NOT NULL,
    content_type text,
    metadata     text   NOT NULL,
    created_ms   bigint NOT NULL
);
CREATE INDEX s3_uploads_by_bucket ON s3_uploads (bucket, key, created_ms);

CREATE TABLE s3_parts (
    upload      text COLLATE "C" NOT NULL REFERENCES s3_uploads (id) ON DELETE CASCADE,
    number      integer NOT NULL,
    blob        text    NOT NULL,
    size        bigint  NOT NULL,
    etag        text    NOT NULL,
    modified_ms bigint  NOT NULL,
    PRIMARY KEY (upload, number)
);
