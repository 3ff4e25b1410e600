package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	"github.com/imcallback/imcallback/internal/fxresult"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/plugins/topicsync"
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
	// name is the command line's name in its help and the commands its
	// messages name: the binary's (Main, Run), else defaultName.
	name       string
	configFile string
	dev        bool
	adminURL   string
	offline    bool
	asJSON     bool
	modules    []fx.Option

	// read is the Source of --config as source first read it.
	read *config.Source
}

// source is where the command's configuration comes from: --config, read
// once (config.Source.Read), so that every load of the command (serve's
// check and the service's own, each section's) reads the same settings,
// also from a file that can be read once only (--config <(…)).
func (g *globalFlags) source() config.Source {
	if g.read == nil {
		src := config.Source{File: g.configFile, Dev: g.dev}.Read()
		g.read = &src
	}
	return *g.read
}

// load reads and validates the configuration with the sections the
// program's modules declare, and renders each section (secrets redacted),
// so that a mistake is one clear message before the service is built.
func (g *globalFlags) load() (*config.Config, []string, error) {
	infos, err := config.DeclaredSections(g.modules...)
	if err != nil {
		return nil, nil, err
	}
	return config.LoadAll(g.source(), infos...)
}

// clientConfig is the configuration of the service the command-line tools
// read or ask (events, topics, delivery): the SdkAppid is not needed, and
// the keys and variables of the sections the program's modules declare are
// theirs, as for serve and config check, not unknown keys of the file.
func (g *globalFlags) clientConfig() (*config.Config, error) {
	infos, err := config.DeclaredSections(g.modules...)
	if err != nil {
		return nil, err
	}
	src := g.source()
	src.Dev = true
	return config.LoadWith(src, infos...)
}

func newRootCmd(stdout, stderr io.Writer, modules ...fx.Option) *cobra.Command {
	return newNamedRootCmd(defaultName, stdout, stderr, modules...)
}

// newNamedRootCmd is the command line named name (the binary's, under
// Main and Run).
func newNamedRootCmd(name string, stdout, stderr io.Writer, modules ...fx.Option) *cobra.Command {
	g := globalFlags{name: name, modules: modules}
	serve := newServeCmd(&g)
	root := &cobra.Command{
		Use:           name,
		Short:         "Tencent Cloud IM callback service",
		Long:          name + " verifies Tencent Cloud IM callbacks, routes them to typed handlers and answers the protocol's envelope.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noSubcommand,
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
	// cobra adds its help and completion commands as it executes: added
	// now, they refuse an unknown command too.
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	refuseUnknownHelpTopics(root)
	refuseUnknownSubcommands(root)
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		if err := refuseServiceFlags(c, args); err != nil {
			return err
		}
		if err := refuseAdminOffline(c, g.offline); err != nil {
			return err
		}
		if err := refuseEmptyConfig(c); err != nil {
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

// errEmptyConfig answers --config "": an empty shell variable must not run
// the command on the IMCALLBACK_* variables alone.
var errEmptyConfig = errors.New("--config is empty: give the configuration file, or leave the flag out " +
	"for the IMCALLBACK_* variables alone")

// refuseEmptyConfig refuses a --config given empty (or blank), as from an
// unset shell variable: `--config "$PROD" events replay --dead` would
// otherwise replay on whichever service the variables name, and `serve`
// start without the file's settings.
func refuseEmptyConfig(c *cobra.Command) error {
	if f := c.Flags().Lookup("config"); f != nil && f.Changed && strings.TrimSpace(f.Value.String()) == "" {
		return errEmptyConfig
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

// refuseAdminOffline refuses --admin beside --offline on a command that
// takes --offline (offlineCommands): it reads the local data directory, or
// IMCALLBACK_NATS_URL's cluster and IMCALLBACK_STORE_DSN's store, and would
// ignore --admin, so that `--admin prod:9090 events replay --offline --seq
// 5` would replay another service's event 5 than the one named.
func refuseAdminOffline(c *cobra.Command, offline bool) error {
	path := strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
	if !offline || !c.Flags().Changed("admin") || !slices.Contains(offlineCommands, path) {
		return nil
	}
	return fmt.Errorf("--admin and --offline exclude each other: %s --offline reads the data itself (%s, %s or %s), "+
		"not the service --admin names; leave out one of them", c.CommandPath(),
		config.EnvName("data_dir"), config.EnvName("nats_url"), config.EnvName("store_dsn"))
}

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
		c.Args = noSubcommand
		c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
}

// noSubcommand is cobra.NoArgs for the root and the commands that group
// others: a word after one names no subcommand of it, and the error names
// the subcommands close to it (unknownCommand).
func noSubcommand(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return unknownCommand(c, args[0])
	}
	return nil
}

// unknownCommand is the error for word, which names no subcommand of c,
// with the subcommands cobra finds close to it (a typo, servee for serve,
// or the start of a name), as cobra's own message would suggest them.
func unknownCommand(c *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, which it sets as it suggests
	}
	if near := c.SuggestionsFor(word); len(near) > 0 {
		msg += "; did you mean " + strings.Join(near, " or ") + "?"
	}
	return errors.New(msg)
}

// refuseUnknownHelpTopics makes root's help command fail on a command it
// does not know, as that command itself would: cobra's prints the help of
// the nearest command it finds (the root's for `help pase`, the delivery
// group's for `help delivery pase`) and succeeds. The words after a
// command that has no subcommands are its arguments (`help events get 7`),
// no unknown command: its help is shown.
func refuseUnknownHelpTopics(root *cobra.Command) {
	for _, help := range root.Commands() {
		if help.Name() != "help" || help.Run == nil {
			continue
		}
		show := help.Run
		help.Run = nil
		help.RunE = func(c *cobra.Command, args []string) error {
			if cmd, rest, err := c.Root().Find(args); err == nil && cmd != nil && len(rest) > 0 && cmd.HasSubCommands() {
				return unknownCommand(cmd, rest[0])
			}
			show(c, args)
			return nil
		}
	}
}

// refuseUnknownCommandHelp makes --help (-h) after a word that names no
// command of the command before it fail, as that command fails without
// the flag and as the help command does (refuseUnknownHelpTopics): cobra
// prints the help of the nearest command it finds (the delivery group's
// for `delivery pase --help`, the root's for `pase --help`) and succeeds,
// so a script that probes for a command with --help finds one that does
// not exist. The words after a command that has no subcommands are its
// arguments: its help is shown. A help function cannot fail, so the
// refusal is set in *refused for Run to return.
func refuseUnknownCommandHelp(root *cobra.Command, refused *error) {
	show := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		// Parsed only when c runs with --help; the help command's own
		// call has no words here.
		if words := c.Flags().Args(); len(words) > 0 && c.HasSubCommands() {
			*refused = unknownCommand(c, words[0])
			return
		}
		show(c, args)
	})
}

// appOptions are the fx options of the service as cmd/imcallback runs it,
// but for fx's event logger (logging.FxLogger), which serve adds at the
// top level. IMCALLBACK_DELIVERY is read here, and only here: durable
// wires delivery.Module, inline leaves it out and the dispatcher runs
// after-handlers in the request.
func appOptions(g *globalFlags, cfg *config.Config) fx.Option {
	opts := []fx.Option{
		fx.Supply(g.source()),
		imcallback.Module,
	}
	if cfg.Delivery == config.DeliveryDurable {
		opts = append(opts, delivery.Module)
	} else {
		opts = append(opts, fx.Invoke(refuseDeliveryModule))
	}
	return fx.Options(append(opts, g.modules...)...)
}

// deliveryWired reads the *delivery.Service of a delivery.Module among
// Main's modules.
type deliveryWired struct {
	fx.In
	Service *delivery.Service `optional:"true"`
}

// refuseDeliveryModule stops the start of an inline service to which
// Main's modules add delivery.Module: Main leaves it out for inline, so it
// is wired once, and after-callbacks would be delivered durably against
// IMCALLBACK_DELIVERY (the dispatcher only warns).
func refuseDeliveryModule(in deliveryWired) error {
	if in.Service == nil {
		return nil
	}
	return errors.New("IMCALLBACK_DELIVERY is inline but delivery.Module is among Main's modules, which would deliver " +
		"after-callbacks durably; Main wires delivery.Module itself unless IMCALLBACK_DELIVERY=inline: " +
		"pass only modules of your own, or set IMCALLBACK_DELIVERY=durable")
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
			w := watchStopSignals()
			defer w.end()
			// A write to standard error whose reader has gone (`serve 2>&1 |
			// tee log` at Ctrl-C, which ends tee at once) would kill the
			// process with SIGPIPE, Go's default for standard output and
			// error, in the middle of the stop the same Ctrl-C began: taken
			// here, the write fails with EPIPE instead, and the log's lines
			// are lost, not the graceful stop. Taken rather than ignored,
			// so that a process the service starts gets the default.
			pipes := make(chan os.Signal, 1)
			signal.Notify(pipes, syscall.SIGPIPE)
			defer signal.Stop(pipes)
			cfg, _, err := g.load()
			if err == nil {
				err = checkSettings(cfg)
			}
			if err == nil {
				err = checkListenAddresses(cfg)
			}
			if err != nil {
				return err // clear validation message before fx's wrapping
			}
			// Before the service is built, and held until its stop has
			// ended: nothing of the data directory is opened (the topic
			// store migrated) while another serve runs on it. The lock
			// creates the directory, so every check of the settings comes
			// before it: a refused start leaves nothing behind.
			release, err := lockDataDir(cfg)
			if err != nil {
				return err
			}
			defer release()
			tuneGC()
			app, svc := newServeApp(g, cfg)
			return run(cmd.Context(), app, w, svc)
		},
	}
}

// checkSettings makes the checks of the settings beyond the
// configuration's own validation (config.Load), which serve makes before
// it takes the data directory and config check makes too: GOGC and
// GOMEMLIMIT (checkGCEnv), the files the configuration names (CheckFiles),
// the OTEL_* variables, read where the tracer is built (an exporter or
// protocol it does not have), the store's DSN as its driver parses it,
// and the forward destinations against the catalogue (a glob matching no
// command, a before-command two destinations share), which the forwarder
// is built against.
func checkSettings(c *config.Config) error {
	if err := checkGCEnv(os.Getenv); err != nil {
		return err
	}
	if err := c.CheckFiles(); err != nil {
		return err
	}
	if err := topicsync.CheckDSN(c.StoreDSN); err != nil {
		return err
	}
	if _, err := tracing.Enabled(os.Getenv); err != nil {
		return err
	}
	return forward.Check(c)
}

// checkListenAddresses listens on each address the service listens on,
// and closes it again, before serve builds the service. The listeners
// bind in their start hooks, after the topic store's migrations and the
// JetStream streams' setup, so an address another process holds (a
// second instance started by mistake, a new version while the old one
// still runs) would fail the start only once it had created the data
// directory and migrated the store. The error notes the misspelt and the
// empty variables (EnvWarnings, EmptyEnv), which the start would have
// logged. A port of 0 (any free port) is not tried; a malformed address
// is refused when the listener starts. The start's own bind still fails
// for an address taken in between.
func checkListenAddresses(cfg *config.Config) error {
	type listener struct{ what, key, address string }
	listeners := []listener{{"the public listener", "listen", cfg.Listen}, {"the admin listener", "admin_listen", cfg.AdminListen}}
	if cfg.Delivery == config.DeliveryDurable && cfg.NATSURL == "" && cfg.NATSListen != "" {
		listeners = append(listeners, listener{"the embedded NATS server", "nats_listen", cfg.NATSListen})
	}
	for _, l := range listeners {
		if _, port, err := config.ListenPort(l.key, l.address); err != nil || port == 0 {
			continue
		}
		ln, err := net.Listen("tcp", l.address)
		if err != nil {
			problems := []error{server.ListenError(l.what, l.address, l.key, err)}
			// The start's log said these; a misspelt or an empty variable is
			// often why the address is the default's.
			for _, w := range append(cfg.EnvWarnings(), cfg.EmptyEnv()...) {
				problems = append(problems, errors.New("note: "+w))
			}
			return errors.Join(problems...)
		}
		_ = ln.Close() // nothing was accepted on it
	}
	return nil
}

// newServeApp builds the service as serve runs it, and what run needs to
// run it: the guard of its hooks, its logger, and the drain.
func newServeApp(g *globalFlags, cfg *config.Config) (*fx.App, service) {
	guard := &hookGuard{
		startSetting: " (" + config.EnvName("start_timeout") + ")",
		stopSetting:  " (4 × " + config.EnvName("shutdown_timeout") + " + 15s)",
	}
	var log *zap.Logger
	var drain *server.Drain
	// The guard decorates fx.Lifecycle at the top level; the service, the
	// program's modules with it, is one module below, so that a program's
	// own top-level decoration of fx.Lifecycle builds ("already decorated"
	// at the same level) and wraps the guarded one. Its other decorations
	// still apply to every module of the service, as at the top level (all
	// but fx's event logger, which hook events need at the top level); a
	// module's provides, invokes (in the same order) and groups are as
	// they were.
	// run returns the start's and the stop's errors, and Main prints them:
	// fx's event logger does not log them too.
	app := fx.New(guard.option(), logging.FxLogger, fx.Supply(&logging.StartStopReported{}),
		fx.Module("serve", appOptions(g, cfg), fx.Invoke(announceDev(g.dev), logConfigNotes), fx.Populate(&log, &drain)),
		fx.StopTimeout(cfg.StopTimeout()), // fx's own 15 s would skip closing the stores
		// JetStream recovery after a crash plus migrations can take a while.
		fx.StartTimeout(cfg.StartTimeout))
	guard.log = log
	flush := func() {
		if log != nil {
			_ = log.Sync()
		}
	}
	return app, service{guard: guard, log: log, stopping: drain.Stopping, drain: drain.Begin,
		failed: drain.Failed(), fault: drain.Fault, flushLog: flush}
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
// GOMEMLIMIT say otherwise. A variable set to the empty string (an env
// file's GOMEMLIMIT=, compose's ${GOMEMLIMIT} of an unset variable) says
// nothing: the runtime reads it as unset, GOGC 100 and no limit, so the
// service's defaults apply, as they do to an empty IMCALLBACK_* setting.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// checkGCEnv refuses GOGC and GOMEMLIMIT values the service would run
// badly with, unnoticed: see checkGOGC and checkGOMEMLIMIT. serve and
// config check call it.
func checkGCEnv(getenv func(string) string) error {
	return errors.Join(checkGOGC(getenv), checkGOMEMLIMIT(getenv))
}

// minMemoryLimit is the least GOMEMLIMIT the service takes: below it the
// collector runs all the time (the process's live heap alone is several
// MiB), so such a value is a mistake, of a unit left out most likely.
const minMemoryLimit = 1 << 20

// checkGOMEMLIMIT refuses a GOMEMLIMIT below minMemoryLimit. To the Go
// runtime 0 is a limit of 0 bytes, not "no limit" (that is off), and a
// number without a unit counts bytes (512 for 512 MiB is 512 bytes); the
// collector would take the CPU the callbacks need, and at 0 the memory
// watch, which reads 0 as no limit, would not say so. A value the runtime
// cannot read never gets here: the runtime refuses it before main.
func checkGOMEMLIMIT(getenv func(string) string) error {
	v := getenv("GOMEMLIMIT")
	n, ok := byteCount(v)
	if !ok || n >= minMemoryLimit {
		return nil
	}
	return fmt.Errorf("GOMEMLIMIT=%q is a soft memory limit of %d bytes, below 1MiB: the garbage collector would run all the time. "+
		"A number without a unit counts bytes: write the unit (e.g. 190MiB); for no limit write off; "+
		"unset, the service's default is %dMiB", v, n, defaultMemoryLimit>>20)
}

// byteCount reads v as the Go runtime reads GOMEMLIMIT: a whole number of
// bytes, with an optional unit B, KiB, MiB, GiB or TiB; ok is false for
// anything else (off, the empty string) and for a count past int64.
func byteCount(v string) (n int64, ok bool) {
	unit := int64(1)
	for i, suffix := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if rest, cut := strings.CutSuffix(v, suffix); cut {
			v, unit = rest, int64(1)<<(10*(i+1))
			break
		}
	}
	if unit == 1 {
		v = strings.TrimSuffix(v, "B")
	}
	if v == "" || v[len(v)-1] < '0' || v[len(v)-1] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return 0, false
	}
	return n * unit, true
}

// checkGOGC refuses a GOGC the Go runtime cannot read: neither a whole
// number (of 32 bits) nor off, as 400%, OFF or " 400". The runtime
// collects at its default, GOGC=100, for such a value without a word, and
// tuneGC, seeing GOGC set, leaves it alone: the service would run at 100
// while the operator believed otherwise. The empty string is no value
// (tuneGC's default applies) and passes.
func checkGOGC(getenv func(string) string) error {
	v := getenv("GOGC")
	if v == "" || v == "off" {
		return nil
	}
	if _, err := strconv.ParseInt(v, 10, 32); err == nil {
		return nil
	}
	return fmt.Errorf("GOGC=%q is neither a whole number nor off, and the Go runtime would collect at its default, GOGC=100, "+
		"instead: write a percentage (e.g. 400, the service's default when GOGC is unset) or off, or unset GOGC", v)
}

// onStopSignal is ctx ended by the first stop signal (Ctrl-C), for a run
// that stops with what it has done (a summary, the --seq or --cursor to go
// on from) rather than be killed with nothing said. The handler is
// released once the context has ended, so a second signal has its default
// effect; release also ends it.
func onStopSignal(ctx context.Context) (_ context.Context, release context.CancelFunc) {
	ctx, release = signal.NotifyContext(ctx, stopSignals()...)
	context.AfterFunc(ctx, release)
	return ctx, release
}

// interruption is err, or errInterrupted once ctx has ended: the request's
// own error would be a bare "context canceled".
func interruption(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return errInterrupted
	}
	return err
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

// signalTaken, set by tests only, runs when the first stop signal has been
// taken (and, once run has the service, /readyz fails): a test's way to
// know the signal was handled, without sleeping.
var signalTaken func()

// endProcess ends the process at a second stop signal as the signal's
// default action does, killed by it (a shell reports 128 + its number), as
// it ended before the service caught a second signal; exit status 128 +
// its number if the signal cannot be raised, or the process is PID 1
// (signalExit). Tests replace it.
var endProcess = func(sig os.Signal) {
	raise, code := signalExit(sig, os.Getpid())
	if raise {
		signal.Reset(sig)
		if p, err := os.FindProcess(os.Getpid()); err == nil && p.Signal(sig) == nil {
			time.Sleep(time.Second) // the default action ends the process meanwhile
		}
	}
	os.Exit(code)
}

// lastWordsWait bounds how long a second stop signal waits for its log
// line and the log's flush before it ends the process: a log whose writes
// block (a pipe nobody reads, a logging driver that hangs) must not keep
// the process from ending. Tests shorten it.
var lastWordsWait = 2 * time.Second

// signalExit says how process pid ends at sig: raise it (its default
// action kills the process), else, or if that fails, exit with code, 128 +
// its number as a shell reports a process killed by it. PID 1, as the
// container image's entrypoint runs without an init, does not raise it:
// the kernel drops a signal to PID 1 whose action is the default, and Go
// would then exit with status 2.
func signalExit(sig os.Signal, pid int) (raise bool, code int) {
	code = 1
	if s, ok := sig.(syscall.Signal); ok {
		code = 128 + int(s)
	}
	return pid != 1, code
}

// service is what run needs besides the app; every field may be zero.
type service struct {
	// guard starts and stops the app, naming a hook that runs past the
	// timeout; nil, fx's own timeouts apply.
	guard *hookGuard
	// log says that the stop was asked for, and that a second signal ends
	// the process; nil logs nothing.
	log *zap.Logger
	// stopping runs the moment the stop is asked for (a signal, even during
	// the build or the start, or ctx's end): /readyz fails from then on.
	stopping func()
	// drain is the delay before the stop (IMCALLBACK_SHUTDOWN_DELAY), after
	// a stop asked for once the start was done.
	drain func()
	// failed is closed when the service cannot serve on (a listener
	// stopped serving): it is stopped as on a signal, without the delay
	// (or at once, during it: drain returns then), and run returns
	// fault's error; nil never closes.
	failed <-chan struct{}
	fault  func() error
	// flushLog runs after a failed start, after the stop, and before a
	// second signal ends the process: the logging module flushes its buffer
	// in the app's last stop hook, which fx skips when a start or an
	// earlier stop hook runs past its deadline, and the lines still
	// buffered then are the ones that explain it.
	flushLog func()
}

func (s service) logger() *zap.Logger {
	if s.log == nil {
		return zap.NewNop()
	}
	return s.log
}

func (s service) flush() {
	if s.flushLog != nil {
		s.flushLog()
	}
}

// firstSignal is the first stop signal, sig, taken for s: /readyz fails
// from now on, and it is logged. /readyz fails first: a log whose writes
// block (a pipe whose reader stopped reading) holds the line, and every
// request with it, and the load balancer must stop sending all the same.
func (s service) firstSignal(sig os.Signal) {
	if s.stopping != nil {
		s.stopping()
	}
	s.logger().Info("stop signal: /readyz answers 503; the service stops (a second signal ends it at once)",
		zap.Stringer("signal", sig))
}

// stopWatch takes the stop signals from the moment it is made (serve makes
// it before it reads the configuration and builds the service) until it
// ends. The first signal is logged and makes /readyz fail, and run stops
// the service at it, once started; a second one ends the process at once
// (endProcess), logged and the log flushed (for at most lastWordsWait: a
// log whose writes block delays neither signal). Until run gives it the service
// (attach) there is nothing to log with nor to mark: the first signal is
// then handled at attach, and a second one ends the process unlogged.
type stopWatch struct {
	sigs    chan os.Signal
	first   chan struct{} // closed once the first signal is taken
	done    chan struct{} // closed by end
	endOnce sync.Once

	mu    sync.Mutex
	svc   *service  // what run runs, once attached
	taken os.Signal // the first signal, once it came
}

// watchStopSignals subscribes to the stop signals and watches them until
// end.
func watchStopSignals() *stopWatch {
	w := &stopWatch{sigs: make(chan os.Signal, 1), first: make(chan struct{}), done: make(chan struct{})}
	signal.Notify(w.sigs, stopSignals()...)
	go w.watch()
	return w
}

// end ends the subscription: a stop signal has its default effect again.
// It may be called more than once.
func (w *stopWatch) end() {
	w.endOnce.Do(func() {
		signal.Stop(w.sigs)
		close(w.done)
	})
}

// attach gives w the service it stops; a first signal that came before is
// handled now.
func (w *stopWatch) attach(s service) {
	w.mu.Lock()
	w.svc = &s
	sig := w.taken
	w.mu.Unlock()
	if sig != nil {
		s.firstSignal(sig)
	}
}

// signalled says whether the first signal has been taken.
func (w *stopWatch) signalled() bool {
	select {
	case <-w.first:
		return true
	default:
		return false
	}
}

func (w *stopWatch) watch() {
	var sig os.Signal
	select {
	case sig = <-w.sigs:
	case <-w.done:
		return
	}
	w.mu.Lock()
	w.taken = sig
	s := w.svc
	w.mu.Unlock()
	// The first signal's line is logged aside: a log whose writes block
	// must not keep the watch from taking the second signal.
	handled := make(chan struct{})
	go func(first os.Signal) {
		defer close(handled)
		if s != nil { // else attach handles it
			s.firstSignal(first)
		}
	}(sig)
	select {
	case <-handled:
		close(w.first)
		if signalTaken != nil {
			signalTaken()
		}
		select {
		case sig = <-w.sigs:
		case <-w.done:
			return
		}
	case sig = <-w.sigs: // the first signal's line is stuck in a blocked log
	}
	w.mu.Lock()
	var last service // none attached yet: nothing to log with nor to flush
	if w.svc != nil {
		last = *w.svc
	}
	w.mu.Unlock()
	said := make(chan struct{})
	go func(second os.Signal) {
		defer close(said)
		last.logger().Warn("second stop signal: the process ends now, cutting the graceful stop short "+
			"(requests and handlers still running are cut; with durable delivery, events not yet acknowledged are delivered again)",
			zap.Stringer("signal", second))
		last.flush()
	}(sig)
	select {
	case <-said:
	case <-time.After(lastWordsWait): // the log blocks: end without its last lines
	}
	endProcess(sig)
}

// run starts app, waits for a stop signal taken by w (or ctx's end), runs
// the drain (the delay before the stop) and stops it, draining in-flight
// work within each module's own timeout; w ends when run returns. /readyz
// fails from the moment the stop is asked for. A signal during the start,
// or before it since w was made, stops the app as soon as the start is
// done, without the delay. After the first signal, a second one ends the
// process at once, logged: the graceful stop is cut short.
func run(ctx context.Context, app *fx.App, w *stopWatch, s service) error {
	defer w.end()
	if err := app.Err(); err != nil {
		return buildError(err)
	}
	defer s.flush()
	w.attach(s)
	// The start is not cancelled by a signal: fx would roll it back with the
	// cancelled context, which skips every stop hook. A signal during the
	// start makes the stop follow it at once (a start can wait long on a
	// dependency).
	err := s.guard.start(app)
	signalledEarly := w.signalled()
	if err != nil {
		return err
	}
	var fault error
	if !signalledEarly {
		select {
		case <-ctx.Done():
		case <-w.first:
		case <-s.failed:
			fault = s.fault()
			s.logger().Error("the service cannot serve on; stopping it", zap.Error(fault))
		}
	}
	if s.stopping != nil {
		s.stopping()
	}
	if s.drain != nil && !signalledEarly && fault == nil {
		s.drain() // nothing was routed to a service that never finished starting
		select {
		case <-s.failed: // a listener stopped serving during the delay: no clean stop
			fault = s.fault()
			s.logger().Error("the service cannot serve on; stopping it", zap.Error(fault))
		default:
		}
	}
	return errors.Join(fault, s.guard.stop(app))
}

// buildError is the message of an app that could not be built: the
// constructor's own error, not dig's account of the wiring that led to it
// (about a kilobyte of function names and build paths). For a type
// provided twice, dig's root cause names only the first provider, so the
// type is kept, with what usually causes it: a module the command line
// wires itself passed to Main again, or, for a command's or a
// middleware's type, constructors given to fx.Provide without
// dispatcher.AsCommand (fxresult.OutsideGroup). For a type nothing provides, it
// names only the type, so the constructor that needs it is added, with
// what to do.
func buildError(err error) error {
	if what, missing := fxresult.MissingType(err); missing {
		return fmt.Errorf("%s: nothing provides it: pass the module that provides it to Main, or provide it with "+
			"fx.Provide (a module's configuration struct with config.Section)", what)
	}
	what, twice := fxresult.ProvidedTwice(err)
	if !twice {
		return dig.RootCause(err)
	}
	if why, outside := fxresult.OutsideGroup(what); outside {
		return errors.New(why)
	}
	return fmt.Errorf("%s: a module is wired twice; Main wires imcallback.Module itself, and delivery.Module unless "+
		"IMCALLBACK_DELIVERY=inline: pass only modules of your own, each once", what)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), cmd.Root().Name(), buildVersion())
			return err
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

// readsTheService is err, the configuration's load error for command,
// with a hint that command reads the service's configuration: after
// `make run`, which passes --dev, a plain command finds no SdkAppid. With
// --dev given, the hint would send the user where they are already.
func (g *globalFlags) readsTheService(command string, err error) error {
	if g.dev {
		return err
	}
	return fmt.Errorf("%w\n(%s reads the service's configuration: give it the same --config and "+
		"IMCALLBACK_* variables, or --dev for %s)", err, command, g.devApp())
}

// devApp names the development app --dev gives: make run's for the stock
// binary; for a program of its own (Main, Run), which has no make run (a
// target of imcallback's repository), the app its own serve --dev runs.
func (g *globalFlags) devApp() string {
	if g.name == defaultName {
		return "make run's development app"
	}
	return "the development app, as `" + g.name + " serve --dev` runs it"
}

func newConfigCmd(g *globalFlags) *cobra.Command {
	cfg := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	cfg.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it with secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, sections, err := g.load()
			if err != nil {
				// After `make run`, which passes --dev, a plain check finds
				// no SdkAppid: say what it reads, as allowlist does.
				return g.readsTheService("config check", err)
			}
			if err := checkSettings(c); err != nil { // as serve refuses them
				return err
			}
			// Written out in full, or the check fails: `config check >
			// resolved.yaml` on a full disk must not call it valid.
			if _, err := io.WriteString(cmd.OutOrStdout(), c.YAML()+strings.Join(sections, "")); err != nil {
				return err
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
