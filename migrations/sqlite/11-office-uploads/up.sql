-- Office mode: documents of cases this desk created (a scan approved at the
-- scanning desk), waiting to go up to the Rathaus-Server after the command that
-- creates the case there. The content stays in the vault; a row is deleted once
-- the server holds the document.

CREATE TABLE office_uploads (
    seq        INTEGER PRIMARY KEY,
    case_id    TEXT NOT NULL,
    key        TEXT NOT NULL UNIQUE,
    blob_id    TEXT NOT NULL REFERENCES blobs (id),
    kind       TEXT NOT NULL,
    filename   TEXT,
    mime_type  TEXT NOT NULL
) STRICT;
