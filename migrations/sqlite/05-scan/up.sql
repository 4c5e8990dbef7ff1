-- Scanning desk: scan products taken from the hot folder, their QA, Transfervermerk
-- and seal, and the case they became. The image data live in the vault (blob_id).

CREATE TABLE scan_products (
    id           TEXT PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,     -- duplicates are refused by content
    name         TEXT NOT NULL,            -- file name at the scanner (personal data possible)
    mime_type    TEXT NOT NULL,
    pages        INTEGER NOT NULL,
    blob_id      TEXT NOT NULL REFERENCES blobs (id),
    received_at  TEXT NOT NULL,
    scan_user    TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('eingelesen', 'geprueft', 'abgelehnt')),
    qa_user      TEXT,
    qa_at        TEXT,
    qa_note      TEXT,
    vermerk_blob TEXT REFERENCES blobs (id),  -- Transfervermerk (XML)
    seal         TEXT,                        -- JSON of the seal
    case_id      TEXT REFERENCES cases (id)
) STRICT;

CREATE INDEX scan_products_state ON scan_products (state, received_at);
