// Package moderation is a worked example of an imcallback command module,
// the kind a user writes: one fx module with
//
//   - a C2C.CallbackBeforeSendMsg handler that denies one-to-one messages
//     containing a configured word, with a custom code the client sees, and
//     tags a clean message through CloudCustomData unless it carries its
//     own (a reply's CloudCustomData would replace the sender's);
//   - a Group.CallbackAfterNewMemberJoin handler that records who joined
//     which group, idempotently (IM may deliver an event twice), in a
//     record bounded by max_joins.
//
// Run it with cmd/moderated, test it with imtest (moderation_test.go).
package moderation

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
)

// Config says what the filter blocks. It is the module's configuration
// section "moderation": YAML `moderation: {words: [spam], deny_code: 120042}`
// or IMCALLBACK_MODERATION_WORDS=spam,scam, IMCALLBACK_MODERATION_DENY_CODE
// and IMCALLBACK_MODERATION_MAX_JOINS.
type Config struct {
	// Words are blocked, matched anywhere in the text after both are
	// normalised (see normalize): in any case, in full-width letters, and
	// with invisible characters inside the word ignored.
	Words []string `koanf:"words"`
	// DenyCode is passed to the sender's client; it must lie in
	// C2C.CallbackBeforeSendMsg's range, 120001 to 130000.
	DenyCode int `koanf:"deny_code"`
	// MaxJoins bounds the join record (Joins): the memberships it holds,
	// the oldest forgotten first. Up to 10,000,000; 0 (a Config built by
	// hand) is DefaultMaxJoins, the section's default, whose doc gives
	// the memory a membership takes.
	MaxJoins int `koanf:"max_joins"`
}

// DefaultDenyCode is the code sent unless the configuration sets another.
const DefaultDenyCode = 120001

// Validate checks the deny code against C2C.CallbackBeforeSendMsg's range
// and the join record's bound.
func (c Config) Validate() error {
	if c.DenyCode < 120001 || c.DenyCode > 130000 {
		return fmt.Errorf("deny_code %d must be between 120001 and 130000", c.DenyCode)
	}
	if c.MaxJoins < 0 || c.MaxJoins > 10_000_000 {
		return fmt.Errorf("max_joins %d must be between 1 and 10000000 (0: %d)", c.MaxJoins, DefaultMaxJoins)
	}
	return nil
}

// CheckedTag is the CloudCustomData of a message that passed the filter
// and carried none of its own.
const CheckedTag = `{"moderation":"checked"}`

// Module declares the "moderation" configuration section and registers
// the filter and the join recorder:
//
//	cli.Main(moderation.Module)
var Module = fx.Module("moderation",
	config.Section("moderation", Config{DenyCode: DefaultDenyCode, MaxJoins: DefaultMaxJoins}),
	fx.Provide(
		NewJoins,
		dispatcher.AsCommand(NewFilter),
		dispatcher.AsCommand(NewJoinRecorder),
	),
)

// NewFilter builds the C2C.CallbackBeforeSendMsg handler.
func NewFilter(cfg Config, log *zap.Logger) (dispatcher.Command, error) {
	if err := cfg.Validate(); err != nil { // the section was validated at start; a hand-made Config is checked here
		return nil, fmt.Errorf("moderation: %w", err)
	}
	code := cfg.DenyCode
	words := make([]string, 0, len(cfg.Words))
	for _, w := range cfg.Words {
		if w = strings.TrimSpace(normalize(w)); w != "" { // a word of invisible characters alone would match every text
			words = append(words, w)
		}
	}
	cmd := c2c.BeforeSendMsgCommand
	checked := CheckedTag
	return cmd.Handle(func(_ context.Context, ev *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
		text := normalize(ev.Payload.MsgBody.Text())
		for _, w := range words {
			if strings.Contains(text, w) {
				// The message text is never logged; the sender is.
				log.Info("message denied", zap.String("from", ev.Payload.FromAccount), zap.String("request_id", ev.RequestID))
				return cmd.DenyWithCode(code, "message contains a blocked word"), nil
			}
		}
		// A reply's CloudCustomData replaces the message's: the sender's own
		// (TUIKit keeps quotes and replies there) is left as it is.
		if ev.Payload.CloudCustomData != "" {
			return cmd.Allow(), nil
		}
		// Only c2c.SendMsgReply compiles here: the typed command limits the
		// reply to the fields C2C.CallbackBeforeSendMsg accepts.
		return cmd.Modify(c2c.SendMsgReply{CloudCustomData: &checked}), nil
	}), nil
}

// normalize is the form in which the filter compares words and text, so
// that what reads the same to a person matches the same. For each rune of s:
//
//   - an invisible one is dropped: Unicode's format characters (category
//     Cf: zero-width space U+200B, zero-width joiner and non-joiner, word
//     joiner U+2060, soft hyphen U+00AD, byte order mark U+FEFF, the
//     bidirectional controls), the variation selectors (U+FE00–U+FE0F and
//     their supplement) and the other default-ignorable code points (such
//     as the Hangul fillers U+115F, U+3164), so "s\u200bpam" is "spam";
//   - a full-width ASCII form (U+FF01–U+FF5E, "ｓｐａｍ") becomes its ASCII
//     character and the ideographic space U+3000 an ordinary space: the
//     width folding of golang.org/x/text/width for these characters,
//     written out to keep the example free of a dependency; the half-width
//     katakana and other compatibility forms are left as they are;
//   - then the rune is case-folded (fold).
//
// Spaces, punctuation, the other compatibility letters (mathematical bold
// "𝐬𝐩𝐚𝐦", circled "ⓢⓟⓐⓜ": NFKC, golang.org/x/text/unicode/norm, folds
// those) and letters that only look alike in another script (a Cyrillic
// "а" for a Latin "a") still tell words apart: a filter that must catch
// them needs NFKC and a confusables table (Unicode TR39), beyond this
// example.
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point):
			return -1 // dropped
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFF01 - '!'
		case r == 0x3000:
			r = ' '
		}
		return fold(r)
	}, s)
}

// fold maps r to one rune of its case-folding orbit, the same for every
// rune strings.EqualFold equates with it (σ, ς and Σ; s, S and ſ), so that
// a word is found in any case. strings.ToLower is not enough: the lower
// case of Σ is σ, never the final ς.
func fold(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// NewJoinRecorder builds the Group.CallbackAfterNewMemberJoin handler.
func NewJoinRecorder(joins *Joins) dispatcher.Command {
	return group.AfterNewMemberJoinCommand.Handle(func(_ context.Context, ev *dispatcher.Event[group.AfterNewMemberJoin]) error {
		if ev.Payload.GroupID == "" {
			// Every attempt would fail alike: ErrPermanent dead-letters the
			// event at once instead of retrying it for the whole backoff.
			return fmt.Errorf("moderation: join without GroupId: %w", dispatcher.ErrPermanent)
		}
		joins.Record(ev.Payload.GroupID, ev.Payload.NewMemberList.IDs()...)
		return nil
	})
}
