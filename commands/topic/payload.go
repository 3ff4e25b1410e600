package topic

import (
	"github.com/imcallback/imcallback/commands/customdata"
	"github.com/imcallback/imcallback/commands/group"
)

// Command names handled by this package (PROTOCOL.md §4.6).
const (
	CommandCreate      = group.CommandAfterCreateTopic
	CommandDestroyed   = group.CommandAfterTopicDestroyed
	CommandInfoChanged = group.CommandAfterTopicInfoChanged
)

// UserDefinedData is one UserDefinedDataList entry of a callback body.
type UserDefinedData = customdata.Item

// CreatePayload is the body of Group.CallbackAfterCreateTopic (PROTOCOL.md §5.1).
type CreatePayload = group.AfterCreateTopic

// DestroyedPayload is the body of Group.CallbackAfterTopicDestroyed (PROTOCOL.md §5.2).
type DestroyedPayload = group.AfterTopicDestroyed

// InfoChangedPayload is the body of Group.CallbackAfterTopicInfoChanged
// (PROTOCOL.md §5.3). Absent fields are nil: unchanged.
type InfoChangedPayload = group.AfterTopicInfoChanged
