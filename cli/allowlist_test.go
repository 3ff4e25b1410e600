package cli

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/allowlist"
)

// TestAllowlistClosedAppAcceptsNone: a closed app (iplist, no Tencent list
// yet) refuses every source, its global and own networks too; the table
// listed them below "every source is refused" as if they were accepted.
// They are shown as what applies once the list is fetched.
func TestAllowlistClosedAppAcceptsNone(t *testing.T) {
	global := netip.MustParsePrefix("10.0.0.0/8")
	lists := []allowlist.AppList{
		{App: "1400000001", IPList: true, Closed: true, Entries: []allowlist.Entry{{Prefix: global, Source: allowlist.SourceGlobal}}},
		{App: "1400000002", Entries: []allowlist.Entry{{Prefix: global, Source: allowlist.SourceGlobal}}},
	}
	var out strings.Builder
	if err := writeAllowlist(&out, lists); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 lines:\n%s", out.String())
	}
	tests := []struct {
		line       string
		forTheList bool
	}{
		{lines[1], true},  // the closed app's
		{lines[3], false}, // the other app's
	}
	for _, tt := range tests {
		if got := strings.Contains(tt.line, "once Tencent's list is fetched"); got != tt.forTheList {
			t.Errorf("line %q: says it waits for the list: %v, want %v", tt.line, got, tt.forTheList)
		}
		if strings.TrimSuffix(strings.Fields(tt.line)[1], ",") != allowlist.SourceGlobal {
			t.Errorf("line %q does not name its source", tt.line)
		}
	}
}
