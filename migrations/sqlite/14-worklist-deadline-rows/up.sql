-- Every case has a row in `case_due`, '9999-12-31' (none) until its deadline is
-- computed. The work list reads through `case_due`; a case whose key is still being
-- computed in the background (the first login after an update, other case types or
-- holidays) must show – at the end of the deadline order – rather than be missing.

INSERT OR IGNORE INTO case_due (case_id, due_key) SELECT id, '9999-12-31' FROM cases;

DROP TRIGGER case_due_new;

CREATE TRIGGER case_due_new AFTER INSERT ON cases
BEGIN
    INSERT OR IGNORE INTO case_due (case_id, due_key) VALUES (NEW.id, '9999-12-31');
    INSERT OR IGNORE INTO case_due_stale (case_id) VALUES (NEW.id);
END;
