-- Any node's metastore serves any node's drivers: a driver's Hive client lists every live node's
-- metastore and, as Hive does, picks among them (and moves on when one dies). A node records the
-- address its metastore serves on; a metastore that does not know a credential itself looks the
-- driver up by it here.
ALTER TABLE nodes ADD COLUMN metastore TEXT;   -- host:port drivers reach this node's metastore at
CREATE INDEX driver_records_by_metastore_user ON driver_records (metastore_user);
