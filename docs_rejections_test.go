package imcallback_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/protocol"
)

// TestDocsProtocolNamesEveryRejectionStatus: docs/protocol.md §3.5 says
// which HTTP statuses the service's own rejections have; every status of
// protocol.AllErrors must be among them, so that a reader does not take
// an answer it lists nowhere (a 431, a 505) for something else than the
// service's.
func TestDocsProtocolNamesEveryRejectionStatus(t *testing.T) {
	doc, err := os.ReadFile("docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### 3.5 imcallback's own rejection codes")
	if !ok {
		t.Fatal("docs/protocol.md has no §3.5 imcallback's own rejection codes")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	seen := map[int]bool{}
	for _, e := range protocol.AllErrors() {
		if seen[e.Status] {
			continue
		}
		seen[e.Status] = true
		// "413", "404/405" or "400xx", not the 400 inside 40001.
		status := regexp.MustCompile(`(^|\D)` + strconv.Itoa(e.Status) + `(\D|$)`)
		if !status.MatchString(section) {
			t.Errorf("docs/protocol.md §3.5 does not name HTTP %d (%s, code %d)", e.Status, e.Reason, e.Code)
		}
	}
}
