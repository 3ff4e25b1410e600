-- +goose Up
-- A create now dates the fields it sets (name, introduction, notification, face_url) at its time
-- less RecreateMargin (10 s), so that every change made after it wins over it, and a change of an
-- earlier topic of the id, older, does not. Rows stored before left those dates NULL; a NULL date
-- still yields to every change, as before. This gives the fields a create set on a row stored
-- before the date a create now gives them: its created_at less 10 s (at least the year 1's first
-- instant, as the store clamps it). Rows only a destroy wrote (create_received false) keep NULL:
-- no create has set their fields yet. It rewrites those rows once, in the migration's
-- transaction.
UPDATE topics SET
    name_changed_at = COALESCE(name_changed_at, GREATEST(created_at - interval '10 seconds', '0001-01-01 00:00:00+00'::timestamptz)),
    introduction_changed_at = COALESCE(introduction_changed_at, GREATEST(created_at - interval '10 seconds', '0001-01-01 00:00:00+00'::timestamptz)),
    notification_changed_at = COALESCE(notification_changed_at, GREATEST(created_at - interval '10 seconds', '0001-01-01 00:00:00+00'::timestamptz)),
    face_url_changed_at = COALESCE(face_url_changed_at, GREATEST(created_at - interval '10 seconds', '0001-01-01 00:00:00+00'::timestamptz))
WHERE create_received AND (name_changed_at IS NULL OR introduction_changed_at IS NULL
    OR notification_changed_at IS NULL OR face_url_changed_at IS NULL);

-- +goose Down
-- Nothing to undo: the previous version reads these dates as a change's, and a row it stores
-- has NULL ones, which this version reads as before.
SELECT 1;
