-- The Glue Data Catalog, one per (account, region): each object is kept as its Glue wire JSON
-- (`record`) beside the columns that lookups, paging and cascades need. Names are lower case.
CREATE TABLE catalog_databases (
    rowid   INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    name    TEXT NOT NULL,
    record  TEXT NOT NULL,
    UNIQUE (account, region, name)
);

CREATE TABLE catalog_tables (
    rowid      INTEGER PRIMARY KEY,
    database   INTEGER NOT NULL REFERENCES catalog_databases (rowid) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    table_type TEXT,
    version    INTEGER NOT NULL,                 -- the current VersionId
    record     TEXT    NOT NULL,
    UNIQUE (database, name)
);

-- GetTableVersions: every archived version, the current one included.
CREATE TABLE catalog_table_versions (
    tbl     INTEGER NOT NULL REFERENCES catalog_tables (rowid) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    record  TEXT    NOT NULL,
    PRIMARY KEY (tbl, version)
);

-- Partitions keyed by their values (a JSON array, in partition-key order).
CREATE TABLE catalog_partitions (
    tbl    INTEGER NOT NULL REFERENCES catalog_tables (rowid) ON DELETE CASCADE,
    key    TEXT    NOT NULL,
    record TEXT    NOT NULL,
    PRIMARY KEY (tbl, key)
);

CREATE TABLE catalog_functions (
    database INTEGER NOT NULL REFERENCES catalog_databases (rowid) ON DELETE CASCADE,
    name     TEXT    NOT NULL,
    record   TEXT    NOT NULL,
    PRIMARY KEY (database, name)
);
