package catalogue_test

import (
	"bufio"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/dispatcher"
)

// readList reads testdata/protocol_commands.txt.
func readList(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("testdata/protocol_commands.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	return names
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
		t.Errorf("the catalogue differs from %s:\n  in %[1]s but not in the catalogue (add them): %v\n  in the catalogue but not in %[1]s (remove them or update %[1]s): %v",
			source, missing, extra)
	}
	if len(got) != len(want) {
		t.Errorf("the catalogue has %d commands, %s lists %d", len(got), source, len(want))
	}
}

func TestCatalogueMatchesTheCheckedInList(t *testing.T) {
	diff(t, "testdata/protocol_commands.txt", readList(t))
}

// protocolPath is ../shared/PROTOCOL.md relative to the module root.
const protocolPath = "../../../shared/PROTOCOL.md"

func TestCatalogueMatchesProtocolSection4(t *testing.T) {
	raw, err := os.ReadFile(protocolPath)
	if os.IsNotExist(err) {
		t.Skipf("%s is absent; only the checked-in list is compared", protocolPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start, end := strings.Index(doc, "\n## 4."), strings.Index(doc, "\n## 5.")
	if start < 0 || end < start {
		t.Fatalf("%s: no §4 (between \"## 4.\" and \"## 5.\")", protocolPath)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z0-9]+\\.[A-Za-z0-9]+)`[^|]*\\| ([^|]+?) \\|")
	var names []string
	kinds := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(doc[start:end], -1) {
		names = append(names, m[1])
		kinds[m[1]] = m[2]
	}
	diff(t, protocolPath+" §4", names)
	if list := readList(t); !slices.Equal(list, names) {
		t.Errorf("testdata/protocol_commands.txt is out of date with %s §4: regenerate it from the tables", protocolPath)
	}
	for _, e := range catalogue.All() {
		want, ok := kinds[e.Name()]
		if !ok {
			continue
		}
		var got string
		switch e.Kind {
		case catalogue.Before:
			got = "B"
		case catalogue.After:
			got = "A"
		case catalogue.RequestResponse:
			got = "request/response"
		}
		if !strings.HasPrefix(want, got) {
			t.Errorf("%s: kind %v, PROTOCOL.md says %q", e.Name(), e.Kind, want)
		}
	}
}

type keyed interface{ DedupKey() string }
type multiKeyed interface{ DedupKeys() []string }

func TestEntries(t *testing.T) {
	seen := map[string]bool{}
	var unverified []string
	for _, e := range catalogue.All() {
		t.Run(e.Name(), func(t *testing.T) {
			if seen[e.Name()] {
				t.Fatal("listed twice")
			}
			seen[e.Name()] = true
			if e.Kind.Dispatch() != e.Command.Kind() {
				t.Errorf("kind %v but the descriptor is %v", e.Kind, e.Command.Kind())
			}
			pkg := path.Base(e.Command.PayloadType().PkgPath())
			if pkg != e.Area {
				t.Errorf("area %q but the payload is in package %q", e.Area, pkg)
			}
			if e.Summary == "" || e.Doc == "" {
				t.Error("summary or doc missing")
			}
			if e.Kind == catalogue.After {
				if e.Rule() != (dispatcher.Rule{}) || e.Fallback != (dispatcher.Decision{}) || e.Command.ReplyType() != nil {
					t.Error("an after-command has a rule, a fallback or reply fields")
				}
			} else if e.Fallback.Code != dispatcher.CodeAllow {
				t.Errorf("fallback %v; IM's own default is allow", e.Fallback)
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
			if e.Unverified {
				unverified = append(unverified, e.Name())
				if e.Note == "" {
					t.Error("unverified without a note")
				}
			}
		})
	}
	want := []string{
		"OfficialAccount.CallbackAfterCreateOfficialAccount",
		"OfficialAccount.CallbackAfterOfficialAccountInfoChanged",
		"OfficialAccount.CallbackAfterOfficialAccountDestroyed",
		"OfficialAccount.CallbackAfterOfficialAccountFull",
	}
	if !slices.Equal(unverified, want) {
		t.Errorf("unverified commands %v, want the four of PROTOCOL.md §4.9: %v", unverified, want)
	}
}

func reflectNew(e catalogue.Entry) any {
	p, err := e.Command.Decode([]byte(`{}`))
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

// protocolRules are the deny-code ranges and drop support PROTOCOL.md §3.2 states.
func protocolRules() dispatcher.Rules {
	group := dispatcher.CodeRange{Min: 10100, Max: 10200}
	return dispatcher.Rules{
		"Group.CallbackBeforeSendMsg":           {DenyCodes: group, CanDrop: true},
		"Group.CallbackBeforeCreateGroup":       {DenyCodes: group},
		"Group.CallbackBeforeInviteJoinGroup":   {DenyCodes: group},
		"Group.CallbackBeforeApplyJoinGroup":    {DenyCodes: group},
		"Group.CallbackBeforeCreateTopic":       {DenyCodes: group},
		"C2C.CallbackBeforeSendMsg":             {DenyCodes: dispatcher.CodeRange{Min: 120001, Max: 130000}, CanDrop: true},
		"Sns.CallbackPrevFriendAdd":             {DenyCodes: dispatcher.CodeRange{Min: 38000, Max: 39000}},
		"OfficialAccount.CallbackBeforeSendMsg": {CanDrop: true},
	}
}

func TestRulesComeFromTheCatalogue(t *testing.T) {
	rules := catalogue.Rules()
	for name, want := range protocolRules() {
		if got, ok := rules[name]; !ok || got != want {
			t.Errorf("%s: catalogue rule %+v (present: %v), PROTOCOL.md §3.2 says %+v", name, got, ok, want)
		}
	}
	for _, e := range catalogue.All() {
		_, ok := rules[e.Name()]
		if ok != (e.Kind != catalogue.After) {
			t.Errorf("%s (%v): in the rules: %v", e.Name(), e.Kind, ok)
		}
	}
}

// TestSamplesDecodeWithoutDrops decodes every sample generically and into
// its typed payload: every key of the sample must be captured (raw JSON
// fields count as captured) with the same value.
func TestSamplesDecodeWithoutDrops(t *testing.T) {
	for _, e := range catalogue.All() {
		t.Run(e.Name(), func(t *testing.T) {
			body, _ := catalogue.Sample(e.Name())
			p, err := e.Command.Decode(body)
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
		"Group.CallbackAfterSendMsg": {"@TGS#1QxYz7AB||5821"},
		"Push.OfflinePush":           {"a1b2c3d4_00000001|u_bob|2", "a1b2c3d4_00000002|u_erin|1"},
		"Push.AllMemberPush":         {"task-20241126-0007|u_bob|2", "task-20241126-0007|u_carol|1"},
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
