package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imcallback/imcallback/allowlist"
)

func newAllowlistCmd(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "allowlist",
		Short: "Print each app's effective source allowlist, the source of each entry and the age of Tencent's list",
		Long: "allowlist reads the configuration and the last good Tencent lists under the data directory\n" +
			"(the service keeps them current) and prints, per app, what the ip_allow check accepts.\n" +
			"It reads the files, not the running service: give it the service's configuration (the same\n" +
			"--config and IMCALLBACK_* variables; --dev for " + g.devApp() + ").",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, _, err := g.load()
			if err != nil {
				return g.readsTheService("allowlist", err)
			}
			o, err := allowlist.OptionsFromConfig(cfg, nil)
			if err != nil {
				return err
			}
			lists, err := allowlist.Describe(o, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.OutOrStdout(), lists)
			}
			return writeAllowlist(c.OutOrStdout(), lists)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// writeAllowlist prints one block per app: a line about the app, then its
// networks and their sources, those of a closed app (refused like every
// source until Tencent's list is fetched) said to apply once it is. The problem with a saved list
// may quote the file's content, so it is quoted as the other tables quote
// untrusted cells (tableCell).
func writeAllowlist(w io.Writer, lists []allowlist.AppList) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range lists {
		switch {
		case l.Closed:
			fmt.Fprintf(tw, "app %s\tclosed: no Tencent list yet, every source is refused\t%s\n", l.App, tableCell(l.Error))
		case l.Open:
			fmt.Fprintf(tw, "app %s\topen: every source is accepted\t\n", l.App)
		case l.IPList:
			fmt.Fprintf(tw, "app %s\tTencent list fetched %s (%s ago)\t%s\n", l.App,
				tableTime(l.FetchedAt), l.Age.Round(time.Second), tableCell(l.Error))
		default:
			fmt.Fprintf(tw, "app %s\tconfigured networks only\t\n", l.App)
		}
		for _, e := range l.Entries {
			if l.Closed {
				// Refused like every source until the list comes.
				fmt.Fprintf(tw, "  %s\t%s, once Tencent's list is fetched\t\n", e.Prefix, e.Source)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t\n", e.Prefix, e.Source)
		}
	}
	return tw.Flush()
}
