-- Casework: case type, assignment, deadline facts, history, notes, checklist.

ALTER TABLE cases ADD COLUMN case_type_code TEXT;   -- Vorgangsart (kuerzel); NULL: not configured
ALTER TABLE cases ADD COLUMN assigned_to TEXT;      -- user name; NULL: organisation queue
ALTER TABLE cases ADD COLUMN complete_at TEXT;      -- YYYY-MM-DD: completeness (start of the period)
ALTER TABLE cases ADD COLUMN waiting_from TEXT;     -- state a Nachforderung was made from
ALTER TABLE cases ADD COLUMN extended INTEGER NOT NULL DEFAULT 0;

CREATE INDEX cases_assigned ON cases (assigned_to, status);

-- Every transition, assignment and deadline event of a case (the case's own history;
-- the audit chain records the same acts without details).
CREATE TABLE case_history (
    id         INTEGER PRIMARY KEY,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT,
    detail     TEXT            -- JSON: reasons, missing documents, assignee
) STRICT;

CREATE INDEX case_history_case ON case_history (case_id, id);

CREATE TABLE case_notes (
    id      INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    at      TEXT NOT NULL,
    author  TEXT NOT NULL,
    text    TEXT NOT NULL
) STRICT;

CREATE INDEX case_notes_case ON case_notes (case_id, id);

CREATE TABLE case_checklist (
    case_id    TEXT NOT NULL REFERENCES cases (id),
    item       TEXT NOT NULL,
    checked_by TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    PRIMARY KEY (case_id, item)
) STRICT;
