package cli

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/imtest"
)

// TestEventCommandsAgainstAnInlineServiceNameTheSetting: against a service
// running inline, every command of the event log and of delivery fails
// (non-zero exit) with the service's 409, which now says how to turn
// durable delivery on: IMCALLBACK_DELIVERY=durable, and a restart.
func TestEventCommandsAgainstAnInlineServiceNameTheSetting(t *testing.T) {
	svc := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	for _, args := range [][]string{
		{"events", "list"},
		{"events", "get", "1"},
		{"events", "dead"},
		{"events", "replay", "--dead"},
		{"events", "replay", "--seq", "1"},
		{"delivery", "status"},
		{"delivery", "pause"},
		{"delivery", "resume"},
	} {
		_, err := runCLI(t, append([]string{"--admin", svc.AdminURL}, args...)...)
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		for _, want := range []string{"HTTP 409", "durable delivery is off", "IMCALLBACK_DELIVERY=durable", "restart"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: the error does not say %q:\n%v", args, want, err)
			}
		}
	}
}
