package dispatcher

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/fxresult"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/tracing"
)

// CommandGroup is the fx value group commands are collected from.
const CommandGroup = `group:"commands"`

// AsCommand annotates a constructor returning a Command so that fx adds its
// result to the commands group:
//
//	fx.Provide(dispatcher.AsCommand(NewMyHandler))
//
// A constructor whose result is no Command (a command's descriptor, such
// as c2c.BeforeSendMsgCommand itself, or a []Command), or a command given
// instead of its constructor, fails the start with an error naming it and
// saying what to do; so does a nil constructor, on which fx itself would
// panic. So does a constructor already annotated with fx.Annotate (for a
// named dependency, say), which fx cannot annotate again: give its
// annotations and the group's in one fx.Annotate instead,
//
//	fx.Provide(fx.Annotate(NewMyHandler, fx.ParamTags(`name:"db"`),
//		fx.As(new(dispatcher.Command)), fx.ResultTags(dispatcher.CommandGroup)))
func AsCommand(f any) any {
	if err := commandConstructor(f); err != nil {
		return fx.Annotate(func() (Command, error) { return nil, err }, fx.ResultTags(CommandGroup))
	}
	return fx.Annotate(f, fx.As(new(Command)), fx.ResultTags(CommandGroup))
}

// commandConstructor checks f, given to AsCommand: a function whose first
// result implements Command. A nil f, or a nil function, is refused
// too: fx would panic on it.
func commandConstructor(f any) error {
	if err := fxresult.Constructor("AsCommand", f, "command", "func() dispatcher.Command { return c }",
		"fx.As(new(dispatcher.Command)), fx.ResultTags(dispatcher.CommandGroup)"); err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	name, out, ok := fxresult.Describe(f)
	command, descriptor := reflect.TypeFor[Command](), reflect.TypeFor[Descriptor]()
	switch {
	case !ok || out != nil && out.Implements(command):
		return nil
	case out == nil:
		return fmt.Errorf("dispatcher: AsCommand(%s returns nothing): return the dispatcher.Command it builds", name)
	case out.Implements(descriptor):
		return fmt.Errorf("dispatcher: AsCommand(%s returns %v, a command's descriptor, not a command): "+
			"return the command its Handle builds, cmd.Handle(fn)", name, out)
	case out.Kind() == reflect.Slice && out.Elem().Implements(command):
		return fmt.Errorf("dispatcher: AsCommand(%s returns %v, several commands): register it with dispatcher.AsCommands, "+
			"which adds each of them to the group (a []dispatcher.Command)", name, out)
	}
	return fmt.Errorf("dispatcher: AsCommand(%s returns %v, which does not implement dispatcher.Command): "+
		"return a dispatcher.Command, built with a descriptor's Handle, dispatcher.Before or dispatcher.After", name, out)
}

// AsCommands annotates a constructor returning []Command (several
// commands from one constructor, e.g. a plugin's handlers) so that fx adds
// each of them to the commands group:
//
//	fx.Provide(dispatcher.AsCommands(func(h *Handlers) []dispatcher.Command { return h.Commands() }))
//
// A constructor returning another type, a slice of the program's own
// command type say, fails the start: the group collects Command values
// only, so its commands would never run. So does a nil constructor, on
// which fx itself would panic, and one already annotated with fx.Annotate,
// which fx cannot annotate again: add fx.ResultTags(`group:"commands,flatten"`)
// to that fx.Annotate instead.
func AsCommands(f any) any {
	if err := fxresult.NilConstructor("AsCommands", f, "func() []dispatcher.Command { return cs }"); err != nil {
		return fx.Annotate(func() ([]Command, error) { return nil, fmt.Errorf("dispatcher: %w", err) },
			fx.ResultTags(`group:"commands,flatten"`))
	}
	if err := fxresult.Annotated("AsCommands", f, "fx.ResultTags(`group:\"commands,flatten\"`)"); err != nil {
		return fx.Annotate(func() ([]Command, error) { return nil, fmt.Errorf("dispatcher: %w", err) },
			fx.ResultTags(`group:"commands,flatten"`))
	}
	if err := fxresult.First(f, reflect.TypeFor[[]Command]()); err != nil {
		return fx.Annotate(func() ([]Command, error) {
			return nil, fmt.Errorf("dispatcher: AsCommands(%w): the commands group collects dispatcher.Command values only, so they would never run; return []dispatcher.Command, or register each with AsCommand", err)
		}, fx.ResultTags(`group:"commands,flatten"`))
	}
	return fx.Annotate(f, fx.ResultTags(`group:"commands,flatten"`))
}

// Module provides the *Dispatcher built from every command in the group.
// A durable delivery module supplies an AfterSink; without one, after-handlers run inline.
var Module = fx.Module("dispatcher", fx.Provide(newFromConfig))

// moduleIn are the dependencies of newFromConfig.
type moduleIn struct {
	fx.In
	Commands  []Command       `group:"commands"`
	Sink      AfterSink       `optional:"true"`
	Forwarder Forwarder       `optional:"true"`
	Tracer    *tracing.Tracer `optional:"true"`
	Rules     Rules           `optional:"true"`
	Config    *config.Config
	Log       *zap.Logger
	Metrics   *metrics.Callbacks
	// Ungrouped is a Command provided without AsCommand, which the
	// group does not collect: read only to warn about it.
	Ungrouped Command `optional:"true"`
	// UngroupedList is a list of commands provided without AsCommands,
	// which the group does not collect either: read only to warn about
	// its commands.
	UngroupedList []Command `optional:"true"`
	// Unflattened are lists of commands tagged into the group by hand
	// without flatten (fx.ResultTags(CommandGroup) on a constructor
	// returning []Command): fx keeps each list whole, in a group of lists
	// nothing reads. Read only to refuse them.
	Unflattened [][]Command `group:"commands"`
	// InMiddleware are commands tagged by hand into the middleware group
	// (middleware.Group where CommandGroup belongs), which collects
	// middleware.Ordered values only: read only to refuse them.
	InMiddleware []Command `group:"middleware"`
}

// inMiddlewareError is the error of the first command in the middleware
// group, nil when there is none.
func inMiddlewareError(commands []Command) error {
	for _, c := range commands {
		if c != nil {
			return fmt.Errorf("dispatcher: command %s is in the middleware group (middleware.Group), which collects middleware, "+
				"so it would never run: register it with fx.Provide(dispatcher.AsCommand(constructor)), "+
				"or tag it fx.ResultTags(dispatcher.CommandGroup)", c.Name())
		}
	}
	return nil
}

// unflattenedError is the error of the first list of commands in the
// group unflattened, nil when there is none.
func unflattenedError(lists [][]Command) error {
	if len(lists) == 0 {
		return nil
	}
	names := make([]string, 0, len(lists[0]))
	for _, c := range lists[0] {
		if c != nil {
			names = append(names, c.Name())
		}
	}
	return fmt.Errorf("dispatcher: the commands %s are in the commands group as one []dispatcher.Command, tagged without flatten, "+
		"so they would never run: register the constructor with fx.Provide(dispatcher.AsCommands(constructor))", strings.Join(names, ", "))
}

// defaultMaxInFlight bounds the before-handlers running at once, including
// those still running past their deadline.
const defaultMaxInFlight = 4096

// newFromConfig builds the dispatcher from the service configuration.
func newFromConfig(in moduleIn) (*Dispatcher, error) {
	if err := unflattenedError(in.Unflattened); err != nil {
		return nil, err
	}
	if err := inMiddlewareError(in.InMiddleware); err != nil {
		return nil, err
	}
	fallback := Decision{Code: CodeAllow}
	if in.Config.BeforeFallback == "deny" {
		fallback = Decision{Code: CodeDeny}
	}
	warnUnservedApps(in.Commands, in.Config.SdkAppIDs, in.Log.Named("dispatcher"))
	warnUngrouped([]Command{in.Ungrouped}, "a command is provided outside its group, without dispatcher.AsCommand: it never runs; "+
		"register it with fx.Provide(dispatcher.AsCommand(constructor))", in.Commands, in.Log.Named("dispatcher"))
	warnUngrouped(in.UngroupedList, "a command is provided outside its group, in a []dispatcher.Command without dispatcher.AsCommands: "+
		"it never runs; register the list with fx.Provide(dispatcher.AsCommands(constructor))", in.Commands, in.Log.Named("dispatcher"))
	warnDeliveryWiring(in, in.Log.Named("dispatcher"))
	return New(in.Commands, Options{
		BeforeTimeout: in.Config.BeforeTimeout,
		InlineTimeout: in.Config.InlineTimeout,
		Fallback:      fallback,
		Rules:         in.Rules,
		Sink:          in.Sink,
		Forwarder:     in.Forwarder,
		Tracer:        in.Tracer,
		MaxInFlight:   defaultMaxInFlight,
	}, in.Log.Named("dispatcher"), in.Metrics)
}

// warnUnservedApps logs each app a command's ForApps names that is not
// among the configured apps, and each ForApps that names none: the
// service never accepts such an app's callbacks, so the command would
// silently never run for it (a mistyped id, say).
func warnUnservedApps(commands []Command, configured []string, log *zap.Logger) {
	for _, c := range commands {
		l, ok := c.(appListed)
		if !ok {
			continue
		}
		apps, limited := l.limitedTo()
		if !limited {
			continue
		}
		if len(apps) == 0 {
			log.Warn("a command is limited by ForApps to no app: it never runs", zap.String("command", c.Name()))
		}
		for _, id := range apps {
			if !slices.Contains(configured, id) {
				log.Warn("a command is limited by ForApps to an app that is not configured: it never runs for it; is the id mistyped?",
					zap.String("command", c.Name()), zap.String("app", id), zap.Strings("configured_apps", configured))
			}
		}
	}
}

// warnUngrouped logs msg for each command of ungrouped, provided with a
// plain fx.Provide without AsCommand (or a list without AsCommands), unless
// the group holds a command of its name (added to it by hand): the
// dispatcher never sees it, so it would silently never run.
func warnUngrouped(ungrouped []Command, msg string, commands []Command, log *zap.Logger) {
	for _, c := range ungrouped {
		if c == nil || slices.ContainsFunc(commands, func(g Command) bool { return g != nil && g.Name() == c.Name() }) {
			continue
		}
		log.Warn(msg, zap.String("command", c.Name()), zap.Stringer("kind", c.Kind()))
	}
}

// warnDeliveryWiring logs a delivery module wired against the
// configuration's IMCALLBACK_DELIVERY, when some after-callback would run
// (an after-command, or a forwarded command that is no before-command).
// Only cli.Main reads the setting, to wire delivery.Module or not; a
// program of its own that wires the other way would otherwise run its
// after-callbacks inline and unstored while the configuration says
// durable (or durably while it says inline), with nothing said.
func warnDeliveryWiring(in moduleIn, log *zap.Logger) {
	durable := in.Config.Delivery == config.DeliveryDurable
	if durable == (in.Sink != nil) || !runsAfterCallbacks(in) {
		return
	}
	if durable {
		log.Warn("IMCALLBACK_DELIVERY is durable but no delivery module is wired: after-callbacks run inline, "+
			"inside the request, and are not stored; add delivery.Module to the app (cli.Main does), "+
			"or set IMCALLBACK_DELIVERY=inline", zap.String("delivery", in.Config.Delivery))
		return
	}
	log.Warn("IMCALLBACK_DELIVERY is inline but a delivery module is wired: after-callbacks are stored and "+
		"delivered durably; leave out delivery.Module (cli.Main does for inline), or set IMCALLBACK_DELIVERY=durable",
		zap.String("delivery", in.Config.Delivery))
}

// runsAfterCallbacks reports an after-command among the commands, or a
// forwarded command the rules do not know as a before-command.
func runsAfterCallbacks(in moduleIn) bool {
	for _, c := range in.Commands {
		if c != nil && c.Kind() == KindAfter {
			return true
		}
	}
	if in.Forwarder == nil {
		return false
	}
	for _, name := range in.Forwarder.Commands() {
		if _, before := in.Rules[name]; !before {
			return true
		}
	}
	return false
}
