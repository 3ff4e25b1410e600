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
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/textcut"
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
		if err := topicsync.CheckAppFilter(appID); err != nil {
			// Quoted: a space or a newline around it (a script's variable)
			// is what is wrong, more often than not.
			return nil, fmt.Errorf("--appid %q: must be an SDKAppID, a decimal number such as 1400000000 without a leading zero, "+
				"or \"\" for the topics stored before apps were kept", textcut.Cut(appID, 2*topicsync.MaxAppIDBytes))
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
			if err := refuseEmptyFilters(c, "group"); err != nil {
				return err
			}
			if c.Flags().Changed("cursor") && strings.TrimSpace(cursor) == "" {
				// The last page's next_cursor (or an unset shell variable):
				// taken for no flag, a script paging on it would start over.
				return errors.New("--cursor is empty: an empty next_cursor means the last page was listed; " +
					"leave the flag out for the first page")
			}
			if _, err := topicsync.DecodeCursor(cursor); err != nil {
				return fmt.Errorf("--cursor: %w", err)
			}
			app, err := appFlag(c)
			if err != nil {
				return err
			}
			pages := &topicPages{out: c.OutOrStdout(), errOut: c.ErrOrStderr(), asJSON: asJSON,
				filters: topicFilters(app, group, includeDeleted, limit)}
			ctx := c.Context()
			if all {
				// A stop signal (Ctrl-C) ends a listing of every page as a
				// failed page does: what was printed is closed (--json stays
				// one answer) and the error names the --cursor to go on from.
				var release context.CancelFunc
				ctx, release = onStopSignal(ctx)
				defer release()
			}
			interrupted := func(page topicsync.ListResponse, err error) (topicsync.ListResponse, error) {
				return page, interruption(ctx, err)
			}
			if !g.offline {
				a, err := g.adminClient()
				if err != nil {
					return err
				}
				// The admin client bounds each request (each page) on its own.
				return pages.print(cursor, all, func(cursor string) (topicsync.ListResponse, error) {
					return interrupted(remoteTopics(ctx, a, app, group, includeDeleted, limit, cursor))
				})
			}
			return withStore(ctx, g, func(ctx context.Context, s topicsync.Store) error {
				return pages.print(cursor, all, func(cursor string) (topicsync.ListResponse, error) {
					after, err := topicsync.DecodeCursor(cursor)
					if err != nil {
						return topicsync.ListResponse{}, err
					}
					// Each page has its own time, so a long listing that progresses is not cut short.
					ctx, cancel := context.WithTimeout(ctx, storeTimeout)
					defer cancel()
					return interrupted(topicsync.ListPage(ctx, s, topicsync.ListFilter{
						SdkAppID: app, GroupID: group, IncludeDeleted: includeDeleted, After: after, Limit: limit,
					}))
				})
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
		Args: oneArg("<TopicId>", "a topic's TopicId as `"+g.name+" topics list` shows it (@TGS#_…@TOPIC#_…)", nil),
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
				if err := a.call(c.Context(), http.MethodGet, path, nil, &t, "topic_id"); err != nil {
					if !isStatus(err, http.StatusNotFound) {
						return err
					}
					// No such topic, or no topic module at all: the list,
					// which never answers 404 itself, tells them apart.
					// A 404 of the list too: --admin with a wrong path.
					if _, err := remoteTopics(c.Context(), a, nil, "", false, 1, ""); errors.Is(err, errNoTopicModule) || isStatus(err, http.StatusNotFound) {
						return err
					}
					return topicNotFound(g.name, args[0], topicsync.ErrNotFound)
				}
				return writeJSON(c.OutOrStdout(), t)
			}
			return withStore(c.Context(), g, func(ctx context.Context, s topicsync.Store) error {
				ctx, cancel := context.WithTimeout(ctx, storeTimeout)
				defer cancel()
				t, err := topicsync.GetAnyApp(ctx, s, app, args[0])
				if err != nil {
					return topicNotFound(g.name, args[0], err)
				}
				return writeJSON(c.OutOrStdout(), t)
			})
		},
	}
	get.Flags().StringVar(&appID, "appid", "", "the SDKAppID whose topic to print (\"\": stored before apps were kept); needed when several apps hold the TopicId")
	cmd.AddCommand(list, get)
	return cmd
}

// topicNotFound is err of topics get for id, which points to topics list
// when no topic has that id: the list shows the ids stored, as the admin
// API and the store hold them. prog is the command line's name.
func topicNotFound(prog, id string, err error) error {
	if errors.Is(err, topicsync.ErrNotFound) {
		return fmt.Errorf("topic %q: %w; `%s topics list` shows the topics stored", id, err, prog)
	}
	return fmt.Errorf("topic %q: %w", id, err)
}

// storeTimeout bounds opening the topic store, and each read of it, in
// offline mode: a long `topics list --all` that keeps reading pages is
// never cut short, a store that stops answering fails.
const storeTimeout = time.Minute

// withStore opens the configured topic store for a command-line tool. The
// SdkAppid is not needed to read, so a missing one is not an error here.
// fn bounds each of its reads with storeTimeout.
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
	openCtx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	s, err := topicsync.OpenStore(openCtx, cfg.StoreDSN, cfg.DataDir, zap.NewNop(), topicsync.WithoutMigrating())
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

// topicFilters are the flags that select what `topics list` lists, as the
// user gave them (app nil: every app's), each value quoted for a shell
// when it needs it and each flag followed by a space: a --cursor is a
// position in the list, not a selection, so the next page needs them
// again. The default --limit is left out.
func topicFilters(app *string, group string, includeDeleted bool, limit int) string {
	var b strings.Builder
	if app != nil {
		b.WriteString("--appid " + shellQuote(*app) + " ")
	}
	if group != "" {
		b.WriteString("--group " + shellQuote(group) + " ")
	}
	if includeDeleted {
		b.WriteString("--include-deleted ")
	}
	if limit != topicsync.DefaultPageSize {
		b.WriteString("--limit " + strconv.Itoa(limit) + " ")
	}
	return b.String()
}

// topicPages prints the pages of `topics list` as they arrive: the table
// (its header once, each page aligned on its own), or with --json the
// admin API's answer {"topics":[…],"next_cursor":"…"}, written a topic at
// a time, byte for byte as writeJSON prints one page of all of them.
type topicPages struct {
	out, errOut io.Writer
	asJSON      bool
	// filters are the flags of the listing's selection (topicFilters),
	// which the --cursor of a page to go on from needs beside it.
	filters string
	started bool // the table's header, or the answer's opening, is out
	n       int  // topics printed
}

// print prints the page at cursor and, with all, every page after it, each
// once fetched. When a page fails after others were printed, the output is
// closed as if that page's cursor were the next one (the JSON stays one
// valid answer) and the error says where to go on from.
func (p *topicPages) print(cursor string, all bool, fetch func(cursor string) (topicsync.ListResponse, error)) error {
	for {
		page, err := fetch(cursor)
		if err != nil {
			if !p.started {
				return err
			}
			return errors.Join(fmt.Errorf("topics list stopped after %d topics (%s--cursor %s goes on from there): %w", p.n, p.filters, tableCell(cursor), err),
				p.end(cursor))
		}
		if err := p.add(page.Topics); err != nil {
			return err
		}
		if !all || page.NextCursor == "" {
			return p.end(page.NextCursor)
		}
		if page.NextCursor == cursor {
			// The page asked for, answered again (a proxy or cache that
			// drops the query string): followed, it would print it forever.
			return errors.Join(fmt.Errorf("topics list stopped after %d topics: the answer to --cursor %s names the same next_cursor, "+
				"so the list would not move on; is --admin a proxy or cache that drops the query string?", p.n, tableCell(cursor)), p.end(cursor))
		}
		cursor = page.NextCursor
	}
}

func (p *topicPages) add(topics []topicsync.Topic) error {
	if !p.asJSON {
		err := writeTopicTable(p.out, topics, !p.started)
		p.started, p.n = true, p.n+len(topics)
		return err
	}
	b := []byte{}
	if !p.started {
		b = append(b, "{\n  \"topics\": ["...)
		p.started = true
	}
	for _, t := range topics {
		if p.n > 0 {
			b = append(b, ',')
		}
		js, err := json.MarshalIndent(t, "    ", "  ")
		if err != nil {
			return err
		}
		b = append(append(b, "\n    "...), js...)
		p.n++
	}
	_, err := p.out.Write(jsonText(b))
	return err
}

// end closes the output; next is the cursor of the page that follows, "" when none does.
func (p *topicPages) end(next string) error {
	if !p.asJSON {
		if !p.started {
			if err := writeTopicTable(p.out, nil, true); err != nil {
				return err
			}
		}
		if next != "" {
			// next is the answer's (--admin may name a proxy's): quoted when
			// it holds a control character, as the table's cells are.
			fmt.Fprintf(p.errOut, "more topics follow: --all lists every page, %s--cursor %s the next one\n", p.filters, tableCell(next))
		}
		return nil
	}
	if err := p.add(nil); err != nil { // the opening, for an answer without topics
		return err
	}
	b := []byte{}
	if p.n > 0 {
		b = append(b, "\n  "...)
	}
	cursor, err := json.Marshal(next)
	if err != nil {
		return err
	}
	b = append(append(append(b, "],\n  \"next_cursor\": "...), cursor...), "\n}\n"...)
	_, err = p.out.Write(jsonText(b))
	return err
}

func writeJSON(w io.Writer, v any) error { return printJSON(w, v) }

// writeTopicTable prints topics as a table, with its header when header.
func writeTopicTable(w io.Writer, topics []topicsync.Topic, header bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "APP\tTOPIC ID\tGROUP ID\tNAME\tOWNER\tCREATED\tDELETED")
	}
	for _, t := range topics {
		deleted := "-"
		if t.DeletedAt != nil {
			deleted = tableTime(*t.DeletedAt)
		}
		app := t.SdkAppID
		if app == topicsync.LegacyAppID {
			app = "-" // stored before apps were kept
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tableCell(app), tableCell(t.TopicID), tableCell(t.GroupID),
			tableCell(t.Name), tableCell(t.OwnerAccount), tableTime(t.CreatedAt), deleted)
	}
	return tw.Flush()
}

// tableTime is t as a table prints it: RFC 3339 in UTC, whatever the
// machine's time zone and wherever t came from (the admin API's answer, or,
// with --offline, the stream's own times, which are local), so that the
// same event reads the same against the running service and offline.
func tableTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// tableCell is s as one cell of the table: quoted, with Go escapes, when it holds a
// character that is not graphic (a control character such as a newline, a tab or ESC, or a
// format character such as U+202E) or a byte that is not UTF-8. Topic names and ids come from
// IM's users, and a handler's error (an event's LAST ERROR) may quote them or span lines
// (errors.Join): printed as they are, they could forge rows of the table or send escape
// sequences to the terminal. A byte that is not UTF-8 (an offline dead letter's error is read
// as stored, and cut at a byte count) could be one too: 0x9b is CSI to a terminal in 8-bit
// mode, and 0xff is text/tabwriter's escape character, which would swallow the cell's tabs.
func tableCell(s string) string {
	if !utf8.ValidString(s) {
		return strconv.QuoteToGraphic(s)
	}
	for _, r := range s {
		if !strconv.IsGraphic(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}
