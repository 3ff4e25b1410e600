package topicsync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.uber.org/zap"
)

// postgresMigrationLockID is the advisory lock replicas take while migrating: the ASCII bytes
// of "imcb_top", so it differs from goose's default and from other modules' locks.
const postgresMigrationLockID int64 = 0x696d63625f746f70

// postgresStore is the PostgreSQL Store. The server handles concurrency, so each write is one
// upsert or update statement.
type postgresStore struct {
	pool *pgxpool.Pool
	log  *zap.Logger

	closed    atomic.Bool
	closeOnce sync.Once
}

// defaultPostgresConns is the pool size unless the DSN sets pool_max_conns.
const defaultPostgresConns = 32

// OpenPostgres connects to the PostgreSQL database named by dsn (a postgres:// or postgresql://
// URL; runtime parameters such as search_path are passed through) and runs the migrations,
// holding a session advisory lock so replicas starting together migrate one at a time.
func OpenPostgres(ctx context.Context, dsn string, log *zap.Logger) (Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("topic: open postgres: parse IMCALLBACK_STORE_DSN: %w", redactDSN(dsn, err))
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgxpool's default (the larger of 4 and the CPU count) queues concurrent
		// callbacks behind a handful of connections; PostgreSQL flushes the WAL of
		// concurrent commits together, so more connections mean fewer flushes per write.
		cfg.MaxConns = defaultPostgresConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("topic: open postgres: %w", redactDSN(dsn, err))
	}
	if err := migratePostgres(ctx, pool, log); err != nil {
		pool.Close()
		return nil, fmt.Errorf("topic: open postgres: %w", redactDSN(dsn, err))
	}
	log.Info("topic store opened",
		zap.String("backend", "postgres"),
		zap.String("host", cfg.ConnConfig.Host),
		zap.Uint16("port", cfg.ConnConfig.Port),
		zap.String("database", cfg.ConnConfig.Database),
		zap.String("user", cfg.ConnConfig.User),
	)
	return &postgresStore{pool: pool, log: log}, nil
}

// migratePostgres runs goose through database/sql on top of the pool.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, log *zap.Logger) error {
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(postgresMigrationLockID),
		lock.WithLockTimeout(1, 300), // poll every second for up to five minutes
	)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool) // closing db leaves the pool open
	err = migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", log, goose.WithSessionLocker(locker))
	return errors.Join(err, db.Close())
}

// Create implements Store.
func (s *postgresStore) Create(ctx context.Context, t Topic) error {
	if err := validateCreate(t); err != nil {
		return fmt.Errorf("topic: create %q: %w", t.TopicID, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("topic: create %q: %w", t.TopicID, ErrClosed)
	}
	custom, err := encodeCustomData(t.CustomData)
	if err != nil {
		return fmt.Errorf("topic: create %q: %w", t.TopicID, err)
	}
	_, err = s.pool.Exec(ctx, postgresCreate,
		t.TopicID, t.GroupID, t.Name, t.OwnerAccount, t.OperatorAccount, t.Type,
		custom, t.Introduction, t.Notification, t.FaceURL, storedTime(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("topic: create %q: %w", t.TopicID, err)
	}
	return nil
}

// postgresCreate inserts a topic or completes a tombstone; a row whose create was already
// received is left as it is (first create wins).
const postgresCreate = `
INSERT INTO topics (topic_id, group_id, name, owner_account, operator_account, group_type,
                    custom_data, introduction, notification, face_url,
                    created_at, updated_at, deleted_at, create_received)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, NULL, true)
ON CONFLICT (topic_id) DO UPDATE SET
    group_id = EXCLUDED.group_id,
    name = EXCLUDED.name,
    owner_account = EXCLUDED.owner_account,
    operator_account = EXCLUDED.operator_account,
    group_type = EXCLUDED.group_type,
    custom_data = EXCLUDED.custom_data,
    introduction = EXCLUDED.introduction,
    notification = EXCLUDED.notification,
    face_url = EXCLUDED.face_url,
    created_at = EXCLUDED.created_at,
    updated_at = GREATEST(topics.updated_at, EXCLUDED.updated_at),
    create_received = true
WHERE NOT topics.create_received`

// Destroy implements Store.
func (s *postgresStore) Destroy(ctx context.Context, groupID string, topicIDs []string, at time.Time) error {
	ids, err := destroyIDs(groupID, topicIDs)
	if err != nil {
		return fmt.Errorf("topic: destroy %d topics in group %q: %w", len(topicIDs), groupID, err)
	}
	if len(ids) == 0 {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("topic: destroy %d topics in group %q: %w", len(ids), groupID, ErrClosed)
	}
	// One statement, so one transaction; ids has no repeats, which ON CONFLICT requires.
	if _, err := s.pool.Exec(ctx, postgresDestroy, ids, groupID, storedTime(at)); err != nil {
		return fmt.Errorf("topic: destroy %d topics in group %q: %w", len(ids), groupID, err)
	}
	return nil
}

// postgresDestroy marks live topics deleted, leaves deleted ones alone and writes tombstones
// for unknown ones.
const postgresDestroy = `
INSERT INTO topics (topic_id, group_id, created_at, updated_at, deleted_at, create_received)
SELECT id, $2, $3, $3, $3, false FROM unnest($1::text[]) AS id
ON CONFLICT (topic_id) DO UPDATE SET
    deleted_at = EXCLUDED.deleted_at,
    updated_at = EXCLUDED.updated_at
WHERE topics.deleted_at IS NULL`

// ApplyInfoChange implements Store.
func (s *postgresStore) ApplyInfoChange(ctx context.Context, c InfoChange) error {
	if err := validateInfoChange(c); err != nil {
		return fmt.Errorf("topic: info change %q: %w", c.TopicID, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("topic: info change %q: %w", c.TopicID, ErrClosed)
	}
	tag, err := s.pool.Exec(ctx, postgresInfoChange,
		c.Name, c.Introduction, c.Notification, c.FaceURL, storedTime(c.At), c.TopicID)
	if err != nil {
		return fmt.Errorf("topic: info change %q: %w", c.TopicID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("topic: info change %q: %w", c.TopicID, ErrNotFound)
	}
	return nil
}

// postgresInfoChange keeps a column when its parameter is NULL (a nil *string).
const postgresInfoChange = `
UPDATE topics SET
    name = COALESCE($1, name),
    introduction = COALESCE($2, introduction),
    notification = COALESCE($3, notification),
    face_url = COALESCE($4, face_url),
    updated_at = $5
WHERE topic_id = $6`

const postgresColumns = `topic_id, group_id, name, owner_account, operator_account, group_type,
    custom_data, introduction, notification, face_url, created_at, updated_at, deleted_at`

// Get implements Store.
func (s *postgresStore) Get(ctx context.Context, topicID string) (Topic, error) {
	if s.closed.Load() {
		return Topic{}, fmt.Errorf("topic: get %q: %w", topicID, ErrClosed)
	}
	row := s.pool.QueryRow(ctx, `SELECT `+postgresColumns+` FROM topics WHERE topic_id = $1`, topicID)
	t, err := scanPostgresTopic(row)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Topic{}, fmt.Errorf("topic: get %q: %w", topicID, err)
	}
	return t, nil
}

// List implements Store.
func (s *postgresStore) List(ctx context.Context, f ListFilter) ([]Topic, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("topic: list: %w", ErrClosed)
	}
	query, args := listQuery(postgresColumns, f, func(n int) string { return "$" + strconv.Itoa(n) },
		func(t time.Time) any { return t })
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("topic: list: %w", err)
	}
	defer rows.Close()
	return collectTopics(rows, func(r pgx.Rows) (Topic, error) { return scanPostgresTopic(r) })
}

// Ping implements Store.
func (s *postgresStore) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("topic: ping: %w", ErrClosed)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("topic: ping: %w", err)
	}
	return nil
}

// Close implements Store: it waits for borrowed connections to come back, then closes them all.
func (s *postgresStore) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}

func scanPostgresTopic(row pgx.Row) (Topic, error) {
	var (
		t       Topic
		custom  []byte
		deleted *time.Time
	)
	err := row.Scan(&t.TopicID, &t.GroupID, &t.Name, &t.OwnerAccount, &t.OperatorAccount, &t.Type,
		&custom, &t.Introduction, &t.Notification, &t.FaceURL, &t.CreatedAt, &t.UpdatedAt, &deleted)
	if err != nil {
		return Topic{}, err
	}
	if t.CustomData, err = decodeCustomData(custom); err != nil {
		return Topic{}, fmt.Errorf("topic %q: %w", t.TopicID, err)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	if deleted != nil {
		d := deleted.UTC()
		t.DeletedAt = &d
	}
	return t, nil
}
