package catalogue

import (
	"fmt"
	"path"
	"reflect"
	"strings"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/tooling"
)

// Kind says how IM treats a command's answer.
type Kind int

const (
	// Before commands decide: the answer allows, denies or modifies the action.
	Before Kind = iota + 1
	// After commands notify: IM ignores the answer.
	After
	// RequestResponse commands expect data back (Chatbot.OnC2CSignalMessage's
	// RspData); they are dispatched like before-commands, answered within 2 s.
	RequestResponse
)

// String implements fmt.Stringer.
func (k Kind) String() string {
	switch k {
	case Before:
		return "before"
	case After:
		return "after"
	case RequestResponse:
		return "request-response"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Dispatch is how the dispatcher runs commands of this kind.
func (k Kind) Dispatch() dispatcher.Kind {
	if k == After {
		return dispatcher.KindAfter
	}
	return dispatcher.KindBefore
}

// Entry is the catalogue's knowledge about one command. What the typed
// descriptor already knows (name, dispatch kind, payload and reply types,
// and through the payload's package the area) is read from it, not
// repeated here.
type Entry struct {
	// Command is the typed descriptor: name, kind, payload and reply types,
	// and the typed Handle that registers a handler.
	Command dispatcher.Descriptor
	// RequestResponse marks a before-style command whose answer carries
	// data back rather than a decision (Chatbot.OnC2CSignalMessage's
	// RspData). It is dispatched like a before-command, answered within 2 s.
	RequestResponse bool
	// Summary says what triggers the command, in a few words.
	Summary string
	// Doc is the Tencent document the command is described in.
	Doc string
	// DenyCodes is the custom deny-code range passed to the client; the
	// zero value allows none.
	DenyCodes dispatcher.CodeRange
	// CanDrop is true when the command accepts a silent drop (ErrorCode 2).
	CanDrop bool
	// PerTarget is set for a command whose top-level ErrorCode IM ignores:
	// a deny is also sent as the refusal of every target (dispatcher.Rule).
	PerTarget *dispatcher.PerTarget
	// RequiredReply is the reply fields every answer of the command
	// carries when the handler gives none (dispatcher.Rule), set where
	// Tencent's page makes them required.
	RequiredReply any
	// Dedup lists the payload fields forming the natural deduplication key
	// ("Events[]." prefixes a batch's per-event fields); empty when the
	// protocol has none. DedupKeys computes it.
	Dedup []string
	// Batched is true for bodies of the form {"Events":[…]} (1 to 100 events).
	Batched bool
	// Note records decisions and caveats about this command.
	Note string
}

// Name is the CallbackCommand.
func (e Entry) Name() string { return e.Command.Name() }

// Kind is the descriptor's kind: After for an after-command, otherwise
// RequestResponse when the entry is marked so, Before else.
func (e Entry) Kind() Kind {
	switch {
	case e.Command.Kind() == dispatcher.KindAfter:
		return After
	case e.RequestResponse:
		return RequestResponse
	}
	return Before
}

// Area is the command package the payload type lives in, e.g. "group"
// for commands/group.
func (e Entry) Area() string { return path.Base(e.Command.Tooling(tooling.K).PayloadType().PkgPath()) }

// Rule is the dispatcher rule of the entry.
func (e Entry) Rule() dispatcher.Rule {
	return dispatcher.Rule{DenyCodes: e.DenyCodes, CanDrop: e.CanDrop, PerTarget: e.PerTarget, RequiredReply: e.RequiredReply}
}

// keyed is implemented by payloads with one natural key.
type keyed interface{ DedupKey() string }

// multiKeyed is implemented by batches: one key per event.
type multiKeyed interface{ DedupKeys() []string }

// DedupKeys decodes body and returns its natural deduplication keys: one
// for a single event, one per event for a batch, none when the command has
// no natural key.
func (e Entry) DedupKeys(body []byte) ([]string, error) {
	p, err := e.Command.Tooling(tooling.K).Decode(body)
	if err != nil {
		return nil, err
	}
	switch k := p.(type) {
	case multiKeyed:
		return k.DedupKeys(), nil
	case keyed:
		return []string{k.DedupKey()}, nil
	}
	return nil, nil
}

// Lookup returns the entry of command.
func Lookup(command string) (Entry, bool) {
	for _, e := range All() {
		if e.Name() == command {
			return e, true
		}
	}
	return Entry{}, false
}

// Rules returns the dispatcher rules of every before-style command.
func Rules() dispatcher.Rules {
	rules := dispatcher.Rules{}
	for _, e := range All() {
		if e.Kind() != After {
			rules[e.Name()] = e.Rule()
		}
	}
	return rules
}

// Module provides the dispatcher.Rules built from the catalogue, which the
// dispatcher module takes (imcallback.Module includes it). At start it
// checks the registered commands' names against the catalogue: a
// before-handler registered for one of its after-commands is refused (IM
// ignores its answer, so its denies would never refuse), so is one of its
// before-commands registered with reply fields other than its own (a
// hand-made descriptor's: IM does not take them; dispatcher.NoReply fits
// every command), and a name the
// catalogue lacks is logged as a warning, with the catalogue's name of the
// same spelling in another case or without spaces around it when there
// is one, since IM never sends a misspelt name and its handler would
// never run.
var Module = fx.Module("catalogue", fx.Provide(Rules), fx.Invoke(checkRegistered))

// registered are the dependencies of checkRegistered.
type registered struct {
	fx.In
	Commands []dispatcher.Command `group:"commands"`
	Log      *zap.Logger
}

// checkRegistered checks the registered commands against the catalogue.
func checkRegistered(in registered) error {
	for _, c := range in.Commands {
		if c == nil {
			continue // the dispatcher refuses it, naming the constructor that returned no command
		}
		name := c.Name()
		if e, ok := Lookup(name); ok {
			if e.Kind() == After && c.Kind() == dispatcher.KindBefore {
				return fmt.Errorf("catalogue: %s is an after-command: IM ignores its answer, so a before-handler's deny would never refuse; register it with %s's Handle or dispatcher.After", name, name)
			}
			if err := checkReply(e, c); err != nil {
				return err
			}
			continue
		}
		fields := []zap.Field{zap.String("command", name), zap.Stringer("kind", c.Kind())}
		for _, e := range All() {
			if strings.EqualFold(e.Name(), strings.TrimSpace(name)) { // in another case, or with spaces around it
				fields = append(fields, zap.String("did_you_mean", e.Name()))
				break
			}
		}
		in.Log.Warn("a command is registered under a name the catalogue lacks: its handler runs only for callbacks of exactly that name; check the spelling against the catalogue (docs/commands.md)", fields...)
	}
	return nil
}

// replyTyped is implemented by the dispatcher's typed commands; the type
// is nil when not known (an after-command, Tooling.HandleAny).
type replyTyped interface {
	ReplyType(tooling.Key) reflect.Type
}

// checkReply refuses a before-command of e registered with reply fields
// other than e's: IM does not take them, and a Go handler's answer is not
// filtered (a forwarded one is). dispatcher.NoReply, which never modifies,
// fits every command.
func checkReply(e Entry, c dispatcher.Command) error {
	rt, ok := c.(replyTyped)
	if !ok || c.Kind() != dispatcher.KindBefore {
		return nil
	}
	given := rt.ReplyType(tooling.K)
	noReply := reflect.TypeFor[dispatcher.NoReply]()
	if given == nil || given == noReply {
		return nil
	}
	want := e.Command.Tooling(tooling.K).ReplyType()
	if want == nil {
		return fmt.Errorf("catalogue: %s is registered with reply type %v, but the command takes no reply fields (%v): IM does not accept them; register it with the descriptor in commands/%s (its Handle), or with reply type %v",
			e.Name(), given, noReply, e.Area(), noReply)
	}
	if given != want {
		return fmt.Errorf("catalogue: %s is registered with reply type %v, but the command takes %v: IM does not accept other reply fields; register it with the descriptor in commands/%s (its Handle), or with reply type %v (%v if it never modifies)",
			e.Name(), given, want, e.Area(), want, noReply)
	}
	return nil
}
