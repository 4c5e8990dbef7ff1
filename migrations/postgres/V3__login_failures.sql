-- Failed server logins per name (known or not, so that the answer does not tell
-- which names exist). Five in a row lock the name for five minutes; a success
-- clears the row.
CREATE TABLE login_failures (
    user_name     TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    last_at       TIMESTAMPTZ NOT NULL,
    locked_until  TIMESTAMPTZ
);
