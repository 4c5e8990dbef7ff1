-- Sync: received FIT-Connect submissions (dedupe, state), their documents, the outbox.

-- The FIT-Connect case a local case belongs to (follow-ups attach to it).
ALTER TABLE cases ADD COLUMN fc_case_id TEXT;
CREATE UNIQUE INDEX cases_fc_case_id ON cases (fc_case_id) WHERE fc_case_id IS NOT NULL;

-- Counters for provisional file numbers (Aktenzeichen) until casework defines the pattern.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

-- One row per submission ever seen. The row is written in the same transaction as the
-- case and its documents, before the accept is sent: dedupe key and proof of storage.
CREATE TABLE fc_submissions (
    submission_id TEXT PRIMARY KEY,
    fc_case_id    TEXT NOT NULL,
    case_id       TEXT REFERENCES cases (id),
    state         TEXT NOT NULL CHECK (state IN ('stored', 'accepted', 'quarantined', 'rejected')),
    auth_tags     TEXT,      -- JSON, for the accept event
    problems      TEXT,      -- JSON, for the reject event (quarantine)
    ciphertext    TEXT REFERENCES blobs (id),  -- quarantine: the parts as received, for inspection
    service       TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE INDEX fc_submissions_state ON fc_submissions (state);

CREATE TABLE case_documents (
    id            INTEGER PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases (id),
    submission_id TEXT REFERENCES fc_submissions (submission_id),
    blob_id       TEXT NOT NULL REFERENCES blobs (id),
    kind          TEXT NOT NULL CHECK (kind IN ('metadata', 'data', 'attachment', 'letter', 'scan')),
    filename      TEXT,
    mime_type     TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;

CREATE INDEX case_documents_case ON case_documents (case_id);

-- Durable outbox: every effect on the outside world, delivered at least once and
-- made idempotent by its key; `remote_id` records what a first attempt obtained.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    ordering_key    TEXT    NOT NULL,     -- items with the same key go out in id order
    payload         TEXT    NOT NULL,     -- JSON
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    remote_id       TEXT,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX outbox_pending ON outbox (state, ordering_key, id);
