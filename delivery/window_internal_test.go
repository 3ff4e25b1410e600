package delivery

import "testing"

func TestWindowShedsFromThreeQuarters(t *testing.T) {
	for _, c := range []struct {
		held, limit int
		want        bool
	}{
		{0, 0, false}, // no limit read: never shed
		{5, 8, false}, // under the mark
		{6, 8, true},  // at it
		{8, 8, true},  // full
		{7499, 10000, false},
		{7500, 10000, true},
	} {
		if got := (windowState{held: c.held, limit: c.limit}).shed(); got != c.want {
			t.Errorf("%d of %d: shed = %v, want %v", c.held, c.limit, got, c.want)
		}
	}
}
