package topicsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go, no cgo)

	"github.com/imcallback/imcallback/internal/writeproof"
)

const (
	// sqliteTimeLayout is fixed-width UTC, so SQL text comparison and ORDER BY follow time order.
	sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

	// maxBatch bounds how many queued writes share one transaction.
	maxBatch = 256

	// readPoolSize is how many connections serve Get, List and Ping; WAL lets them read while
	// the writer commits.
	readPoolSize = 4

	// sqliteWriteParams configures the single writer connection. synchronous=FULL fsyncs the WAL
	// on every commit, so an answered write survives power loss; NORMAL only survives a crash of
	// this process. Group commit pays one fsync per batch: BenchmarkSQLiteCreateParallel measured
	// about 35µs per Create with FULL against 30µs with NORMAL, so FULL stays.
	// _txlock=immediate takes the write lock at BEGIN instead of failing to upgrade it later.
	sqliteWriteParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"

	// sqliteReadParams configures the read pool; query_only guards against a write slipping past the writer.
	sqliteReadParams = "_pragma=busy_timeout(5000)&_pragma=query_only(1)"
)

// sqliteBackend is the SQLite backend. One goroutine owns every write and commits the writes
// queued while the previous commit ran in a single transaction ("group commit"), so concurrent
// callbacks share one fsync instead of queueing for the database lock one by one; the writer,
// its statements and the writes are in sqlite_store_writer.go.
type sqliteBackend struct {
	write    *sql.DB // one connection, used only by the writer goroutine (and migrations before it starts)
	prepared *[stmtCount]*sql.Stmt
	read     *sql.DB
	log      *zap.Logger

	ops  chan writeOp // unbuffered: a received op is always answered, a closed store never strands one
	quit chan struct{}
	done chan struct{} // closed when the writer goroutine has returned

	// diskFullAt is when a topic write last failed for a full disk, in Unix nanoseconds;
	// 0 once one has committed since (see ping).
	diskFullAt atomic.Int64

	// proof lets a write that succeeded in the last second (a probe, a topic write) stand for
	// the readiness check's probe, and runs one probe at a time (see ping). failedWrites counts
	// the topic writes that failed; probedFailures is failedWrites as the last successful probe
	// read it before it wrote: while they differ, no recent success stands for the probe.
	proof          *writeproof.Proof
	failedWrites   atomic.Uint64
	probedFailures atomic.Uint64

	// onProbe, when set, is called after each probe the readiness check writes (tests count them).
	onProbe func()
}

// OpenSQLite opens (creating if needed) the SQLite database file at path, runs the migrations and
// starts the writer goroutine. The directory must exist. An in-memory or temporary database
// (":memory:", "file::memory:", "file:") is ErrInvalid: SQLite keeps one per connection, and the
// store reads on connections of their own.
// See OpenOption for opts.
func OpenSQLite(ctx context.Context, path string, log *zap.Logger, opts ...OpenOption) (Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if path == "" {
		return nil, fmt.Errorf("topic: open sqlite: %w: empty path", ErrInvalid)
	}
	if strings.ContainsRune(path, '?') {
		// The driver splits the DSN at the first '?'.
		return nil, fmt.Errorf("topic: open sqlite %q: %w: path contains '?'", path, ErrInvalid)
	}
	if path == ":memory:" || path == "file::memory:" || path == "file:" {
		// SQLite gives each connection an in-memory (or, for an empty URI,
		// temporary) database of its own: the reads, on connections of their
		// own, found no table.
		return nil, fmt.Errorf("topic: open sqlite %q: %w: an in-memory or temporary database is one per connection, "+
			"and the store reads on other connections than it writes on: give a file", path, ErrInvalid)
	}
	o := openConfigOf(opts)
	if o.withoutMigrating && !strings.HasPrefix(path, "file:") {
		// SQLite would create the file: a read of a mistyped path left an
		// empty database there, which the next read took for a store.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("topic: open sqlite %q: %w: no topic store here; has the service run on this store?", path, ErrSchema)
		}
	} else {
		createPrivate(path)
	}
	write, err := sql.Open("sqlite", path+"?"+sqliteWriteParams)
	if err != nil {
		return nil, fmt.Errorf("topic: open sqlite %q: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		if cause := cannotOpen(path); cause != nil {
			err = fmt.Errorf("%w: %w", err, cause)
		}
		return nil, errors.Join(fmt.Errorf("topic: open sqlite %q: %w", path, err), write.Close())
	}
	if err := migrate(ctx, write, goose.DialectSQLite3, "migrations/sqlite", log, o); err != nil {
		return nil, errors.Join(fmt.Errorf("topic: open sqlite %q: %w", path, err), write.Close())
	}
	prepared, err := prepareWriter(ctx, write)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("topic: open sqlite %q: %w", path, err), write.Close())
	}
	read, err := sql.Open("sqlite", path+"?"+sqliteReadParams)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("topic: open sqlite %q: %w", path, err), closeStmts(prepared), write.Close())
	}
	read.SetMaxOpenConns(readPoolSize)
	read.SetMaxIdleConns(readPoolSize)
	if err := read.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("topic: open sqlite %q: %w", path, err), read.Close(), closeStmts(prepared), write.Close())
	}
	b := &sqliteBackend{
		write:    write,
		prepared: prepared,
		read:     read,
		log:      log,
		ops:      make(chan writeOp),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		proof:    writeproof.New(),
	}
	go b.writeLoop()
	log.Info("topic store opened",
		zap.String("backend", "sqlite"),
		zap.String("path", path),
		zap.String("synchronous", "FULL"),
	)
	return newStore("sqlite", b), nil
}

func (b *sqliteBackend) get(ctx context.Context, appID, topicID string) (Topic, error) {
	t, err := scanSQLiteTopic(b.read.QueryRowContext(ctx, sqliteGet, appID, topicID))
	if errors.Is(err, sql.ErrNoRows) {
		return Topic{}, ErrNotFound
	}
	return t, err
}

// list ends a page at its budget in collectTopics: SQLite computes a row when it is stepped to,
// so the rows past the one collectTopics stops at are never read (closing the rows resets the
// statement).
func (b *sqliteBackend) list(ctx context.Context, f ListFilter) ([]Topic, bool, error) {
	query, args := listQuery(f, func(int) string { return "?" }, sqliteTime)
	rows, err := b.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	return collectTopics(rows, scanSQLiteTopic, f.pageBudget())
}

// close stops the writer after its current batch and closes both pools.
func (b *sqliteBackend) close() error {
	close(b.quit)
	<-b.done
	return errors.Join(closeStmts(b.prepared), b.write.Close(), b.read.Close())
}

// sqliteTime is t as SQLite stores it (t is already UTC at microsecond precision).
func sqliteTime(t time.Time) any { return t.Format(sqliteTimeLayout) }

func scanSQLiteTopic(row rowScanner) (Topic, error) {
	return scanTopic(row, func(s string) (time.Time, error) { return time.Parse(sqliteTimeLayout, s) })
}

// cannotOpen says why SQLite could not open the database at path, which its own error, "unable to
// open database file (14)", does not: the file is no regular file this process can read and write
// (a directory in its place, another user's file), or the directory cannot take the file or its
// -wal and -shm files. Nil when neither tells (a file: URI, or both fine).
func cannotOpen(path string) error {
	if strings.HasPrefix(path, "file:") {
		return nil
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		_ = f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	probe, err := os.CreateTemp(filepath.Dir(path), ".topics-probe-*")
	if err != nil {
		return fmt.Errorf("data directory not writable: %w", err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	return nil
}

// createPrivate creates the database file at path, empty and readable by this process's user
// only, unless it exists: SQLite would create it 0644 (less the umask), and its -wal and -shm
// files take the database's mode, so in a data directory that others can enter (systemd's
// StateDirectory, a volume) every local user could read the topics. An existing file keeps its
// mode; any error is left for SQLite's open to report, in its words.
func createPrivate(path string) {
	if strings.HasPrefix(path, "file:") {
		return
	}
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		_ = f.Close()
	}
}
