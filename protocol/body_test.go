package protocol_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/imcallback/imcallback/protocol"
)

func TestScanBody(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1) }
	deepArray := func(n int) string { return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}` }
	tests := []struct {
		name    string
		body    string
		err     error
		command string
		has     bool
	}{
		{"empty object", `{}`, nil, "", false},
		{"command", `{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"g"}`, nil, "Group.CallbackAfterCreateTopic", true},
		{"command after nested values", ` {"a":[1,{"CallbackCommand":"inner"}],"b":{"c":null},"CallbackCommand":"X.Y"} `, nil, "X.Y", true},
		{"nested command only", `{"a":{"CallbackCommand":"inner"}}`, nil, "", false},
		{"command named twice", `{"CallbackCommand":"A.B","CallbackCommand":"C.D"}`, protocol.ErrDuplicateCommand, "", false},
		{"escaped key", `{"Callback\u0043ommand":"A.B"}`, nil, "A.B", true},
		{"key in another case, as decoders read it", `{"callbackcommand":"A.B"}`, nil, "A.B", true},
		{"twice in two spellings", `{"CallbackCommand":"A.B","CALLBACKCOMMAND":"C.D"}`, protocol.ErrDuplicateCommand, "", false},
		{"escaped command", `{"CallbackCommand":"A\u002eB"}`, nil, "A.B", true},
		{"number command", `{"CallbackCommand":12}`, nil, "12", true},
		{"null command is none", `{"CallbackCommand":null}`, nil, "", false},
		// A key named twice is refused whatever its values: decoders that
		// take the last one read these two bodies apart (A.B, or none).
		{"null, then the command in another spelling", `{"CallbackCommand":null,"callbackcommand":"A.B"}`, protocol.ErrDuplicateCommand, "", false},
		{"the command, then null in another spelling", `{"CallbackCommand":"A.B","callbackcommand":null}`, protocol.ErrDuplicateCommand, "", false},
		{"null twice", `{"CallbackCommand":null,"CallbackCommand":null}`, protocol.ErrDuplicateCommand, "", false},
		{"object command", `{"CallbackCommand":{"x":1}}`, nil, "{", true},
		{"every scalar", `{"s":"x\"\\\/\b\f\n\r\t\u00e9","n":-0.5e+10,"i":0,"t":true,"f":false,"z":null,"a":[]}`, nil, "", false},
		{"64 levels", deep(64), nil, "", false},
		{"65 levels", deep(65), protocol.ErrTooDeep, "", false},
		{"64 levels of arrays", deepArray(64), nil, "", false},
		{"65 levels of arrays", deepArray(65), protocol.ErrTooDeep, "", false},
		{"a megabyte of brackets", `{"a":` + strings.Repeat("[", 1<<20), protocol.ErrTooDeep, "", false},
		{"array at top", `[1]`, protocol.ErrNotJSON, "", false},
		{"string at top", `"x"`, protocol.ErrNotJSON, "", false},
		{"empty", ``, protocol.ErrNotJSON, "", false},
		{"unterminated", `{"a":1`, protocol.ErrNotJSON, "", false},
		{"trailing garbage", `{"a":1}x`, protocol.ErrNotJSON, "", false},
		{"two objects", `{}{}`, protocol.ErrNotJSON, "", false},
		{"trailing comma", `{"a":1,}`, protocol.ErrNotJSON, "", false},
		{"missing colon", `{"a" 1}`, protocol.ErrNotJSON, "", false},
		{"bare key", `{a:1}`, protocol.ErrNotJSON, "", false},
		{"mismatched close", `{"a":[1}`, protocol.ErrNotJSON, "", false},
		{"control character in string", "{\"a\":\"x\ny\"}", protocol.ErrNotJSON, "", false},
		{"bad escape", `{"a":"\x"}`, protocol.ErrNotJSON, "", false},
		{"short unicode escape", `{"a":"\u12"}`, protocol.ErrNotJSON, "", false},
		{"leading zero", `{"a":01}`, protocol.ErrNotJSON, "", false},
		{"bare minus", `{"a":-}`, protocol.ErrNotJSON, "", false},
		{"dot without digits", `{"a":1.}`, protocol.ErrNotJSON, "", false},
		{"exponent without digits", `{"a":1e}`, protocol.ErrNotJSON, "", false},
		{"misspelt literal", `{"a":nul}`, protocol.ErrNotJSON, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := protocol.ScanBody([]byte(tt.body))
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && (info.Command != tt.command || info.HasCommand != tt.has) {
				t.Fatalf("command = %q (%v), want %q (%v)", info.Command, info.HasCommand, tt.command, tt.has)
			}
		})
	}
}

// TestScanBodyDeepBodiesAreCheap measures what a maximally nested body costs:
// the scan allocates nothing whatever the nesting.
func TestScanBodyDeepBodiesAreCheap(t *testing.T) {
	body := []byte(`{"a":` + strings.Repeat("[", 1<<20))
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := protocol.ScanBody(body); !errors.Is(err, protocol.ErrTooDeep) {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per scan, want 0", allocs)
	}
}

// referenceDepth is the nesting depth of a valid JSON text, counted without
// a parser (brackets inside strings skipped).
func referenceDepth(b []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// FuzzScanBody checks ScanBody against encoding/json: it accepts exactly
// the valid JSON objects nested at most MaxDepth deep, and finds the
// command a decoder finds.
func FuzzScanBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"CallbackCommand":"A.B","x":[1,2,{"y":null}]}`, `{"a":"\u00e9\n"}`,
		`[]`, `{"CallbackCommand":null}`, `{"a":1e5}`, `{"a":-0.1}`, ` { } `, `{"a":[[[[]]]]}`, `{"a":tru}`, strings.Repeat("[", 70)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := protocol.ScanBody(body)
		var obj map[string]json.RawMessage
		objErr := json.Unmarshal(body, &obj)
		valid := json.Valid(body) && objErr == nil && obj != nil
		if errors.Is(err, protocol.ErrDuplicateCommand) {
			if n := len(commandKeys(obj)); valid && n < 2 && strings.Count(strings.ToLower(string(body)), "command") < 2 {
				t.Fatalf("ScanBody(%q) found CallbackCommand twice; encoding/json sees %d", body, n)
			}
			return
		}
		switch {
		case valid && referenceDepth(body) <= protocol.MaxDepth:
			if err != nil {
				t.Fatalf("ScanBody(%q) = %v for a valid object", body, err)
			}
		case valid:
			if !errors.Is(err, protocol.ErrTooDeep) {
				t.Fatalf("ScanBody(%q) = %v for an object %d deep", body, err, referenceDepth(body))
			}
		default:
			if err == nil {
				t.Fatalf("ScanBody(%q) accepted a body encoding/json refuses", body)
			}
			return
		}
		if err != nil {
			return
		}
		keys := commandKeys(obj)
		ok := false // a key whose value a decoder takes: a null leaves the field unset
		for _, k := range keys {
			ok = ok || string(obj[k]) != "null"
		}
		if ok != info.HasCommand {
			t.Fatalf("HasCommand = %v, encoding/json found it: %v", info.HasCommand, ok)
		}
		var s string
		if len(keys) == 1 && strings.Count(string(body), `"CallbackCommand"`) == 1 && utf8.Valid(obj[keys[0]]) &&
			json.Unmarshal(obj[keys[0]], &s) == nil && s != info.Command {
			t.Fatalf("Command = %q, encoding/json decodes %q", info.Command, s)
		}
	})
}

// commandKeys are the top-level keys a payload decoder takes for
// CallbackCommand: equal to it, case ignored.
func commandKeys(obj map[string]json.RawMessage) []string {
	var keys []string
	for k := range obj {
		if strings.EqualFold(k, "CallbackCommand") {
			keys = append(keys, k)
		}
	}
	return keys
}
