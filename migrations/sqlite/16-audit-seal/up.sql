-- The audit chain's head is sealed: an HMAC-SHA256 over (seq, hash) under a key
-- derived from the master key, which the database file does not hold. The hash chain
-- ties every entry to the head, so a chain recomputed without that key has a head
-- whose seal does not fit. Older stores get their head sealed at the next login
-- (after the chain and its anchor were checked); see store/src/audit.rs.
ALTER TABLE audit_head ADD COLUMN mac TEXT;

-- Set once the anchor outside the database (keys/audit-anker.json) was first
-- written: from then on a missing anchor file is a finding, not a fresh start.
ALTER TABLE audit_head ADD COLUMN anchored INTEGER NOT NULL DEFAULT 0 CHECK (anchored IN (0, 1));

-- RFC 3161 time stamps of the chain's head from the town's time-stamping service:
-- evidence outside this machine that the chain reached (seq, hash) by gen_time.
-- token is the TSA's signed TimeStampToken (DER); it holds only a hash.
CREATE TABLE audit_timestamps (
    id        INTEGER PRIMARY KEY,
    seq       INTEGER NOT NULL,
    hash      TEXT    NOT NULL,
    service   TEXT    NOT NULL,
    gen_time  TEXT    NOT NULL,
    token     BLOB    NOT NULL,
    at        TEXT    NOT NULL
) STRICT;

CREATE TRIGGER audit_timestamps_no_update BEFORE UPDATE ON audit_timestamps
BEGIN
    SELECT RAISE(ABORT, 'audit_timestamps is append-only');
END;

CREATE TRIGGER audit_timestamps_no_delete BEFORE DELETE ON audit_timestamps
BEGIN
    SELECT RAISE(ABORT, 'audit_timestamps is append-only');
END;
