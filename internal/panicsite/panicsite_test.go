package panicsite

import (
	"errors"
	"strings"
	"testing"
)

type point struct{ X int }

func nilPointer() int {
	var p *point
	return p.X
}

func nilMap() {
	var m map[string]int
	m["x"]++
}

func panicCall() { panic(errors.New("boom")) }

// rePanic panics in a deferred function while recovering from nilMap's
// panic, as an encoder's recover that panics again does.
func rePanic() {
	defer func() {
		if v := recover(); v != nil {
			panic(v)
		}
	}()
	nilMap()
}

// recovered runs fn and returns Describe's text from the deferred function
// that recovers its panic.
func recovered(fn func()) (site string) {
	defer func() {
		if recover() != nil {
			site = Describe()
		}
	}()
	fn()
	return ""
}

// TestDescribeNamesTheFrameThatRaisedThePanic: the site is the program's
// own frame that raised the panic, past the runtime's frames that raise a
// nil pointer's or a nil map's panic, and past a recover that panicked
// again; with no panic on the stack it is empty.
func TestDescribeNamesTheFrameThatRaisedThePanic(t *testing.T) {
	tests := []struct {
		name string
		fn   func()
		want string
	}{
		{"nil pointer", func() { nilPointer() }, "panicsite.nilPointer, panicsite_test.go:"},
		{"nil map", nilMap, "panicsite.nilMap, panicsite_test.go:"},
		{"panic call", panicCall, "panicsite.panicCall, panicsite_test.go:"},
		{"re-panic", rePanic, "panicsite.nilMap, panicsite_test.go:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := recovered(tt.fn)
			if !strings.HasPrefix(got, " (at ") || !strings.Contains(got, tt.want) {
				t.Errorf("Describe() = %q, want \" (at …%s…)\"", got, tt.want)
			}
		})
	}
	if got := Describe(); got != "" {
		t.Errorf("Describe() without a panic = %q, want empty", got)
	}
}
