package dispatcher

import (
	"testing"
	"time"
)

func TestUnknownCommandLogDue(t *testing.T) {
	var u unknownLabels
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		label string
		at    time.Duration
		due   bool
		count int
	}{
		{"A.B", 0, true, 1},
		{"A.B", time.Second, false, 0},
		{"C.D", time.Second, true, 1}, // per command
		{"A.B", 30 * time.Second, false, 0},
		{"A.B", unknownLogEvery, true, 3}, // the two held back and this one
		{"A.B", unknownLogEvery + time.Second, false, 0},
	}
	for i, s := range steps {
		due, count := u.logDue(s.label, t0.Add(s.at))
		if due != s.due || count != s.count {
			t.Errorf("step %d (%s at %v): due %v count %d, want %v %d", i, s.label, s.at, due, count, s.due, s.count)
		}
	}
}
