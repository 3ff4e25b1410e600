package imcallback_test

import (
	"os"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/admin"
)

// reliabilityFaults are the rows of docs/reliability.md's Faults table,
// each split into its cells: fault, during the fault, /readyz, recovery,
// test.
func reliabilityFaults(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("docs/reliability.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Faults\n")
	if !ok {
		t.Fatal("docs/reliability.md has no ## Faults section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows [][]string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| fault ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 5 {
			t.Fatalf("docs/reliability.md's Faults row %q has %d cells, want 5", line, len(cells))
		}
		rows = append(rows, cells)
	}
	if len(rows) < 10 {
		t.Fatalf("docs/reliability.md's Faults table has %d rows: was it read as expected?", len(rows))
	}
	return rows
}

// TestDocsReliabilityReadinessOfTheTopicStore: a fault of the topic store
// alone (its PostgreSQL or SQLite, not the filesystem JetStream shares)
// fails a check of the after-handlers' dependency, which decides /readyz
// only with inline delivery (TestStatusAndReadiness): docs/reliability.md
// gives /readyz for the default, durable delivery, and says what inline
// delivery answers. The SQLite row once said 503.
func TestDocsReliabilityReadinessOfTheTopicStore(t *testing.T) {
	handlerDep := admin.Check{Handler: true}
	durable, inline := "200", "inline mode: 503"
	if handlerDep.DecidesReadiness(true) {
		durable = "503"
	}
	if !handlerDep.DecidesReadiness(false) {
		t.Fatal("a handler's dependency does not decide /readyz with inline delivery: update this test and the doc")
	}
	checked := 0
	for _, row := range reliabilityFaults(t) {
		fault, readyz := row[0], row[2]
		if !strings.Contains(fault, "PostgreSQL") && !strings.Contains(fault, "SQLite") || strings.Contains(fault, "JetStream") {
			continue
		}
		checked++
		if !strings.HasPrefix(readyz, durable) || !strings.Contains(readyz, "`topic_store`") || !strings.Contains(readyz, inline) {
			t.Errorf("docs/reliability.md's row %q gives /readyz as %q: want %s with durable delivery, "+
				"`topic_store` failing in /v1/status, and %q", fault, readyz, durable, inline)
		}
	}
	if checked < 2 {
		t.Errorf("found %d rows of the topic store's faults in docs/reliability.md, want its PostgreSQL and SQLite rows", checked)
	}
}
