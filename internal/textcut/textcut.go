// Package textcut cuts text for messages, logs and headers: at most a
// number of bytes, before a character rather than inside it.
package textcut

import "unicode/utf8"

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
