package delivery

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDocsReliabilityGivesTheReadinessOfAFullDisk: docs/reliability.md's
// row of the full data filesystem gives what /readyz says for as long as
// the fault lasts once the supervisor restarts the embedded server
// (errRestarting, which names no cause). The row once said the check
// fails with `no space left on device`, which /readyz never shows: an
// operator finds it in the log of the failed restarts.
func TestDocsReliabilityGivesTheReadinessOfAFullDisk(t *testing.T) {
	b, err := os.ReadFile("../docs/reliability.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| the data filesystem full") {
			row = line
		}
	}
	cells := strings.Split(strings.Trim(row, "| "), " | ")
	if len(cells) != 5 {
		t.Fatalf("docs/reliability.md's row of the full data filesystem: %d cells, want 5: %q", len(cells), row)
	}
	if readyz := cells[2]; !strings.Contains(readyz, "`"+errRestarting.Error()+"`") {
		t.Errorf("docs/reliability.md gives /readyz during a full data filesystem as %q: it does not quote %q, "+
			"what /readyz says while the supervisor restarts the embedded server", readyz, errRestarting.Error())
	}
}

// TestDocsNameTheWorkStreamsSubjects: docs/delivery.md's table gives the
// work stream every subject the service sets it up with, the readiness
// probe's too, so that an operator comparing `nats stream info` (or
// creating the stream by hand) finds what the service will put there. The
// row once gave <prefix>.> alone.
func TestDocsNameTheWorkStreamsSubjects(t *testing.T) {
	b, err := os.ReadFile("../docs/delivery.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| Work stream |") {
			row = line
		}
	}
	if row == "" {
		t.Fatal("docs/delivery.md has no table row \"Work stream\"")
	}
	o := DefaultOptions()
	for _, subject := range workStreamConfig(o).Subjects {
		documented := "<prefix>" + strings.TrimPrefix(subject, o.SubjectPrefix)
		if !strings.Contains(row, "`"+documented+"`") {
			t.Errorf("docs/delivery.md's Work stream row does not name the subject %s", documented)
		}
	}
}

// TestDocsGiveTheFullCountOfTheDeliveryStatus: README.md and
// docs/delivery.md, where they say when GET /v1/delivery reads the backlog
// whole again, give fullCountEvery, after which it does whatever changed.
// docs/delivery.md once said it does so "only" after letters were removed,
// many added or one repeating an earlier event's, leaving it out.
func TestDocsGiveTheFullCountOfTheDeliveryStatus(t *testing.T) {
	want := fmt.Sprintf("at least every %d minutes", int(fullCountEvery/time.Minute))
	for _, doc := range []string{"../README.md", "../docs/delivery.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(b)), " ") // lines wrap anywhere
		if !strings.Contains(text, want) {
			t.Errorf("%s does not say that GET /v1/delivery reads the backlog whole %s (fullCountEvery)", doc, want)
		}
	}
}
