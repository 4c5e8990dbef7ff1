-- Office mode: each user's replica of the Rathaus-Server's record on this desk.
-- The server's truth per user (the feed is filtered by role), the feed cursor, the
-- upload queue of commands not yet answered and the refused ones (conflicts). Lives
-- inside the encrypted store like everything else; content stays age ciphertext to
-- the kind keys besides.

CREATE TABLE office_replica (
    owner   TEXT PRIMARY KEY,
    role    TEXT NOT NULL,
    cursor  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE office_cases (
    owner    TEXT NOT NULL REFERENCES office_replica (owner) ON DELETE CASCADE,
    case_id  TEXT NOT NULL,
    meta     TEXT NOT NULL,
    content  TEXT,
    PRIMARY KEY (owner, case_id)
);

CREATE TABLE office_events (
    owner     TEXT NOT NULL REFERENCES office_replica (owner) ON DELETE CASCADE,
    event_id  TEXT NOT NULL,
    case_id   TEXT NOT NULL,
    event     TEXT NOT NULL,
    PRIMARY KEY (owner, event_id)
);
CREATE INDEX office_events_case ON office_events (owner, case_id);

CREATE TABLE office_users (
    owner  TEXT NOT NULL REFERENCES office_replica (owner) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    entry  TEXT NOT NULL,
    PRIMARY KEY (owner, name)
);

-- In the order the clerk acted; `key` is the command's idempotency key.
CREATE TABLE office_queue (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    owner    TEXT NOT NULL REFERENCES office_replica (owner) ON DELETE CASCADE,
    key      TEXT NOT NULL UNIQUE,
    command  TEXT NOT NULL
);

CREATE TABLE office_conflicts (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    owner     TEXT NOT NULL REFERENCES office_replica (owner) ON DELETE CASCADE,
    command   TEXT NOT NULL,
    refusal   TEXT NOT NULL,
    case_now  TEXT,
    at        TEXT NOT NULL
);
