-- +goose Up
-- When each field an info change carries was last changed (NULL while only the create set it).
-- An info change older than a field's time leaves that field alone, so changes delivered out of
-- order end in the newest value, and a create that completes a tombstone keeps the fields a
-- change already set.
ALTER TABLE topics
    ADD COLUMN name_changed_at         timestamptz,
    ADD COLUMN introduction_changed_at timestamptz,
    ADD COLUMN notification_changed_at timestamptz,
    ADD COLUMN face_url_changed_at     timestamptz;

-- +goose Down
ALTER TABLE topics
    DROP COLUMN face_url_changed_at,
    DROP COLUMN notification_changed_at,
    DROP COLUMN introduction_changed_at,
    DROP COLUMN name_changed_at;
