package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// FlexInt is an integer that IM sometimes sends as a JSON string: many
// English samples write "EventTime":"1670574414123" while the field tables
// say Integer (docs/protocol.md §5.1). It decodes a number, a numeric string or
// null, and encodes as a number.
type FlexInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *FlexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		if bytes.IndexByte(b, '\\') >= 0 { // escaped: read the string as JSON does
			var s string
			if err := json.Unmarshal(b, &s); err != nil {
				return fmt.Errorf("protocol: %.40s is not a string: %w", b, err)
			}
			b = []byte(s)
		} else {
			b = b[1 : len(b)-1]
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			*n = 0
			return nil
		}
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		// A float with an integral value (1.7e3), read from the text
		// exactly: through a float64 12345678901234567.0 would become
		// 12345678901234568, and 1.0000000000000000001 would become 1.
		text, ok := ExactInteger(string(b))
		if !ok {
			return fmt.Errorf("protocol: %.40q is not an integer", b)
		}
		if v, err = strconv.ParseInt(text, 10, 64); err != nil {
			return fmt.Errorf("protocol: %.40q is not a 64-bit integer", b)
		}
	}
	*n = FlexInt(v)
	return nil
}

// maxIntegerDigits is more digits than any 64-bit integer has: a text
// whose integer part is longer does not fit a field, whatever its type.
const maxIntegerDigits = 21

// ExactInteger returns the canonical decimal form of the decimal number s
// ([+-]digits[.digits][e[+-]digits], the digits of a JSON number) when its
// value is an integer, reading it exactly rather than through a float
// (1.7e3 is "1700", 12345678901234567.0 is "12345678901234567", -0 is
// "0"). Fractions, other notations (hexadecimal, Inf) and integers far
// beyond 64 bits are refused.
func ExactInteger(s string) (string, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e < -1000 || e > 1000 {
			return "", false
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" || !isDigits(intPart) || !isDigits(frac) {
		return "", false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	// The value is digits × 10^exp, with no leading zero in digits.
	if exp < 0 {
		cut := len(digits) + exp
		if cut < 0 {
			cut = 0
		}
		if strings.Trim(digits[cut:], "0") != "" {
			return "", false // a fraction
		}
		digits = digits[:cut]
	} else if digits != "" {
		if len(digits)+exp > maxIntegerDigits {
			return "", false
		}
		digits += strings.Repeat("0", exp)
	}
	if digits == "" {
		return "0", true
	}
	if neg {
		digits = "-" + digits
	}
	return digits, true
}

// isDigits reports whether s is made of decimal digits only ("" is).
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MarshalJSON implements json.Marshaler.
func (n FlexInt) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(n), 10), nil
}

// KeyAt is a dedup key of an object an app may create again under the same
// ID after destroying it (a group, topic or official account): JoinKey of
// the id and the event's time, since the ID alone names one such event only
// together with its time. A resend repeats EventTime; a payload without one
// gets 0 there.
func KeyAt(id string, eventTime FlexInt) string {
	return JoinKey(id, strconv.FormatInt(int64(eventTime), 10))
}
