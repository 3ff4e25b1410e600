package tracing_test

import (
	"testing"
	"time"

	"github.com/imcallback/imcallback/tracing"
)

// TestLastExportTimeout: the last spans' export runs inside the 15 s the
// stop keeps after the four draining steps, so it never takes a whole
// shutdown timeout above 5 s.
func TestLastExportTimeout(t *testing.T) {
	tests := []struct {
		shutdownTimeout, want time.Duration
	}{
		{time.Second, time.Second},
		{5 * time.Second, 5 * time.Second},
		{10 * time.Second, 5 * time.Second},
		{time.Hour, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := tracing.LastExportTimeout(tt.shutdownTimeout); got != tt.want {
			t.Errorf("LastExportTimeout(%v) = %v, want %v", tt.shutdownTimeout, got, tt.want)
		}
	}
}
