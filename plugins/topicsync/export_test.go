package topicsync

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// SetDiskFullAt notes, in the SQLite store s, a topic write that failed for
// a full disk at at, as a failed write does.
func SetDiskFullAt(s Store, at time.Time) {
	s.(*store).b.(*sqliteBackend).diskFullAt.Store(at.UnixNano())
}

// SQLiteFullHold is sqliteFullHold, for the tests.
const SQLiteFullHold = sqliteFullHold

// PostgresMigrationLockID is postgresMigrationLockID, for the tests.
const PostgresMigrationLockID = postgresMigrationLockID

// SetOpenTimeout makes openTimeout d until the returned func restores it.
func SetOpenTimeout(d time.Duration) (restore func()) {
	was := openTimeout
	openTimeout = d
	return func() { openTimeout = was }
}

// NewStoreOnLifecycle is NewStoreFromConfig with its hooks on lc.
func NewStoreOnLifecycle(lc fx.Lifecycle, cfg *config.Config, log *zap.Logger) (Store, error) {
	return NewStoreFromConfig(storeIn{Lifecycle: lc, Config: cfg, Log: log})
}

// SetPostgresConnectTimeout makes postgresConnectTimeout d until the
// returned func restores it.
func SetPostgresConnectTimeout(d time.Duration) (restore func()) {
	was := postgresConnectTimeout
	postgresConnectTimeout = d
	return func() { postgresConnectTimeout = was }
}

// ClosePostgresConns closes the connections of the PostgreSQL store s (none
// may be in use) and waits until its pool holds none, or ctx ends.
func ClosePostgresConns(ctx context.Context, s Store) error {
	pool := s.(*store).b.(*postgresBackend).pool
	pool.Reset()
	for pool.Stat().TotalConns() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// SetPageBytes makes the byte budget of ListPage's pages n until the
// returned func restores it.
func SetPageBytes(n int) (restore func()) {
	was := pageBytes
	pageBytes = n
	return func() { pageBytes = was }
}

// TopicBytes is topicBytes: the bytes a topic counts against a page's budget.
func TopicBytes(t Topic) int { return topicBytes(t) }

// PostgresPageRows is how many rows the PostgreSQL store s is sent for the
// page of ListPage(f) with a budget of bytes: the statement's rows, before
// the store looks at any.
func PostgresPageRows(ctx context.Context, s Store, f ListFilter, bytes int) (int, error) {
	f.Limit++
	f.page = &pageCut{bytes: bytes}
	query, args := postgresListQuery(f)
	rows, err := s.(*store).b.(*postgresBackend).pool.Query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// SetReadTimeout makes readTimeout, the bound of a read of the read API, d
// until the returned func restores it.
func SetReadTimeout(d time.Duration) (restore func()) {
	was := readTimeout
	readTimeout = d
	return func() { readTimeout = was }
}
