-- +goose Up
-- Topics are kept per IM app: the key is (sdk_app_id, topic_id), so a callback of one app can
-- neither change nor delete another app's topic of the same TopicId. Rows stored before this
-- migration get sdk_app_id '' (their app was not recorded); they stay readable under app ''.
-- Adding a column with a constant default does not rewrite the table; the new primary key and
-- indexes are built while the migration holds the table (writes wait for it).
-- The key lists topic_id first, so its index also finds a topic id under every app (the read
-- API's GET /v1/topics/{id} without sdk_app_id).
ALTER TABLE topics ADD COLUMN sdk_app_id text COLLATE "C" NOT NULL DEFAULT '';

ALTER TABLE topics
    DROP CONSTRAINT topics_pkey,
    ADD CONSTRAINT topics_pkey PRIMARY KEY (topic_id, sdk_app_id);

-- List orders by (created_at, sdk_app_id, topic_id), with or without a group or app filter.
DROP INDEX topics_created_at_idx;
CREATE INDEX topics_created_at_idx ON topics (created_at, sdk_app_id, topic_id);

DROP INDEX topics_group_id_created_at_idx;
CREATE INDEX topics_group_id_created_at_idx ON topics (group_id, created_at, sdk_app_id, topic_id);

CREATE INDEX topics_app_created_at_idx ON topics (sdk_app_id, created_at, topic_id);

-- +goose Down
-- Fails (duplicate key) rather than drop a row when two apps hold the same topic id.
DROP INDEX topics_app_created_at_idx;

DROP INDEX topics_group_id_created_at_idx;
CREATE INDEX topics_group_id_created_at_idx ON topics (group_id, created_at, topic_id);

DROP INDEX topics_created_at_idx;
CREATE INDEX topics_created_at_idx ON topics (created_at, topic_id);

ALTER TABLE topics
    DROP CONSTRAINT topics_pkey,
    ADD CONSTRAINT topics_pkey PRIMARY KEY (topic_id);

ALTER TABLE topics DROP COLUMN sdk_app_id;
