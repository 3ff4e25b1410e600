-- +goose Up
-- The readiness check's row also holds a pad the check rewrites (zeros, of
-- sqliteProbePad bytes): a write of as many pages as a topic write takes,
-- and more. A write of one page fitted in the end of the write-ahead log
-- that a commit failed for a full disk had left, so the check said ok
-- while every topic write failed.
ALTER TABLE store_probe ADD COLUMN pad BLOB;

-- +goose Down
ALTER TABLE store_probe DROP COLUMN pad;
