// Package textcut cuts text for messages, logs and headers (at most a
// number of bytes, before a character rather than inside it) and keeps it
// to graphic characters.
package textcut

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Cut is s when it is at most n bytes, else s cut to at most n bytes and
// marked "…". The cut falls before the character that byte n continues,
// up to utf8.UTFMax-1 bytes earlier (down to the start of s); bytes that
// are not UTF-8 are cut at n, so a long run of them is not searched back
// to the start.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for i := n; i >= max(0, n-(utf8.UTFMax-1)); i-- {
		if utf8.RuneStart(s[i]) {
			cut = i
			break
		}
	}
	return s[:cut] + "…"
}

// Graphic is s with each run of bytes that are not UTF-8, and each
// character that is not graphic (strconv.IsGraphic: letters, marks,
// numbers, punctuation, symbols and spaces), replaced by U+FFFD: zap
// escapes the C0 controls only, and a C1 control, DEL, a format character
// such as U+202E or a line separator would reach a terminal or a log
// viewer as it is.
func Graphic(s string) string {
	return strings.Map(func(r rune) rune {
		if !strconv.IsGraphic(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
