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

func TestLinesKeepOneLinePerKey(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		key       string
		after     time.Duration // since start
		due       bool
		wantCount int
	}{
		{"a", 0, true, 1},
		{"b", time.Second, true, 1}, // another key's first event is not held back by a's line
		{"a", 2 * time.Second, false, 0},
		{"b", 3 * time.Second, false, 0},
		{"a", time.Minute, true, 2},
		{"b", time.Minute, false, 0}, // b's interval began a second after a's
		{"b", time.Minute + time.Second, true, 3},
	}
	var ls logevery.Lines[string]
	for _, s := range steps {
		due, count := ls.Note(s.key, start.Add(s.after), time.Minute)
		if due != s.due || count != s.wantCount {
			t.Fatalf("%s at +%v: due %v count %d, want %v %d", s.key, s.after, due, count, s.due, s.wantCount)
		}
	}
}
