-- The SHA-512 of a scan product, taken while the intake reads and encrypts the file
-- (the same pass as its SHA-256). The QA step seals both for the Transfervermerk
-- without reading the product again. NULL for products taken in before this
-- version: their hashes are taken from the vault at approval, as before.
ALTER TABLE scan_products ADD COLUMN sha512 TEXT;
