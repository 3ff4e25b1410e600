//go:build unix

package topicsync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/plugins/topicsync"
)

// BenchmarkSQLiteCreateCPU is the CPU (user and system, of the whole
// process) that one stored Create costs when so many callers write at once:
// the writer commits what they queued together, and each commit costs an
// fsync and a WAL page or more for the table and each index, shared by the
// writes of its batch. It reports cpu-µs/op besides the wall time.
func BenchmarkSQLiteCreateCPU(b *testing.B) {
	for _, callers := range []int{1, 8, 32, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s, err := topicsync.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "topics.db"), zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Int64
			created := time.Now()
			before := processCPU(b)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						tp := newTopic("@TGS#_bench", strconv.FormatInt(n, 10), created)
						if err := s.Create(context.Background(), tp); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((processCPU(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
