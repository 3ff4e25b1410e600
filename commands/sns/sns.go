// Package sns holds the typed payloads, reply fields and command
// descriptors of the Sns.* relationship-chain callbacks (docs/protocol.md §4.3).
package sns

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// Typed command descriptors.
var (
	PrevFriendAddCommand      = dispatcher.NewBeforeCommand[PrevFriendAdd, ResultReply]("Sns.CallbackPrevFriendAdd")
	PrevFriendResponseCommand = dispatcher.NewBeforeCommand[PrevFriendResponse, ResultReply]("Sns.CallbackPrevFriendResponse")
	FriendAddCommand          = dispatcher.NewAfterCommand[FriendAdd]("Sns.CallbackFriendAdd")
	FriendDeleteCommand       = dispatcher.NewAfterCommand[FriendDelete]("Sns.CallbackFriendDelete")
	BlackListAddCommand       = dispatcher.NewAfterCommand[BlackListAdd]("Sns.CallbackBlackListAdd")
	BlackListDeleteCommand    = dispatcher.NewAfterCommand[BlackListDelete]("Sns.CallbackBlackListDelete")
)

// Range of the per-target refusal codes of ResultItem.ResultCode (docs/protocol.md §3.2).
const (
	ResultCodeMin = 38000
	ResultCodeMax = 39000
)

// ResultItem is a per-target decision of a friend request.
type ResultItem struct {
	// ToAccount is the target the decision is about.
	ToAccount string `json:"To_Account"`
	// ResultCode is 0 to allow, or a code in [ResultCodeMin, ResultCodeMax] to refuse.
	ResultCode int `json:"ResultCode"`
	// ResultInfo is the error text of a refusal.
	ResultInfo string `json:"ResultInfo"`
}

// ResultReply is the reply of Sns.CallbackPrevFriendAdd and
// Sns.CallbackPrevFriendResponse: per-target decisions. For these commands
// IM ignores a non-zero top-level ErrorCode by default; decide per target.
type ResultReply struct {
	// ResultItem holds one decision per target; left out when empty (a
	// null would be no list for IM to read).
	ResultItem []ResultItem `json:"ResultItem,omitempty"`
}

// Per-target refusals of the two commands whose top-level ErrorCode IM
// ignores by default: the dispatcher sends a deny of theirs, the handler's
// or the fallback's, also as the refusal of every target in ResultItem.
var (
	PrevFriendAddTargets      = perTarget(PrevFriendAddCommand.Name(), func(l friendAddTargets) []target { return l.FriendItem })
	PrevFriendResponseTargets = perTarget(PrevFriendResponseCommand.Name(), func(l friendResponseTargets) []target { return l.ResponseFriendItem })
)

// target is one account of a friend request's list of targets.
type target struct {
	ToAccount string `json:"To_Account"`
}

// friendAddTargets and friendResponseTargets are the lists of targets of
// the two friend-request commands, each holding its command's list alone
// and decoded as the typed payload is: a key matched ignoring case, the
// last of several winning. A deny that read another list than the
// handler's would leave a target unrefused, which IM reads as allowed;
// one that also read the other command's list, no field of this one,
// failed on a body whose key of that name held anything else, and named
// no target at all.
type (
	friendAddTargets struct {
		FriendItem []target `json:"FriendItem"`
	}
	friendResponseTargets struct {
		ResponseFriendItem []target `json:"ResponseFriendItem"`
	}
)

// perTarget refuses every account of the list field of a body of the
// command named, allows every one of an allow that names none (the pages
// make ResultItem required: one entry per target), and keeps a handler's
// per-target codes in their range. It reads the targets alone, so a body
// whose other fields do not decode (the reason a handler failed and a
// fallback is sent) still names them.
func perTarget[L any](command string, list func(L) []target) *dispatcher.PerTarget {
	accounts := func(body []byte) ([]string, error) {
		var lists L
		if err := json.Unmarshal(body, &lists); err != nil {
			return nil, fmt.Errorf("sns: %s: %w", command, err)
		}
		items := list(lists)
		accounts := make([]string, len(items))
		for i, it := range items {
			accounts[i] = it.ToAccount
		}
		return accounts, nil
	}
	return &dispatcher.PerTarget{
		Deny: func(body []byte, code int, info string) (any, error) {
			a, err := accounts(body)
			if err != nil {
				return nil, err
			}
			return decideAll(a, code, info), nil
		},
		Check: checkResultCodes,
		Allow: func(body []byte, reply any) (any, error) {
			if r, ok := reply.(ResultReply); reply != nil && (!ok || len(r.ResultItem) > 0) {
				return reply, nil // the handler's own per-target decisions
			}
			a, err := accounts(body)
			if err != nil || len(a) == 0 {
				return reply, err
			}
			return decideAll(a, 0, ""), nil
		},
	}
}

// checkResultCodes sends a per-target ResultCode outside 0 and the
// refusal range as ResultCodeMin: IM reads these codes, not the top-level
// one, so an unknown code must still refuse.
func checkResultCodes(reply any) (any, error) {
	r, ok := reply.(ResultReply)
	if !ok {
		return reply, nil
	}
	var bad []int
	items := slices.Clone(r.ResultItem)
	for i, it := range items {
		if it.ResultCode != 0 && (it.ResultCode < ResultCodeMin || it.ResultCode > ResultCodeMax) {
			bad = append(bad, it.ResultCode)
			items[i].ResultCode = ResultCodeMin
		}
	}
	if bad == nil {
		return reply, nil
	}
	return ResultReply{ResultItem: items}, fmt.Errorf("ResultCode %v outside 0 and %d–%d; sent %d (a refusal)", bad, ResultCodeMin, ResultCodeMax, ResultCodeMin)
}

// decideAll is the reply deciding every account with code and info: a
// refusal, or with code 0 an allowance.
func decideAll(accounts []string, code int, info string) ResultReply {
	items := make([]ResultItem, len(accounts))
	for i, a := range accounts {
		items[i] = ResultItem{ToAccount: a, ResultCode: code, ResultInfo: info}
	}
	return ResultReply{ResultItem: items}
}

// FriendItem is one target of an add-friend request.
type FriendItem struct {
	// ToAccount is the user to add.
	ToAccount string `json:"To_Account"`
	// Remark is the remark From_Account sets for To_Account.
	Remark string `json:"Remark"`
	// GroupName is the friend list group.
	GroupName string `json:"GroupName"`
	// AddSource is the source of the request.
	AddSource string `json:"AddSource"`
	// AddWording is the request message.
	AddWording string `json:"AddWording"`
}

// PrevFriendAdd is the body of Sns.CallbackPrevFriendAdd (1047/43468,
// docs/protocol.md §4.3).
// REST-initiated adds do not trigger it.
type PrevFriendAdd struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// RequesterAccount initiated the request.
	RequesterAccount string `json:"Requester_Account"`
	// FromAccount adds the friends.
	FromAccount string `json:"From_Account"`
	// FriendItem lists the users to add.
	FriendItem []FriendItem `json:"FriendItem"`
	// AddType is "Add_Type_Single" or "Add_Type_Both".
	AddType string `json:"AddType"`
	// ForceAddFlags is 1 for an admin force-add.
	ForceAddFlags int64 `json:"ForceAddFlags"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// ResponseItem is one answer to a friend request.
type ResponseItem struct {
	// ToAccount made the friend request.
	ToAccount string `json:"To_Account"`
	// Remark is the remark From_Account sets for To_Account.
	Remark string `json:"Remark"`
	// TagName is the friend list group From_Account puts To_Account in.
	TagName string `json:"TagName"`
	// ResponseAction is Response_Action_AgreeAndAdd, Response_Action_Agree or Response_Action_Reject.
	ResponseAction string `json:"ResponseAction"`
}

// PrevFriendResponse is the body of Sns.CallbackPrevFriendResponse (1047/43467).
type PrevFriendResponse struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// RequesterAccount initiated the response request.
	RequesterAccount string `json:"Requester_Account"`
	// FromAccount responds to the friend requests.
	FromAccount string `json:"From_Account"`
	// ResponseFriendItem lists the answers.
	ResponseFriendItem []ResponseItem `json:"ResponseFriendItem"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// Pair is one relationship change: To_Account in From_Account's list.
type Pair struct {
	// FromAccount owns the list.
	FromAccount string `json:"From_Account"`
	// ToAccount was added to or removed from it.
	ToAccount string `json:"To_Account"`
}

// FriendAddPair is a Pair of Sns.CallbackFriendAdd.
type FriendAddPair struct {
	// Pair is the relationship added.
	Pair
	// InitiatorAccount initiated the add.
	InitiatorAccount string `json:"Initiator_Account"`
}

// FriendAdd is the body of Sns.CallbackFriendAdd (1047/34359,
// docs/protocol.md §4.3).
type FriendAdd struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// PairList lists the relationships added.
	PairList []FriendAddPair `json:"PairList"`
	// ClientCmd is friend_add/FriendAdd or friend_response/FriendResponse.
	ClientCmd string `json:"ClientCmd"`
	// AdminAccount is the admin when triggered from the backend, else empty.
	AdminAccount string `json:"Admin_Account"`
	// ForceFlag is 1 for an admin force-add.
	ForceFlag int64 `json:"ForceFlag"`
	// EventTime is the event time in milliseconds; absent from the documented sample.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// FriendDelete is the body of Sns.CallbackFriendDelete (1047/34360).
type FriendDelete struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// PairList lists the friendships removed.
	PairList []Pair `json:"PairList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// BlackListAdd is the body of Sns.CallbackBlackListAdd (1047/34361).
type BlackListAdd struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// PairList lists the users blocked.
	PairList []Pair `json:"PairList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// BlackListDelete is the body of Sns.CallbackBlackListDelete (1047/34362).
type BlackListDelete struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// PairList lists the users unblocked.
	PairList []Pair `json:"PairList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}
