-- +goose Up
-- One row the readiness check rewrites: a write that really reaches the
-- disk, so a full disk or a read-only file shows up as "not ready".
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);

-- +goose Down
DROP TABLE store_probe;
