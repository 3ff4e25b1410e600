package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/dispatcher"
)

// nilMapProcessor is a Processor of the program's own whose Process
// writes to a nil map: the panic is raised inside the runtime.
type nilMapProcessor struct{ seen map[string]int }

func (p nilMapProcessor) Process(_ context.Context, r *dispatcher.Request) error {
	p.seen[r.RequestID]++
	return nil
}

// TestAProcessorPanicNamesWhereItWasRaised: the failed attempt's error
// of a Processor's panic (logged with the retry, kept as a dead letter's
// last error) names the method and the file:line that raised it, not only
// "assignment to entry in nil map", which did not tell where to look.
func TestAProcessorPanicNamesWhereItWasRaised(t *testing.T) {
	err := processRecovered(context.Background(), nilMapProcessor{}, &dispatcher.Request{RequestID: "req-1"})
	if !errors.Is(err, dispatcher.ErrPanic) {
		t.Fatalf("processRecovered = %v, want ErrPanic", err)
	}
	if want := "nilMapProcessor.Process, processrecovered_internal_test.go:"; !strings.Contains(err.Error(), want) {
		t.Errorf("processRecovered = %q, want it to name %q", err, want)
	}
}
