package writeproof_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imcallback/imcallback/internal/writeproof"
)

// TestCheckReusesASuccessOnly: a success stands for the probe within the
// window, a failure does not, nor a success that stale says a failure
// came after.
func TestCheckReusesASuccessOnly(t *testing.T) {
	refused := errors.New("refused")
	tests := []struct {
		name       string
		results    []error // what each probe returns, in turn
		stale      bool
		wrote      bool // a write succeeded before the checks
		wantProbes int
		wantErrs   int
	}{
		{"successes", []error{nil}, false, false, 1, 0},
		{"a write before", nil, false, true, 0, 0},
		{"failures", []error{refused, refused, refused, refused}, false, false, 4, 4},
		{"a failure, then a success", []error{refused, nil}, false, false, 2, 1},
		{"stale", []error{nil, nil, nil, nil}, true, true, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeproof.New()
			p.SetWindow(time.Hour) // however slow the machine, the checks fall within it
			if tt.wrote {
				p.Wrote()
			}
			probes, errs := 0, 0
			probe := func(context.Context) error {
				err := tt.results[probes]
				probes++
				return err
			}
			for range 4 {
				if err := p.Check(t.Context(), func() bool { return tt.stale }, probe); err != nil {
					if !errors.Is(err, refused) {
						t.Fatalf("check: %v, want the probe's error", err)
					}
					errs++
				}
			}
			if probes != tt.wantProbes || errs != tt.wantErrs {
				t.Errorf("4 checks: %d probes, %d failed; want %d, %d", probes, errs, tt.wantProbes, tt.wantErrs)
			}
		})
	}
}

// TestCheckWaitsForTheProbeUnderWay: a check that comes while a probe
// runs takes its success instead of probing again, and gives up waiting
// when its context ends.
func TestCheckWaitsForTheProbeUnderWay(t *testing.T) {
	p := writeproof.New()
	p.SetWindow(time.Hour)
	started, release := make(chan struct{}), make(chan struct{})
	probes := 0
	first := make(chan error, 1)
	go func() {
		first <- p.Check(context.Background(), nil, func(context.Context) error {
			probes++
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Check(gone, nil, func(context.Context) error { t.Error("a second probe ran"); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("a check whose context ended while waiting: %v, want context.Canceled", err)
	}
	second := make(chan error, 1)
	go func() {
		second <- p.Check(context.Background(), nil, func(context.Context) error { probes++; return nil })
	}()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if probes != 1 {
		t.Errorf("%d probes, want 1: the waiting check takes the success", probes)
	}
}
