package topicsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// Group commit for the SQLite store: callers hand their write to one goroutine, which commits
// every write queued during the previous commit in a single transaction (one fsync for all),
// then answers each caller with its own result.

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

// query is the statement's SQL. Parsing it again on every write cost about half of the
// writer's CPU in BenchmarkSQLiteCreateParallel, hence the preparing.
func (id stmtID) query() string {
	switch id {
	case stmtCreate:
		return sqliteCreate
	case stmtDestroy:
		return sqliteDestroy
	case stmtInfoChange:
		return sqliteInfoChange
	case stmtProbe:
		return sqliteProbe
	case stmtSavepoint:
		return `SAVEPOINT op`
	case stmtRollbackToSavepoint:
		return `ROLLBACK TO op`
	case stmtReleaseSavepoint:
		return `RELEASE op`
	}
	return "" // unknown id: prepareWriter refuses it
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
	for id := range stmtCount {
		if id.query() == "" {
			return nil, errors.Join(fmt.Errorf("writer statement %d has no SQL", id), closeStmts(&prepared))
		}
		stmt, err := db.PrepareContext(ctx, id.query())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %q: %w", id.query(), err), closeStmts(&prepared))
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
func (s *sqliteStore) submit(ctx context.Context, run func(w *writeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed() {
		return ErrClosed
	}
	op := writeOp{ctx: ctx, run: run, result: make(chan error, 1)}
	select {
	case s.ops <- op:
	case <-s.quit:
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
func (s *sqliteStore) writeLoop() {
	defer close(s.done)
	batch := make([]writeOp, 0, maxBatch)
	for {
		select {
		case <-s.quit:
			return
		case op := <-s.ops:
			batch = append(batch, op)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case op := <-s.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		s.commitBatch(batch)
		clear(batch) // drop references to finished ops
		batch = batch[:0]
	}
}

// commitBatch runs the ops in one transaction, each inside its own savepoint so one failing op
// (say, an info change for an unknown topic) does not undo the others. If the transaction
// itself fails, every op is retried alone so each caller gets its own outcome.
func (s *sqliteStore) commitBatch(batch []writeOp) {
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
		pending[0].result <- s.inTx(pending[0].run)
		return
	}
	results := make([]error, len(pending))
	err := s.inTx(func(w *writeTx) error {
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
		s.log.Warn("topic store batch failed, retrying each write alone",
			zap.Int("writes", len(pending)),
			zap.Error(err),
		)
		for _, op := range pending {
			op.result <- s.inTx(op.run)
		}
		return
	}
	for i, op := range pending {
		op.result <- results[i]
	}
}

// inTx runs run in a transaction on the writer connection and commits it. The writer uses its
// own context: one caller giving up must not abort a batch that carries other callers' writes.
func (s *sqliteStore) inTx(run func(w *writeTx) error) error {
	ctx := context.Background()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := run(&writeTx{ctx: ctx, tx: tx, prepared: s.prepared}); err != nil {
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
