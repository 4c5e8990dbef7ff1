-- The work list in deadline order ("Frist") and the views "fällig in 14 Tagen" and
-- "überfällig" straight from an index. The deadline is computed by the domain rules
-- (case type, holidays, the case's history), not by SQL: the workstation keeps the
-- result per case in `case_due` and recomputes the cases that triggers list in
-- `case_due_stale` (every change of a case's deadline facts or history, every new
-- case) before it reads in that order. `due_key` is the running deadline
-- (YYYY-MM-DD), or '9999-12-31' for none (closed, no period, period suspended):
-- those come last. `case_due_basis` holds a fingerprint of the rules the keys were
-- computed under; another fingerprint recomputes everything.

CREATE TABLE case_due (
    case_id TEXT PRIMARY KEY,
    due_key TEXT NOT NULL
) STRICT;

CREATE INDEX case_due_order ON case_due (due_key, case_id);

CREATE TABLE case_due_stale (
    case_id TEXT PRIMARY KEY
) STRICT;

CREATE TABLE case_due_basis (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
) STRICT;

INSERT INTO case_due_stale (case_id) SELECT id FROM cases;

CREATE TRIGGER case_due_new AFTER INSERT ON cases
BEGIN
    INSERT OR IGNORE INTO case_due_stale (case_id) VALUES (NEW.id);
END;

CREATE TRIGGER case_due_facts AFTER UPDATE OF status, received_at, case_type_code,
    complete_at, waiting_from, extended ON cases
BEGIN
    INSERT OR IGNORE INTO case_due_stale (case_id) VALUES (NEW.id);
END;

CREATE TRIGGER case_due_history AFTER INSERT ON case_history
BEGIN
    INSERT OR IGNORE INTO case_due_stale (case_id) VALUES (NEW.case_id);
END;

CREATE TRIGGER case_due_gone AFTER DELETE ON cases
BEGIN
    DELETE FROM case_due WHERE case_id = OLD.id;
    DELETE FROM case_due_stale WHERE case_id = OLD.id;
END;

-- The orders by state (in the order of the work) and by assignee from an index: the
-- expressions are those of the work list's ORDER BY (store/src/casework.rs).
CREATE INDEX cases_status_order ON cases (
    CASE status WHEN 'eingegangen' THEN 0 WHEN 'in_pruefung' THEN 1
        WHEN 'nachgefordert' THEN 2 WHEN 'in_bearbeitung' THEN 3
        WHEN 'entschieden' THEN 4 WHEN 'versandt' THEN 5 ELSE 6 END,
    received_at DESC, file_number);
CREATE INDEX cases_assignee_order ON cases (
    assigned_to IS NOT NULL, assigned_to, received_at DESC, file_number);
