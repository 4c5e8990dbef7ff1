-- The one extension of a case's statutory period (§ 42a Abs. 2 S. 3 VwVfG), decided at
-- a desk and applied here once.
ALTER TABLE cases ADD COLUMN extended BOOLEAN NOT NULL DEFAULT FALSE;
