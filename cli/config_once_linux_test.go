package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/config"
)

// TestTheServiceRunsOnTheFileServeChecked: serve read --config once to
// check it, and the service read it again to run on it. A file that can
// be read once only (a pipe: --config <(envsubst < c.yaml), /dev/stdin)
// was empty the second time, so the service ran without the file's
// settings, its tokens and allowlist among them, accepting unsigned
// callbacks from anywhere, after serve had called the file valid. Every
// load of one command now reads the bytes read the first time.
func TestTheServiceRunsOnTheFileServeChecked(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.WriteString("tokens: [filetoken]\nallow_cidrs: [192.0.2.0/24]\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// As a shell's <(…) names it: opened again, the pipe has nothing left.
	path := fmt.Sprintf("/proc/self/fd/%d", r.Fd())
	for _, kv := range []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_LISTEN=127.0.0.1:0",
		"IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0", "IMCALLBACK_DATA_DIR=" + t.TempDir(),
		"IMCALLBACK_LOG_LEVEL=error", "IMCALLBACK_DELIVERY=inline"} {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	var served *config.Config
	g := &globalFlags{configFile: path, modules: []fx.Option{fx.Populate(&served)}}
	checked, _, err := g.load()
	if err != nil {
		t.Fatal(err)
	}
	app, _ := newServeApp(g, checked)
	if err := app.Err(); err != nil {
		t.Fatalf("the service does not build on the file serve checked: %v", err)
	}
	for _, c := range []struct {
		what string
		cfg  *config.Config
	}{{"serve's check", checked}, {"the service", served}} {
		if !slices.Equal(c.cfg.Tokens, []string{"filetoken"}) || !slices.Equal(c.cfg.AllowCIDRs, []string{"192.0.2.0/24"}) {
			t.Errorf("%s read tokens %d and allow_cidrs %v, want the file's one token and 192.0.2.0/24",
				c.what, len(c.cfg.Tokens), c.cfg.AllowCIDRs)
		}
	}
}
