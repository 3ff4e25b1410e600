package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/logging"
)

// progressThreshold is the smallest replay that shows a progress bar.
const progressThreshold = 10

func newEventsCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Inspect and replay the durable after-callback stream",
		Long: "events reads the JetStream streams durable delivery writes: the work stream (the audit log of every " +
			"stored after-callback, kept for IMCALLBACK_RETENTION) and its dead-letter stream. It asks the running " +
			"service's admin API (--admin, IMCALLBACK_ADMIN_URL, else IMCALLBACK_ADMIN_LISTEN; IMCALLBACK_ADMIN_TOKEN). " +
			"With --offline it reads the streams itself: with IMCALLBACK_NATS_URL from that cluster; otherwise from the " +
			"service's embedded server when IMCALLBACK_NATS_LISTEN is set and answers, else from the embedded store under " +
			"IMCALLBACK_DATA_DIR (the service must be stopped).",
	}
	cmd.AddCommand(newEventsListCmd(g), newEventsGetCmd(g), newEventsDeadCmd(g), newEventsReplayCmd(g))
	return cmd
}

func newEventsListCmd(g *globalFlags) *cobra.Command {
	var command, since string
	var asJSON bool
	var limit int
	var beforeSeq uint64
	c := &cobra.Command{
		Use:   "list",
		Short: "List stored events: the running service's newest first, --offline oldest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := refuseEmptyFilters(c, "command", "since"); err != nil {
				return err
			}
			f, err := eventFilter(command, since)
			if err != nil {
				return err
			}
			if !g.offline {
				if limit < 1 || limit > maxEventsLimit {
					return fmt.Errorf("--limit must be from 1 to %d (the most the running service lists at once; --before-seq pages on)", maxEventsLimit)
				}
				if c.Flags().Changed("before-seq") && beforeSeq == 0 {
					// The last page's next_before_seq: taken for no flag, a
					// script paging on it would list the newest events again.
					return errors.New("--before-seq 0: no event is older than sequence 1 (a next_before_seq of 0 means the last page was listed); " +
						"leave the flag out for the newest events")
				}
				a, err := g.adminClient()
				if err != nil {
					return err
				}
				return remoteEventsList(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), a, eventsPage{command: command, since: since, limit: limit, beforeSeq: beforeSeq}, asJSON)
			}
			for _, name := range []string{"limit", "before-seq"} {
				if c.Flags().Changed(name) {
					return fmt.Errorf("--%s pages the running service's list; --offline lists every event, oldest first", name)
				}
			}
			if err := offlineCommandCase(command); err != nil {
				return err
			}
			return withEvents(c.Context(), g, c.ErrOrStderr(), func(ctx context.Context, ev *delivery.Events) error {
				out := c.OutOrStdout()
				if asJSON {
					enc := json.NewEncoder(jsonWriter{out})
					return ev.List(ctx, f, func(e delivery.Event) error { return enc.Encode(e) })
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEQ\tSTORED\tCOMMAND\tAPP ID\tSIZE\tREQUEST ID\tREPLAY OF")
				err := ev.List(ctx, f, func(e delivery.Event) error {
					_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Seq, tableTime(e.Time),
						tableCell(commandTo(e.Command, e.Destination)), tableCell(e.AppID), e.Size, tableCell(dash(e.RequestID)), tableCell(dash(e.ReplayOf)))
					return err
				})
				return flushUnlessFailed(tw, err)
			})
		},
	}
	c.Flags().StringVar(&command, "command", "", "only this CallbackCommand, e.g. Group.CallbackAfterCreateTopic")
	c.Flags().StringVar(&since, "since", "", "only events stored since a duration ago (1h, 30m, 7d) or a time (RFC 3339)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: the admin API's answer, or with --offline one event per line (its own fields)")
	c.Flags().IntVar(&limit, "limit", defaultEventsLimit, "with the running service: the newest N events, at most 1000 (--offline lists them all)")
	c.Flags().Uint64Var(&beforeSeq, "before-seq", 0, "with the running service: only events older than this sequence (the next page)")
	return c
}

func newEventsDeadCmd(g *globalFlags) *cobra.Command {
	var asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "dead",
		Short: "List dead letters: events whose handler failed on every delivery",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !g.offline {
				if limit < 1 || limit > maxDeadLimit {
					return fmt.Errorf("--limit must be from 1 to %d (the most the running service lists; --offline lists them all)", maxDeadLimit)
				}
				a, err := g.adminClient()
				if err != nil {
					return err
				}
				return remoteDead(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), a, limit, asJSON)
			}
			if c.Flags().Changed("limit") {
				return errors.New("--limit cuts the running service's list; --offline lists every dead letter")
			}
			return withEvents(c.Context(), g, c.ErrOrStderr(), func(ctx context.Context, ev *delivery.Events) error {
				out := c.OutOrStdout()
				if asJSON {
					enc := json.NewEncoder(jsonWriter{out})
					return ev.Dead(ctx, func(d delivery.DeadLetter) error { return enc.Encode(d) })
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				// The same columns as against the running service: SEQ is the
				// event's work-stream sequence, which replay --dead --seq takes.
				fmt.Fprintln(tw, "SEQ\tFAILED AT\tCOMMAND\tAPP ID\tDELIVERIES\tLAST ERROR")
				err := ev.Dead(ctx, func(d delivery.DeadLetter) error {
					_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", d.OriginalSeq, tableTime(d.DeadAt),
						tableCell(commandTo(d.Command, d.Destination)), tableCell(d.AppID), d.Deliveries, tableCell(d.Error))
					return err
				})
				return flushUnlessFailed(tw, err)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: the admin API's answer ({\"dead_letters\":[…],\"total\":N}), or with --offline one dead letter per line")
	c.Flags().IntVar(&limit, "limit", 1000, "with the running service: the oldest N dead letters (at most 10000); --offline lists them all")
	return c
}

func newEventsReplayCmd(g *globalFlags) *cobra.Command {
	var seqs []string
	var command, since string
	var dead bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "replay (--seq N[-M] ... | --since D [--command C] | --command C | --dead [--seq N ...])",
		Short: "Republish stored events or dead letters for processing",
		Long: "replay republishes events to the work stream so that the workers run their handlers again " +
			"(handlers are idempotent). Each copy gets a fresh Nats-Msg-Id so the dedup window does not swallow it. " +
			"--dead republishes every dead letter (with --seq, the dead letters of those events, as `events dead` lists them) " +
			"and removes it from the dead-letter stream once republished.",
		Example: "  " + g.name + " events replay --seq 42 --seq 100-120\n" +
			"  " + g.name + " events replay --since 2h --command Group.CallbackAfterCreateTopic\n" +
			"  " + g.name + " events replay --dead\n" +
			"  " + g.name + " events replay --dead --seq 42",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bySeq, byFilter := c.Flags().Changed("seq"), c.Flags().Changed("command") || c.Flags().Changed("since")
			if err := refuseEmptyFilters(c, "command", "since"); err != nil {
				return err
			}
			if n := btoi(bySeq && !dead) + btoi(byFilter) + btoi(dead); n != 1 {
				return errors.New("choose exactly one selection: --seq, --since/--command, or --dead")
			}
			var list []uint64
			var f delivery.Filter
			var err error
			if bySeq {
				if list, err = parseSeqs(seqs); err != nil {
					return err
				}
				if len(list) == 0 {
					return errNoSeqs
				}
			}
			if byFilter {
				if f, err = eventFilter(command, since); err != nil {
					return err
				}
			}
			if !g.offline {
				a, err := g.adminClient()
				if err != nil {
					return err
				}
				if c.Flags().Changed("timeout") {
					if timeout <= 0 {
						return fmt.Errorf("--timeout %s: must be positive", timeout)
					}
					a.http.Timeout, a.work, a.limit = timeout, timeout, " (--timeout)"
				}
				return remoteReplay(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), a, bySeq, list, command, since, dead)
			}
			if c.Flags().Changed("timeout") {
				return errors.New("--timeout bounds the wait for the running service's answers; --offline replays itself")
			}
			if err := offlineCommandCase(command); err != nil {
				return err
			}
			return withEvents(c.Context(), g, c.ErrOrStderr(), func(ctx context.Context, ev *delivery.Events) error {
				var res delivery.ReplayResult
				var err error
				bar := newProgress(c.ErrOrStderr())
				switch {
				case dead && bySeq:
					res, err = ev.ReplayDeadOf(ctx, list, bar.update)
				case dead:
					res, err = ev.ReplayDead(ctx, bar.update)
				case byFilter:
					res, err = ev.ReplaySelection(ctx, f, bar.update)
				default:
					res, err = ev.Replay(ctx, list, bar.update)
				}
				bar.end(err)
				ans := replayAnswer{Replayed: res.Replayed, Missing: res.Missing, AlreadyReplayed: res.AlreadyReplayed,
					MissingCount: res.MissingCount, AlreadyReplayedCount: res.AlreadyReplayedCount}
				printReplay(c.OutOrStdout(), ans, dead)
				if err == nil && bySeq {
					err = nothingReplayed(ctx, g.name, ans, dead, func(ctx context.Context, seq uint64) string {
						return offlineEventState(ctx, g.name, ev, seq)
					})
				}
				return err
			})
		},
	}
	c.Flags().StringArrayVar(&seqs, "seq", nil, "stream sequence N or range N-M (repeatable, or comma-separated)")
	c.Flags().StringVar(&command, "command", "", "events of this CallbackCommand")
	c.Flags().StringVar(&since, "since", "", "events stored since a duration ago (1h, 30m, 7d) or a time (RFC 3339)")
	c.Flags().BoolVar(&dead, "dead", false, "every dead letter, removed from the dead-letter stream once republished")
	c.Flags().DurationVar(&timeout, "timeout", 0, "with the running service: how long to wait for each answer "+
		"(default: 1m for each request of --seq; a replay by --since/--command or --dead waits until it is done, and one cut off stops where it got to)")
	return c
}

// offlineEventState is noDeadLetter of seq as the streams tell it: whether
// the work stream holds event seq (a stopped service has no state to add).
// prog is the command line's name.
func offlineEventState(ctx context.Context, prog string, ev *delivery.Events, seq uint64) string {
	found := false
	err := ev.List(ctx, delivery.Filter{FromSeq: seq, ToSeq: seq + 1}, func(delivery.Event) error {
		found = true
		return nil
	})
	if err != nil || !found {
		return noDeadLetter(prog, seq, "", found || err != nil)
	}
	return fmt.Sprintf("event %d is not a dead letter: it is stored without one (processed or pending)", seq)
}

// withEvents opens the JetStream the service uses and runs fn on its
// streams, writing the connection's warnings to stderr (the command's,
// which Run was given). Like withStore, the SdkAppid is not needed, so a
// missing one is not an error here. Ctrl-C ends fn, which then fails as
// interrupted, and still closes the embedded server.
func withEvents(ctx context.Context, g *globalFlags, stderr io.Writer, fn func(context.Context, *delivery.Events) error) error {
	cfg, err := g.clientConfig()
	if err != nil {
		return err
	}
	ctx, stop := onStopSignal(ctx)
	defer stop()
	opts := delivery.FromConfig(cfg)
	// One lock for the connection's warnings, logged from NATS's
	// goroutines, and the error of its close: Run's writer need not be
	// safe for concurrent writes, as os.Stderr is.
	errOut := zapcore.Lock(zapcore.AddSync(stderr))
	log := logging.NewWithSink(zapcore.WarnLevel, "console", errOut)
	conn, err := delivery.ConnectTool(ctx, opts, log)
	if errors.Is(err, delivery.ErrNoEventLog) {
		return noStreams(err, opts)
	}
	if err != nil {
		return interruption(ctx, err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := conn.Close(closeCtx); err != nil {
			fmt.Fprintln(errOut, g.name+":", err)
		}
	}()
	ev, err := delivery.NewEvents(conn, opts)
	if err != nil {
		return err
	}
	err = fn(ctx, ev)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return noStreams(err, opts)
	}
	return interruption(ctx, err)
}

// noStreams is err of an event log without the service's streams.
func noStreams(err error, opts delivery.Options) error {
	return fmt.Errorf("%w: stream %s or %s does not exist here; has the service run with %s=durable and this configuration?",
		err, opts.Stream, opts.DeadStream(), config.EnvName("delivery"))
}

// refuseEmptyFilters refuses a flag of names given empty or blank (an
// unset shell variable): taken as no filter, it would select every event
// or topic instead of the ones meant.
func refuseEmptyFilters(c *cobra.Command, names ...string) error {
	for _, name := range names {
		if f := c.Flags().Lookup(name); f != nil && f.Changed && strings.TrimSpace(f.Value.String()) == "" {
			return fmt.Errorf("--%s is empty: give a value, or leave the flag out", name)
		}
	}
	return nil
}

// eventFilter reads --command and --since.
func eventFilter(command, since string) (delivery.Filter, error) {
	f := delivery.Filter{Command: command}
	if since == "" {
		return f, nil
	}
	t, err := delivery.ParseSince(since, time.Now())
	if err != nil {
		return f, fmt.Errorf("--since %w", err)
	}
	f.Since = t
	return f, nil
}

// offlineCommandCase refuses an --offline --command that selects none of
// the catalogue's after-commands as written but some in another case, as
// the running service refuses one for its own after-commands: command
// names are case-sensitive, so it would list no event and replay none, as
// if the commands had none.
func offlineCommandCase(command string) error {
	if command == "" {
		return nil
	}
	var after []string
	for _, e := range catalogue.All() {
		if e.Kind() == catalogue.After {
			after = append(after, e.Name())
		}
	}
	if err := delivery.CheckCommandCase(command, after); err != nil {
		return fmt.Errorf("--command: %w", err)
	}
	return nil
}

// maxSeqRange bounds one --seq range, so a typo cannot ask for billions.
const maxSeqRange = 10_000_000

// errNoSeqs answers a --seq that selects nothing (empty, or commas only, as
// an empty shell variable gives): a replay by sequence never falls back to
// every event.
var errNoSeqs = errors.New("--seq selects no sequence: give N or N-M (an empty --seq is no selection)")

// parseSeqs reads --seq values: N, N-M, or comma-separated lists of both;
// the result is sorted, each sequence once. Values that hold nothing but
// commas and spaces select nothing (errNoSeqs, said by the caller). An
// empty item beside others (a doubled, leading or trailing comma) is
// refused, as in the list settings: it is what `--seq "$A,$B"` leaves of
// an unset variable, and replaying the rest would skip that one silently.
func parseSeqs(values []string) ([]uint64, error) {
	if !slices.ContainsFunc(values, func(v string) bool { return strings.Trim(v, ", \t") != "" }) {
		return nil, nil
	}
	var out []uint64
	for _, v := range values {
		for i, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				return nil, fmt.Errorf("--seq %q: item %d is empty (a doubled, leading or trailing comma, as an unset "+
					"variable leaves): give each sequence, or remove the comma", v, i+1)
			}
			lo, hi, isRange := strings.Cut(part, "-")
			first, err := strconv.ParseUint(lo, 10, 64)
			if err != nil || first == 0 {
				return nil, fmt.Errorf("--seq %q: %q is not a stream sequence (1, 2, …)", v, lo)
			}
			last := first
			if isRange {
				if last, err = strconv.ParseUint(hi, 10, 64); err != nil || last < first {
					return nil, fmt.Errorf("--seq %q: %q is not a range N-M with M ≥ N", v, part)
				}
				if last-first >= maxSeqRange {
					return nil, fmt.Errorf("--seq %q: more than %d sequences in one range", v, maxSeqRange)
				}
			}
			for s := first; ; s++ { // not s <= last: the largest sequence has no next
				out = append(out, s)
				if s == last {
					break
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func joinSeqs(seqs []uint64) string {
	parts := make([]string, len(seqs))
	for i, s := range seqs {
		parts[i] = strconv.FormatUint(s, 10)
	}
	return strings.Join(parts, ", ")
}

// flushUnlessFailed prints the table only when reading it succeeded, so a
// failure is not preceded by a lone header.
func flushUnlessFailed(tw *tabwriter.Writer, err error) error {
	if err != nil {
		return err
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// progress shows a bar on w for replays of progressThreshold events or
// more, when w is a terminal (drawsProgress): in a file or a pipe (a cron
// job's log) its redraws, ten a second, would only add noise.
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
	on  bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, on: drawsProgress(w)} }

// drawsProgress reports whether a progress bar is drawn on w: on a
// terminal only, as send --repeat draws its own. Tests replace it.
var drawsProgress = isTerminal

func (p *progress) update(done, total int) {
	if total < progressThreshold || !p.on {
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription("replaying"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
		)
	}
	_ = p.bar.Set(done)
}

// finish ends the bar of a replay that is done, drawn full.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// stop ends the bar of a replay that stopped part way as it stands: drawn
// full, it would say every sequence was sent.
func (p *progress) stop() {
	if p.bar != nil {
		_ = p.bar.Exit()
	}
}

// end ends the bar: finish when err is nil, else stop.
func (p *progress) end(err error) {
	if err != nil {
		p.stop()
		return
	}
	p.finish()
}
