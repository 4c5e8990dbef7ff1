-- Scanning desk: one scanned file split by hand into several documents. The parts
-- are scan products of their own (parent_id, first_page in the parent); the parent
-- keeps its image data as taken in and leaves the queue in state 'aufgeteilt'.
-- SQLite cannot change a CHECK constraint, so the table is rebuilt (no other table
-- refers to it).

CREATE TABLE scan_products_new (
    id           TEXT PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    mime_type    TEXT NOT NULL,
    pages        INTEGER NOT NULL,
    blob_id      TEXT NOT NULL REFERENCES blobs (id),
    received_at  TEXT NOT NULL,
    scan_user    TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('eingelesen', 'geprueft', 'abgelehnt', 'aufgeteilt')),
    qa_user      TEXT,
    qa_at        TEXT,
    qa_note      TEXT,
    vermerk_blob TEXT REFERENCES blobs (id),
    seal         TEXT,
    case_id      TEXT REFERENCES cases (id),
    batch_id     TEXT REFERENCES scan_batches (id),
    qa_checklist TEXT,
    qa_full      INTEGER NOT NULL DEFAULT 0,
    ocr_done     INTEGER NOT NULL DEFAULT 0,
    parent_id    TEXT,              -- the scan this one was cut out of
    first_page   INTEGER            -- its first page in the parent (1-based)
) STRICT;

INSERT INTO scan_products_new (id, sha256, name, mime_type, pages, blob_id, received_at,
    scan_user, state, qa_user, qa_at, qa_note, vermerk_blob, seal, case_id, batch_id,
    qa_checklist, qa_full, ocr_done)
SELECT id, sha256, name, mime_type, pages, blob_id, received_at, scan_user, state,
    qa_user, qa_at, qa_note, vermerk_blob, seal, case_id, batch_id, qa_checklist,
    qa_full, ocr_done
FROM scan_products;

DROP TABLE scan_products;
ALTER TABLE scan_products_new RENAME TO scan_products;

CREATE INDEX scan_products_state ON scan_products (state, received_at);
CREATE INDEX scan_products_batch ON scan_products (batch_id, received_at);
CREATE INDEX scan_products_parent ON scan_products (parent_id);
