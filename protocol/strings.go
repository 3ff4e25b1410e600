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
// array of strings, a string (one item, or several separated by commas;
// "" is none) or null, and encodes as an array.
type FlexStrings []string

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
		*l = nil
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*l = append(*l, item)
			}
		}
		return nil
	}
	var items []string
	if err := json.Unmarshal(b, &items); err != nil {
		return fmt.Errorf("protocol: %.40s is neither a list of strings nor a string", b)
	}
	*l = items
	return nil
}
