package topicsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.uber.org/zap"
)

// postgresMigrationLockID is the advisory lock replicas take while migrating: the ASCII bytes
// of "imcb_top", so it differs from goose's default and from other modules' locks.
const postgresMigrationLockID int64 = 0x696d63625f746f70

// postgresBackend is the PostgreSQL backend. The server handles concurrency, so each write is
// one upsert or update statement, run again when the server aborts it for a concurrent one
// (retryStatement).
type postgresBackend struct {
	pool *pgxpool.Pool
	// diskFullAt is when a topic write last failed for a full disk (SQLSTATE 53100), in Unix
	// nanoseconds; 0 once one has committed since. Read by ping.
	diskFullAt atomic.Int64
}

// defaultPostgresConns is the pool size unless the DSN sets pool_max_conns.
const defaultPostgresConns = 32

// postgresConnectTimeout bounds each connection attempt (the TCP connect, TLS and the startup
// handshake) unless the DSN sets connect_timeout or the environment sets PGCONNECT_TIMEOUT, each
// taken as it is, 0 included: pgx then applies pgxpool's own bound, 2 minutes (not libpq's
// "wait forever"). pgxpool makes its connections apart from the context of the call that asked for
// one, which gives up at its own deadline while the attempt goes on, holding one of the pool's
// slots: with only pgxpool's own bound, the attempts made while the server hung (one that takes
// connections but never answers: stuck on its storage, or a proxy in front of one) went on for
// that long, and once they held every slot each write failed waiting for a connection, however
// long the database had been back (a failover to another server, the hung one left hung), until
// they ended. A variable for the tests.
var postgresConnectTimeout = 10 * time.Second

// OpenPostgres connects to the PostgreSQL database named by dsn (a postgres:// or postgresql://
// URL; runtime parameters such as search_path are passed through) and runs the migrations,
// holding a session advisory lock so replicas starting together migrate one at a time. A database
// that does not give back UTF-8 text as sent (see checkEncoding) is refused first.
//
// See OpenOption for opts.
func OpenPostgres(ctx context.Context, dsn string, log *zap.Logger, opts ...OpenOption) (Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg, err := postgresConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("topic: open postgres: parse IMCALLBACK_STORE_DSN: %w", redactDSN(dsn, err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("topic: open postgres: %w", redactDSN(dsn, err))
	}
	if err := checkEncoding(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("topic: open postgres: %w", redactDSN(dsn, err))
	}
	if err := migratePostgres(ctx, pool, log, openConfigOf(opts)); err != nil {
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
	return newStore("postgres", &postgresBackend{pool: pool}), nil
}

// CheckDSN parses dsn, IMCALLBACK_STORE_DSN, as OpenPostgres does, without
// connecting: serve and config check refuse a DSN the driver cannot read (a
// port out of range, an sslmode it does not know, a CA file it cannot load)
// before anything is created, where the configuration's own check reads only
// the URL's shape. The empty DSN (SQLite) holds nothing to parse. The error
// never shows the password.
func CheckDSN(dsn string) error {
	if dsn == "" {
		return nil
	}
	if _, err := postgresConfig(dsn); err != nil {
		return fmt.Errorf("topic: parse IMCALLBACK_STORE_DSN: %w", redactDSN(dsn, err))
	}
	return nil
}

// postgresConfig is the pool's configuration of dsn: pgx's, with this store's pool size
// (defaultPostgresConns) and connection timeout (postgresConnectTimeout) unless the DSN, or for the
// timeout the environment (PGCONNECT_TIMEOUT, which pgx reads too), sets its own.
func postgresConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgxpool's default (the larger of 4 and the CPU count) queues concurrent
		// callbacks behind a handful of connections; PostgreSQL flushes the WAL of
		// concurrent commits together, so more connections mean fewer flushes per write.
		cfg.MaxConns = defaultPostgresConns
	}
	// A timeout of 0 is one the user set too (pgx, like libpq, reads an empty
	// PGCONNECT_TIMEOUT as unset): it is theirs to keep.
	if cfg.ConnConfig.ConnectTimeout == 0 && !strings.Contains(dsn, "connect_timeout") &&
		os.Getenv("PGCONNECT_TIMEOUT") == "" {
		cfg.ConnConfig.ConnectTimeout = postgresConnectTimeout
	}
	cfg.ShouldPing = shouldPing
	return cfg, nil
}

// encodingProbe is text of the kinds a topic carries: Latin with an accent, Chinese, and an emoji
// (four bytes in UTF-8).
const encodingProbe = "Café 话题 🙂"

// checkEncoding refuses a database that does not give back the UTF-8 text it is sent, before the
// migrations touch it. SQLite keeps any UTF-8; a PostgreSQL database whose encoding cannot (such
// as EUC_CN, or LATIN1 with client_encoding=UTF8 in the DSN) refused the writes of some topics
// only, each retried until dead-lettered, while the service reported itself ready.
func checkEncoding(ctx context.Context, pool *pgxpool.Pool) error {
	var back string
	err := pool.QueryRow(ctx, `SELECT $1::text`, encodingProbe).Scan(&back)
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22")) { // not a data exception
		return err
	}
	if err == nil && back == encodingProbe {
		return nil
	}
	var server, client string
	if err := pool.QueryRow(ctx, `SELECT current_setting('server_encoding'), current_setting('client_encoding')`).Scan(&server, &client); err != nil {
		return err
	}
	return fmt.Errorf("the database (server_encoding %s, client_encoding %s) does not give back UTF-8 text as sent "+
		"(Latin, Chinese, an emoji), so some topics would fail to store: use a database created with ENCODING 'UTF8'", server, client)
}

// migratePostgres runs goose through database/sql on top of the pool.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, log *zap.Logger, o openConfig) error {
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(postgresMigrationLockID),
		// Poll every second for as long as ctx allows (the start's deadline: IMCALLBACK_START_TIMEOUT,
		// at most an hour), not five minutes, goose's bound, which a longer start would outlast.
		lock.WithLockTimeout(1, 3600),
	)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool) // closing db leaves the pool open
	err = migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", log, o,
		goose.WithSessionLocker(migrationLocker{SessionLocker: locker, pool: pool}))
	return errors.Join(err, db.Close())
}

// migrationLocker is goose's session locker whose failure to take the lock names the sessions
// that hold it: goose says only "context deadline exceeded" or "failed to acquire lock", and the
// start's error then sent the operator to check the DSN.
type migrationLocker struct {
	lock.SessionLocker
	pool *pgxpool.Pool
}

// postgresLockHolders lists the sessions that hold advisory lock $1 in this database.
const postgresLockHolders = `
SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), ''), a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid
ORDER BY a.pid`

// SessionLock takes the lock as goose's locker does; when it cannot, the error names who holds it.
func (l migrationLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	err := l.SessionLocker.SessionLock(ctx, conn)
	if err == nil {
		return nil
	}
	// ctx may have ended: look with a short context of its own.
	lookCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var holders []string
	rows, qerr := l.pool.Query(lookCtx, postgresLockHolders, postgresMigrationLockID)
	if qerr == nil {
		var (
			pid          int
			app, client  string
			backendStart *time.Time // NULL in a row of another user the role may not see
		)
		_, qerr = pgx.ForEachRow(rows, []any{&pid, &app, &client, &backendStart}, func() error {
			since := "unknown"
			if backendStart != nil {
				since = backendStart.UTC().Format(time.RFC3339)
			}
			holders = append(holders, fmt.Sprintf("pid %d (application_name %q, client %q, connected %s)",
				pid, app, client, since))
			return nil
		})
	}
	if qerr != nil || len(holders) == 0 { // no holder to name: the lock's query itself may have failed
		return fmt.Errorf("the topic store's migration lock (PostgreSQL advisory lock %d) was not taken: %w",
			postgresMigrationLockID, err)
	}
	return fmt.Errorf("the topic store's migration lock (PostgreSQL advisory lock %d) was not taken: the session %s "+
		"holds it; it is another replica migrating (give the start more time: IMCALLBACK_START_TIMEOUT) or a session "+
		"left holding it (SELECT pg_terminate_backend(pid) ends it): %w",
		postgresMigrationLockID, strings.Join(holders, ", the session "), err)
}

// SQL of the PostgreSQL store; List's statement comes from listQuery.
const (
	// postgresCreate inserts a topic or completes a tombstone; a row whose create was already received
	// is left as it is (a repeated or late create changes nothing) unless it is renewed. A row is
	// renewed when it was deleted before $13 (this create's time less RecreateMargin), a topic
	// destroyed before this one was created under its id, or, live, created before $13, a topic whose
	// destroy has not arrived: the create makes it anew, live. A row deleted since $13 but created
	// before it holds an earlier topic's create, which completed the tombstone of this topic's
	// destroy: the create makes it anew too, deleted still. Whether it inserts, completes or renews,
	// the create sets the fields an info change sets as a change dated $13 would: each one a change
	// newer than $13 set is kept (of $13 itself: the greater value, as two changes of one time), the
	// others take the create's value and the date $13 (a NULL date, of a row only a destroy wrote or
	// one stored before creates dated their fields, is older than any). A change that reached the
	// service less than the margin before the create is its topic's (the two swapped on the way), and
	// every later one is, whichever arrives first; a late change of an earlier topic of the id, older,
	// leaves them alone. A create received from $13 to $14 (this create's time plus RecreateMargin)
	// that does not renew the row is this create sent again: created_at becomes the earlier of the
	// two, and nothing else changes but updated_at, when that was the later create's time: it
	// becomes the latest of the earlier create's and of the destroys and changes applied, as in
	// order (the fields' dates, deleted_at and a deleted row's destroyed_at keep theirs; a create
	// that makes the row live again clears destroyed_at). SET reads the row as it was.
	postgresCreate = `
INSERT INTO topics (` + topicColumns + `, create_received,
    name_changed_at, introduction_changed_at, notification_changed_at, face_url_changed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, NULL, true, $13, $13, $13, $13)
ON CONFLICT (topic_id, sdk_app_id) DO UPDATE SET
    group_id = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) THEN EXCLUDED.group_id ELSE topics.group_id END,
    name = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) AND (topics.name_changed_at IS NULL OR topics.name_changed_at < $13 OR (topics.name_changed_at = $13 AND EXCLUDED.name COLLATE "C" >= topics.name COLLATE "C")) THEN EXCLUDED.name ELSE topics.name END,
    name_changed_at = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) AND (topics.name_changed_at IS NULL OR topics.name_changed_at < $13 OR (topics.name_changed_at = $13 AND EXCLUDED.name COLLATE "C" >= topics.name COLLATE "C")) THEN $13 ELSE topics.name_changed_at END,
    owner_account = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) THEN EXCLUDED.owner_account ELSE topics.owner_account END,
    operator_account = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) THEN EXCLUDED.operator_account ELSE topics.operator_account END,
    group_type = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) THEN EXCLUDED.group_type ELSE topics.group_type END,
    custom_data = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) THEN EXCLUDED.custom_data ELSE topics.custom_data END,
    introduction = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) AND (topics.introduction_changed_at IS NULL OR topics.introduction_changed_at < $13 OR (topics.introduction_changed_at = $13 AND EXCLUDED.introduction COLLATE "C" >= topics.introduction COLLATE "C")) THEN EXCLUDED.introduction ELSE topics.introduction END,
    introduction_changed_at = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) AND (topics.introduction_changed_at IS NULL OR topics.introduction_changed_at < $13 OR (topics.introduction_changed_at = $13 AND EXCLUDED.introduction COLLATE "C" >= topics.introduction COLLATE "C")) THEN $13 ELSE topics.introduction_changed_at END,
    notification = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) AND (topics.notification_changed_at IS NULL OR topics.notification_changed_at < $13 OR (topics.notification_changed_at = $13 AND EXCLUDED.notification COLLATE "C" >= topics.notification COLLATE "C")) THEN EXCLUDED.notification ELSE topics.notification END,
    notification_changed_at = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) AND (topics.notification_changed_at IS NULL OR topics.notification_changed_at < $13 OR (topics.notification_changed_at = $13 AND EXCLUDED.notification COLLATE "C" >= topics.notification COLLATE "C")) THEN $13 ELSE topics.notification_changed_at END,
    face_url = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) AND (topics.face_url_changed_at IS NULL OR topics.face_url_changed_at < $13 OR (topics.face_url_changed_at = $13 AND EXCLUDED.face_url COLLATE "C" >= topics.face_url COLLATE "C")) THEN EXCLUDED.face_url ELSE topics.face_url END,
    face_url_changed_at = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) AND (topics.face_url_changed_at IS NULL OR topics.face_url_changed_at < $13 OR (topics.face_url_changed_at = $13 AND EXCLUDED.face_url COLLATE "C" >= topics.face_url COLLATE "C")) THEN $13 ELSE topics.face_url_changed_at END,
    created_at = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) THEN EXCLUDED.created_at ELSE LEAST(topics.created_at, EXCLUDED.created_at) END,
    updated_at = CASE WHEN (NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13) THEN GREATEST(topics.updated_at, EXCLUDED.updated_at)
        WHEN topics.updated_at = topics.created_at AND EXCLUDED.created_at < topics.created_at THEN GREATEST(EXCLUDED.created_at, topics.deleted_at, CASE WHEN topics.deleted_at IS NOT NULL THEN topics.destroyed_at END,
            topics.name_changed_at, topics.introduction_changed_at, topics.notification_changed_at, topics.face_url_changed_at)
        ELSE topics.updated_at END,
    deleted_at = CASE WHEN topics.deleted_at < $13 THEN NULL ELSE topics.deleted_at END,
    destroyed_at = CASE WHEN topics.deleted_at < $13 THEN NULL ELSE topics.destroyed_at END,
    create_received = true
WHERE NOT topics.create_received OR topics.created_at < $13 OR topics.deleted_at < $13 OR topics.created_at <= $14`

	// postgresDestroy marks live topics of the app deleted, leaves deleted ones alone and writes
	// tombstones for unknown ones. A live topic created after $5 (this destroy's time plus
	// RecreateMargin) is a later topic of the id than the one destroyed: it is left alone too.
	// A topic deleted before $6 (this destroy's time less RecreateMargin) was deleted as an
	// earlier topic of the id: this destroys a later one, whose create has not arrived yet, and
	// its time becomes deleted_at, so that create does not bring the topic back. A topic deleted
	// from $6 to $5 was deleted by this destroy, sent again (one without EventTime is dated by its
	// arrival): it keeps the earlier of the two times, so both arrival orders end alike. A row
	// only destroys wrote (create_received false) is dated by its deletion. destroyed_at keeps the
	// latest of the destroys applied since the deletion, which a create sent again reads when it
	// brings updated_at back to the latest write applied.
	postgresDestroy = `
INSERT INTO topics (sdk_app_id, topic_id, group_id, created_at, updated_at, deleted_at, create_received, destroyed_at)
SELECT $4, id, $2, $3, $3, $3, false, $3 FROM unnest($1::text[]) AS id
ON CONFLICT (topic_id, sdk_app_id) DO UPDATE SET
    deleted_at = CASE WHEN topics.deleted_at >= $6 THEN LEAST(topics.deleted_at, EXCLUDED.deleted_at) ELSE EXCLUDED.deleted_at END,
    destroyed_at = CASE WHEN topics.deleted_at >= $6 THEN GREATEST(topics.destroyed_at, topics.deleted_at, EXCLUDED.destroyed_at) ELSE EXCLUDED.destroyed_at END,
    created_at = CASE WHEN topics.create_received THEN topics.created_at
        WHEN topics.deleted_at >= $6 THEN LEAST(topics.deleted_at, EXCLUDED.deleted_at) ELSE EXCLUDED.deleted_at END,
    updated_at = GREATEST(topics.updated_at, EXCLUDED.updated_at)
WHERE (topics.deleted_at IS NULL AND topics.created_at <= $5) OR topics.deleted_at <= $5`

	// postgresInfoChange sets each field present (a non-NULL parameter) unless a newer change
	// already set it; SET reads the row as it was, so each CASE sees the field's old time. Two
	// changes of one time end in the greater value (byte order, as SQLite compares), whatever
	// order they come in.
	postgresInfoChange = `
UPDATE topics SET
    name = CASE WHEN $1::text IS NOT NULL AND (name_changed_at IS NULL OR name_changed_at < $5::timestamptz OR (name_changed_at = $5::timestamptz AND $1::text COLLATE "C" >= name COLLATE "C")) THEN $1 ELSE name END,
    name_changed_at = CASE WHEN $1::text IS NOT NULL AND (name_changed_at IS NULL OR name_changed_at < $5::timestamptz OR (name_changed_at = $5::timestamptz AND $1::text COLLATE "C" >= name COLLATE "C")) THEN $5::timestamptz ELSE name_changed_at END,
    introduction = CASE WHEN $2::text IS NOT NULL AND (introduction_changed_at IS NULL OR introduction_changed_at < $5::timestamptz OR (introduction_changed_at = $5::timestamptz AND $2::text COLLATE "C" >= introduction COLLATE "C")) THEN $2 ELSE introduction END,
    introduction_changed_at = CASE WHEN $2::text IS NOT NULL AND (introduction_changed_at IS NULL OR introduction_changed_at < $5::timestamptz OR (introduction_changed_at = $5::timestamptz AND $2::text COLLATE "C" >= introduction COLLATE "C")) THEN $5::timestamptz ELSE introduction_changed_at END,
    notification = CASE WHEN $3::text IS NOT NULL AND (notification_changed_at IS NULL OR notification_changed_at < $5::timestamptz OR (notification_changed_at = $5::timestamptz AND $3::text COLLATE "C" >= notification COLLATE "C")) THEN $3 ELSE notification END,
    notification_changed_at = CASE WHEN $3::text IS NOT NULL AND (notification_changed_at IS NULL OR notification_changed_at < $5::timestamptz OR (notification_changed_at = $5::timestamptz AND $3::text COLLATE "C" >= notification COLLATE "C")) THEN $5::timestamptz ELSE notification_changed_at END,
    face_url = CASE WHEN $4::text IS NOT NULL AND (face_url_changed_at IS NULL OR face_url_changed_at < $5::timestamptz OR (face_url_changed_at = $5::timestamptz AND $4::text COLLATE "C" >= face_url COLLATE "C")) THEN $4 ELSE face_url END,
    face_url_changed_at = CASE WHEN $4::text IS NOT NULL AND (face_url_changed_at IS NULL OR face_url_changed_at < $5::timestamptz OR (face_url_changed_at = $5::timestamptz AND $4::text COLLATE "C" >= face_url COLLATE "C")) THEN $5::timestamptz ELSE face_url_changed_at END,
    updated_at = GREATEST(updated_at, $5)
WHERE sdk_app_id = $7 AND topic_id = $6`

	postgresGet = `SELECT ` + topicColumns + ` FROM topics WHERE sdk_app_id = $1 AND topic_id = $2`
)

// create passes the custom data as text: pgx sends []byte as bytea, which
// the query exec modes a DSN may choose for a pooler or proxy that cannot
// keep prepared statements (default_query_exec_mode=simple_protocol or
// exec) write as bytea's hex text, which jsonb refuses; text is the JSON
// itself in every mode.
func (b *postgresBackend) create(ctx context.Context, t Topic, custom []byte, created, deletedBefore, resentUntil time.Time) error {
	return b.noteWrite(retryStatement(ctx, func(ctx context.Context) error {
		_, err := b.pool.Exec(ctx, postgresCreate,
			t.SdkAppID, t.TopicID, t.GroupID, t.Name, t.OwnerAccount, t.OperatorAccount, t.Type,
			string(custom), t.Introduction, t.Notification, t.FaceURL, created, deletedBefore, resentUntil)
		return err
	}))
}

// postgresFullHold is how long a topic write that failed for a full disk keeps the readiness
// check failing when no topic write has committed since (see ping).
const postgresFullHold = 30 * time.Second

// noteWrite notes the outcome err of a topic write for the readiness check and returns it: the
// time of a failure for a full disk, cleared by a commit.
func (b *postgresBackend) noteWrite(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		if b.diskFullAt.Load() != 0 { // a store on every write would bounce the line between cores
			b.diskFullAt.Store(0)
		}
	case errors.As(err, &pgErr) && pgErr.Code == "53100": // disk_full
		b.diskFullAt.Store(time.Now().UnixNano())
	}
	return err
}

// Bounds of retryStatement: at most maxConflictAttempts runs, the pause before the next one
// doubling from firstConflictPause to maxConflictPause (each drawn from half to all of it), at
// most 1.327 s of pauses in all (1+2+…+64 ms, then twelve of 100 ms).
const (
	maxConflictAttempts = 20
	firstConflictPause  = time.Millisecond
	maxConflictPause    = 100 * time.Millisecond
)

// retryStatement runs exec, one write's statement (or a read), again when PostgreSQL aborted it
// for a conflict with a concurrent transaction: a serialization failure (SQLSTATE 40001, which a
// database whose default isolation is repeatable read or serializable raises when another
// replica changed the row since the statement's snapshot) or a deadlock (40P01). Each write is
// one statement that reads its rows as it writes them, so running it again applies it after the
// other, as under read committed. It gives up after maxConflictAttempts, or when ctx ends.
//
// It also runs exec once more, at once, when its connection turned out to be lost (connLost: the
// server ended it, as pg_terminate_backend or a failover does, and the pool handed it out within
// a second of its last use, before it would ping it), on a connection the pool pings before
// handing it out (see shouldPing), so that the dead ones left in the pool are replaced rather
// than failing the calls after it one by one. A write may then run twice; each is applied once
// however often it runs (a create, destroy or info change sent again changes nothing).
func retryStatement(ctx context.Context, exec func(ctx context.Context) error) error {
	pause := firstConflictPause
	lostOnce := false
	for attempt := 1; ; attempt++ {
		err := exec(ctx)
		if err != nil && !lostOnce && ctx.Err() == nil && connLost(err) {
			lostOnce = true
			err = exec(context.WithValue(ctx, pingBeforeUse{}, true))
		}
		if err == nil || !isConflict(err) || attempt == maxConflictAttempts {
			return err
		}
		timer := time.NewTimer(pause/2 + rand.N(pause/2+1))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (before it could run again: %w)", err, ctx.Err())
		case <-timer.C:
		}
		pause = min(2*pause, maxConflictPause)
	}
}

// isConflict reports whether err is PostgreSQL's serialization failure or deadlock.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// connLost reports whether err says the statement's connection was lost: the server ended it
// (SQLSTATE 57P01 admin_shutdown, 57P02 crash_shutdown), or it was found closed or broken
// (nothing sent, or the stream cut: io.EOF, io.ErrUnexpectedEOF).
func connLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P01" || pgErr.Code == "57P02"
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// postgresAdopt moves the topics of the empty app to $1 while no topic has an app.
const postgresAdopt = `
UPDATE topics SET sdk_app_id = $1
WHERE sdk_app_id = '' AND NOT EXISTS (SELECT 1 FROM topics kept WHERE kept.sdk_app_id <> '')`

func (b *postgresBackend) adoptUnkeyed(ctx context.Context, appID string) (int64, error) {
	var tag pgconn.CommandTag
	err := retryStatement(ctx, func(ctx context.Context) (err error) {
		tag, err = b.pool.Exec(ctx, postgresAdopt, appID)
		return err
	})
	return tag.RowsAffected(), err
}

func (b *postgresBackend) destroy(ctx context.Context, appID, groupID string, ids []string, at, createdAfter, deletedBefore time.Time) error {
	// One statement, so one transaction; ids has no repeats, which ON CONFLICT requires.
	return b.noteWrite(retryStatement(ctx, func(ctx context.Context) error {
		_, err := b.pool.Exec(ctx, postgresDestroy, ids, groupID, at, appID, createdAfter, deletedBefore)
		return err
	}))
}

func (b *postgresBackend) infoChange(ctx context.Context, c InfoChange, at time.Time) error {
	var tag pgconn.CommandTag
	err := retryStatement(ctx, func(ctx context.Context) (err error) {
		tag, err = b.pool.Exec(ctx, postgresInfoChange,
			c.Name, c.Introduction, c.Notification, c.FaceURL, at, c.TopicID, c.SdkAppID)
		return err
	})
	if err = b.noteWrite(err); err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func (b *postgresBackend) get(ctx context.Context, appID, topicID string) (Topic, error) {
	var t Topic
	err := retryStatement(ctx, func(ctx context.Context) (err error) {
		t, err = scanPostgresTopic(b.pool.QueryRow(ctx, postgresGet, appID, topicID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Topic{}, ErrNotFound
	}
	return t, err
}

func (b *postgresBackend) list(ctx context.Context, f ListFilter) ([]Topic, bool, error) {
	query, args := postgresListQuery(f)
	budget := f.pageBudget()
	var (
		topics []Topic
		more   bool
	)
	err := retryStatement(ctx, func(ctx context.Context) error {
		rows, err := b.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if budget == 0 {
			topics, more, err = collectTopics(rows, scanPostgresTopic, 0)
			return err
		}
		var found int64 // the rows of the page's LIMIT, before its budget
		topics, more, err = collectTopics(rows, func(row rowScanner) (Topic, error) {
			return scanTopic(row, postgresTime, &found)
		}, budget)
		more = more || int64(len(topics)) < found
		return err
	})
	return topics, more, err
}

// postgresTopicBytes is topicBytes of a row as PostgreSQL computes it, counting the custom data
// as its JSON text, which holds each field's key and value and more than fieldBytes beside them:
// never less than topicBytes of the topic read from the row. octet_length reads the size of a
// TOASTed text column without fetching it; the custom data, though, is fetched and printed as
// text to be counted, for every row of the page's LIMIT, the rows the page leaves out included.
const postgresTopicBytes = `octet_length(sdk_app_id) + octet_length(topic_id) + octet_length(group_id) +
    octet_length(name) + octet_length(owner_account) + octet_length(operator_account) + octet_length(group_type) +
    octet_length(custom_data::text) + octet_length(introduction) + octet_length(notification) + octet_length(face_url)`

// postgresListQuery is List's statement of f. With a page budget the server ends the page
// itself, as collectTopics would, and sends its rows only: pgx reads a result to its end, even
// when the rows are closed early, so a page that collectTopics ended after a few large topics
// still had the server send every other row of its LIMIT, read and dropped: up to a thousand
// large topics for each page of paging through them. Each row also carries the number of
// rows of the LIMIT, which tells whether the budget left some out; as the server's count of a
// topic's bytes is never below topicBytes, collectTopics keeps each row it sends.
func postgresListQuery(f ListFilter) (string, []any) {
	query, args := listQuery(f, func(n int) string { return "$" + strconv.Itoa(n) },
		func(t time.Time) any { return t })
	budget := f.pageBudget()
	if budget == 0 {
		return query, args
	}
	args = append(args, int64(budget))
	return `SELECT ` + topicColumns + `, found FROM (
    SELECT *, count(*) OVER () AS found,
        coalesce(sum(` + postgresTopicBytes + `) OVER (ORDER BY created_at, sdk_app_id, topic_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS held_before
    FROM (` + query + `) AS selected
) AS sized
WHERE held_before < $` + strconv.Itoa(len(args)) + `
ORDER BY created_at, sdk_app_id, topic_id`, args
}

// pingBeforeUse marks the context of an acquire whose connection the pool pings before handing
// it out (see shouldPing): the readiness check's, and a statement's run again after its
// connection was lost (retryStatement).
type pingBeforeUse struct{}

// shouldPing is the pool's ShouldPing: pgxpool's default (a connection idle
// over a second is pinged before it is handed out, and replaced when dead),
// and every connection acquired with pingBeforeUse: the readiness check's and
// a statement's run again after its connection was lost. Without the latter,
// a connection the server ended (pg_terminate_backend, a failover) within a
// second of its last use was handed to the check, which then reported the
// store failing once while a fresh connection worked.
func shouldPing(ctx context.Context, p pgxpool.ShouldPingParams) bool {
	return p.IdleDuration > time.Second || ctx.Value(pingBeforeUse{}) != nil
}

// ping checks the store on a live connection: the pool's acquire pings each
// one it would hand out and replaces the dead ones (shouldPing), so only a
// server that cannot be reached or refuses, or one that would refuse every
// write, fails it: a standby (a failover left the DSN's host one) or a
// database whose transactions are read-only by default (as managed services
// make it when its storage is full) answers, and every topic write fails.
// A server whose own data disk is full stays writable in principle, and only
// a write that needs a new page fails (SQLSTATE 53100 disk_full), which the
// check, writing nothing, cannot see: a topic write that failed so, with
// none committed since, fails it for postgresFullHold after it, as the SQLite
// store's does (the delivery's retries clear it as soon as one commits).
func (b *postgresBackend) ping(ctx context.Context) error {
	var standby bool
	var readOnly string
	err := b.pool.QueryRow(context.WithValue(ctx, pingBeforeUse{}, true),
		`SELECT pg_is_in_recovery(), current_setting('transaction_read_only')`).Scan(&standby, &readOnly)
	switch {
	case err != nil:
		return err
	case standby:
		return errors.New("the database is read-only: the server is a standby (in recovery), so every topic write fails")
	case readOnly == "on":
		return errors.New("the database is read-only: its transactions are read-only (default_transaction_read_only), so every topic write fails")
	}
	if at := b.diskFullAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < postgresFullHold {
		return fmt.Errorf("a topic write failed for a full disk (SQLSTATE 53100) at %s, and none has committed since",
			time.Unix(0, at).UTC().Format(time.RFC3339))
	}
	return nil
}

// close waits for borrowed connections to come back, then closes them all
// (the app's stop does not wait past its context: startedStore.closeWithin).
func (b *postgresBackend) close() error {
	b.pool.Close()
	return nil
}

func scanPostgresTopic(row rowScanner) (Topic, error) { return scanTopic(row, postgresTime) }

// postgresTime is a time pgx scanned, in UTC.
func postgresTime(t time.Time) (time.Time, error) { return t.UTC(), nil }
