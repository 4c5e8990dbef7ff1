-- The case key of the standalone store (see store/src/keyring.rs): case documents
-- in the vault are encrypted to it, and only users whose role may read case content
-- hold it. A user's public key (age1…) is published here at the user's first login;
-- holders of the case key give it to every due user, wrapped to that public key.
ALTER TABLE users ADD COLUMN recipient TEXT;

-- Which key a vault file is encrypted to: 'tresor' (the store's vault key, every
-- local account) or 'fall' (the case key). Files from before this version are
-- 'tresor'; a holder's session re-encrypts case documents to 'fall'.
ALTER TABLE blobs ADD COLUMN sealed TEXT NOT NULL DEFAULT 'tresor' CHECK (sealed IN ('tresor', 'fall'));
CREATE INDEX blobs_tresor ON blobs (sealed) WHERE sealed = 'tresor';
