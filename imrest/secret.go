package imrest

import (
	"fmt"
	"io"
	"strconv"
)

// redacted stands in for a secret wherever one would be printed.
const redacted = "[redacted]"

// Secret is a string that never prints: fmt (every verb, %+v and %#v of a
// struct holding it in an exported field included), encoding/json,
// encoding/xml, YAML encoders and log/slog all see "[redacted]", or "" when
// it is empty. fmt cannot call the methods of an unexported field, so a
// struct that keeps a Secret (or an imrest.Config) unexported prints it:
// give such a struct a Format method of its own, as Client has. Convert
// with string(s) where the value itself is needed.
type Secret string

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format writes String for every verb, quoted for %q and %#v.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' || verb == 'v' && f.Flag('#') {
		io.WriteString(f, strconv.Quote(s.String()))
		return
	}
	io.WriteString(f, s.String())
}

// MarshalText returns String, so encoders never see the secret. Decoding is
// unaffected: a Secret still unmarshals from a plain string.
func (s Secret) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}
