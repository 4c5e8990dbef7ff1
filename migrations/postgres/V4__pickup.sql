-- FIT-Connect pickup by the Rathaus-Server. The server opens a submission while it
-- checks it, then stores the application only as age ciphertext to the `fall`
-- kind key (cases.content and case_documents.content) and forgets the plaintext.
-- Outbox: accept and reject events for the portal, delivered exactly once in
-- order per case (the same rules as the standalone store's outbox).

CREATE TABLE fc_submissions (
    submission_id  UUID PRIMARY KEY,
    fc_case_id     UUID NOT NULL,
    case_id        UUID REFERENCES cases (id),
    state          TEXT NOT NULL CHECK (state IN ('stored', 'accepted', 'quarantined', 'rejected')),
    service        TEXT NOT NULL,
    received_at    TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX fc_submissions_case ON fc_submissions (fc_case_id);

-- The documents of a submission, each sealed on its own (no size limit of a command).
CREATE TABLE case_documents (
    id             BIGSERIAL PRIMARY KEY,
    case_id        UUID NOT NULL REFERENCES cases (id),
    submission_id  UUID NOT NULL REFERENCES fc_submissions (submission_id),
    content        BYTEA NOT NULL
);
CREATE INDEX case_documents_case ON case_documents (case_id);

-- Invalid submissions: the problems (no personal data) and the still encrypted parts.
CREATE TABLE fc_quarantine (
    submission_id  UUID PRIMARY KEY REFERENCES fc_submissions (submission_id),
    problems       JSONB NOT NULL,
    ciphertext     BYTEA NOT NULL
);

CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    ordering_key     TEXT NOT NULL,
    payload          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    remote_id        TEXT,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    last_error       TEXT,
    next_attempt_at  TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbox_order ON outbox (ordering_key, id);
