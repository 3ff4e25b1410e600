-- +goose Up
-- Topics are kept per IM app: the key is (sdk_app_id, topic_id), so a callback of one app can
-- neither change nor delete another app's topic of the same TopicId. Rows stored before this
-- migration get sdk_app_id '' (their app was not recorded); they stay readable under app ''.
-- SQLite cannot change a primary key in place, so the table is rebuilt: every row is copied
-- as it is, in the migration's transaction (a failure leaves the old table untouched).
-- The key lists topic_id first, so its index also finds a topic id under every app (the read
-- API's GET /v1/topics/{id} without sdk_app_id).
CREATE TABLE topics_by_app (
    sdk_app_id       TEXT    NOT NULL DEFAULT '',
    topic_id         TEXT    NOT NULL,
    group_id         TEXT    NOT NULL,
    name             TEXT    NOT NULL DEFAULT '',
    owner_account    TEXT    NOT NULL DEFAULT '',
    operator_account TEXT    NOT NULL DEFAULT '',
    group_type       TEXT    NOT NULL DEFAULT '',
    custom_data      TEXT    NOT NULL DEFAULT '[]',
    introduction     TEXT    NOT NULL DEFAULT '',
    notification     TEXT    NOT NULL DEFAULT '',
    face_url         TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    deleted_at       TEXT,
    create_received  INTEGER NOT NULL DEFAULT 0,
    name_changed_at         TEXT,
    introduction_changed_at TEXT,
    notification_changed_at TEXT,
    face_url_changed_at     TEXT,
    PRIMARY KEY (topic_id, sdk_app_id)
) STRICT;

INSERT INTO topics_by_app (sdk_app_id, topic_id, group_id, name, owner_account, operator_account,
    group_type, custom_data, introduction, notification, face_url, created_at, updated_at,
    deleted_at, create_received, name_changed_at, introduction_changed_at,
    notification_changed_at, face_url_changed_at)
SELECT '', topic_id, group_id, name, owner_account, operator_account,
    group_type, custom_data, introduction, notification, face_url, created_at, updated_at,
    deleted_at, create_received, name_changed_at, introduction_changed_at,
    notification_changed_at, face_url_changed_at
FROM topics;

DROP TABLE topics;

ALTER TABLE topics_by_app RENAME TO topics;

-- List orders by (created_at, sdk_app_id, topic_id), with or without a group or app filter.
CREATE INDEX topics_created_at_idx ON topics (created_at, sdk_app_id, topic_id);

CREATE INDEX topics_group_id_created_at_idx ON topics (group_id, created_at, sdk_app_id, topic_id);

CREATE INDEX topics_app_created_at_idx ON topics (sdk_app_id, created_at, topic_id);

-- +goose Down
-- Fails (UNIQUE constraint) rather than drop a row when two apps hold the same topic id.
CREATE TABLE topics_by_id (
    topic_id         TEXT    NOT NULL PRIMARY KEY,
    group_id         TEXT    NOT NULL,
    name             TEXT    NOT NULL DEFAULT '',
    owner_account    TEXT    NOT NULL DEFAULT '',
    operator_account TEXT    NOT NULL DEFAULT '',
    group_type       TEXT    NOT NULL DEFAULT '',
    custom_data      TEXT    NOT NULL DEFAULT '[]',
    introduction     TEXT    NOT NULL DEFAULT '',
    notification     TEXT    NOT NULL DEFAULT '',
    face_url         TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    deleted_at       TEXT,
    create_received  INTEGER NOT NULL DEFAULT 0,
    name_changed_at         TEXT,
    introduction_changed_at TEXT,
    notification_changed_at TEXT,
    face_url_changed_at     TEXT
) STRICT;

INSERT INTO topics_by_id (topic_id, group_id, name, owner_account, operator_account,
    group_type, custom_data, introduction, notification, face_url, created_at, updated_at,
    deleted_at, create_received, name_changed_at, introduction_changed_at,
    notification_changed_at, face_url_changed_at)
SELECT topic_id, group_id, name, owner_account, operator_account,
    group_type, custom_data, introduction, notification, face_url, created_at, updated_at,
    deleted_at, create_received, name_changed_at, introduction_changed_at,
    notification_changed_at, face_url_changed_at
FROM topics;

DROP TABLE topics;

ALTER TABLE topics_by_id RENAME TO topics;

CREATE INDEX topics_created_at_idx ON topics (created_at, topic_id);

CREATE INDEX topics_group_id_created_at_idx ON topics (group_id, created_at, topic_id);
