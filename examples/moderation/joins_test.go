package moderation_test

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/examples/moderation"
	"github.com/imcallback/imcallback/imtest"
)

// TestJoinsAreBounded: the record holds at most MaxJoins memberships and
// forgets the oldest first, so a service that sees group joins for ever
// does not grow for ever. A membership recorded again (IM's retry, a
// replay) is neither added twice nor made younger.
func TestJoinsAreBounded(t *testing.T) {
	joins := moderation.NewJoins(moderation.Config{MaxJoins: 3})
	joins.Record("g1", "a", "b")
	joins.Record("g2", "c")
	joins.Record("g1", "a") // a retry: no change
	if got := joins.Len(); got != 3 {
		t.Fatalf("Len = %d after 3 memberships, want 3", got)
	}
	joins.Record("g3", "d") // the oldest, g1's a, is forgotten
	joins.Record("g1", "e") // and then g1's b
	for _, c := range []struct {
		group string
		want  []string
	}{
		{"g1", []string{"e"}},
		{"g2", []string{"c"}},
		{"g3", []string{"d"}},
	} {
		if got := joins.Members(c.group); !slices.Equal(got, c.want) {
			t.Errorf("Members(%s) = %v, want %v", c.group, got, c.want)
		}
	}

	// Many groups of many members: never more than the bound.
	for i := range 1000 {
		joins.Record(fmt.Sprintf("group%d", i), fmt.Sprintf("u%d", i), fmt.Sprintf("v%d", i))
		if got := joins.Len(); got > 3 {
			t.Fatalf("Len = %d after %d groups, want at most 3", got, i+1)
		}
	}
	if got := joins.Members("group999"); !slices.Equal(got, []string{"u999", "v999"}) {
		t.Fatalf("the latest group's members: %v", got)
	}
	if got := joins.Members("g1"); len(got) != 0 {
		t.Fatalf("Members(g1) = %v, want it forgotten", got)
	}
}

// TestJoinsDefaultBound: a Config without MaxJoins (one built by hand)
// gets DefaultMaxJoins, not an unbounded record.
func TestJoinsDefaultBound(t *testing.T) {
	joins := moderation.NewJoins(moderation.Config{})
	for i := range moderation.DefaultMaxJoins + 10 {
		joins.Record("g", fmt.Sprint(i))
	}
	if got := joins.Len(); got != moderation.DefaultMaxJoins {
		t.Fatalf("Len = %d, want DefaultMaxJoins (%d)", got, moderation.DefaultMaxJoins)
	}
}

// TestMaxJoinsFromTheConfiguration: IMCALLBACK_MODERATION_MAX_JOINS bounds
// the record the module's join recorder writes, and a bound that is no
// positive number stops the start naming it.
func TestMaxJoinsFromTheConfiguration(t *testing.T) {
	var joins *moderation.Joins
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_MODERATION_MAX_JOINS=2"},
		moderation.Module, fx.Populate(&joins))
	for _, group := range []string{"@TGS#first", "@TGS#second"} {
		body, err := imtest.SampleWith("Group.CallbackAfterNewMemberJoin", map[string]any{"GroupId": group})
		if err != nil {
			t.Fatal(err)
		}
		if res := s.Send(t, "Group.CallbackAfterNewMemberJoin", body); !res.OK() {
			t.Fatalf("join of %s: %d %s", group, res.Status, res.Body)
		}
	}
	want := []string{"u_ivy", "u_jack"} // the sample's NewMemberList
	if got := joins.Members("@TGS#second"); !slices.Equal(got, want) || joins.Len() != 2 || len(joins.Members("@TGS#first")) != 0 {
		t.Fatalf("the second group's members %v, %d recorded in all, the first's %v: want %v, 2 and none",
			got, joins.Len(), joins.Members("@TGS#first"), want)
	}

	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_MODERATION_MAX_JOINS", "-1")
	var out bytes.Buffer
	err := cli.Run([]string{"config", "check"}, &out, &out, moderation.Module)
	if err == nil || !strings.Contains(err.Error(), "max_joins -1 must be between 1 and 10000000") {
		t.Fatalf("config check with max_joins -1: %v\n%s", err, out.String())
	}
}

// BenchmarkJoinsMemory measures the heap a membership of Joins takes, the
// figure DefaultMaxJoins's doc gives a user to size GOMEMLIMIT with: a
// full record at the default, of IDs as IM writes them, 100 members a
// group (`make bench` reports it as B/membership). The doc once said "a
// few dozen bytes each, a few megabytes" of a record that took about 200
// bytes each, 20 MB.
func BenchmarkJoinsMemory(b *testing.B) {
	var each int64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		joins := moderation.NewJoins(moderation.Config{})
		for i := range moderation.DefaultMaxJoins {
			joins.Record(fmt.Sprintf("@TGS#%09d", i/100), fmt.Sprintf("user_%08d", i))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(joins)
		each = (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / moderation.DefaultMaxJoins
	}
	b.ReportMetric(float64(each), "B/membership")
}
