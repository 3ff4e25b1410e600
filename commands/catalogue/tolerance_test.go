package catalogue_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/internal/tooling"
)

// numericFields lists the JSON paths of every integer, float and bool field
// of payload type t, nested lists and objects included ("[]" marks a list
// element). Types that decode themselves (protocol.FlexInt …) are tolerant
// on their own and skipped.
func numericFields(t reflect.Type, prefix []string) [][]string {
	var out [][]string
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if hasOwnDecoder(ft) {
			continue
		}
		path := append(append([]string{}, prefix...), name)
		switch ft.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64, reflect.Bool:
			out = append(out, path)
		case reflect.Slice:
			if !hasOwnDecoder(ft.Elem()) {
				out = append(out, numericFields(ft.Elem(), append(path, "[]"))...)
			}
		case reflect.Struct, reflect.Pointer:
			out = append(out, numericFields(ft, path)...)
		}
	}
	return out
}

func hasOwnDecoder(t reflect.Type) bool {
	u := reflect.TypeFor[interface{ UnmarshalJSON([]byte) error }]()
	return t.Implements(u) || reflect.PointerTo(t).Implements(u)
}

// nest builds the smallest body holding value at path.
func nest(path []string, value string) string {
	switch {
	case len(path) == 0:
		return value
	case len(path) >= 2 && path[1] == "[]":
		return fmt.Sprintf(`{%q:[%s]}`, path[0], nest(path[2:], value))
	}
	return fmt.Sprintf(`{%q:%s}`, path[0], nest(path[1:], value))
}

// TestNumericFieldsTolerateStrings checks docs/protocol.md §5.1's rule for
// every numeric field of every payload, not only those typed FlexInt: a
// number sent quoted, written as a float with an integral value, as "" or
// null decodes (the same as the bare number), instead of making the whole
// callback undecodable (a before-callback's fallback, an after-callback's
// 503 or dead letter).
func TestNumericFieldsTolerateStrings(t *testing.T) {
	for _, e := range catalogue.All() {
		tl := e.Command.Tooling(tooling.K)
		for _, path := range numericFields(tl.PayloadType(), nil) {
			field := strings.Join(path, ".")
			want, err := tl.Decode([]byte(nest(path, "1")))
			if err != nil {
				t.Errorf("%s %s: bare 1 does not decode: %v", e.Name(), field, err)
				continue
			}
			for _, v := range []string{`"1"`, `" 1 "`, `1.0`, `1e0`} {
				got, err := tl.Decode([]byte(nest(path, v)))
				if err != nil {
					t.Errorf("%s %s = %s: %v", e.Name(), field, v, err)
				} else if !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s = %s decodes to %+v, want %+v", e.Name(), field, v, got, want)
				}
			}
			for _, v := range []string{`""`, `null`} {
				if _, err := tl.Decode([]byte(nest(path, v))); err != nil {
					t.Errorf("%s %s = %s: %v", e.Name(), field, v, err)
				}
			}
		}
	}
}

// TestQuotedNumberKeepsMsgContentAsReceived: MsgContent is kept as
// received (docs/protocol.md §5.1), also when a quoted number elsewhere in
// the body needs the second chance; it was re-encoded then, its keys
// sorted and '<', '>' and '&' written as \u003c, \u003e and \u0026.
func TestQuotedNumberKeepsMsgContentAsReceived(t *testing.T) {
	content := `{"Text":"<b>Tom & Jerry</b>","Extra":{"z":1,"a":2}}`
	for _, e := range catalogue.All() {
		if e.Name() != "C2C.CallbackBeforeSendMsg" {
			continue
		}
		body := `{"CallbackCommand":"C2C.CallbackBeforeSendMsg","MsgSeq":"5","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":` + content + `}]}`
		p, err := e.Command.Tooling(tooling.K).Decode([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		got := reflect.ValueOf(p).Elem().FieldByName("MsgBody").Index(0).FieldByName("MsgContent").Bytes()
		if string(got) != content {
			t.Fatalf("MsgContent is %s, want it as received: %s", got, content)
		}
		return
	}
	t.Fatal("C2C.CallbackBeforeSendMsg is not catalogued")
}
