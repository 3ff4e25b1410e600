package forward_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/forward"
)

// TestREADMEForwardExampleStarts: the README's YAML example of gateway
// mode, with its secrets' placeholders filled in, is a configuration the
// service starts with. Its first destination once matched "Group.*",
// which takes Group.CallbackBeforeSendMsg as the second does, and the
// start was refused.
func TestREADMEForwardExampleStarts(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, part := range strings.Split(string(readme), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if strings.HasPrefix(body, "forward:\n") {
			block = body
			break
		}
	}
	if block == "" {
		t.Fatal("README.md has no ```yaml block starting with forward:")
	}
	// A placeholder secret ("whsec_…") is a valid one in the file.
	block = strings.ReplaceAll(block, "whsec_…", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	file := filepath.Join(t.TempDir(), "forward.yaml")
	if err := os.WriteFile(file, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Source{File: file, Environ: func() []string {
		return []string{"IMCALLBACK_SDKAPPID=1400000001,1400000002"}
	}})
	if err != nil {
		t.Fatalf("the README's forward example does not load: %v\n%s", err, block)
	}
	if len(cfg.Forward) < 2 {
		t.Fatalf("the README's forward example has %d destinations, want its two", len(cfg.Forward))
	}
	if err := forward.Check(cfg); err != nil {
		t.Fatalf("the service refuses the README's forward example: %v\n%s", err, block)
	}
}
