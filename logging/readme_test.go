package logging

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// crashLoss is the README's bound of the log lines a crash loses.
var crashLoss = regexp.MustCompile(`loses at most the last (\S+(?: ms)?) of log lines`)

// TestReadmeLogsParagraphMatchesTheBuffer: the README's **Logs.**
// paragraph gives the buffer's size as bufferSize, and bounds what a
// crash loses by IMCALLBACK_LOG_BUFFER, the interval of the periodic
// flush, not by its default: a crash loses the lines of up to one
// interval, 10s at most.
func TestReadmeLogsParagraphMatchesTheBuffer(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, para, ok := strings.Cut(string(b), "**Logs.**")
	if !ok {
		t.Fatal("README.md has no **Logs.** paragraph")
	}
	para, _, _ = strings.Cut(para, "\n\n")
	para = strings.Join(strings.Fields(para), " ") // lines wrap anywhere
	if size := fmt.Sprintf("(%d KiB)", bufferSize>>10); !strings.Contains(para, size) {
		t.Errorf("the **Logs.** paragraph does not give the buffer's size %s:\n%s", size, para)
	}
	m := crashLoss.FindStringSubmatch(para)
	if m == nil {
		t.Fatalf("the **Logs.** paragraph does not say how much a crash loses (%s):\n%s", crashLoss, para)
	}
	if want := "`IMCALLBACK_LOG_BUFFER`"; m[1] != want {
		t.Errorf("the **Logs.** paragraph says a crash loses at most the last %s of log lines, want %s: "+
			"the flush's interval is the setting's", m[1], want)
	}
}
