-- +goose Up
-- When each field an info change carries was last changed (the change's time, text as in
-- created_at; NULL while only the create set it). An info change older than a field's time
-- leaves that field alone, so changes delivered out of order end in the newest value, and a
-- create that completes a tombstone keeps the fields a change already set.
ALTER TABLE topics ADD COLUMN name_changed_at TEXT;
ALTER TABLE topics ADD COLUMN introduction_changed_at TEXT;
ALTER TABLE topics ADD COLUMN notification_changed_at TEXT;
ALTER TABLE topics ADD COLUMN face_url_changed_at TEXT;

-- +goose Down
ALTER TABLE topics DROP COLUMN face_url_changed_at;
ALTER TABLE topics DROP COLUMN notification_changed_at;
ALTER TABLE topics DROP COLUMN introduction_changed_at;
ALTER TABLE topics DROP COLUMN name_changed_at;
