-- What the Administration sees of the outbox and the quarantine once the store is
-- split per role (store/src/inhalt.rs): the outbox and the submissions are case
-- content in `inhalt.db`, which the Administration's password does not open. A
-- session holding the case key keeps these plain lists up to date (at login,
-- after every synchronisation, at logout): references, states and error texts, no
-- content. The Administration's "erneut versuchen" waits in `outbox_requeue` until
-- such a session applies it.
CREATE TABLE outbox_overview (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    ordering_key    TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    remote_id       TEXT,
    state           TEXT    NOT NULL,
    last_error      TEXT,
    next_attempt_at TEXT
) STRICT;

CREATE TABLE quarantine_overview (
    submission_id TEXT    PRIMARY KEY,
    fc_case_id    TEXT    NOT NULL,
    rejected      INTEGER NOT NULL,
    problems      TEXT    NOT NULL,
    received_at   TEXT    NOT NULL
) STRICT;

CREATE TABLE outbox_requeue (
    id           INTEGER PRIMARY KEY,
    requested_at TEXT NOT NULL
) STRICT;
