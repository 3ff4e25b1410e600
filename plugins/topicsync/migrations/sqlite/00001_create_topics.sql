-- +goose Up
-- Times are UTC text in the fixed-width form 2006-01-02T15:04:05.000000Z,
-- so comparing or sorting the text compares or sorts the times.
CREATE TABLE topics (
    topic_id         TEXT    NOT NULL PRIMARY KEY,
    group_id         TEXT    NOT NULL,
    name             TEXT    NOT NULL DEFAULT '',
    owner_account    TEXT    NOT NULL DEFAULT '',
    operator_account TEXT    NOT NULL DEFAULT '',
    group_type       TEXT    NOT NULL DEFAULT '',
    -- JSON array of {"key","value"} objects, in the order the callback sent them.
    custom_data      TEXT    NOT NULL DEFAULT '[]',
    introduction     TEXT    NOT NULL DEFAULT '',
    notification     TEXT    NOT NULL DEFAULT '',
    face_url         TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    deleted_at       TEXT,
    -- 0 while the row is only a tombstone left by a destroy that overtook its create.
    create_received  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX topics_created_at_idx ON topics (created_at, topic_id);

CREATE INDEX topics_group_id_created_at_idx ON topics (group_id, created_at, topic_id);

-- +goose Down
DROP TABLE topics;
