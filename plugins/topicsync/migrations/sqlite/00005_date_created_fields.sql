-- +goose Up
-- A create now dates the fields it sets (name, introduction, notification, face_url) at its time
-- less RecreateMargin (10 s), so that every change made after it wins over it, and a change of an
-- earlier topic of the id, older, does not. Rows stored before left those dates NULL; a NULL date
-- still yields to every change, as before. This gives the fields a create set on a row stored
-- before the date a create now gives them: its created_at less 10 s (at least the year 1's first
-- instant, as the store clamps it). Rows only a destroy wrote (create_received 0) keep NULL: no
-- create has set their fields yet. Times are text of a fixed width; whole seconds move the
-- seconds and above, and the fraction is kept.
UPDATE topics SET
    name_changed_at = COALESCE(name_changed_at, CASE WHEN created_at < '0001-01-01T00:00:10' THEN '0001-01-01T00:00:00.000000Z'
        ELSE strftime('%Y-%m-%dT%H:%M:%S', created_at, '-10 seconds') || substr(created_at, 20) END),
    introduction_changed_at = COALESCE(introduction_changed_at, CASE WHEN created_at < '0001-01-01T00:00:10' THEN '0001-01-01T00:00:00.000000Z'
        ELSE strftime('%Y-%m-%dT%H:%M:%S', created_at, '-10 seconds') || substr(created_at, 20) END),
    notification_changed_at = COALESCE(notification_changed_at, CASE WHEN created_at < '0001-01-01T00:00:10' THEN '0001-01-01T00:00:00.000000Z'
        ELSE strftime('%Y-%m-%dT%H:%M:%S', created_at, '-10 seconds') || substr(created_at, 20) END),
    face_url_changed_at = COALESCE(face_url_changed_at, CASE WHEN created_at < '0001-01-01T00:00:10' THEN '0001-01-01T00:00:00.000000Z'
        ELSE strftime('%Y-%m-%dT%H:%M:%S', created_at, '-10 seconds') || substr(created_at, 20) END)
WHERE create_received = 1 AND (name_changed_at IS NULL OR introduction_changed_at IS NULL
    OR notification_changed_at IS NULL OR face_url_changed_at IS NULL);

-- +goose Down
-- Nothing to undo: the previous version reads these dates as a change's, and a row it stores
-- has NULL ones, which this version reads as before.
SELECT 1;
