-- Foundation schema: users, secrets, blobs, cases, audit log.
-- This directory is the only place the schema is defined. Never edit an applied
-- migration: add a new numbered directory instead.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    username     TEXT    NOT NULL UNIQUE,
    display_name TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('sachbearbeitung', 'leitung', 'scanstelle', 'admin')),
    active       INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at   TEXT    NOT NULL
) STRICT;

-- Key material that lives only inside the encrypted database (e.g. the vault identity).
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One row per encrypted file in the blob vault. A row is written only after the
-- file is durable, so a row never points to a missing or partial file.
CREATE TABLE blobs (
    id         TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    created_at TEXT    NOT NULL
) STRICT;

CREATE TABLE cases (
    id           TEXT PRIMARY KEY,
    file_number  TEXT NOT NULL UNIQUE,
    case_type    TEXT NOT NULL,
    applicant    TEXT NOT NULL,
    status       TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;

-- The work list reads newest first; this index serves ORDER BY + LIMIT without a sort.
CREATE INDEX cases_worklist ON cases (received_at DESC, file_number);

-- Append-only audit log (SDM Baustein 43): who, when, what, which object – no content data.
-- hash = SHA-256 over prev_hash and the entry's fields; see store/src/audit.rs.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;

-- The head of the chain, so that cutting entries off the end is detected too.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT    NOT NULL
) STRICT;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
