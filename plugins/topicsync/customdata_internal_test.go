package topicsync

import (
	"encoding/json"
	"reflect"
	"testing"
)

// checkCustomDataEncoding fails unless encodeCustomData(fields) is valid JSON that decodes to
// what encoding/json's own encoding of fields decodes to.
func checkCustomDataEncoding(t *testing.T, fields []CustomField) {
	t.Helper()
	got := encodeCustomData(fields)
	if !json.Valid(got) {
		t.Fatalf("encodeCustomData(%q) = %s: not valid JSON", fields, got)
	}
	std, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	var want, decoded []CustomField
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatal(err)
	}
	if want == nil {
		want = []CustomField{}
	}
	if decoded, err = decodeCustomData(got); err != nil {
		t.Fatalf("decodeCustomData(%s): %v", got, err)
	}
	if !reflect.DeepEqual(decoded, want) {
		t.Fatalf("encodeCustomData(%q) = %s, decodes to %q; encoding/json's decodes to %q", fields, got, decoded, want)
	}
}

func TestEncodeCustomData(t *testing.T) {
	tests := []struct {
		name   string
		fields []CustomField
		want   string
	}{
		{"nil", nil, `[]`},
		{"empty", []CustomField{}, `[]`},
		{"plain", []CustomField{{"UserDefined1", "hello"}, {"k", ""}},
			`[{"key":"UserDefined1","value":"hello"},{"key":"k","value":""}]`},
		{"quotes and backslashes", []CustomField{{`a"b`, `c\d`}}, `[{"key":"a\"b","value":"c\\d"}]`},
		{"control characters", []CustomField{{"\n\t", "\x00\x1f"}}, `[{"key":"\u000a\u0009","value":"\u0000\u001f"}]`},
		{"multibyte text", []CustomField{{"话题", "é 😀 \u2028 <&>"}}, `[{"key":"话题","value":"é 😀 ` + "\u2028" + ` <&>"}]`},
		{"invalid UTF-8", []CustomField{{"a\xffb", "\xe4\xb8"}}, `[{"key":"a\ufffdb","value":"\ufffd\ufffd"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(encodeCustomData(tt.fields)); got != tt.want {
				t.Errorf("encodeCustomData = %s, want %s", got, tt.want)
			}
			checkCustomDataEncoding(t, tt.fields)
		})
	}
}

func FuzzEncodeCustomData(f *testing.F) {
	f.Add("UserDefined1", "hello", "k", "")
	f.Add(`"\`, "\x00\n\u2029", "\xff", "话题")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		checkCustomDataEncoding(t, []CustomField{{k1, v1}, {k2, v2}})
		checkCustomDataEncoding(t, []CustomField{{k1, v1}})
	})
}

// BenchmarkCustomDataOnNewGoroutine encodes Tencent's two-field sample the
// way an inline after-handler does: on a goroutine of its own, whose stack
// grows (is copied) wherever the encoding calls go deepest. json.Marshal is
// what encodeCustomData replaced.
func BenchmarkCustomDataOnNewGoroutine(b *testing.B) {
	fields := []CustomField{{"UserDefined1", "hello"}, {"UserDefined2", "world"}}
	encoders := []struct {
		name   string
		encode func()
	}{
		{"encodeCustomData", func() { encodeCustomData(fields) }},
		{"json.Marshal", func() { _, _ = json.Marshal(fields) }},
	}
	for _, enc := range encoders {
		b.Run(enc.name, func(b *testing.B) {
			done := make(chan struct{})
			b.ReportAllocs()
			for b.Loop() {
				go func() {
					enc.encode()
					done <- struct{}{}
				}()
				<-done
			}
		})
	}
}
