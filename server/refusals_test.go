package server

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/protocol"
)

// TestAdminRefusalsAreLoggedOnceAMinute: a burst of refused admin
// connections gives one warning, with the count, not one line each.
func TestAdminRefusalsAreLoggedOnceAMinute(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	refuse := logRefusals(zap.New(core))
	for range 3 {
		refuse(protocol.ErrTooManyConns)
	}
	lines := logs.All()
	if len(lines) != 1 {
		t.Fatalf("%d lines for a burst of 3 refusals, want 1: %v", len(lines), lines)
	}
	if got := lines[0].ContextMap()["refused_total"]; got != int64(1) {
		t.Errorf("refused_total = %v, want 1 (the first refusal)", got)
	}
}
