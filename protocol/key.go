package protocol

import "strings"

// KeyEscape is the escape character of the dedup keys JoinKey and KeyList
// build: inside a field, it comes before each separator and each KeyEscape
// of the field's own.
const KeyEscape = '\\'

// JoinKey is the dedup key of an event whose natural key is fields: the
// fields joined with '|', each '|' and KeyEscape inside a field escaped
// with KeyEscape ("a|b" is written `a\|b`). Two different lists of fields
// thus never share a key, whatever the fields hold (an ID an app chose may
// hold a '|'), while the key of fields holding neither character is the
// plain join, the same as before the escaping.
func JoinKey(fields ...string) string {
	return joinEscaped(fields, '|')
}

// KeyList is one field of a JoinKey that lists items: the items joined
// with ',', each ',' and KeyEscape inside an item escaped with KeyEscape,
// so that two different lists of at least one item never give the same
// field. Items holding neither character give the plain join. As with
// strings.Join, no items and one empty item both give "".
func KeyList(items []string) string {
	return joinEscaped(items, ',')
}

// joinEscaped joins items with sep, each sep and KeyEscape inside an item
// escaped with KeyEscape.
func joinEscaped(items []string, sep byte) string {
	n := len(items)
	for _, item := range items {
		n += len(item)
	}
	var b strings.Builder
	b.Grow(n)
	for i, item := range items {
		if i > 0 {
			b.WriteByte(sep)
		}
		writeEscaped(&b, item, sep)
	}
	return b.String()
}

// writeEscaped writes s with KeyEscape before each sep and each KeyEscape
// in it. Both are ASCII, so they never occur inside a multi-byte UTF-8
// character and s can be read byte by byte.
func writeEscaped(b *strings.Builder, s string, sep byte) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == sep || c == KeyEscape {
			b.WriteByte(KeyEscape)
		}
		b.WriteByte(s[i])
	}
}
