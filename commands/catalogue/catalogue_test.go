package catalogue_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/tooling"
)

// protocolPath is docs/protocol.md, the project's protocol reference,
// relative to this package.
const protocolPath = "../../docs/protocol.md"

// protocolRow is one command row of docs/protocol.md's "## 4. Commands":
// | `Cmd` | kind | deny codes | drop | reply fields | trigger | doc |
type protocolRow struct {
	name, kind, codes, drop, reply string
}

// readProtocol returns the text of docs/protocol.md.
func readProtocol(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(protocolPath)
	if err != nil {
		t.Fatalf("%v: docs/protocol.md is the reference the catalogue is checked against", err)
	}
	return string(raw)
}

// section returns the text of the section whose heading line starts with
// heading (e.g. "## 4. Commands"), up to the next heading of the same level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	level := heading[:strings.Index(heading, " ")+1] // "## " or "### "
	start := strings.Index(doc, "\n"+heading)
	if start < 0 {
		t.Fatalf("%s: no section %q", protocolPath, heading)
	}
	body := doc[start+1:]
	if end := strings.Index(body[1:], "\n"+level); end >= 0 {
		body = body[:end+1]
	}
	return body
}

// protocolCommands parses the command tables of docs/protocol.md §4, in order.
func protocolCommands(t *testing.T) []protocolRow {
	t.Helper()
	var rows []protocolRow
	for _, line := range strings.Split(section(t, readProtocol(t), "## 4. Commands"), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|"), "|")
		if len(cells) != 7 {
			t.Fatalf("%s §4: %d cells, want 7 (command, kind, deny codes, drop, reply fields, trigger, doc): %s",
				protocolPath, len(cells), line)
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		name := strings.Trim(cells[0], "`")
		if name == "" || strings.ContainsAny(name, "` ") || !strings.Contains(name, ".") {
			t.Fatalf("%s §4: %q is not a command name", protocolPath, cells[0])
		}
		rows = append(rows, protocolRow{name: name, kind: cells[1], codes: cells[2], drop: cells[3], reply: cells[4]})
	}
	if len(rows) == 0 {
		t.Fatalf("%s §4: no command rows", protocolPath)
	}
	return rows
}

// diff says which names were added to or removed from the catalogue.
func diff(t *testing.T, source string, want []string) {
	t.Helper()
	var got []string
	for _, e := range catalogue.All() {
		got = append(got, e.Name())
	}
	var missing, extra []string
	for _, n := range want {
		if !slices.Contains(got, n) {
			missing = append(missing, n)
		}
	}
	for _, n := range got {
		if !slices.Contains(want, n) {
			extra = append(extra, n)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("the catalogue differs from %[1]s:\n  in %[1]s but not in the catalogue (add them): %[2]v\n  in the catalogue but not in %[1]s (remove them or update %[1]s): %[3]v",
			source, missing, extra)
		return
	}
	if len(got) != len(want) {
		t.Errorf("the catalogue has %d commands, %s lists %d (a command is listed twice)", len(got), source, len(want))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("the catalogue lists the commands in another order than %s: command %d is %s in the catalogue, %s there",
				source, i+1, got[i], want[i])
			return
		}
	}
}

// kindCell is how docs/protocol.md §4 writes a kind.
func kindCell(k catalogue.Kind) string {
	switch k {
	case catalogue.Before:
		return "B"
	case catalogue.After:
		return "A"
	case catalogue.RequestResponse:
		return "request/response"
	}
	return k.String()
}

// codesCell is how docs/protocol.md writes a deny-code range: "—" for none.
func codesCell(r dispatcher.CodeRange) string {
	if r == (dispatcher.CodeRange{}) {
		return "—"
	}
	return fmt.Sprintf("%d–%d", r.Min, r.Max)
}

// dropCell is how docs/protocol.md §4 writes drop support: "—" for
// after-commands.
func dropCell(e catalogue.Entry) string {
	switch {
	case e.Kind() == catalogue.After:
		return "—"
	case e.CanDrop:
		return "yes"
	}
	return "no"
}

// replyCell lists the JSON names of the reply fields, as docs/protocol.md
// §4 does: "—" for none.
func replyCell(e catalogue.Entry) string {
	t := e.Command.Tooling(tooling.K).ReplyType()
	if t == nil {
		return "—"
	}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if name != "-" {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// TestCatalogueMatchesProtocol compares the catalogue with the command
// tables of docs/protocol.md §4: the command list and its order, and for
// each command its kind, deny-code range, drop support and reply fields.
func TestCatalogueMatchesProtocol(t *testing.T) {
	rows := protocolCommands(t)
	var names []string
	for _, r := range rows {
		names = append(names, r.name)
	}
	diff(t, protocolPath+" §4", names)
	for _, r := range rows {
		e, ok := catalogue.Lookup(r.name)
		if !ok {
			continue
		}
		got := protocolRow{name: r.name, kind: kindCell(e.Kind()), codes: codesCell(e.DenyCodes), drop: dropCell(e), reply: replyCell(e)}
		if got != r {
			t.Errorf("%s: the catalogue says kind %q, deny codes %q, drop %q, reply fields %q; %s §4 says %q, %q, %q, %q",
				r.name, got.kind, got.codes, got.drop, got.reply, protocolPath, r.kind, r.codes, r.drop, r.reply)
		}
	}
}

// TestCatalogueMatchesProtocolDenyCodeRanges compares the catalogue with
// the table of custom deny-code ranges in docs/protocol.md §3.2.
func TestCatalogueMatchesProtocolDenyCodeRanges(t *testing.T) {
	row := regexp.MustCompile(`^\| (\d+)–(\d+) \| (.+) \|$`)
	name := regexp.MustCompile("`([A-Za-z0-9]+\\.[A-Za-z0-9]+)`")
	want := map[string]string{}
	for _, line := range strings.Split(section(t, readProtocol(t), "### 3.2 "), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, n := range name.FindAllStringSubmatch(m[3], -1) {
			want[n[1]] = m[1] + "–" + m[2]
		}
	}
	if len(want) == 0 {
		t.Fatalf("%s §3.2: no deny-code range rows", protocolPath)
	}
	for _, e := range catalogue.All() {
		got := codesCell(e.DenyCodes)
		w, ok := want[e.Name()]
		if !ok {
			w = "—"
		}
		if got != w {
			t.Errorf("%s: deny codes %s in the catalogue, %s in %s §3.2", e.Name(), got, w, protocolPath)
		}
		delete(want, e.Name())
	}
	for n := range want {
		t.Errorf("%s §3.2 names %s, which the catalogue lacks", protocolPath, n)
	}
}

type keyed interface{ DedupKey() string }
type multiKeyed interface{ DedupKeys() []string }

func TestEntries(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range catalogue.All() {
		t.Run(e.Name(), func(t *testing.T) {
			if seen[e.Name()] {
				t.Fatal("listed twice")
			}
			seen[e.Name()] = true
			if e.RequestResponse && e.Command.Kind() != dispatcher.KindBefore {
				t.Error("request-response on an after-command descriptor")
			}
			if e.Kind().Dispatch() != e.Command.Kind() {
				t.Errorf("kind %v but the descriptor is %v", e.Kind(), e.Command.Kind())
			}
			if pkg := e.Command.Tooling(tooling.K).PayloadType().PkgPath(); pkg != "github.com/imcallback/imcallback/commands/"+e.Area() {
				t.Errorf("area %q: the payload is in package %q, not in commands/<area>", e.Area(), pkg)
			}
			if e.Summary == "" || e.Doc == "" {
				t.Error("summary or doc missing")
			}
			if e.Kind() == catalogue.After && (e.Rule() != (dispatcher.Rule{}) || e.Command.Tooling(tooling.K).ReplyType() != nil) {
				t.Error("an after-command has a rule or reply fields")
			}
			p := reflectNew(e)
			_, one := p.(keyed)
			_, many := p.(multiKeyed)
			if (one || many) != (len(e.Dedup) > 0) {
				t.Errorf("dedup fields %v, but the payload implements DedupKey: %v, DedupKeys: %v", e.Dedup, one, many)
			}
			if many != e.Batched {
				t.Errorf("batched %v but DedupKeys implemented: %v", e.Batched, many)
			}
			if _, ok := catalogue.Sample(e.Name()); !ok {
				t.Error("no sample")
			}
			if got, ok := catalogue.Lookup(e.Name()); !ok || got.Name() != e.Name() {
				t.Error("Lookup does not find it")
			}
		})
	}
}

func reflectNew(e catalogue.Entry) any {
	p, err := e.Command.Tooling(tooling.K).Decode([]byte(`{}`))
	if err != nil {
		panic(err)
	}
	return p
}

func TestSampleLookup(t *testing.T) {
	for _, name := range []string{"", "Nope.Unknown", "../catalogue.go", "samples/x"} {
		if _, ok := catalogue.Sample(name); ok {
			t.Errorf("Sample(%q) found something", name)
		}
	}
	a, _ := catalogue.Sample("State.StateChange")
	a[0] = 'X'
	if b, _ := catalogue.Sample("State.StateChange"); b[0] == 'X' {
		t.Error("Sample returns shared bytes")
	}
	entries, err := os.ReadDir("testdata/samples")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(catalogue.All()) {
		t.Errorf("%d sample files for %d commands: remove the extra ones", len(entries), len(catalogue.All()))
	}
}

// TestRulesComeFromTheCatalogue checks that Rules holds exactly the
// before-style commands, each with the deny codes and drop support that
// docs/protocol.md §4 states.
func TestRulesComeFromTheCatalogue(t *testing.T) {
	rules := catalogue.Rules()
	for _, r := range protocolCommands(t) {
		got, ok := rules[r.name]
		if ok != (r.kind != "A") {
			t.Errorf("%s (kind %s in %s §4): in the rules: %v", r.name, r.kind, protocolPath, ok)
			continue
		}
		if ok && (codesCell(got.DenyCodes) != r.codes || got.CanDrop != (r.drop == "yes")) {
			t.Errorf("%s: rule %+v, %s §4 says deny codes %s, drop %s", r.name, got, protocolPath, r.codes, r.drop)
		}
	}
	for _, e := range catalogue.All() {
		_, ok := rules[e.Name()]
		if ok != (e.Kind() != catalogue.After) {
			t.Errorf("%s (%v): in the rules: %v", e.Name(), e.Kind(), ok)
		}
	}
	if len(rules) != len(slices.DeleteFunc(catalogue.All(), func(e catalogue.Entry) bool { return e.Kind() == catalogue.After })) {
		t.Errorf("%d rules: one per before-style command expected", len(rules))
	}
}

// TestSamplesDecodeWithoutDrops decodes every sample generically and into
// its typed payload: every key of the sample must be captured (raw JSON
// fields count as captured) with the same value.
func TestSamplesDecodeWithoutDrops(t *testing.T) {
	for _, e := range catalogue.All() {
		t.Run(e.Name(), func(t *testing.T) {
			body, _ := catalogue.Sample(e.Name())
			p, err := e.Command.Tooling(tooling.K).Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			for _, problem := range covers(generic(t, body), remarshal(t, p), "$") {
				t.Error(problem)
			}
		})
	}
}

func TestDedupKeys(t *testing.T) {
	want := map[string][]string{
		"C2C.CallbackAfterSendMsg":   {"u_alice|u_bob|1201_44332211_1732600100"},
		"Group.CallbackAfterSendMsg": {"@TGS#1QxYz7AB||5821|1732600002"},
		"Push.OfflinePush":           {"a1b2c3d4_00000001|u_bob|3|2", "a1b2c3d4_00000002|u_erin|1|1"},
		"Push.AllMemberPush":         {"task-20241126-0007|u_bob|1|4|2", "task-20241126-0007|u_carol|2|0|1"},
		"State.StateChange":          nil,
	}
	for _, e := range catalogue.All() {
		body, _ := catalogue.Sample(e.Name())
		keys, err := e.DedupKeys(body)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if (len(keys) > 0) != (len(e.Dedup) > 0) {
			t.Errorf("%s: keys %q for dedup fields %v", e.Name(), keys, e.Dedup)
		}
		for _, k := range keys {
			if k == "" || strings.Trim(k, "|") == "" {
				t.Errorf("%s: empty key from its sample", e.Name())
			}
		}
		if w, ok := want[e.Name()]; ok && !slices.Equal(keys, w) {
			t.Errorf("%s: keys %q, want %q", e.Name(), keys, w)
		}
	}
	e, _ := catalogue.Lookup("Push.OfflinePush")
	if _, err := e.DedupKeys([]byte(`{"Events":7}`)); err == nil {
		t.Error("a body that does not decode gave keys")
	}
}

// TestGroupMessageKeysOfReusableIDs: an app may dismiss a group (or delete
// a topic) and create it again under the same ID, and the new one's
// messages count their MsgSeq from 1 again. A message, recall or
// extension change of the new group is another event than the old one's
// of the same MsgSeq: its key must differ, or a handler deduplicating on
// it drops the event as a resend. A resend (the same body) keeps its key.
func TestGroupMessageKeysOfReusableIDs(t *testing.T) {
	tests := []struct {
		command       string
		first, second string // the same MsgSeq in two incarnations of the group
	}{
		{"Group.CallbackAfterSendMsg",
			`{"GroupId":"room_42","MsgSeq":1,"MsgTime":1732600000,"EventTime":1732600000456}`,
			`{"GroupId":"room_42","MsgSeq":1,"MsgTime":1732686400,"EventTime":1732686400789}`},
		{"Group.CallbackAfterSendMsg",
			`{"GroupId":"@TGS#_g","TopicId":"@TGS#_g@TOPIC#_news","MsgSeq":1,"MsgTime":1732600000,"EventTime":1732600000456}`,
			`{"GroupId":"@TGS#_g","TopicId":"@TGS#_g@TOPIC#_news","MsgSeq":1,"MsgTime":1732686400,"EventTime":1732686400789}`},
		{"Group.CallbackAfterRecallMsg",
			`{"GroupId":"room_42","MsgSeqList":[{"MsgSeq":1}],"EventTime":1732600000456}`,
			`{"GroupId":"room_42","MsgSeqList":[{"MsgSeq":1}],"EventTime":1732686400789}`},
		{"Group.CallbackAfterGroupMsgExtension",
			`{"GroupId":"room_42","MsgSeq":1,"OperateType":1,"Seq":1,"EventTime":1732600000456}`,
			`{"GroupId":"room_42","MsgSeq":1,"OperateType":1,"Seq":1,"EventTime":1732686400789}`},
		{"Bot.OnGroupMessage",
			`{"GroupId":"room_42","MsgSeq":1,"MsgTime":1732600000,"EventTime":1732600000456}`,
			`{"GroupId":"room_42","MsgSeq":1,"MsgTime":1732686400,"EventTime":1732686400789}`},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			e, ok := catalogue.Lookup(tt.command)
			if !ok {
				t.Fatal("not in the catalogue")
			}
			keys := func(body string) []string {
				t.Helper()
				k, err := e.DedupKeys([]byte(body))
				if err != nil || len(k) != 1 {
					t.Fatalf("keys %q, %v", k, err)
				}
				return k
			}
			a, b := keys(tt.first), keys(tt.second)
			if slices.Equal(a, b) {
				t.Errorf("the old and the new group's message %s share the key %q", tt.first, a)
			}
			if !slices.Equal(a, keys(tt.first)) {
				t.Error("a resend got another key")
			}
		})
	}
}
