package jsonnames_test

import (
	"testing"

	"github.com/imcallback/imcallback/internal/jsonnames"
)

// TestRepeated: a name given twice by one object is found at any depth,
// after unescaping, and with fold in another case too; the same name in
// two objects, or as a value, is no repeat.
func TestRepeated(t *testing.T) {
	tests := []struct {
		body string
		fold bool
		want string // "" for none
	}{
		{`{"a":1,"b":2}`, false, ""},
		{`{"a":1,"a":2}`, false, "a"},
		{`{"a":1,"\u0061":2}`, false, "a"},
		{`{"a":{"b":1},"c":[{"b":1},{"b":2}]}`, false, ""},
		{`{"a":[{"b":1,"c":{"d":1,"d":2}}]}`, false, "d"},
		{`{"a":"a","b":["a","a"]}`, false, ""},
		{`{"Code":1,"code":0}`, false, ""},
		{`{"Code":1,"code":0}`, true, "code"},
		{`{"K":1,"\u212a":0}`, true, "\u212a"}, // the Kelvin sign folds to k
		{`[{"a":1},{"a":1}]`, false, ""},
		{`null`, false, ""},
	}
	for _, tt := range tests {
		name, ok := jsonnames.Repeated([]byte(tt.body), tt.fold)
		if ok != (tt.want != "") || name != tt.want {
			t.Errorf("Repeated(%s, fold %v) = %q, %v; want %q", tt.body, tt.fold, name, ok, tt.want)
		}
	}
}
