package middleware_test

import (
	"fmt"
	"testing"

	"github.com/imcallback/imcallback/middleware"
)

func TestRecentKeepsTheNewest(t *testing.T) {
	tests := []struct {
		added, asked, wantLen int
		wantFirst, wantLast   string
	}{
		{0, 10, 0, "", ""},
		{3, 10, 3, "r2", "r0"},
		{3, 2, 2, "r2", "r1"},
		{middleware.RecentSize + 5, middleware.RecentSize, middleware.RecentSize, fmt.Sprintf("r%d", middleware.RecentSize+4), "r5"},
		{5, -1, 0, "", ""},
	}
	for _, tt := range tests {
		r := middleware.NewRecent()
		for i := range tt.added {
			r.Add(middleware.Callback{RequestID: fmt.Sprintf("r%d", i)})
		}
		got := r.Last(tt.asked)
		if len(got) != tt.wantLen {
			t.Fatalf("added %d, asked %d: got %d", tt.added, tt.asked, len(got))
		}
		if tt.wantLen > 0 && (got[0].RequestID != tt.wantFirst || got[len(got)-1].RequestID != tt.wantLast) {
			t.Fatalf("added %d, asked %d: first %s last %s", tt.added, tt.asked, got[0].RequestID, got[len(got)-1].RequestID)
		}
	}
}
