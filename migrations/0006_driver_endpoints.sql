-- Where else a driver can be reached, for adoption by an epoxy node on another host (issue 12):
-- `tcp` is the "host:port" its TCP listener advertises (NULL: Unix socket only, no
-- --driver-listen); `host` names the machine the driver runs on (its machine-id, else boot id,
-- and hostname), so that a node knows whether the pid and socket are its own. '' is a record
-- written before this migration, by the one host there was.
ALTER TABLE driver_records ADD COLUMN tcp TEXT;
ALTER TABLE driver_records ADD COLUMN host TEXT NOT NULL DEFAULT '';
