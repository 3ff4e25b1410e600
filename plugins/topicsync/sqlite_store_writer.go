package topicsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"

	"go.uber.org/zap"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The SQLite store's writes and all its SQL. Callers hand their write to one goroutine, which
// commits every write queued during the previous commit in a single transaction (one fsync for
// all), then answers each caller with its own result.

// stmtID names a statement the writer keeps prepared on its connection.
type stmtID int

const (
	stmtCreate stmtID = iota
	stmtDestroy
	stmtInfoChange
	stmtProbe
	stmtSavepoint
	stmtRollbackToSavepoint
	stmtReleaseSavepoint
	stmtCount
)

// writerSQL is each writer statement's SQL. Parsing it again on every write cost about half of
// the writer's CPU in BenchmarkSQLiteCreateParallel, hence the preparing.
var writerSQL = [stmtCount]string{
	// Inserts a topic or completes a tombstone; a row whose create was already received is left as it
	// is (a repeated or late create changes nothing) unless it is renewed. A row is renewed when it
	// was deleted before ?13 (this create's time less RecreateMargin), a topic destroyed before this
	// one was created under its id, or, live, created before ?13, a topic whose destroy has not
	// arrived: the create makes it anew, live. A row deleted since ?13 but created before it holds an
	// earlier topic's create, which completed the tombstone of this topic's destroy: the create makes
	// it anew too, deleted still. Whether it inserts, completes or renews, the create sets the fields
	// an info change sets as a change dated ?13 would: each one a change newer than ?13 set is kept
	// (of ?13 itself: the greater value, as two changes of one time), the others take the create's
	// value and the date ?13 (a NULL date, of a row only a destroy wrote or one stored before creates
	// dated their fields, is older than any). A change that reached the service less than the margin
	// before the create is its topic's (the two swapped on the way), and every later one is, whichever
	// arrives first; a late change of an earlier topic of the id, older, leaves them alone. A create
	// received from ?13 to ?14 (this create's time plus RecreateMargin) that does not renew the row is
	// this create sent again: created_at becomes the earlier of the two, and nothing else changes but
	// updated_at, when that was the later create's time: it becomes the latest of the earlier
	// create's and of the destroys and changes applied, as in order (the fields' dates, deleted_at
	// and a deleted row's destroyed_at keep theirs; a create that makes the row live again clears
	// destroyed_at; max() of SQLite is NULL with a NULL argument, hence the coalesce). SET reads the
	// row as it was.
	stmtCreate: `
INSERT INTO topics (` + topicColumns + `, create_received,
    name_changed_at, introduction_changed_at, notification_changed_at, face_url_changed_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, NULL, 1, ?13, ?13, ?13, ?13)
ON CONFLICT (topic_id, sdk_app_id) DO UPDATE SET
    group_id = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) THEN excluded.group_id ELSE topics.group_id END,
    name = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) AND (topics.name_changed_at IS NULL OR topics.name_changed_at < ?13 OR (topics.name_changed_at = ?13 AND excluded.name >= topics.name)) THEN excluded.name ELSE topics.name END,
    name_changed_at = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) AND (topics.name_changed_at IS NULL OR topics.name_changed_at < ?13 OR (topics.name_changed_at = ?13 AND excluded.name >= topics.name)) THEN ?13 ELSE topics.name_changed_at END,
    owner_account = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) THEN excluded.owner_account ELSE topics.owner_account END,
    operator_account = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) THEN excluded.operator_account ELSE topics.operator_account END,
    group_type = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) THEN excluded.group_type ELSE topics.group_type END,
    custom_data = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) THEN excluded.custom_data ELSE topics.custom_data END,
    introduction = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) AND (topics.introduction_changed_at IS NULL OR topics.introduction_changed_at < ?13 OR (topics.introduction_changed_at = ?13 AND excluded.introduction >= topics.introduction)) THEN excluded.introduction ELSE topics.introduction END,
    introduction_changed_at = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) AND (topics.introduction_changed_at IS NULL OR topics.introduction_changed_at < ?13 OR (topics.introduction_changed_at = ?13 AND excluded.introduction >= topics.introduction)) THEN ?13 ELSE topics.introduction_changed_at END,
    notification = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) AND (topics.notification_changed_at IS NULL OR topics.notification_changed_at < ?13 OR (topics.notification_changed_at = ?13 AND excluded.notification >= topics.notification)) THEN excluded.notification ELSE topics.notification END,
    notification_changed_at = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) AND (topics.notification_changed_at IS NULL OR topics.notification_changed_at < ?13 OR (topics.notification_changed_at = ?13 AND excluded.notification >= topics.notification)) THEN ?13 ELSE topics.notification_changed_at END,
    face_url = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) AND (topics.face_url_changed_at IS NULL OR topics.face_url_changed_at < ?13 OR (topics.face_url_changed_at = ?13 AND excluded.face_url >= topics.face_url)) THEN excluded.face_url ELSE topics.face_url END,
    face_url_changed_at = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) AND (topics.face_url_changed_at IS NULL OR topics.face_url_changed_at < ?13 OR (topics.face_url_changed_at = ?13 AND excluded.face_url >= topics.face_url)) THEN ?13 ELSE topics.face_url_changed_at END,
    created_at = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) THEN excluded.created_at ELSE min(topics.created_at, excluded.created_at) END,
    updated_at = CASE WHEN (topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13) THEN max(topics.updated_at, excluded.updated_at)
        WHEN topics.updated_at = topics.created_at AND excluded.created_at < topics.created_at THEN max(excluded.created_at, coalesce(topics.deleted_at, ''), coalesce(CASE WHEN topics.deleted_at IS NOT NULL THEN topics.destroyed_at END, ''),
            coalesce(topics.name_changed_at, ''), coalesce(topics.introduction_changed_at, ''), coalesce(topics.notification_changed_at, ''), coalesce(topics.face_url_changed_at, ''))
        ELSE topics.updated_at END,
    deleted_at = CASE WHEN topics.deleted_at < ?13 THEN NULL ELSE topics.deleted_at END,
    destroyed_at = CASE WHEN topics.deleted_at < ?13 THEN NULL ELSE topics.destroyed_at END,
    create_received = 1
WHERE topics.create_received = 0 OR topics.created_at < ?13 OR topics.deleted_at < ?13 OR topics.created_at <= ?14`,

	// Marks a live topic of the app deleted, leaves a deleted one alone and writes a tombstone
	// for an unknown one. A live topic created after ?5 (this destroy's time plus
	// RecreateMargin) is a later topic of the id than the one destroyed: it is left alone too.
	// A topic deleted before ?6 (this destroy's time less RecreateMargin) was deleted as an
	// earlier topic of the id: this destroys a later one, whose create has not arrived yet, and
	// its time becomes deleted_at, so that create does not bring the topic back. A topic deleted
	// from ?6 to ?5 was deleted by this destroy, sent again (one without EventTime is dated by its
	// arrival): it keeps the earlier of the two times, so both arrival orders end alike. A row
	// only destroys wrote (create_received 0) is dated by its deletion. destroyed_at keeps the
	// latest of the destroys applied since the deletion, which a create sent again reads when it
	// brings updated_at back to the latest write applied.
	stmtDestroy: `
INSERT INTO topics (sdk_app_id, topic_id, group_id, created_at, updated_at, deleted_at, create_received, destroyed_at)
VALUES (?1, ?2, ?3, ?4, ?4, ?4, 0, ?4)
ON CONFLICT (topic_id, sdk_app_id) DO UPDATE SET
    deleted_at = CASE WHEN topics.deleted_at >= ?6 THEN min(topics.deleted_at, excluded.deleted_at) ELSE excluded.deleted_at END,
    destroyed_at = CASE WHEN topics.deleted_at >= ?6 THEN max(coalesce(topics.destroyed_at, ''), topics.deleted_at, excluded.destroyed_at) ELSE excluded.destroyed_at END,
    created_at = CASE WHEN topics.create_received = 1 THEN topics.created_at
        WHEN topics.deleted_at >= ?6 THEN min(topics.deleted_at, excluded.deleted_at) ELSE excluded.deleted_at END,
    updated_at = max(topics.updated_at, excluded.updated_at)
WHERE (topics.deleted_at IS NULL AND topics.created_at <= ?5) OR topics.deleted_at <= ?5`,

	// Sets each field present (a non-NULL parameter) unless a newer change already set it;
	// SET reads the row as it was, so each CASE sees the field's old time. Two changes of one
	// time end in the greater value, whatever order they come in.
	stmtInfoChange: `
UPDATE topics SET
    name = CASE WHEN ?1 IS NOT NULL AND (name_changed_at IS NULL OR name_changed_at < ?5 OR (name_changed_at = ?5 AND ?1 >= name)) THEN ?1 ELSE name END,
    name_changed_at = CASE WHEN ?1 IS NOT NULL AND (name_changed_at IS NULL OR name_changed_at < ?5 OR (name_changed_at = ?5 AND ?1 >= name)) THEN ?5 ELSE name_changed_at END,
    introduction = CASE WHEN ?2 IS NOT NULL AND (introduction_changed_at IS NULL OR introduction_changed_at < ?5 OR (introduction_changed_at = ?5 AND ?2 >= introduction)) THEN ?2 ELSE introduction END,
    introduction_changed_at = CASE WHEN ?2 IS NOT NULL AND (introduction_changed_at IS NULL OR introduction_changed_at < ?5 OR (introduction_changed_at = ?5 AND ?2 >= introduction)) THEN ?5 ELSE introduction_changed_at END,
    notification = CASE WHEN ?3 IS NOT NULL AND (notification_changed_at IS NULL OR notification_changed_at < ?5 OR (notification_changed_at = ?5 AND ?3 >= notification)) THEN ?3 ELSE notification END,
    notification_changed_at = CASE WHEN ?3 IS NOT NULL AND (notification_changed_at IS NULL OR notification_changed_at < ?5 OR (notification_changed_at = ?5 AND ?3 >= notification)) THEN ?5 ELSE notification_changed_at END,
    face_url = CASE WHEN ?4 IS NOT NULL AND (face_url_changed_at IS NULL OR face_url_changed_at < ?5 OR (face_url_changed_at = ?5 AND ?4 >= face_url)) THEN ?4 ELSE face_url END,
    face_url_changed_at = CASE WHEN ?4 IS NOT NULL AND (face_url_changed_at IS NULL OR face_url_changed_at < ?5 OR (face_url_changed_at = ?5 AND ?4 >= face_url)) THEN ?5 ELSE face_url_changed_at END,
    updated_at = max(updated_at, ?5)
WHERE sdk_app_id = ?7 AND topic_id = ?6`,

	// Rewrites the readiness check's row, with a pad of ?2 bytes (sqliteProbePad).
	stmtProbe: `INSERT INTO store_probe (id, at, pad) VALUES (1, ?1, zeroblob(?2)) ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad`,

	stmtSavepoint:           `SAVEPOINT op`,
	stmtRollbackToSavepoint: `ROLLBACK TO op`,
	stmtReleaseSavepoint:    `RELEASE op`,
}

// sqliteGet reads one topic on the read pool; List's statement comes from listQuery.
const sqliteGet = `SELECT ` + topicColumns + ` FROM topics WHERE sdk_app_id = ? AND topic_id = ?`

func (b *sqliteBackend) create(ctx context.Context, t Topic, custom []byte, created, deletedBefore, resentUntil time.Time) error {
	return b.topicWrite(ctx, func(w *writeTx) error {
		_, err := w.exec(stmtCreate,
			t.SdkAppID, t.TopicID, t.GroupID, t.Name, t.OwnerAccount, t.OperatorAccount, t.Type,
			string(custom), t.Introduction, t.Notification, t.FaceURL, sqliteTime(created), sqliteTime(deletedBefore),
			sqliteTime(resentUntil))
		return err
	})
}

func (b *sqliteBackend) destroy(ctx context.Context, appID, groupID string, ids []string, at, createdAfter, deletedBefore time.Time) error {
	when, after, before := sqliteTime(at), sqliteTime(createdAfter), sqliteTime(deletedBefore)
	return b.topicWrite(ctx, func(w *writeTx) error {
		for _, id := range ids {
			if _, err := w.exec(stmtDestroy, appID, id, groupID, when, after, before); err != nil {
				return fmt.Errorf("topic %q: %w", id, err)
			}
		}
		return nil
	})
}

func (b *sqliteBackend) infoChange(ctx context.Context, c InfoChange, at time.Time) error {
	return b.topicWrite(ctx, func(w *writeTx) error {
		res, err := w.exec(stmtInfoChange,
			c.Name, c.Introduction, c.Notification, c.FaceURL, sqliteTime(at), c.TopicID, c.SdkAppID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// sqliteAdopt moves the topics of the empty app to ?1 while no topic has an app. It runs once at
// start, so it is not kept prepared.
const sqliteAdopt = `
UPDATE topics SET sdk_app_id = ?1
WHERE sdk_app_id = '' AND NOT EXISTS (SELECT 1 FROM topics kept WHERE kept.sdk_app_id <> '')`

func (b *sqliteBackend) adoptUnkeyed(ctx context.Context, appID string) (int64, error) {
	var n int64
	err := b.submit(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, sqliteAdopt, appID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// sqliteProbePad is the size of the pad the readiness check rewrites: 16 pages of 4 KiB,
// more than a topic write takes (its row and index entries, a few pages). A commit that
// fails for a full disk leaves the write-ahead log's file longer than what it committed,
// and a check of a page or two fitted in that end while every topic write failed.
const sqliteProbePad = 64 << 10

// sqliteFullHold is how long a topic write that failed for a full disk keeps the readiness
// check failing when no topic write has committed since (see ping).
const sqliteFullHold = 30 * time.Second

// topicWrite submits a topic write (a create, a destroy, an info change) and notes its outcome
// for the readiness check: a commit stands for its probe (proof) and clears the time of a
// failure for a full disk; a failure, unless its caller gave up, makes the next check probe.
func (b *sqliteBackend) topicWrite(ctx context.Context, run func(w *writeTx) error) error {
	err := b.submit(ctx, run)
	switch {
	case err == nil:
		b.diskFullAt.Store(0)
		b.proof.Wrote()
		return nil
	case isDiskFull(err):
		b.diskFullAt.Store(time.Now().UnixNano())
	}
	if ctx.Err() == nil {
		b.failedWrites.Add(1)
	}
	return err
}

// isDiskFull reports whether err is SQLite's SQLITE_FULL: the disk, or the file's size limit.
func isDiskFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// ping commits a write like any other, of more pages than a topic write (sqliteProbePad),
// so that a store that can read but not write (a full disk, a read-only file) is reported.
// /readyz needs no token and, with inline delivery, runs it at each request: as the stream's
// check does (writeproof), a write that succeeded in the last second (a probe, a topic write)
// stands for the probe unless a topic write failed since, one probe runs at a time, and a
// failed probe is not reused, so requests, however many, write at most one probe a second.
// The probe alone can still fit where a topic write does not: a failed commit leaves room at
// the end of the write-ahead log's file, and a probe written there before leaves room for its
// own rewrite. So a topic write that failed for a full disk, with none committed since, fails
// the check too, for sqliteFullHold after it: the delivery's retries (or IM's next callback,
// inline) clear it as soon as one commits, and without writes it lapses, so that a store taken
// out of service does not stay out for good.
func (b *sqliteBackend) ping(ctx context.Context) error {
	stale := func() bool { return b.failedWrites.Load() != b.probedFailures.Load() }
	err := b.proof.Check(ctx, stale, func(ctx context.Context) error {
		failed := b.failedWrites.Load() // what the probe's success answers for
		now := sqliteTime(time.Now().UTC())
		if err := b.submit(ctx, func(w *writeTx) error {
			_, err := w.exec(stmtProbe, now, sqliteProbePad)
			return err
		}); err != nil {
			return err
		}
		if b.onProbe != nil {
			b.onProbe()
		}
		b.probedFailures.Store(failed)
		return nil
	})
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if at := b.diskFullAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < sqliteFullHold {
		return fmt.Errorf("write: a topic write failed for a full disk at %s, and none has committed since",
			time.Unix(0, at).UTC().Format(time.RFC3339))
	}
	return nil
}

// writeOp is one queued write. run executes inside the batch transaction; result receives its outcome.
type writeOp struct {
	ctx    context.Context
	run    func(w *writeTx) error
	result chan error
}

// writeTx is the writer's open transaction with its statements bound to it on first use.
type writeTx struct {
	ctx      context.Context
	tx       *sql.Tx
	prepared *[stmtCount]*sql.Stmt
	bound    [stmtCount]*sql.Stmt
}

// exec runs a prepared statement inside the transaction.
func (w *writeTx) exec(id stmtID, args ...any) (sql.Result, error) {
	if w.bound[id] == nil {
		// Reuses the statement already prepared on the writer's only connection.
		w.bound[id] = w.tx.StmtContext(w.ctx, w.prepared[id])
	}
	return w.bound[id].ExecContext(w.ctx, args...)
}

// prepareWriter prepares the writer's statements on the write pool (one connection).
func prepareWriter(ctx context.Context, db *sql.DB) (*[stmtCount]*sql.Stmt, error) {
	var prepared [stmtCount]*sql.Stmt
	for id, query := range writerSQL {
		if query == "" {
			return nil, errors.Join(fmt.Errorf("writer statement %d has no SQL", id), closeStmts(&prepared))
		}
		stmt, err := db.PrepareContext(ctx, query)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %q: %w", query, err), closeStmts(&prepared))
		}
		prepared[id] = stmt
	}
	return &prepared, nil
}

func closeStmts(stmts *[stmtCount]*sql.Stmt) error {
	var errs []error
	for _, stmt := range stmts {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// submit queues run for the writer and waits until it is committed or failed.
func (b *sqliteBackend) submit(ctx context.Context, run func(w *writeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := writeOp{ctx: ctx, run: run, result: make(chan error, 1)}
	select {
	case b.ops <- op:
	case <-b.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-op.result:
		return err
	case <-ctx.Done():
		// The writer still answers into the buffered channel; the write may yet commit.
		return ctx.Err()
	}
}

// writeLoop is the only goroutine that writes. It takes one op, then every op already waiting
// (up to maxBatch), and commits them together.
func (b *sqliteBackend) writeLoop() {
	defer close(b.done)
	batch := make([]writeOp, 0, maxBatch)
	for {
		select {
		case <-b.quit:
			return
		case op := <-b.ops:
			batch = append(batch, op)
		}
		batch = b.drain(batch)
		// More than one write waiting means others are on their way: let the
		// goroutines ready to run go first, and take what they queue, as long
		// as the batch keeps growing. On an idle machine Gosched returns at
		// once; under load one commit (one fsync, and about a page per index
		// per write) then carries more writes.
		for n := 0; len(batch) > 1 && len(batch) > n && len(batch) < maxBatch; {
			n = len(batch)
			runtime.Gosched()
			batch = b.drain(batch)
		}
		b.commitBatch(batch)
		clear(batch) // drop references to finished ops
		batch = batch[:0]
	}
}

// drain appends the ops already queued to batch, up to maxBatch.
func (b *sqliteBackend) drain(batch []writeOp) []writeOp {
	for len(batch) < maxBatch {
		select {
		case op := <-b.ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// commitBatch runs the ops in one transaction. When one op fails (say, an info change for an
// unknown topic), the batch runs again with each op inside its own savepoint, so the failure
// undoes that op alone. If a transaction itself fails, every op is retried alone so each
// caller gets its own outcome.
func (b *sqliteBackend) commitBatch(batch []writeOp) {
	pending := batch[:0] // filters in place: each op is read before its slot is overwritten
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.result <- err // the caller gave up before its write started: skip it
			continue
		}
		pending = append(pending, op)
	}
	switch len(pending) {
	case 0:
		return
	case 1:
		pending[0].result <- b.inTx(pending[0].run)
		return
	}
	// First the whole batch with no savepoints: in the usual case, every
	// write succeeds, it costs no extra statements.
	var opFailed bool
	err := b.inTx(func(w *writeTx) error {
		for _, op := range pending {
			if err := op.run(w); err != nil {
				opFailed = true
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, op := range pending {
			op.result <- nil
		}
		return
	}
	if !opFailed {
		b.eachAlone(pending, err)
		return
	}
	results := make([]error, len(pending))
	err = b.inTx(func(w *writeTx) error {
		for i, op := range pending {
			opErr, err := inSavepoint(w, op.run)
			if err != nil {
				return err
			}
			results[i] = opErr
		}
		return nil
	})
	if err != nil {
		b.eachAlone(pending, err)
		return
	}
	for i, op := range pending {
		op.result <- results[i]
	}
}

// eachAlone answers each op with the outcome of its own transaction, after the batch's
// transaction failed with err (rolled back: none of its writes is stored). An op whose caller
// has given up meanwhile is answered with its context's error instead of retried: while the
// database is locked, each retry can wait the whole busy timeout for nobody.
func (b *sqliteBackend) eachAlone(ops []writeOp, err error) {
	b.log.Warn("topic store batch failed, retrying each write alone", zap.Int("writes", len(ops)), zap.Error(err))
	for _, op := range ops {
		if err := op.ctx.Err(); err != nil {
			op.result <- err
			continue
		}
		op.result <- b.inTx(op.run)
	}
}

// inTx runs run in a transaction on the writer connection and commits it. The writer uses its
// own context: one caller giving up must not abort a batch that carries other callers' writes.
func (b *sqliteBackend) inTx(run func(w *writeTx) error) error {
	ctx := context.Background()
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := run(&writeTx{ctx: ctx, tx: tx, prepared: b.prepared}); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// inSavepoint runs run inside a savepoint, rolling back to it when run fails. opErr is run's
// error; err is a failure of the savepoint itself, which dooms the whole transaction.
func inSavepoint(w *writeTx, run func(w *writeTx) error) (opErr, err error) {
	if _, err := w.exec(stmtSavepoint); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	if opErr = run(w); opErr != nil {
		if _, err := w.exec(stmtRollbackToSavepoint); err != nil {
			return opErr, fmt.Errorf("rollback to savepoint: %w", err)
		}
	}
	if _, err := w.exec(stmtReleaseSavepoint); err != nil {
		return opErr, fmt.Errorf("release savepoint: %w", err)
	}
	return opErr, nil
}

// ignoreDone drops the error Rollback returns when the transaction already ended.
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
