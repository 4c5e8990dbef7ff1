-- Every change of a case or of its history, written by triggers in the same
-- transaction as the change: the supervisor figures are kept in memory and re-read
-- only the cases changed since they were last computed. Holds case ids only; the
-- oldest entries are dropped when the store opens (a reader that finds its position
-- dropped reads everything again).

CREATE TABLE case_changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL
) STRICT;

CREATE TRIGGER case_changes_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO case_changes (case_id) VALUES (NEW.id);
END;

CREATE TRIGGER case_changes_update AFTER UPDATE ON cases
BEGIN
    INSERT INTO case_changes (case_id) VALUES (NEW.id);
END;

CREATE TRIGGER case_changes_delete AFTER DELETE ON cases
BEGIN
    INSERT INTO case_changes (case_id) VALUES (OLD.id);
END;

CREATE TRIGGER case_changes_history AFTER INSERT ON case_history
BEGIN
    INSERT INTO case_changes (case_id) VALUES (NEW.case_id);
END;
