-- The Rathaus-Server's record. Workflow metadata in plain columns (the server
-- checks permissions, order and numbers on them); every personal content is age
-- ciphertext to keys only the users' workstations can unwrap (`BYTEA` columns
-- named `content`). A shipped migration is never edited: changes come as V2, V3, …

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('sachbearbeitung', 'leitung', 'scanstelle', 'admin')),
    -- scrypt PHC string of the server login (not the key-wrapping password file)
    password_hash TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    changed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE workstations (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL,
    -- SHA-256 of the DER client certificate issued by the office CA
    fingerprint   TEXT NOT NULL UNIQUE,
    enrolled_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at    TIMESTAMPTZ
);

-- One-time enrolment codes (stored as SHA-256, never in clear).
CREATE TABLE enrolment_codes (
    code_hash     TEXT PRIMARY KEY,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    workstation   UUID REFERENCES workstations (id)
);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    workstation   UUID NOT NULL REFERENCES workstations (id),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE cases (
    id                 UUID PRIMARY KEY,
    file_number        TEXT NOT NULL UNIQUE,
    case_type          TEXT NOT NULL,
    channel            TEXT NOT NULL,
    state              TEXT NOT NULL,
    waiting_from       TEXT,
    checklist_complete BOOLEAN NOT NULL DEFAULT FALSE,
    assignee           TEXT,
    received_at        TIMESTAMPTZ NOT NULL,
    -- every accepted change counts the version up; state_version is the version
    -- at which the state last changed (a transition based on an older one is a conflict)
    version            BIGINT NOT NULL,
    state_version      BIGINT NOT NULL,
    content            BYTEA NOT NULL
);
CREATE INDEX cases_assignee ON cases (assignee);

-- Append-only per case: history entries and notes. Merges without conflict.
CREATE TABLE case_events (
    id            UUID PRIMARY KEY,
    case_id       UUID NOT NULL REFERENCES cases (id),
    kind          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    from_state    TEXT,
    to_state      TEXT,
    content       BYTEA
);
CREATE INDEX case_events_case ON case_events (case_id);

-- Every command a workstation sent, by its idempotency key: a replay gets the
-- stored outcome, an altered body under a known key is refused.
CREATE TABLE commands (
    key           UUID PRIMARY KEY,
    body_hash     TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    workstation   UUID NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    outcome       JSONB NOT NULL
);

-- The change feed. Positions are handed out under one transaction-level lock
-- taken just before the insert and held to the commit, so position order is
-- commit order and a reader's "everything after p" never skips a late commit.
CREATE TABLE change_log (
    position      BIGINT PRIMARY KEY,
    case_id       UUID,
    -- visibility at the time of the change: the assignee after and before it
    assignee      TEXT,
    assignee_before TEXT,
    kind          TEXT NOT NULL,
    body          JSONB NOT NULL
);

-- Number blocks leased to workstations for offline work (Aktenzeichen).
CREATE TABLE counters (
    name          TEXT PRIMARY KEY,
    value         BIGINT NOT NULL
);
CREATE TABLE number_leases (
    id            BIGSERIAL PRIMARY KEY,
    counter       TEXT NOT NULL,
    first_value   BIGINT NOT NULL,
    last_value    BIGINT NOT NULL,
    workstation   UUID NOT NULL,
    leased_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The server's audit trail: who, from which workstation, what, with which outcome.
-- Never personal content.
CREATE TABLE audit (
    id            BIGSERIAL PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor         TEXT,
    workstation   UUID,
    action        TEXT NOT NULL,
    detail        TEXT NOT NULL
);
