package catalogue_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/commands/sns"
	"github.com/imcallback/imcallback/internal/tooling"
)

// FuzzSampleDecode: a command's body, mutated from its sample, decodes
// into the typed payload or is refused, never a panic; a payload decoded
// encodes to a body that decodes to the same payload and natural keys.
func FuzzSampleDecode(f *testing.F) {
	all := catalogue.All()
	for i, e := range all {
		body, _ := catalogue.Sample(e.Name())
		f.Add(uint8(i), body)
	}
	f.Add(uint8(0), []byte(`null`))
	f.Add(uint8(1), []byte(`{"EventTime":"1.0e3","MsgSeq":"7"}`))
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		e := all[int(pick)%len(all)]
		decode := e.Command.Tooling(tooling.K).Decode
		p, err := decode(body)
		if err != nil {
			return
		}
		keys, err := e.DedupKeys(body)
		if err != nil {
			t.Fatalf("%s: %s decodes, but its keys do not: %v", e.Name(), body, err)
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("%s: %s decoded to %+v, which does not encode: %v", e.Name(), body, p, err)
		}
		again, err := decode(out)
		if err != nil {
			t.Fatalf("%s: %s decoded and encoded to %s, which does not decode: %v", e.Name(), body, out, err)
		}
		if out2, _ := json.Marshal(again); string(out2) != string(out) {
			t.Fatalf("%s: %s decoded and encoded to %s, then to %s", e.Name(), body, out, out2)
		}
		if keys2, _ := e.DedupKeys(out); !slices.Equal(keys, keys2) {
			t.Fatalf("%s: %s has keys %q, encoded as %s keys %q", e.Name(), body, keys, out, keys2)
		}
	})
}

// FuzzPerTargetDenyRefusesTheTargetsSeen: for a command whose deny is
// also sent per target, the deny of a body the handler got refuses
// exactly the targets the handler's payload lists (read on their own, by
// another decoder): one it missed would be let through by IM.
func FuzzPerTargetDenyRefusesTheTargetsSeen(f *testing.F) {
	var entries []catalogue.Entry
	for _, e := range catalogue.All() {
		if e.PerTarget != nil {
			entries = append(entries, e)
		}
	}
	for i, e := range entries {
		body, _ := catalogue.Sample(e.Name())
		f.Add(uint8(i), body)
	}
	f.Add(uint8(0), []byte(`{"FriendItem":[{"To_Account":"x"}],"friendItem":[{"to_account":"b"},{"To_Account":"c","TO_ACCOUNT":"d"}]}`))
	f.Add(uint8(1), []byte(`{"ResponseFriendItem":[{"To_Account":"a"}],"Re\u017fponseFriendItem":[{"To_Account":"b"}],"ForceAddFlags":"1"}`))
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		e := entries[int(pick)%len(entries)]
		p, err := e.Command.Tooling(tooling.K).Decode(body)
		if err != nil {
			return
		}
		var seen []string
		switch p := p.(type) {
		case *sns.PrevFriendAdd:
			for _, it := range p.FriendItem {
				seen = append(seen, it.ToAccount)
			}
		case *sns.PrevFriendResponse:
			for _, it := range p.ResponseFriendItem {
				seen = append(seen, it.ToAccount)
			}
		default:
			t.Fatalf("%s: payload %T has no known list of targets", e.Name(), p)
		}
		reply, err := e.PerTarget.Deny(body, sns.ResultCodeMin, "no")
		if err != nil {
			t.Fatalf("%s: %s decodes, but its deny cannot name the targets: %v", e.Name(), body, err)
		}
		var refused []string
		for _, it := range reply.(sns.ResultReply).ResultItem {
			refused = append(refused, it.ToAccount)
		}
		if !slices.Equal(refused, seen) {
			t.Fatalf("%s: %s: the handler saw targets %q, the deny refuses %q", e.Name(), body, seen, refused)
		}
	})
}

// TestPerTargetDenyReadsTheCommandsOwnList: a deny names the targets of
// the command's own list; the other friend-request command's list, of
// whatever shape, is no field of this one and does not keep the deny
// from naming them (it did, and IM may ignore the top-level deny alone).
func TestPerTargetDenyReadsTheCommandsOwnList(t *testing.T) {
	tests := []struct {
		command string
		body    string
	}{
		{sns.PrevFriendAddCommand.Name(), `{"FriendItem":[{"To_Account":"b"}],"ResponseFriendItem":"0"}`},
		{sns.PrevFriendAddCommand.Name(), `{"FriendItem":[{"To_Account":"b"}],"responseFriendItem":[{"To_Account":7}]}`},
		{sns.PrevFriendResponseCommand.Name(), `{"ResponseFriendItem":[{"To_Account":"b"}],"FriendItem":{"To_Account":"x"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			e, _ := catalogue.Lookup(tt.command)
			if _, err := e.Command.Tooling(tooling.K).Decode([]byte(tt.body)); err != nil {
				t.Fatalf("the handler gets no payload: %v", err)
			}
			reply, err := e.PerTarget.Deny([]byte(tt.body), sns.ResultCodeMin, "no")
			if err != nil {
				t.Fatalf("the deny names no target: %v", err)
			}
			if items := reply.(sns.ResultReply).ResultItem; len(items) != 1 || items[0].ToAccount != "b" {
				t.Fatalf("the deny refuses %+v, want b", items)
			}
		})
	}
}
