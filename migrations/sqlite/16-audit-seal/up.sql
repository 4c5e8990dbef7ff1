-- The audit chain's head is sealed: an HMAC-SHA256 over (seq, hash) under a key
-- derived from the master key, which the database file does not hold. The hash chain
-- ties every entry to the head, so a chain recomputed without that key has a head
-- whose seal does not fit. Older stores get their head sealed at the next login
-- (after the chain and its anchor were checked); see store/src/audit.rs.
ALTER TABLE audit_head ADD COLUMN mac TEXT;

-- Set once the anchor outside the database (keys/audit-anker.json) was first
-- written: from then on a missing anchor file is a finding, not a fresh start.
ALTER TABLE audit_head ADD COLUMN anchored INTEGER NOT NULL DEFAULT 0 CHECK (anchored IN (0, 1));
