package topic

// Command names handled by this package (PROTOCOL.md §4.6).
const (
	CommandCreate      = "Group.CallbackAfterCreateTopic"
	CommandDestroyed   = "Group.CallbackAfterTopicDestroyed"
	CommandInfoChanged = "Group.CallbackAfterTopicInfoChanged"
)

// UserDefinedData is one UserDefinedDataList entry of a callback body.
type UserDefinedData struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// CreatePayload is the body of Group.CallbackAfterCreateTopic (PROTOCOL.md §5.1).
type CreatePayload struct {
	// GroupID is the community the topic belongs to.
	GroupID string `json:"GroupId"`
	// TopicID is the new topic, "<GroupId>@TOPIC#_<suffix>" by convention.
	TopicID string `json:"TopicId"`
	// OperatorAccount created the topic.
	OperatorAccount string `json:"Operator_Account"`
	// OwnerAccount owns the group.
	OwnerAccount string `json:"Owner_Account"`
	// Type is the group type, "Community".
	Type string `json:"Type"`
	// Name is the topic name.
	Name string `json:"Name"`
	// UserDefinedDataList holds the topic's custom fields, when enabled.
	UserDefinedDataList []UserDefinedData `json:"UserDefinedDataList"`
}

// DestroyedPayload is the body of Group.CallbackAfterTopicDestroyed (PROTOCOL.md §5.2).
type DestroyedPayload struct {
	// GroupID is the community the topics belonged to.
	GroupID string `json:"GroupId"`
	// Type is the group type, "Community".
	Type string `json:"Type"`
	// TopicIDList lists the deleted topics.
	TopicIDList []string `json:"TopicIdList"`
}

// InfoChangedPayload is the body of Group.CallbackAfterTopicInfoChanged
// (PROTOCOL.md §5.3). The documented samples carry no TopicId; it is read
// when present. Absent fields are nil: unchanged.
type InfoChangedPayload struct {
	// GroupID is the community.
	GroupID string `json:"GroupId"`
	// TopicID is the changed topic, when IM sends it (UNCERTAIN in the docs).
	TopicID string `json:"TopicId"`
	// Type is the group type, "Community".
	Type string `json:"Type"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// Name, Introduction, Notification and FaceURL are the new values.
	Name         *string `json:"Name"`
	Introduction *string `json:"Introduction"`
	Notification *string `json:"Notification"`
	FaceURL      *string `json:"FaceUrl"`
}
