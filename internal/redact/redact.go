// Package redact hides secrets in the text of an error while keeping the
// error itself for errors.Is and errors.As.
//
// The cause of a failed HTTP exchange may quote what went out: a server
// that is no HTTP server and echoes the request (a mistyped port) has the
// request line read back as its "status code", so a key in the URL's path
// or query, or a signature, ends up in the error that is logged or
// printed.
package redact

import "strings"

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
