-- Scanning desk: batches (Stapel) with the expected page count and the preparation
-- flags, the document class of the products, the QA checklist, the release of the
-- paper for destruction and the record of its destruction.

CREATE TABLE scan_batches (
    id             TEXT PRIMARY KEY,
    number         TEXT NOT NULL UNIQUE,            -- ST-2026-0001
    class          TEXT NOT NULL,                   -- document class (scan.toml)
    box            TEXT NOT NULL,                   -- box / folder of the paper
    expected_pages INTEGER NOT NULL CHECK (expected_pages > 0),
    flags          TEXT NOT NULL DEFAULT '[]',      -- JSON: kopie, unvollstaendig, manipulationsverdacht
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('offen', 'geschlossen', 'freigegeben', 'vernichtet')),
    released_by    TEXT,
    released_at    TEXT,
    destroyed_by   TEXT,
    destroyed_at   TEXT,
    destroyed_how  TEXT
) STRICT;

ALTER TABLE scan_products ADD COLUMN batch_id TEXT REFERENCES scan_batches (id);
ALTER TABLE scan_products ADD COLUMN qa_checklist TEXT;   -- JSON of the ticked items
ALTER TABLE scan_products ADD COLUMN qa_full INTEGER NOT NULL DEFAULT 0; -- page-by-page check done
ALTER TABLE scan_products ADD COLUMN ocr_done INTEGER NOT NULL DEFAULT 0; -- text recognition run (or failed)

CREATE INDEX scan_products_batch ON scan_products (batch_id, received_at);
