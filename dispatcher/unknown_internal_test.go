package dispatcher

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newUnknownVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unknown_total"}, []string{"command"})
}

func TestUnknownCommandLogDue(t *testing.T) {
	var u unknownCommands
	vec := newUnknownVec()
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		name  string
		at    time.Duration
		label string
		due   bool
		count int
	}{
		{"A.B", 0, "A.B", true, 1},
		{"A.B", time.Second, "A.B", false, 0},
		{"C.D", time.Second, "C.D", true, 1}, // per command
		{"A.B", 30 * time.Second, "A.B", false, 0},
		{"A.B", unknownLogEvery, "A.B", true, 3}, // the two held back and this one
		{"A.B", unknownLogEvery + time.Second, "A.B", false, 0},
		{"bad name!", 0, "other", true, 1},
		{"also bad?", time.Second, "other", false, 0}, // "other" is one command
		{"other", 2 * time.Second, "other", false, 0}, // so is a command of that name
	}
	for i, s := range steps {
		label, due, count := u.note(vec, s.name, t0.Add(s.at))
		if label != s.label || due != s.due || count != s.count {
			t.Errorf("step %d (%s at %v): label %s due %v count %d, want %s %v %d",
				i, s.name, s.at, label, due, count, s.label, s.due, s.count)
		}
	}
	for label, want := range map[string]float64{"A.B": 5, "C.D": 1, "other": 3} {
		if got := testutil.ToFloat64(vec.WithLabelValues(label)); got != want {
			t.Errorf("%s counted %v, want %v", label, got, want)
		}
	}
}

// TestUnknownCommandLabelsAreBounded: after maxUnknownLabels names every
// new one is counted as "other", while the names already seen keep their
// series.
func TestUnknownCommandLabelsAreBounded(t *testing.T) {
	var u unknownCommands
	vec := newUnknownVec()
	now := time.Unix(1_800_000_000, 0)
	for i := range maxUnknownLabels {
		if label, _, _ := u.note(vec, fmt.Sprintf("Area.Name%d", i), now); label != fmt.Sprintf("Area.Name%d", i) {
			t.Fatalf("name %d labelled %s", i, label)
		}
	}
	if label, _, _ := u.note(vec, "Area.OneTooMany", now); label != "other" {
		t.Fatalf("name past the bound labelled %s, want other", label)
	}
	if label, _, _ := u.note(vec, "Area.Name0", now); label != "Area.Name0" {
		t.Fatalf("a name seen before the bound labelled %s", label)
	}
	if n := testutil.CollectAndCount(vec); n != maxUnknownLabels+1 {
		t.Fatalf("%d series, want %d", n, maxUnknownLabels+1)
	}
}

// TestUnknownCommandLabelsDoNotKeepTheRequest: a label is kept for the life
// of the process; one cut from a long query string (or request line) is
// a copy, so the request's memory is not kept with it.
func TestUnknownCommandLabelsDoNotKeepTheRequest(t *testing.T) {
	tests := []struct {
		name string
		line string // the memory the name points into
	}{
		{"a short line", "CallbackCommand=Area.Name"},
		{"a long line", "CallbackCommand=Area.Name&OptPlatform=" + strings.Repeat("p", 60<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u unknownCommands
			name := tt.line[len("CallbackCommand="):][:len("Area.Name")]
			u.note(newUnknownVec(), name, time.Unix(1_800_000_000, 0))
			for label := range u.byLabel {
				if label != "Area.Name" {
					t.Fatalf("label %q", label)
				}
				p, lo := uintptr(unsafe.Pointer(unsafe.StringData(label))), uintptr(unsafe.Pointer(unsafe.StringData(tt.line)))
				if p >= lo && p < lo+uintptr(len(tt.line)) {
					t.Fatalf("the kept label points into the request's %d bytes", len(tt.line))
				}
			}
		})
	}
}
