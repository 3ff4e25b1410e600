-- +goose Up
-- COLLATE "C" orders ids byte-wise, the same way the SQLite store does.
CREATE TABLE topics (
    topic_id         text COLLATE "C" NOT NULL PRIMARY KEY,
    group_id         text COLLATE "C" NOT NULL,
    name             text        NOT NULL DEFAULT '',
    owner_account    text        NOT NULL DEFAULT '',
    operator_account text        NOT NULL DEFAULT '',
    group_type       text        NOT NULL DEFAULT '',
    -- JSON array of {"key","value"} objects: jsonb keeps array order.
    custom_data      jsonb       NOT NULL DEFAULT '[]'::jsonb,
    introduction     text        NOT NULL DEFAULT '',
    notification     text        NOT NULL DEFAULT '',
    face_url         text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    -- false while the row is only a tombstone left by a destroy that overtook its create.
    create_received  boolean     NOT NULL DEFAULT false
);

CREATE INDEX topics_created_at_idx ON topics (created_at, topic_id);

CREATE INDEX topics_group_id_created_at_idx ON topics (group_id, created_at, topic_id);

-- +goose Down
DROP TABLE topics;
