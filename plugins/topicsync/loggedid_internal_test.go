package topicsync

import (
	"strings"
	"testing"
)

// TestLoggedIDShowsOnlyGraphicCharacters: a log line showed a callback's
// topic or group id cut and made valid UTF-8, but with its other
// characters as they came: zap escapes the C0 controls only, so a C1
// control (U+009B is CSI to a terminal), a direction mark (U+202E reverses
// the text after it on a screen) or a line separator reached a terminal or
// a log viewer as it is. Each is now U+FFFD, as in the access line.
func TestLoggedIDShowsOnlyGraphicCharacters(t *testing.T) {
	for _, tt := range []struct{ name, id, want string }{
		{"plain", "@TGS#_g1@TOPIC#_t1", "@TGS#_g1@TOPIC#_t1"},
		{"letters and spaces of any script", "话题 Ω é", "话题 Ω é"},
		{"C1 control", "@TGS#_g\u009b31m", "@TGS#_g\uFFFD31m"},
		{"direction mark", "@TGS#_g\u202Egnp.exe", "@TGS#_g\uFFFDgnp.exe"},
		{"line separator", "a\u2028b", "a\uFFFDb"},
		{"DEL", "a\x7fb", "a\uFFFDb"},
		{"not UTF-8", "a\xffb", "a\uFFFDb"},
		{"cut first", strings.Repeat("x", maxLoggedIDBytes) + "\u202E", strings.Repeat("x", maxLoggedIDBytes) + "…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := loggedID(tt.id); got != tt.want {
				t.Errorf("loggedID(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}
