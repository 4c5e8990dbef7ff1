-- The key ring of the standalone store (see store/src/keyring.rs): case documents in
-- the vault are encrypted to the case key, scan products to the scan and the case
-- key, and only users whose role may read that content hold them. A user's public
-- key (age1…) is published here at the user's first login; holders give their keys
-- to every due user, wrapped to that public key.
ALTER TABLE users ADD COLUMN recipient TEXT;

-- Which key a vault file is encrypted to: 'tresor' (the store's vault key, every
-- local account), 'fall' (the case key) or 'scan' (the scan and the case key).
-- Files from before this version are 'tresor' and re-encrypted once the keys exist.
ALTER TABLE blobs ADD COLUMN sealed TEXT NOT NULL DEFAULT 'tresor' CHECK (sealed IN ('tresor', 'fall', 'scan'));
CREATE INDEX blobs_tresor ON blobs (id) WHERE sealed = 'tresor';
