//go:build unix

package topicsync_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSQLiteCreateCPU is the CPU (user and system, of the whole
// process) that one stored Create costs when so many callers write at once:
// the writer commits what they queued together, and each commit costs an
// fsync and a WAL page or more for the table and each index, shared by the
// writes of its batch. It reports cpu-µs/op besides the wall time.
func BenchmarkSQLiteCreateCPU(b *testing.B) {
	for _, callers := range []int{1, 8, 32, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s, newBenchTopic := benchStore(b)
			var done atomic.Int64
			before := processCPU(b)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for {
						if done.Add(1) > int64(b.N) {
							return
						}
						if err := s.Create(context.Background(), newBenchTopic()); err != nil {
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
