package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx/fxtest"

	"github.com/imcallback/imcallback/config"
)

// failingSink is a WriteSyncer whose writes fail while failing is set, as
// a log file's do on a full disk.
type failingSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	failing bool
}

// errNoSpace is what failingSink's failing writes return.
var errNoSpace = errors.New("no space left on device")

func (s *failingSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return 0, errNoSpace
	}
	return s.buf.Write(p)
}

func (*failingSink) Sync() error { return nil }

func (s *failingSink) setFailing(f bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = f
}

// lines are the JSON lines written so far, decoded.
func (s *failingSink) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// reports are the failed_writes of the lost-lines reports among lines.
func reports(lines []map[string]any) []float64 {
	var n []float64
	for _, l := range lines {
		if l["msg"] == lostLinesMessage {
			n = append(n, l["failed_writes"].(float64))
		}
	}
	return n
}

// TestFailedPeriodicFlushIsReportedAtOnce: a flush of the buffer whose
// write fails (a full disk) is reported at once on the report writer
// (standard error), not only by the next Sync or the stop, which may be
// days away; a writer that keeps failing is reported at most once a
// minute, with the count of failed writes since the last report; failures
// not reported yet are reported into the log by the first write that
// succeeds a minute after the last report. The flush is driven by hand,
// as the periodic flush runs it (BufferedWriteSyncer.Sync), on a clock
// of the test's.
func TestFailedPeriodicFlushIsReportedAtOnce(t *testing.T) {
	out, report := &failingSink{}, &failingSink{}
	lc := fxtest.NewLifecycle(t)
	log, b, err := newBuffered(lc, &config.Config{LogLevel: "info", LogFormat: "json", LogBuffer: time.Hour}, out, report, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b.out.now = func() time.Time { return now }
	lc.RequireStart()
	defer func() { _ = lc.Stop(context.Background()) }() // the failed writes' error

	for _, step := range []struct {
		name       string
		failing    bool
		advance    time.Duration
		wantReport []float64 // failed_writes of the reports on the report writer so far
		wantInLog  []float64 // failed_writes of the reports in the log so far
	}{
		{"the first failed flush is reported at once", true, 0, []float64{1}, nil},
		{"a failure within the minute waits", true, time.Second, []float64{1}, nil},
		{"a minute after the report, the failures since are", true, 59 * time.Second, []float64{1, 2}, nil},
		{"a flush that works again is not reported", false, time.Second, []float64{1, 2}, nil},
		{"a failure within the minute of the last report waits", true, 0, []float64{1, 2}, nil},
		{"it is reported in the log by a write a minute after", false, time.Minute, []float64{1, 2}, []float64{1}},
	} {
		now = now.Add(step.advance)
		out.setFailing(step.failing)
		log.Info(step.name)
		_ = b.buf.Sync() // what the periodic flush runs
		if got := reports(report.lines(t)); !slices.Equal(got, step.wantReport) {
			t.Fatalf("%s: the reports on the report writer count %v failed writes, want %v", step.name, got, step.wantReport)
		}
		if got := reports(out.lines(t)); !slices.Equal(got, step.wantInLog) {
			t.Fatalf("%s: the reports in the log count %v failed writes, want %v", step.name, got, step.wantInLog)
		}
	}
	first := report.lines(t)[0]
	if first["error"] != errNoSpace.Error() || first["level"] != "error" || first["lost_bytes"].(float64) <= 0 {
		t.Errorf("the first report is %v, want the write's error and the bytes lost", first)
	}
}
