package e2e_test

import (
	"slices"
	"strings"
	"testing"
)

// TestServicesGetOnlyTheTestsSettings: the binaries the tests run took
// every IMCALLBACK_ variable of the shell that ran them, besides the
// test's own settings, so an IMCALLBACK_DELIVERY=inline, _STORE_DSN,
// _NATS_URL or _ADMIN_TOKEN left exported from trying the service by hand
// had a test run another configuration than its own: the runbook's
// delivery commands against inline delivery, every admin request refused
// for want of a token. A binary gets only the test's settings; the rest
// of the environment (PATH, HOME, GOCOVERDIR) is still passed on.
func TestServicesGetOnlyTheTestsSettings(t *testing.T) {
	t.Setenv("IMCALLBACK_DELIVERY", "inline")
	t.Setenv("IMCALLBACK_ADMIN_TOKEN", "from-the-shell-0123456789")
	t.Setenv("IMCALLBACK_STORE_DSN", "postgres://elsewhere/db")
	t.Setenv("E2E_TEST_OTHER", "kept")
	env := serviceEnv("IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_DELIVERY=durable")
	var settings []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "IMCALLBACK_") {
			settings = append(settings, kv)
		}
	}
	if want := []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_DELIVERY=durable"}; !slices.Equal(settings, want) {
		t.Errorf("the binary's settings are %q, want %q", settings, want)
	}
	if !slices.Contains(env, "E2E_TEST_OTHER=kept") {
		t.Errorf("the rest of the test's environment is not passed on: %q", env)
	}
}
