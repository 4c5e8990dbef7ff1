-- Letters made at the desks, sent by the Rathaus-Server.
-- The letter itself is a document of its case (age ciphertext to the `fall` key,
-- no submission). What the server sends for it (the reply to the portal mailbox,
-- the payment request, the Annahmeanordnung for the cash system) waits in the
-- outbox sealed to the server's own delivery key (`sealed`); the plain `payload`
-- stays empty for those. Once an item went out, its sealed content and the
-- letter's delivery copy are wiped: the record keeps only the case key's copy.

ALTER TABLE case_documents ALTER COLUMN submission_id DROP NOT NULL;
-- The command that made a letter document (none for picked-up documents).
ALTER TABLE case_documents ADD COLUMN command_key UUID UNIQUE;

ALTER TABLE outbox ADD COLUMN sealed BYTEA;

-- The letter as the reply's attachment, sealed to the delivery key, until sent.
CREATE TABLE delivery_blobs (
    id      TEXT PRIMARY KEY,
    sealed  BYTEA NOT NULL
);
