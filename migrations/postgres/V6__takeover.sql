-- Taking over a standalone store (`amtsstube buero uebernehmen`): each document
-- carries the key it had there, so a takeover broken off anywhere can simply be
-- run again; the standalone audit chain is kept as it was (references only).

ALTER TABLE case_documents ADD COLUMN import_key TEXT UNIQUE;

CREATE TABLE takeover_audit (
    workstation  UUID NOT NULL REFERENCES workstations (id),
    seq          BIGINT NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    object       TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (workstation, seq)
);
