package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/server"
	"github.com/imcallback/imcallback/tracing"
)

// Version is the version `imcallback version` prints; the Makefile sets
// it at build time with -ldflags "-X github.com/imcallback/imcallback/cli.Version=…".
// Empty, the module version of the build is printed.
var Version = ""

// globalFlags are the flags every subcommand shares, and the modules the
// program added.
type globalFlags struct {
	configFile string
	dev        bool
	adminURL   string
	offline    bool
	asJSON     bool
	modules    []fx.Option
}

func (g *globalFlags) source() config.Source {
	return config.Source{File: g.configFile, Dev: g.dev}
}

// load reads and validates the configuration with the sections the
// program's modules declare, and renders each section (secrets redacted),
// so that a mistake is one clear message before the service is built.
func (g *globalFlags) load() (*config.Config, []string, error) {
	infos, err := declaredSections(g.modules)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := config.LoadWith(g.source(), infos...)
	var rendered []string
	var problems []error
	if err != nil {
		problems = append(problems, err)
	}
	for _, info := range infos {
		yaml, err := info.Load(g.source())
		if err != nil {
			problems = append(problems, fmt.Errorf("config: invalid:\n%w", err))
			continue
		}
		rendered = append(rendered, yaml)
	}
	return cfg, rendered, errors.Join(problems...)
}

// clientConfig is the configuration of the service the command-line tools
// read or ask (events, topics, delivery): the SdkAppid is not needed, and
// the keys and variables of the sections the program's modules declare are
// theirs, as for serve and config check, not unknown keys of the file.
func (g *globalFlags) clientConfig() (*config.Config, error) {
	infos, err := declaredSections(g.modules)
	if err != nil {
		return nil, err
	}
	src := g.source()
	src.Dev = true
	return config.LoadWith(src, infos...)
}

// declaredSections lists the configuration sections (config.Section) the
// modules declare. It builds an app of the modules alone and starts
// nothing; the modules' own invokes, which need the rest of the service,
// run after the listing and their failure here is ignored: the real start
// reports it.
func declaredSections(modules []fx.Option) ([]config.SectionInfo, error) {
	var infos []config.SectionInfo
	listed := false
	// fx runs the invokes of modules before the root's, in order: listing
	// in the first module runs before any of the program's.
	app := fx.New(fx.NopLogger,
		fx.Module("sections", fx.Invoke(fx.Annotate(func(s []config.SectionInfo) { infos, listed = s, true },
			fx.ParamTags(config.SectionGroup)))),
		fx.Options(modules...))
	if !listed && app.Err() != nil {
		return nil, dig.RootCause(app.Err())
	}
	return infos, nil
}

func newRootCmd(stdout, stderr io.Writer, modules ...fx.Option) *cobra.Command {
	g := globalFlags{modules: modules}
	serve := newServeCmd(&g)
	root := &cobra.Command{
		Use:           "imcallback",
		Short:         "Tencent Cloud IM callback service",
		Long:          "imcallback verifies Tencent Cloud IM callbacks, routes them to typed handlers and answers the protocol's envelope.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          serve.RunE,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "YAML configuration file, read before IMCALLBACK_* environment variables")
	root.PersistentFlags().StringVar(&g.adminURL, "admin", "", "events, topics, delivery, health: the admin API of the running service, a URL, or host:port for http://host:port (default IMCALLBACK_ADMIN_URL, else http:// + IMCALLBACK_ADMIN_LISTEN)")
	root.PersistentFlags().BoolVar(&g.offline, "offline", false, "events list, dead and replay, topics list and get: read a stopped service's data instead of asking the running one (every other command refuses it)")
	root.PersistentFlags().BoolVar(&g.dev, "dev", false, "development mode: accept SdkAppid "+config.DevSdkAppID+" when IMCALLBACK_SDKAPPID is unset")
	root.AddCommand(serve, newVersionCmd(), newConfigCmd(&g), newTopicsCmd(&g), newEventsCmd(&g), newAllowlistCmd(&g), newDeliveryCmd(&g), newHealthCmd(&g))
	root.AddCommand(newSendCmd(&g, catalogueSamples{}))
	refuseUnknownSubcommands(root)
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		if err := refuseServiceFlags(c, args); err != nil {
			return err
		}
		return refuseEmptyAdmin(c)
	}
	return root
}

// errEmptyAdmin answers --admin "": an empty shell variable must not send
// the command to IMCALLBACK_ADMIN_URL or the local admin listener instead.
var errEmptyAdmin = errors.New("--admin is empty: give the admin listener's URL or host:port, or leave the flag out " +
	"for IMCALLBACK_ADMIN_URL, else IMCALLBACK_ADMIN_LISTEN")

// refuseEmptyAdmin refuses an --admin given empty (or blank), as from an
// unset shell variable: `--admin "$PROD" delivery pause` would otherwise
// pause whichever service the defaults name.
func refuseEmptyAdmin(c *cobra.Command) error {
	if f := c.Flags().Lookup("admin"); f != nil && f.Changed && strings.TrimSpace(f.Value.String()) == "" {
		return errEmptyAdmin
	}
	return nil
}

// askTheService are the commands that ask the running service's admin
// API, and so read --admin and --offline (taking --offline, or refusing it
// with a message of their own).
var askTheService = []string{"events", "topics", "delivery", "health"}

// refuseServiceFlags refuses --admin and --offline on a command that does
// not ask the running service (serve, config check, version, send,
// allowlist): it would ignore them, and `serve --offline` would start the
// service, `allowlist --admin URL` read the local files all the same.
func refuseServiceFlags(c *cobra.Command, _ []string) error {
	top := c
	for top.HasParent() && top.Parent().HasParent() {
		top = top.Parent()
	}
	if top.HasParent() && (slices.Contains(askTheService, top.Name()) || top.Name() == "help" || top.Name() == "completion") {
		return nil // cobra's help and completion: the flags are the command's they are about
	}
	if c.Flags().Changed("admin") {
		last := len(askTheService) - 1
		return fmt.Errorf("--admin does not apply to %s: only %s and %s ask the running service", c.CommandPath(),
			strings.Join(askTheService[:last], ", "), askTheService[last])
	}
	if c.Flags().Changed("offline") {
		return offlineRefused(c)
	}
	return nil
}

// offlineCommands are the commands that take --offline: they read a
// stopped service's streams or store instead of asking the running one.
// Every other command refuses it (offlineRefused, or a message of its own
// that names the flag).
var offlineCommands = []string{"events list", "events dead", "events replay", "topics list", "topics get"}

// offlineRefused is the error of --offline on c, a command that does not
// take it: it names the flag, and the commands that do.
func offlineRefused(c *cobra.Command) error {
	last := len(offlineCommands) - 1
	return fmt.Errorf("--offline does not apply to %s: only %s and %s take it, reading a stopped service's data instead of "+
		"asking the running one; leave --offline out", c.CommandPath(), strings.Join(offlineCommands[:last], ", "), offlineCommands[last])
}

// refuseUnknownSubcommands makes every command that only groups others
// (config, events, topics, delivery) fail on an argument that names none of
// them, as the root does: cobra would print the group's help and succeed,
// so a mistyped `delivery pase` in a script would exit 0 having done
// nothing. Without an argument the group still prints its help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if c.HasParent() && !c.Runnable() && c.HasSubCommands() {
		c.Args = cobra.NoArgs
		c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
}

// appOptions are the fx options of the service as cmd/imcallback runs it.
// IMCALLBACK_DELIVERY is read here, and only here: durable wires
// delivery.Module, inline leaves it out and the dispatcher runs
// after-handlers in the request.
func appOptions(g *globalFlags, cfg *config.Config) fx.Option {
	opts := []fx.Option{
		fx.Supply(g.source()),
		logging.FxLogger,
		imcallback.Module,
	}
	if cfg.Delivery == config.DeliveryDurable {
		opts = append(opts, delivery.Module)
	}
	return fx.Options(append(opts, g.modules...)...)
}

func newServeCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the callback service (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Taken before anything else: a stop signal while the
			// configuration is read and the service built (a fraction of a
			// second, longer on a busy host) stops it once started, as one
			// during the start does, rather than killing the process with
			// the start's log lines still in their buffer.
			sig, ignoreSignals := stopSignal()
			defer ignoreSignals()
			cfg, _, err := g.load()
			if err == nil {
				err = cfg.CheckFiles()
			}
			if err != nil {
				return err // clear validation message before fx's wrapping
			}
			tuneGC()
			var log *zap.Logger
			var drain *server.Drain
			app := fx.New(appOptions(g, cfg), fx.Invoke(announceDev(g.dev), logConfigNotes), fx.Populate(&log, &drain),
				// Four stop hooks each drain within ShutdownTimeout, one after the
				// other (workers, public listener, admin listener, NATS), then the
				// embedded server and the stores close; fx's own 15 s default would
				// cut the later ones short and skip closing the stores.
				fx.StopTimeout(4*cfg.ShutdownTimeout+15*time.Second),
				// JetStream recovery after a crash plus migrations can take a while.
				fx.StartTimeout(2*time.Minute))
			return runUntil(cmd.Context(), sig, ignoreSignals, app, drain.Begin, func() {
				if log != nil {
					_ = log.Sync()
				}
			})
		},
	}
}

// defaultGCPercent is the service's GOGC unless the environment sets one.
// Its live heap is small and nearly every allocation dies with its
// request, so collecting less often costs little memory and trims the
// latency tail (measured in docs/performance.md).
const defaultGCPercent = 400

// defaultMemoryLimit is the service's soft memory limit unless GOMEMLIMIT
// is set: below it GOGC=400 keeps collections rare; near it the collector
// works harder, so a burst of durable events (whose ids the stream keeps
// for the dedup window) does not grow the process to five times its live
// heap. The collector may overshoot it while its CPU is capped, so it sits
// well below the 192 MiB the durable benchmark's peak must stay under
// (144 MiB peaked at 182–199 MiB there, 128 MiB at 166–178 MiB with the
// same throughput). Measured in docs/performance.md.
const defaultMemoryLimit = 128 << 20

// tuneGC applies defaultGCPercent and defaultMemoryLimit unless GOGC or
// GOMEMLIMIT say otherwise.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// stopSignals end the service gracefully: SIGINT, SIGTERM, and SIGHUP
// (which would otherwise kill it without a drain or the log's flush; it
// reloads nothing) unless SIGHUP is ignored, as under nohup.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// signalDuringStart, set by tests only, runs when run has taken a stop
// signal for one that came during the start (before the start's outcome is
// read): a test's way to know the signal was handled, without sleeping.
var signalDuringStart func()

// run starts app, waits for a stop signal (or ctx's end), runs drain (the
// delay before the stop; nil for none) and stops it, draining in-flight
// work within each module's own timeout. A signal during the start stops
// the app as soon as the start is done. After the first signal, a second
// one ends the process at once. flushLog runs after a
// failed start and after the stop: the logging module flushes its buffer in
// the app's last stop hook, which fx skips when a start or an earlier stop
// hook runs past its deadline, and the lines still buffered then are the
// ones that explain it.
func run(ctx context.Context, app *fx.App, drain, flushLog func()) error {
	sig, ignoreSignals := stopSignal()
	defer ignoreSignals()
	return runUntil(ctx, sig, ignoreSignals, app, drain, flushLog)
}

// stopSignal subscribes to the stop signals: sig ends at the first one,
// from which on a second one has its default effect (the process ends at
// once). ignoreSignals ends the subscription.
func stopSignal() (sig context.Context, ignoreSignals context.CancelFunc) {
	sig, ignoreSignals = signal.NotifyContext(context.Background(), stopSignals()...)
	context.AfterFunc(sig, ignoreSignals)
	return sig, ignoreSignals
}

// runUntil is run with the stop signals' subscription sig (stopSignal),
// taken by the caller, possibly before app was built: a signal that came
// since counts as one during the start.
func runUntil(ctx context.Context, sig context.Context, ignoreSignals context.CancelFunc, app *fx.App, drain, flushLog func()) error {
	if err := app.Err(); err != nil {
		return buildError(err)
	}
	defer flushLog()
	// The start is not cancelled by a signal: fx would roll it back with the
	// cancelled context, which skips every stop hook. A signal during the
	// start makes the stop follow it at once, and a second one ends the
	// process (a start can wait long on a dependency).
	started := make(chan struct{})
	early := make(chan bool, 1) // whether a signal came during the start
	go func() {
		select {
		case <-sig.Done():
			ignoreSignals()
			if signalDuringStart != nil {
				signalDuringStart()
			}
			early <- true
		case <-started:
			early <- false
		}
	}()
	startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	err := app.Start(startCtx)
	close(started)
	signalledEarly := <-early
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-sig.Done():
	}
	ignoreSignals() // from here a second signal has its default effect: the process ends
	if drain != nil && !signalledEarly {
		drain() // nothing was routed to a service that never finished starting
	}
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	return app.Stop(stopCtx)
}

// buildError is the message of an app that could not be built: the
// constructor's own error, not dig's account of the wiring that led to it
// (about a kilobyte of function names and build paths). For a type
// provided twice, dig's root cause names only the first provider, so the
// type is kept, with what usually causes it: a module the command line
// wires itself passed to Main again.
func buildError(err error) error {
	root := dig.RootCause(err)
	if !strings.HasPrefix(root.Error(), "already provided by") {
		return root
	}
	what := root.Error()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if next := errors.Unwrap(e); next != nil && next.Error() == root.Error() {
			what = e.Error() // "cannot provide *T from …: already provided by …"
			break
		}
	}
	return fmt.Errorf("%s: a module is wired twice; Main wires imcallback.Module itself, and delivery.Module unless "+
		"IMCALLBACK_DELIVERY=inline: pass only modules of your own, each once", what)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "imcallback", buildVersion())
		},
	}
}

func buildVersion() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

func newConfigCmd(g *globalFlags) *cobra.Command {
	cfg := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	cfg.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it with secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, sections, err := g.load()
			if err == nil {
				err = c.CheckFiles()
			}
			if err == nil {
				// The OTEL_* variables are read where the tracer is built;
				// serve refuses an exporter it does not have, so check does too.
				_, err = tracing.Enabled(os.Getenv)
			}
			if err == nil {
				// serve builds the forwarder against the catalogue and
				// refuses a glob matching no command or a before-command
				// two destinations share, so check does too.
				err = forward.Check(c)
			}
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), c.YAML())
			for _, yaml := range sections {
				fmt.Fprint(cmd.OutOrStdout(), yaml)
			}
			for _, note := range c.Notes() {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", note)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "configuration is valid")
			return nil
		},
	})
	return cfg
}
