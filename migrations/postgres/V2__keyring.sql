-- Keys per kind of content (office::keyring). The server keeps public recipients
-- and wrapped identities only: a user's identity wrapped with the user's password
-- (age scrypt), a kind's identity wrapped to a user's recipient (a grant). It can
-- open none of them.

CREATE TABLE user_keys (
    user_name     TEXT PRIMARY KEY REFERENCES users (name),
    recipient     TEXT NOT NULL,
    wrapped       BYTEA NOT NULL,
    published_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE kind_keys (
    kind          TEXT PRIMARY KEY CHECK (kind IN ('fall', 'scan')),
    recipient     TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE key_grants (
    kind          TEXT NOT NULL REFERENCES kind_keys (kind),
    user_name     TEXT NOT NULL REFERENCES users (name),
    wrapped       BYTEA NOT NULL,
    granted_by    TEXT NOT NULL,
    granted_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, user_name)
);
