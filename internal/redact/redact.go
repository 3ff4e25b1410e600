// Package redact hides secrets in the text of an error while keeping the
// error itself for errors.Is and errors.As.
//
// The cause of a failed HTTP exchange may quote what went out: a server
// that is no HTTP server and echoes the request (a mistyped port) has the
// request line read back as its "status code", so a key in the URL's path
// or query, or a signature, ends up in the error that is logged or
// printed.
package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mark replaces each secret in an error's text.
const Mark = "[redacted]"

// Error is err with every non-empty secret in its text replaced by Mark,
// or err itself when its text holds none (or err is nil). Where secrets
// overlap at one position, the one listed first is replaced. The result
// unwraps to err, so a timeout or a canceled context stays one.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var pairs []string
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			pairs = append(pairs, s, Mark)
		}
	}
	if len(pairs) == 0 {
		return err
	}
	return &redacted{msg: strings.NewReplacer(pairs...).Replace(msg), err: err}
}

// redacted is an error whose text had secrets replaced; it unwraps to the
// original.
type redacted struct {
	msg string
	err error
}

// Error is the redacted text.
func (e *redacted) Error() string { return e.msg }

// Unwrap is the original error.
func (e *redacted) Unwrap() error { return e.err }

// shortSecret is the length below which a secret is replaced only where it
// stands alone (see Standalone): ordinary text holds so few characters by
// chance. A longer one is replaced wherever it appears, even glued to
// other characters as an encoding quotes it ("Bearer%20<token>").
const shortSecret = 8

// Standalone is like Error for secrets that may be short, a token of two
// characters on loopback or a webhook path "/h": a secret of fewer than 8
// bytes is replaced only where no letter, digit, '_' or '-' touches it on
// either side, so that ordinary words of the text that contain it
// ("net/http", "HTTP/1.x", "connection", "sdk_app_id") stay as they were;
// a longer one is replaced wherever it appears, as Error does.
func Standalone(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if out := StandaloneText(msg, secrets...); out != msg {
		return &redacted{msg: out, err: err}
	}
	return err
}

// StandaloneText is s with the secrets replaced by Mark as Standalone
// replaces them in an error's text. Where secrets overlap at one position,
// the one listed first is replaced.
func StandaloneText(s string, secrets ...string) string {
	found := false
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			found = true
			break
		}
	}
	if !found {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		n := 0
		for _, sec := range secrets {
			if sec != "" && strings.HasPrefix(s[i:], sec) && (len(sec) >= shortSecret || alone(s, i, i+len(sec))) {
				n = len(sec)
				break
			}
		}
		if n == 0 {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(Mark)
		i += n
	}
	return b.String()
}

// alone reports whether s[i:j] has no letter, digit, '_' or '-' (a
// character of a word, or of an identifier such as sdk_app_id) right
// before or right after it.
func alone(s string, i, j int) bool {
	if r, _ := utf8.DecodeLastRuneInString(s[:i]); i > 0 && inWord(r) {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(s[j:]); j < len(s) && inWord(r) {
		return false
	}
	return true
}

// inWord reports whether r may be part of a word around a secret.
func inWord(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-'
}
