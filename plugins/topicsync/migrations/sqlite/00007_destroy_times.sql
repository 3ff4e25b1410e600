-- +goose Up
-- The latest time of the destroys applied to a deleted topic (text as in created_at): deleted_at
-- keeps the earliest of a destroy and its resends, and a create sent again that brings updated_at
-- back from its own time to the latest write applied needs the latest one. NULL on rows written
-- before (the latest is then taken as deleted_at, as before) and on live ones.
ALTER TABLE topics ADD COLUMN destroyed_at TEXT;

-- +goose Down
ALTER TABLE topics DROP COLUMN destroyed_at;
