-- A scan product names its case by id and Aktenzeichen, without a foreign key: the
-- case rows move into the case content's own database once the store is split per
-- role (store/src/inhalt.rs), SQLite checks foreign keys only within one database
-- file, and the Scanstelle checks a product by its Aktenzeichen without the case
-- rows. Everything else stays as it was; the table is rebuilt (no other table
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
    case_id      TEXT,
    batch_id     TEXT REFERENCES scan_batches (id),
    qa_checklist TEXT,
    qa_full      INTEGER NOT NULL DEFAULT 0,
    ocr_done     INTEGER NOT NULL DEFAULT 0,
    parent_id    TEXT,
    first_page   INTEGER,
    sha512       TEXT,
    file_number  TEXT
) STRICT;

INSERT INTO scan_products_new (id, sha256, name, mime_type, pages, blob_id, received_at,
    scan_user, state, qa_user, qa_at, qa_note, vermerk_blob, seal, case_id, batch_id,
    qa_checklist, qa_full, ocr_done, parent_id, first_page, sha512, file_number)
SELECT p.id, p.sha256, p.name, p.mime_type, p.pages, p.blob_id, p.received_at, p.scan_user,
    p.state, p.qa_user, p.qa_at, p.qa_note, p.vermerk_blob, p.seal, p.case_id, p.batch_id,
    p.qa_checklist, p.qa_full, p.ocr_done, p.parent_id, p.first_page, p.sha512,
    (SELECT c.file_number FROM cases c WHERE c.id = p.case_id)
FROM scan_products p;

DROP TABLE scan_products;
ALTER TABLE scan_products_new RENAME TO scan_products;

CREATE INDEX scan_products_state ON scan_products (state, received_at);
CREATE INDEX scan_products_batch ON scan_products (batch_id, received_at);
CREATE INDEX scan_products_parent ON scan_products (parent_id);
CREATE INDEX scan_products_file_number ON scan_products (file_number) WHERE file_number IS NOT NULL;
