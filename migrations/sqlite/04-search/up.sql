-- Full-text search over case data and notes (FTS5 inside the encrypted database;
-- its pages are encrypted like every other page). Row ids follow `cases.rowid`.

CREATE VIRTUAL TABLE case_search USING fts5 (
    file_number,
    applicant,
    case_type,
    notes,
    content,                 -- text of the application data
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO case_search (rowid, file_number, applicant, case_type, notes, content)
SELECT c.rowid, c.file_number, c.applicant, c.case_type,
       coalesce((SELECT group_concat(n.text, ' ') FROM case_notes n WHERE n.case_id = c.id), ''),
       ''
FROM cases c;

CREATE TRIGGER case_search_insert AFTER INSERT ON cases BEGIN
    INSERT INTO case_search (rowid, file_number, applicant, case_type, notes, content)
    VALUES (new.rowid, new.file_number, new.applicant, new.case_type, '', '');
END;

CREATE TRIGGER case_search_update AFTER UPDATE OF file_number, applicant, case_type ON cases BEGIN
    UPDATE case_search SET file_number = new.file_number, applicant = new.applicant,
        case_type = new.case_type
    WHERE rowid = new.rowid;
END;

CREATE TRIGGER case_search_note AFTER INSERT ON case_notes BEGIN
    UPDATE case_search SET notes = notes || ' ' || new.text
    WHERE rowid = (SELECT rowid FROM cases WHERE id = new.case_id);
END;
