package plainjson_test

import (
	"encoding/json"
	"testing"

	"github.com/imcallback/imcallback/internal/plainjson"
)

func TestMarshal(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"characters json.Marshal escapes", map[string]any{"Text": "<b>a</b> & b"}, `{"Text":"<b>a</b> & b"}`},
		{"a raw message inside", map[string]json.RawMessage{"E": json.RawMessage(`{ "T" : "a&b" }`)}, `{"E":{"T":"a&b"}}`},
		{"what JSON must escape still is", "q\"\\\n", `"q\"\\\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := plainjson.Marshal(tt.v)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Marshal = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := plainjson.Marshal(func() {}); err == nil {
		t.Fatal("a func marshalled without an error")
	}
}
