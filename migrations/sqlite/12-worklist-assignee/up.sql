-- A caseworker's list ("Meine", and her own with the unassigned ones) in arrival
-- order straight from an index: with 100,000 cases the list of one of three
-- caseworkers sorted 33,000 rows for every first page.
CREATE INDEX cases_assignee_worklist ON cases (assigned_to, received_at DESC, file_number);
