package protocol_test

import (
	"testing"

	"github.com/imcallback/imcallback/protocol"
)

// TestJoinKey: fields without '|' or '\' give the plain join, the keys of
// before the escaping; in a field, '|' and '\' are escaped with '\'.
func TestJoinKey(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   string
	}{
		{"plain fields as before", []string{"@TGS#_g", "@TGS#_g@TOPIC#_a", "42", "1732600000456"}, "@TGS#_g|@TGS#_g@TOPIC#_a|42|1732600000456"},
		{"empty fields as before", []string{"@TGS#_g", "", "5", "0"}, "@TGS#_g||5|0"},
		{"other text as before", []string{"话题 #1,2", "-7"}, "话题 #1,2|-7"},
		{"a '|' in the first field", []string{"a|b", "c"}, `a\|b|c`},
		{"a '|' in the second field", []string{"a", "b|c"}, `a|b\|c`},
		{"an escape character", []string{`a\`, "|b"}, `a\\|\|b`},
		{"an escaped-looking field", []string{`a\|b`}, `a\\\|b`},
		{"a field of separators", []string{"||"}, `\|\|`},
		{"one field", []string{"x"}, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := protocol.JoinKey(tt.fields...); got != tt.want {
				t.Errorf("JoinKey(%q) = %q, want %q", tt.fields, got, tt.want)
			}
		})
	}
}

// TestKeyList: items without ',' or '\' give the plain join; in an item,
// ',' and '\' are escaped with '\' (and a '|' is left to JoinKey).
func TestKeyList(t *testing.T) {
	tests := []struct {
		name  string
		items []string
		want  string
	}{
		{"numbers as before", []string{"41", "42"}, "41,42"},
		{"msg keys as before", []string{"1446963466_49520_2", "1446963466_49521_3"}, "1446963466_49520_2,1446963466_49521_3"},
		{"no items", nil, ""},
		{"a comma in an item", []string{"a,b"}, `a\,b`},
		{"an escape character", []string{`a\`, "b"}, `a\\,b`},
		{"a '|' is JoinKey's", []string{"a|b"}, "a|b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := protocol.KeyList(tt.items); got != tt.want {
				t.Errorf("KeyList(%q) = %q, want %q", tt.items, got, tt.want)
			}
		})
	}
}

// keyTexts are fields and items made of the separators, the escape
// character and a letter, alone and together.
var keyTexts = []string{"", "a", "|", ",", `\`, "a|", "|a", "a,", ",a", `\|`, `|\`, `\,`, `a\`, `\\`, "a|b", "a,b"}

// listsOf is every list of 1 to n texts of keyTexts.
func listsOf(n int) [][]string {
	var all, last [][]string
	last = [][]string{{}}
	for range n {
		var next [][]string
		for _, l := range last {
			for _, s := range keyTexts {
				next = append(next, append(append([]string(nil), l...), s))
			}
		}
		all, last = append(all, next...), next
	}
	return all
}

// TestJoinKeyIsUnambiguous: no two different lists of fields share a key,
// however the separators and escape characters fall in them; a list of
// items inside a field (KeyList) neither.
func TestJoinKeyIsUnambiguous(t *testing.T) {
	tests := []struct {
		name string
		key  func(l []string) string
	}{
		{"fields", func(l []string) string { return protocol.JoinKey(l...) }},
		{"items of a field", func(l []string) string { return protocol.JoinKey("g", protocol.KeyList(l), "7") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string][]string{}
			for _, l := range listsOf(3) {
				k := tt.key(l)
				if other, dup := seen[k]; dup {
					t.Fatalf("%q and %q share the key %q", other, l, k)
				}
				seen[k] = l
			}
		})
	}
}
