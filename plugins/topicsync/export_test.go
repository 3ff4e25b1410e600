package topicsync

import (
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
