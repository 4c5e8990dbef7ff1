-- Late bounces of answers by e-mail: the relay took the e-mail ("250"), the
-- citizen's provider refused it later and its report came back to the town's
-- mailbox, which the server reads by IMAP. The report names the e-mail by its
-- Message-ID: kept here for each e-mail that carried a letter (a notice beside a
-- posted letter needs nothing when it bounces). It holds no personal data.
ALTER TABLE outbox ADD COLUMN bounce_id TEXT;
CREATE UNIQUE INDEX outbox_bounce_id ON outbox (bounce_id) WHERE bounce_id IS NOT NULL;

-- Small settings of the server's own runs, e.g. where reading the bounce mailbox
-- stopped (the folder's UIDVALIDITY and the last UID read). No personal data.
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
