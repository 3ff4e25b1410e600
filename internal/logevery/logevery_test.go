package logevery_test

import (
	"testing"
	"time"

	"github.com/imcallback/imcallback/internal/logevery"
)

func TestLineIsDueOncePerIntervalWithTheCountHeldBack(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		after     time.Duration // since start
		due       bool
		wantCount int
	}{
		{0, true, 1}, // the first event is written at once
		{time.Second, false, 0},
		{59 * time.Second, false, 0},
		{time.Minute, true, 3}, // the two held back and this one
		{time.Minute + time.Second, false, 0},
		{3 * time.Minute, true, 2},
	}
	var l logevery.Line
	for _, s := range steps {
		due, count := l.Note(start.Add(s.after), time.Minute)
		if due != s.due || count != s.wantCount {
			t.Fatalf("at +%v: due %v count %d, want %v %d", s.after, due, count, s.due, s.wantCount)
		}
	}
}
