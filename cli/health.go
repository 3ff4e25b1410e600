package cli

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/imcallback/imcallback/config"
)

// errHealthOffline answers health --offline: the probe asks the running
// service, which a data directory cannot answer for.
var errHealthOffline = errors.New("health asks the running service: --offline does not apply")

// newHealthCmd is `imcallback health`: a probe of the running service for
// images without a shell or curl (the distroless image's HEALTHCHECK,
// compose). It asks the admin listener's /healthz, or /readyz with
// --ready, prints the status word and succeeds on the service's healthy
// answer (status "ok", or "ready" with --ready); on anything
// else (not ready, nothing listening, no answer within --timeout) it fails,
// so the process exits 1, with the reason the configuration did not load
// when it read the admin variables alone.
func newHealthCmd(g *globalFlags) *cobra.Command {
	var (
		ready   bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Probe the running service: exit 0 when its admin listener answers /healthz (or /readyz with --ready)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if g.offline {
				return errHealthOffline
			}
			if timeout <= 0 {
				return fmt.Errorf("--timeout %s: must be positive", timeout)
			}
			a, notLoaded := g.adminClient()
			if notLoaded != nil {
				// The probe needs the admin listener's address alone: a
				// configuration this process cannot load (a file given to
				// serve only, as in a container's HEALTHCHECK) must not make
				// the running service look unhealthy.
				// Read as the service reads them: the file's, when it reads
				// (a configuration refused for another setting still names
				// the admin listener: the default's would be another
				// service's), then the variables, trimmed, blank unset.
				src := g.source() // the file as read for the load, not read again
				listen, err := envSetting("admin_listen", cmp.Or(src.FileString("admin_listen"), config.Default().AdminListen))
				if err != nil {
					return err
				}
				token, err := envSetting("admin_token", src.FileString("admin_token"))
				if err != nil {
					return err
				}
				if a, err = g.adminClientAt(listen, token); err != nil {
					return err
				}
			}
			a.onlineOnly = true
			a.http.Timeout = timeout
			path, want := "/healthz", "ok"
			if ready {
				path, want = "/readyz", "ready"
			}
			var st struct {
				Status string `json:"status"`
			}
			if err := a.call(c.Context(), http.MethodGet, path, nil, &st, "status"); err != nil {
				if errors.Is(err, errSlow) {
					err = fmt.Errorf("%w: GET %s at %s did not answer within %s", errSlow, path, a.base, timeout)
				}
				if notLoaded != nil {
					// The file may set another address or token: say why
					// it was not read.
					err = fmt.Errorf("%w\n(the configuration did not load, so health read %s and %s from the environment "+
						"and the file's admin_listen and admin_token alone: %v)",
						err, config.EnvName("admin_listen"), config.EnvName("admin_token"), notLoaded)
				}
				return err
			}
			if st.Status != want {
				// Not the service's healthy answer: another program's
				// health endpoint at the address, or a proxy's.
				return fmt.Errorf("GET %s at %s: answered with status %q, not the service's healthy %q: "+
					"check that --admin (IMCALLBACK_ADMIN_URL) or IMCALLBACK_ADMIN_LISTEN points at the imcallback admin listener",
					path, a.base, excerpt(st.Status, maxAnswerExcerpt), want)
			}
			_, err := fmt.Fprintln(c.OutOrStdout(), st.Status) // unwritten, the probe's answer is lost
			return err
		},
	}
	cmd.Flags().BoolVar(&ready, "ready", false, "ask /readyz: whether a callback would be accepted now (its dependencies answer), not only whether the process runs")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}
