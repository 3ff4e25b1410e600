package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// FlexStrings is a list of strings that a page's field table calls a
// string while its sample sends an array: TopicIdList of
// Group.CallbackAfterTopicDestroyed (docs/protocol.md §5.2). It decodes an
// array of strings, a string or null, and encodes as an array. A string is
// several topic ids separated by commas when each part looks like a topic
// id (holds topicIDMarker), else one id: an app chooses the part of a topic
// id after the marker, and nothing keeps a comma out of it. The parts of a
// string are trimmed of spaces, and "" is none; an array's items are taken
// as sent.
type FlexStrings []string

// topicIDMarker is in every topic id, between its community's group id and
// its own part (docs/protocol.md §5.1).
const topicIDMarker = "@TOPIC#_"

// splitTopicIDs reads a TopicIdList sent as a string (see FlexStrings).
func splitTopicIDs(s string) []string {
	var ids []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, topicIDMarker) {
			return []string{strings.TrimSpace(s)} // a comma inside one id
		}
		ids = append(ids, part)
	}
	return ids
}

// UnmarshalJSON implements json.Unmarshaler.
func (l *FlexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("protocol: %s is not a string: %w", b, err)
		}
		*l = splitTopicIDs(s)
		return nil
	}
	var items []string
	if err := json.Unmarshal(b, &items); err != nil {
		return fmt.Errorf("protocol: %.40s is neither a list of strings nor a string", b)
	}
	*l = items
	return nil
}

// FlexString is a string that IM may send as a bare number: MsgID of
// ContentCallback.ResultNotify holds the message's MsgSeq in group scenes,
// which the field table types as a string and other callbacks send as a
// number (docs/protocol.md §5.1). It decodes a string, a number (to its
// digits as written) or null (""), and encodes as a string.
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("protocol: %.40s is not a string: %w", b, err)
		}
		*s = FlexString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("protocol: %.40s is neither a string nor a number", b)
	}
	*s = FlexString(n)
	return nil
}
