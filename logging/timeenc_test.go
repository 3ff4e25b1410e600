package logging

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// encodeLine encodes an entry at t with the time encoder te, in format.
func encodeLine(format string, te zapcore.TimeEncoder, at time.Time) (string, error) {
	cfg := zapcore.EncoderConfig{TimeKey: "ts", MessageKey: "msg", EncodeTime: te, LineEnding: "\n"}
	var enc zapcore.Encoder = zapcore.NewJSONEncoder(cfg)
	if format == "console" {
		enc = zapcore.NewConsoleEncoder(cfg)
	}
	buf, err := enc.EncodeEntry(zapcore.Entry{Time: at, Message: "request"}, nil)
	if err != nil {
		return "", err
	}
	defer buf.Free()
	return buf.String(), nil
}

// entryLine is encodeLine, failing the test on an error.
func entryLine(t *testing.T, format string, te zapcore.TimeEncoder, at time.Time) string {
	t.Helper()
	line, err := encodeLine(format, te, at)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// TestSecondCacheWritesWhatISO8601Writes runs one cache through a sequence
// of times (the same second again, the next second, another location at
// the same instant, back, before 1970, the last nanosecond of a second)
// and compares every line with zapcore.ISO8601TimeEncoder's.
func TestSecondCacheWritesWhatISO8601Writes(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	newfoundland := time.FixedZone("NST", -(3*3600 + 30*60))
	base := time.Date(2026, 12, 1, 12, 30, 45, 123456789, time.UTC)
	times := []time.Time{
		base,
		base.Add(500 * time.Millisecond), // same second
		base.Add(900 * time.Millisecond), // next second
		base.Add(900 * time.Millisecond).In(shanghai),
		base.In(newfoundland),
		base, // back to the first
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 1000000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 7000000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 7000000, shanghai),
		time.Now(),
		time.Now().Add(1500 * time.Millisecond),
	}
	for _, format := range []string{"json", "console"} {
		c := new(secondCache)
		for i, at := range times {
			t.Run(fmt.Sprintf("%s/%d", format, i), func(t *testing.T) {
				got := entryLine(t, format, c.encode, at)
				want := entryLine(t, format, zapcore.ISO8601TimeEncoder, at)
				if got != want {
					t.Fatalf("got  %q\nwant %q", got, want)
				}
			})
		}
	}
}

// TestSecondCacheConcurrent encodes different seconds from several
// goroutines through one cache (run with -race).
func TestSecondCacheConcurrent(t *testing.T) {
	c := new(secondCache)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				at := base.Add(time.Duration(g*1000+i) * 7 * time.Millisecond)
				got, err1 := encodeLine("json", c.encode, at)
				want, err2 := encodeLine("json", zapcore.ISO8601TimeEncoder, at)
				if err1 != nil || err2 != nil || got != want {
					errs <- fmt.Sprintf("got %q (%v), want %q (%v)", got, err1, want, err2)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
