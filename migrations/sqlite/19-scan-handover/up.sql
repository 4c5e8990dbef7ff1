-- A paper application approved at the Scanstelle of a store split per role
-- (store/src/inhalt.rs): the Scanstelle cannot write the case rows, so the new
-- case waits here – its facts (Aktenzeichen, applicant, case type, …) encrypted
-- with age to the case key's public part – until a session holding the case key
-- takes it in. The scan product already names the case id.
CREATE TABLE scan_handover (
    case_id    TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
