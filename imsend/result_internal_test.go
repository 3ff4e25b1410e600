package imsend

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestExcerptCutsOnACharacterBoundary: an answer cut for an error message
// is cut before a character that does not fit whole, never inside it, and
// keeps as much as fits.
func TestExcerptCutsOnACharacterBoundary(t *testing.T) {
	pad := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		body string
		want string
	}{
		{"short", "Bad Gateway", "Bad Gateway"},
		{"exactly the bound", pad(maxExcerpt), pad(maxExcerpt)},
		{"ASCII over the bound", pad(maxExcerpt + 1), pad(maxExcerpt) + "…"},
		{"a character ends at the bound", pad(maxExcerpt-3) + "话x", pad(maxExcerpt-3) + "话…"},
		{"the bound one byte into a character", pad(maxExcerpt-1) + "话", pad(maxExcerpt-1) + "…"},
		{"the bound two bytes into a character", pad(maxExcerpt-2) + "话", pad(maxExcerpt-2) + "…"},
		{"the bound three bytes into a 4-byte character", pad(maxExcerpt-3) + "😀", pad(maxExcerpt-3) + "…"},
		{"only multi-byte characters", strings.Repeat("话", maxExcerpt), strings.Repeat("话", maxExcerpt/3) + "…"},
		{"not UTF-8 is cut at the bound", strings.Repeat("\x80", maxExcerpt+8), strings.Repeat("\x80", maxExcerpt) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := excerpt([]byte(tt.body))
			if got != tt.want {
				t.Errorf("excerpt = …%q, want …%q", tail(got), tail(tt.want))
			}
			if utf8.ValidString(tt.body) && !utf8.ValidString(got) {
				t.Errorf("excerpt of valid UTF-8 is not valid UTF-8: …%q", tail(got))
			}
		})
	}
}

// tail is the end of s, for a readable failure.
func tail(s string) string { return s[max(0, len(s)-12):] }
