package e2e_test

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/imtest"
)

// TestStartFailureIsOneMessage starts the binary on a port another process
// holds: it exits 1 with one line that names the variable and what to do,
// and none of fx's own error events.
func TestStartFailureIsOneMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildBinary(t, "./cmd/imcallback"), "serve")
	cmd.Env = serviceEnv("IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS=t",
		"IMCALLBACK_LISTEN="+busy.Addr().String(), "IMCALLBACK_ADMIN_LISTEN="+imtest.FreeAddr(t),
		"IMCALLBACK_DATA_DIR="+t.TempDir(), "IMCALLBACK_DELIVERY=inline", "IMCALLBACK_LOG_LEVEL=info")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("exit code %d (%v), want 1:\n%s", code, err, out)
	}
	var failures []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, `"level":"error"`) || strings.HasPrefix(line, "imcallback:") {
			failures = append(failures, line)
		}
	}
	if len(failures) != 1 || !strings.Contains(failures[0], "IMCALLBACK_LISTEN") ||
		!strings.Contains(failures[0], "another process listens there") {
		t.Fatalf("want one failure line naming IMCALLBACK_LISTEN and what to do, got %d:\n%s", len(failures), out)
	}
}
