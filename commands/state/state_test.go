package state_test

import (
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/commands/state"
)

func TestPlatformKeepsRawAndNormalizes(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{"IOS", "iOS"}, {"iOS", "iOS"}, {"macOS", "Mac"}, {"Mac", "Mac"}, {"Linux", "Linux"}, {"", ""},
	} {
		var p state.StateChange
		body := `{"EventTime":"1732600200345","Info":{"Action":"Login","To_Account":"u"},"KickedDevice":[{"Platform":"` + tt.raw + `"}]}`
		if err := gojson.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		d := p.KickedDevice[0].Platform
		if string(d) != tt.raw || d.Normalized() != tt.want || p.EventTime != 1732600200345 {
			t.Errorf("%q: raw %q normalized %q", tt.raw, d, d.Normalized())
		}
	}
}

func TestStatusFromEitherPlace(t *testing.T) {
	for _, body := range []string{`{"Info":{"CustomStatus":"busy"}}`, `{"CustomStatus":"busy"}`} {
		var p state.StateChange
		if err := gojson.Unmarshal([]byte(body), &p); err != nil || p.Status() != "busy" {
			t.Errorf("%s: %q %v", body, p.Status(), err)
		}
	}
}
