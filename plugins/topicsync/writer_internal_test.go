package topicsync

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// TestEachAloneSkipsWritesGivenUp: after a failed batch, the writes are
// retried one by one, except those whose caller has given up meanwhile:
// they are answered with the context's error and never run, so a locked
// database does not cost a busy timeout per abandoned write.
func TestEachAloneSkipsWritesGivenUp(t *testing.T) {
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "topics.db"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.(*store).b.(*sqliteBackend)

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	ran := map[string]bool{}
	op := func(ctx context.Context, name string) writeOp {
		return writeOp{ctx: ctx, result: make(chan error, 1), run: func(*writeTx) error {
			ran[name] = true
			return nil
		}}
	}
	live, abandoned := op(context.Background(), "live"), op(gone, "abandoned")
	b.eachAlone([]writeOp{abandoned, live}, errors.New("the batch's commit failed"))

	if err := <-live.result; err != nil || !ran["live"] {
		t.Errorf("the live write: ran %v, err %v; want it retried and stored", ran["live"], err)
	}
	if err := <-abandoned.result; !errors.Is(err, context.Canceled) || ran["abandoned"] {
		t.Errorf("the abandoned write: ran %v, err %v; want it skipped with context.Canceled", ran["abandoned"], err)
	}
}
