package protocol

import "strings"

// NormalizePlatform maps the OptPlatform spellings IM is known to send to one
// form each: "IOS" (State.StateChange) becomes "iOS", "macOS" becomes "Mac"
// (docs/protocol.md §1.2). Other values, including unknown ones, are returned as
// sent: the field is an open string.
func NormalizePlatform(p string) string {
	switch {
	case strings.EqualFold(p, "iOS"):
		return "iOS"
	case strings.EqualFold(p, "macOS"), strings.EqualFold(p, "Mac"):
		return "Mac"
	}
	return p
}
