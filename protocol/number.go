package protocol

import (
	"bytes"
	"fmt"
	"strconv"
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
		b = bytes.TrimSpace(b[1 : len(b)-1])
		if len(b) == 0 {
			*n = 0
			return nil
		}
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || f != float64(int64(f)) {
			return fmt.Errorf("protocol: %q is not an integer", b)
		}
		v = int64(f)
	}
	*n = FlexInt(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (n FlexInt) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(n), 10), nil
}

// KeyAt is a dedup key of an object an app may create again under the same
// ID after destroying it (a group, topic or official account): id followed
// by '|' and the event's time, since the ID alone names one such event only
// together with its time. A resend repeats EventTime; a payload without one
// gets 0 there. The time is the part after the last '|', so two different
// pairs never give the same key whatever the ID holds.
func KeyAt(id string, eventTime FlexInt) string {
	return id + "|" + strconv.FormatInt(int64(eventTime), 10)
}
