package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

func newTopicsCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Read the topics synced from topic callbacks"}
	var group, cursor, appID string
	var asJSON, includeDeleted, all bool
	var limit int
	// app is --appid when given: nil lists or looks up every app's topics.
	appFlag := func(c *cobra.Command) (*string, error) {
		if !c.Flags().Changed("appid") {
			return nil, nil
		}
		if err := topicsync.CheckAppID(appID); err != nil {
			return nil, fmt.Errorf("--appid must be an SDKAppID of 1 to %d digits, or \"\" for the topics stored before apps were kept", topicsync.MaxAppIDBytes)
		}
		return &appID, nil
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List synced topics",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if limit < 1 || limit > topicsync.MaxPageSize {
				return fmt.Errorf("--limit must be from 1 to %d", topicsync.MaxPageSize)
			}
			after, err := topicsync.DecodeCursor(cursor)
			if err != nil {
				return fmt.Errorf("--cursor: %w", err)
			}
			app, err := appFlag(c)
			if err != nil {
				return err
			}
			if !g.offline {
				a, err := g.adminClient()
				if err != nil {
					return err
				}
				res, err := remoteTopics(c.Context(), a, app, group, includeDeleted, limit, cursor, all)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(c.OutOrStdout(), res)
				}
				if err := writeTopicTable(c.OutOrStdout(), res.Topics); err != nil {
					return err
				}
				if res.NextCursor != "" {
					fmt.Fprintf(c.ErrOrStderr(), "more topics follow: --all lists every page, --cursor %s the next one\n", res.NextCursor)
				}
				return nil
			}
			return withStore(c.Context(), g, func(ctx context.Context, s topicsync.Store) error {
				f := topicsync.ListFilter{SdkAppID: app, GroupID: group, IncludeDeleted: includeDeleted, After: after, Limit: limit}
				var pages []topicsync.ListResponse
				for {
					page, err := topicsync.ListPage(ctx, s, f)
					if err != nil {
						return err
					}
					pages = append(pages, page)
					if !all || page.NextCursor == "" {
						break
					}
					f.After, _ = topicsync.DecodeCursor(page.NextCursor)
				}
				if asJSON {
					return writeJSON(c.OutOrStdout(), mergePages(pages))
				}
				res := mergePages(pages)
				if err := writeTopicTable(c.OutOrStdout(), res.Topics); err != nil {
					return err
				}
				if res.NextCursor != "" {
					fmt.Fprintf(c.ErrOrStderr(), "more topics follow: --all lists every page, --cursor %s the next one\n", res.NextCursor)
				}
				return nil
			})
		},
	}
	list.Flags().StringVar(&appID, "appid", "", "only topics of this SDKAppID (\"\": those stored before apps were kept); default every app's")
	list.Flags().StringVar(&group, "group", "", "only topics of this GroupId")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON, as the admin API does")
	list.Flags().BoolVar(&includeDeleted, "include-deleted", false, "include deleted topics")
	list.Flags().IntVar(&limit, "limit", topicsync.DefaultPageSize, "topics per page")
	list.Flags().BoolVar(&all, "all", false, "follow the cursor and list every page")
	list.Flags().StringVar(&cursor, "cursor", "", "start at this page (the next_cursor of an earlier page)")
	get := &cobra.Command{
		Use:   "get <TopicId>",
		Short: "Print one topic as JSON",
		Long: "Print one topic as JSON. Topics are kept per app: when the TopicId is held by more than one app,\n" +
			"name the app with --appid.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			app, err := appFlag(c)
			if err != nil {
				return err
			}
			if !g.offline {
				a, err := g.adminClient()
				if err != nil {
					return err
				}
				path := "/v1/topics/" + url.PathEscape(args[0])
				if app != nil {
					path += "?" + url.Values{"sdk_app_id": {*app}}.Encode()
				}
				var t topicsync.Topic
				if err := a.call(c.Context(), http.MethodGet, path, nil, &t); err != nil {
					if !isStatus(err, http.StatusNotFound) {
						return err
					}
					// No such topic, or no topic module at all: the list,
					// which never answers 404 itself, tells them apart.
					if _, err := remoteTopics(c.Context(), a, nil, "", false, 1, "", false); errors.Is(err, errNoTopicModule) {
						return err
					}
					return fmt.Errorf("topic %s: %w", args[0], topicsync.ErrNotFound)
				}
				return writeJSON(c.OutOrStdout(), t)
			}
			return withStore(c.Context(), g, func(ctx context.Context, s topicsync.Store) error {
				t, err := topicsync.GetAnyApp(ctx, s, app, args[0])
				if err != nil {
					return fmt.Errorf("topic %s: %w", args[0], err)
				}
				return writeJSON(c.OutOrStdout(), t)
			})
		},
	}
	get.Flags().StringVar(&appID, "appid", "", "the SDKAppID whose topic to print (\"\": stored before apps were kept); needed when several apps hold the TopicId")
	cmd.AddCommand(list, get)
	return cmd
}

// withStore opens the configured topic store for a command-line tool. The
// SdkAppid is not needed to read, so a missing one is not an error here.
func withStore(ctx context.Context, g *globalFlags, fn func(context.Context, topicsync.Store) error) error {
	cfg, err := g.clientConfig()
	if err != nil {
		return err
	}
	if cfg.StoreDSN == "" {
		// A read must not leave a new, empty store behind (a mistyped
		// data directory would look like one without topics).
		path := topicsync.SQLitePath(cfg.DataDir)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no topic store at %s: nothing was stored in this data directory (%s=%s); is it the service's?",
				path, config.EnvName("data_dir"), cfg.DataDir)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := topicsync.OpenStore(ctx, cfg.StoreDSN, cfg.DataDir, zap.NewNop(), topicsync.WithoutMigrating())
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

// mergePages joins pages into one answer whose cursor is the last page's.
func mergePages(pages []topicsync.ListResponse) topicsync.ListResponse {
	out := topicsync.ListResponse{Topics: []topicsync.Topic{}}
	for _, p := range pages {
		out.Topics = append(out.Topics, p.Topics...)
		out.NextCursor = p.NextCursor
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeTopicTable(w io.Writer, topics []topicsync.Topic) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tTOPIC ID\tGROUP ID\tNAME\tOWNER\tCREATED\tDELETED")
	for _, t := range topics {
		deleted := "-"
		if t.DeletedAt != nil {
			deleted = t.DeletedAt.Format(time.RFC3339)
		}
		app := t.SdkAppID
		if app == topicsync.LegacyAppID {
			app = "-" // stored before apps were kept
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tableCell(app), tableCell(t.TopicID), tableCell(t.GroupID),
			tableCell(t.Name), tableCell(t.OwnerAccount), t.CreatedAt.Format(time.RFC3339), deleted)
	}
	return tw.Flush()
}

// tableCell is s as one cell of the table: quoted, with Go escapes, when it holds a
// character that is not graphic (a control character such as a newline, a tab or ESC, or a
// format character such as U+202E). Topic names and ids come from IM's users: printed as
// they are, they could forge rows of the table or send escape sequences to the terminal.
func tableCell(s string) string {
	for _, r := range s {
		if !strconv.IsGraphic(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}
