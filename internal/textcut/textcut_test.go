package textcut_test

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/internal/textcut"
)

func TestCut(t *testing.T) {
	tests := []struct {
		name, s string
		n       int
		want    string
	}{
		{"short", "abc", 3, "abc"},
		{"ascii", "abcdef", 3, "abc…"},
		{"inside a character", "ab话", 3, "ab…"},
		{"before a character", "abc话", 3, "abc…"},
		{"not UTF-8", strings.Repeat("\x80", 10), 4, "\x80\x80\x80\x80…"},
		{"zero", "ab", 0, "…"},
		{"inside the first character", "话x", 2, "…"},
		{"inside the first four-byte character", "😀x", 3, "…"},
		{"inside the first character, one byte", "é", 1, "…"},
	}
	for _, tt := range tests {
		if got := textcut.Cut(tt.s, tt.n); got != tt.want {
			t.Errorf("%s: Cut(%q, %d) = %q, want %q", tt.name, tt.s, tt.n, got, tt.want)
		}
	}
}

func TestGraphic(t *testing.T) {
	tests := []struct{ name, s, want string }{
		{"printable ASCII", "@TGS#_g1 x", "@TGS#_g1 x"},
		{"any script", "话题 Ω", "话题 Ω"},
		{"C0 control", "a\tb", "a\uFFFDb"},
		{"C1 control", "a\u009bb", "a\uFFFDb"},
		{"format character", "a\u202Eb", "a\uFFFDb"},
		{"not UTF-8", "a\xff\xfeb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := textcut.Graphic(tt.s); got != tt.want {
			t.Errorf("%s: Graphic(%q) = %q, want %q", tt.name, tt.s, got, tt.want)
		}
	}
}
