package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
)

// TestParseSinceReadsDurationsAsTheConfigurationDoes: the admin API's
// since and the CLI's --since took time.ParseDuration's units only, and
// refused "1d" as "neither a duration nor an RFC 3339 time" while every
// duration of the configuration takes d for a day (IMCALLBACK_RETENTION's
// 7d): they read durations as the configuration does.
func TestParseSinceReadsDurationsAsTheConfigurationDoes(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		since   string
		want    time.Time
		wantErr string // "": none
	}{
		{"1h", now.Add(-time.Hour), ""},
		{"90m", now.Add(-90 * time.Minute), ""},
		{"1d", now.Add(-24 * time.Hour), ""},
		{"7d", now.Add(-7 * 24 * time.Hour), ""},
		{"1d12h", now.Add(-36 * time.Hour), ""},
		{"1.5d", now.Add(-36 * time.Hour), ""},
		{"2026-12-01T08:00:00+08:00", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), ""},
		{"0d", time.Time{}, "positive"},
		{"-1d", time.Time{}, "positive"},
		{"100000000d", time.Time{}, "longer than the longest duration"},
		{"1day", time.Time{}, "neither a duration (1h, 30m, 7d) nor an RFC 3339 time"},
		{"30", time.Time{}, "neither a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.since, func(t *testing.T) {
			got, err := delivery.ParseSince(tt.since, now)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ParseSince(%q): %v", tt.since, err)
			case tt.wantErr == "" && !got.Equal(tt.want):
				t.Errorf("ParseSince(%q) = %v, want %v", tt.since, got, tt.want)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ParseSince(%q) = %v, %v; want an error saying %q", tt.since, got, err, tt.wantErr)
			}
		})
	}
}
