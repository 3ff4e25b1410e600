package allowlist_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/allowlist"
	"github.com/imcallback/imcallback/imrest"
	"github.com/imcallback/imcallback/internal/leakwait"
)

func TestMain(m *testing.M) {
	leakwait.VerifyTestMain(m)
}

const (
	appA = "1400000001"
	appB = "1400000002"
	appC = "1400000003"
)

// fakeLister serves a list per nettype, or an error, and records the calls.
type fakeLister struct {
	mu    sync.Mutex
	lists map[int][]string
	errs  map[int]error
	calls []int
}

func newLister(lists map[int][]string) *fakeLister { return &fakeLister{lists: lists} }

func (f *fakeLister) GetIPList(_ context.Context, netType int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, netType)
	if err := f.errs[netType]; err != nil {
		return nil, err
	}
	return slices.Clone(f.lists[netType]), nil
}

// serve makes the lister answer lists and no error.
func (f *fakeLister) serve(lists map[int][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists, f.errs = lists, nil
}

// fail makes the lister fail for the nettypes of errs.
func (f *fakeLister) fail(errs map[int]error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = errs
}

// takeCalls returns the nettypes asked for since the last call.
func (f *fakeLister) takeCalls() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// clock is a fake Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a Set with its registry and log.
type harness struct {
	*allowlist.Set
	reg  *prometheus.Registry
	logs *observer.ObservedLogs
}

// newSet builds a Set on o with a fresh registry and an observed log, and
// stops it at cleanup.
func newSet(t *testing.T, o allowlist.Options) harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	reg := prometheus.NewRegistry()
	s, err := allowlist.New(o, zap.New(core), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return harness{s, reg, logs}
}

func prefixes(t *testing.T, list ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// metric reads the sample of name for app; ok is false when absent.
func metric(t *testing.T, reg prometheus.Gatherer, name, app string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "app" && l.GetValue() == app {
					if m.Counter != nil {
						return m.Counter.GetValue(), true
					}
					return m.Gauge.GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// wantMetrics checks the three metrics of app.
func wantMetrics(t *testing.T, reg prometheus.Gatherer, app string, entries int, lastSuccess time.Time, errs int) {
	t.Helper()
	var last float64
	if !lastSuccess.IsZero() {
		last = float64(lastSuccess.Unix())
	}
	for name, want := range map[string]float64{
		"imcallback_iplist_entries":                        float64(entries),
		"imcallback_iplist_last_success_timestamp_seconds": last,
		"imcallback_iplist_refresh_errors_total":           float64(errs),
	} {
		got, ok := metric(t, reg, name, app)
		if !ok || got != want {
			t.Errorf("%s{app=%q} = %v (present %v), want %v", name, app, got, ok, want)
		}
	}
}

// wantAllowed checks Allowed(app, addr) for every addr of want.
func wantAllowed(t *testing.T, s *allowlist.Set, app string, want map[string]bool) {
	t.Helper()
	for addr, w := range want {
		if got := s.Allowed(app, netip.MustParseAddr(addr)); got != w {
			t.Errorf("Allowed(%s, %s) = %v, want %v", app, addr, got, w)
		}
	}
}

func refresh(t *testing.T, s *allowlist.Set) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.RefreshNow(ctx)
}

// checkErr is the error of the check naming every IPList app without a list.
func checkErr(s *allowlist.Set) error {
	c := s.AppsCheck()
	return c.Check(context.Background())
}

// tencentEntries are the Tencent entries Describe shows for app.
func tencentEntries(t *testing.T, lists []allowlist.AppList, app string) []string {
	t.Helper()
	for _, l := range lists {
		if l.App != app {
			continue
		}
		var out []string
		for _, e := range l.Entries {
			if e.Source == allowlist.SourceTencent {
				out = append(out, e.Prefix.String())
			}
		}
		return out
	}
	t.Fatalf("Describe has no app %s", app)
	return nil
}

func TestAllowedFollowsTheList(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	lister := newLister(map[int][]string{
		5: {"203.0.113.7", "198.51.100.0/25"},
		6: {"2001:db8::1"},
	})
	h := newSet(t, allowlist.Options{
		Global: prefixes(t, "192.0.2.0/24"),
		Apps:   []allowlist.App{{ID: appA, CIDRs: prefixes(t, "10.1.0.0/16"), IPList: true, Client: lister}},
		Dir:    dir,
		Now:    clk.Now,
	})

	// No file, no fetch yet: closed, even to Global and the app's CIDRs.
	wantAllowed(t, h.Set, appA, map[string]bool{"192.0.2.1": false, "10.1.2.3": false, "203.0.113.7": false})
	if err := checkErr(h.Set); err == nil || !strings.Contains(err.Error(), appA) {
		t.Errorf("Check before any list = %v, want an error naming %s", err, appA)
	}
	wantMetrics(t, h.reg, appA, 0, time.Time{}, 0)

	// 1. The list: its union with Global and the app's CIDRs applies.
	if err := refresh(t, h.Set); err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	if got := lister.takeCalls(); !slices.Equal(got, []int{5, 6}) {
		t.Errorf("nettypes asked = %v, want one call each of [5 6]", got)
	}
	first := clk.Now()
	wantAllowed(t, h.Set, appA, map[string]bool{
		"203.0.113.7":        true,
		"::ffff:203.0.113.7": true,
		"203.0.113.8":        false,
		"198.51.100.127":     true,
		"198.51.100.128":     false,
		"2001:db8::1":        true,
		"2001:db8::2":        false,
		"192.0.2.1":          true, // global
		"10.1.2.3":           true, // the app's own
		"10.2.0.1":           false,
	})
	if err := checkErr(h.Set); err != nil {
		t.Errorf("Check with a list = %v", err)
	}
	wantMetrics(t, h.reg, appA, 3, first, 0)
	wantFile(t, dir, appA, first, []string{"198.51.100.0/25", "203.0.113.7", "2001:db8::1"})
	if e := findLog(h.logs, "iplist: refreshed", appA); e == nil || e.ContextMap()["entries"] != int64(3) {
		t.Errorf("no info log with typed app and entries=3 fields: %v", e)
	}

	// 2. A failed refresh keeps the last good list, file included.
	clk.Advance(time.Hour)
	lister.fail(map[int]error{6: errors.New("boom")})
	err := refresh(t, h.Set)
	if err == nil || !strings.Contains(err.Error(), appA) || !strings.Contains(err.Error(), "nettype 6") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("RefreshNow with nettype 6 failing = %v, want an error naming the app, the nettype and the cause", err)
	}
	wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.7": true, "198.51.100.1": true, "2001:db8::1": true, "203.0.113.8": false})
	if err := checkErr(h.Set); err != nil {
		t.Errorf("Check after a failure with a last good list = %v", err)
	}
	wantMetrics(t, h.reg, appA, 3, first, 1)
	wantFile(t, dir, appA, first, []string{"198.51.100.0/25", "203.0.113.7", "2001:db8::1"})
	if l := h.Describe()[0]; !strings.Contains(l.Error, "boom") || !l.FetchedAt.Equal(first) || l.Age != time.Hour {
		t.Errorf("Describe after a failure = %+v, want the error, the first fetch time and an age of 1h", l)
	}
	if e := findLog(h.logs, "iplist: refresh failed; keeping the last good list", appA); e == nil || e.ContextMap()["error"] == nil {
		t.Errorf("no warning with typed app and error fields: %v", e)
	}

	// 3. A changed list replaces the old one.
	clk.Advance(time.Hour)
	lister.serve(map[int][]string{5: {"203.0.113.8"}, 6: {"2001:db8::2"}})
	if err := refresh(t, h.Set); err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	wantAllowed(t, h.Set, appA, map[string]bool{
		"203.0.113.7": false, "198.51.100.1": false, "2001:db8::1": false,
		"203.0.113.8": true, "2001:db8::2": true, "192.0.2.1": true, "10.1.2.3": true,
	})
	wantMetrics(t, h.reg, appA, 2, clk.Now(), 1)
	wantFile(t, dir, appA, clk.Now(), []string{"203.0.113.8", "2001:db8::2"})
	if l := h.Describe()[0]; l.Error != "" {
		t.Errorf("Describe after a success still has the error %q", l.Error)
	}
}

// findLog is the last entry with msg whose app field is app.
func findLog(logs *observer.ObservedLogs, msg, app string) *observer.LoggedEntry {
	var found *observer.LoggedEntry
	for _, e := range logs.FilterMessage(msg).All() {
		if e.ContextMap()["app"] == app {
			found = &e
		}
	}
	return found
}

// wantFile checks the app's list file: exactly app, fetched_at, nettypes
// (the default ones), entries, and no temporary file beside it.
func wantFile(t *testing.T, dir, app string, fetchedAt time.Time, entries []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "iplist", app+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4 {
		t.Errorf("file has keys %v, want app, fetched_at, nettypes, entries", slices.Sorted(func(yield func(string) bool) {
			for k := range raw {
				if !yield(k) {
					return
				}
			}
		}))
	}
	var f struct {
		App       string   `json:"app"`
		FetchedAt string   `json:"fetched_at"`
		NetTypes  []int    `json:"nettypes"`
		Entries   []string `json:"entries"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.App != app || f.FetchedAt != fetchedAt.UTC().Format(time.RFC3339) || !slices.Equal(f.NetTypes, allowlist.DefaultNetTypes) ||
		!slices.Equal(f.Entries, entries) {
		t.Errorf("file = %+v, want app %s, fetched_at %s, nettypes %v, entries %v", f, app, fetchedAt.UTC().Format(time.RFC3339),
			allowlist.DefaultNetTypes, entries)
	}
	names, err := os.ReadDir(filepath.Join(dir, "iplist"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", n.Name())
		}
	}
}

func TestRestartAllowsFromTheFile(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	o := allowlist.Options{
		Apps: []allowlist.App{{ID: appA, IPList: true, Client: newLister(map[int][]string{5: {"203.0.113.7"}, 6: {"198.51.100.0/24"}})}},
		Dir:  dir,
		Now:  clk.Now,
	}
	first := newSet(t, o)
	if err := refresh(t, first.Set); err != nil {
		t.Fatal(err)
	}
	fetched := clk.Now()
	clk.Advance(90 * time.Minute)

	// The restart: Tencent is unreachable now.
	down := newLister(nil)
	down.fail(map[int]error{5: errors.New("unreachable"), 6: errors.New("unreachable")})
	o.Apps[0].Client = down
	h := newSet(t, o)
	want := map[string]bool{"203.0.113.7": true, "198.51.100.9": true, "203.0.113.8": false}
	wantAllowed(t, h.Set, appA, want) // before any fetch
	if err := checkErr(h.Set); err != nil {
		t.Errorf("Check with a saved list = %v", err)
	}
	wantMetrics(t, h.reg, appA, 2, fetched, 0)
	if l := h.Describe()[0]; !l.FetchedAt.Equal(fetched) || l.Age != 90*time.Minute || l.Closed || l.Open {
		t.Errorf("Describe after restart = %+v, want the saved fetch time and an age of 90m", l)
	}
	if e := findLog(h.logs, "iplist: loaded the saved list", appA); e == nil || e.ContextMap()["entries"] != int64(2) {
		t.Errorf("no log of the loaded list: %v", e)
	}

	// Start's failing first fetch and a failing refresh keep it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := refresh(t, h.Set); err == nil {
		t.Error("RefreshNow against an unreachable Tencent succeeded")
	}
	wantAllowed(t, h.Set, appA, want)
	wantMetrics(t, h.reg, appA, 2, fetched, 2)
}

// TestSavedListOfOtherNetTypes: the saved list is the union of the
// nettypes it was fetched for. After iplist_nettypes changes, a restart
// while Tencent is unreachable must not apply the old union (here the
// overseas addresses of nettype 6 the app no longer accepts): the app
// waits for a fetch, closed, and its Check says why. The same nettypes in
// another order, or a file written before nettypes were saved, are used.
func TestSavedListOfOtherNetTypes(t *testing.T) {
	dir := t.TempDir()
	lister := newLister(map[int][]string{5: {"203.0.113.7"}, 6: {"198.51.100.7"}})
	o := allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, NetTypes: []int{6, 5}, Client: lister}}, Dir: dir}
	if err := refresh(t, newSet(t, o).Set); err != nil {
		t.Fatal(err)
	}
	down := newLister(nil)
	down.fail(map[int]error{5: errors.New("unreachable"), 6: errors.New("unreachable")})

	o.Apps[0].NetTypes, o.Apps[0].Client = []int{5, 6}, down
	wantAllowed(t, newSet(t, o).Set, appA, map[string]bool{"203.0.113.7": true, "198.51.100.7": true})

	o.Apps[0].NetTypes = []int{5}
	h := newSet(t, o)
	wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.7": false, "198.51.100.7": false})
	if err := checkErr(h.Set); err == nil || !strings.Contains(err.Error(), "nettypes [5 6], not of the configured [5]") {
		t.Errorf("Check = %v, want an error naming the saved and the configured nettypes", err)
	}
	lists, err := allowlist.Describe(o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !lists[0].Closed || !strings.Contains(lists[0].Error, "nettypes") {
		t.Errorf("Describe = %+v, want the app closed with the nettypes error", lists[0])
	}

	// A file of an earlier version, without nettypes, is taken as the list of the configured ones.
	if err := os.WriteFile(filepath.Join(dir, "iplist", appA+".json"),
		[]byte(`{"app":"1400000001","fetched_at":"2024-01-01T00:00:00Z","entries":["203.0.113.7"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	wantAllowed(t, newSet(t, o).Set, appA, map[string]bool{"203.0.113.7": true})
}

// TestReadinessWhenNoAppCanAccept: the readiness check fails only while
// every configured app is an IPList app without a list, naming them.
func TestReadinessWhenNoAppCanAccept(t *testing.T) {
	down := func() allowlist.IPLister {
		l := newLister(nil)
		l.fail(map[int]error{5: errors.New("connection refused"), 6: errors.New("connection refused")})
		return l
	}
	up := func() allowlist.IPLister { return newLister(map[int][]string{5: {"203.0.113.7"}, 6: {"203.0.113.9"}}) }
	tests := []struct {
		name  string
		apps  []allowlist.App
		ready bool
	}{
		{"one app without a list", []allowlist.App{{ID: appA, IPList: true, Client: down()}}, false},
		{"two apps without a list", []allowlist.App{{ID: appA, IPList: true, Client: down()}, {ID: appB, IPList: true, Client: down()}}, false},
		{"one of two with a list", []allowlist.App{{ID: appA, IPList: true, Client: down()}, {ID: appB, IPList: true, Client: up()}}, true},
		{"one without IPList", []allowlist.App{{ID: appA, IPList: true, Client: down()}, {ID: appC}}, true},
		{"every app with a list", []allowlist.App{{ID: appA, IPList: true, Client: up()}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSet(t, allowlist.Options{Apps: tt.apps, Dir: t.TempDir(), Now: newClock().Now})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.Start(ctx); err != nil {
				t.Fatal(err)
			}
			c := h.Check()
			err := c.Check(context.Background())
			if (err == nil) != tt.ready {
				t.Fatalf("Check = %v, want ready %v", err, tt.ready)
			}
			if err != nil && !strings.Contains(err.Error(), appA) {
				t.Errorf("Check = %v, want it to name %s", err, appA)
			}
		})
	}
}

func TestFailClosedWithoutAList(t *testing.T) {
	down := newLister(nil)
	down.fail(map[int]error{5: errors.New("connection refused")})
	up := newLister(map[int][]string{5: {"203.0.113.7"}, 6: {"203.0.113.9"}})
	h := newSet(t, allowlist.Options{
		Global: prefixes(t, "192.0.2.0/24"),
		Apps: []allowlist.App{
			{ID: appA, CIDRs: prefixes(t, "10.1.0.0/16"), IPList: true, Client: down},
			{ID: appB, IPList: true, Client: up},
			{ID: appC},
		},
		Dir: t.TempDir(),
		Now: newClock().Now,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start returned the fetch failure: %v", err)
	}
	// Every address refused: Global's, the app's own, Tencent's of another app.
	wantAllowed(t, h.Set, appA, map[string]bool{
		"192.0.2.1": false, "10.1.2.3": false, "203.0.113.7": false, "2001:db8::1": false, "0.0.0.0": false,
	})
	if got := h.Allowed(appA, netip.Addr{}); got {
		t.Error("Allowed(invalid address) = true")
	}
	wantAllowed(t, h.Set, appB, map[string]bool{"203.0.113.7": true, "203.0.113.9": true, "192.0.2.1": true, "10.1.2.3": false})
	wantAllowed(t, h.Set, appC, map[string]bool{"192.0.2.1": true, "203.0.113.7": false})

	err := checkErr(h.Set)
	if err == nil || !strings.Contains(err.Error(), appA) || strings.Contains(err.Error(), appB) || strings.Contains(err.Error(), appC) {
		t.Errorf("Check = %v, want an error naming %s only", err, appA)
	}
	if c := h.AppsCheck(); c.Name != "iplist_apps" || c.DecidesReadiness(false) {
		t.Errorf("AppsCheck is %q, deciding readiness: %v; want iplist_apps, not deciding", c.Name, c.DecidesReadiness(false))
	}
	// Another app accepts callbacks: the replica stays ready, or it would refuse them too.
	if c := h.Check(); c.Name != "iplist" || !c.DecidesReadiness(true) || c.Check(context.Background()) != nil {
		t.Errorf("Check %q (deciding readiness: %v) = %v, want iplist, deciding readiness, passing while %s and %s accept callbacks",
			c.Name, c.DecidesReadiness(true), c.Check(context.Background()), appB, appC)
	}
	wantMetrics(t, h.reg, appA, 0, time.Time{}, 1)
	if _, ok := metric(t, h.reg, "imcallback_iplist_entries", appC); ok {
		t.Error("an app without IPList has an iplist metric")
	}
	if e := findLog(h.logs, "iplist: refresh failed; the app has no list and refuses every callback", appA); e == nil ||
		!strings.Contains(fmt.Sprint(e.ContextMap()["error"]), "connection refused") {
		t.Errorf("no warning with typed app and error fields: %v", e)
	}
	for _, l := range h.Describe() {
		if l.Closed != (l.App == appA) {
			t.Errorf("Describe: app %s Closed = %v", l.App, l.Closed)
		}
	}

	// Once a fetch succeeds, the app opens to its list and Check passes.
	down.serve(map[int][]string{5: {"203.0.113.20"}, 6: {"203.0.113.21"}})
	if err := refresh(t, h.Set); err != nil {
		t.Fatal(err)
	}
	wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.20": true, "192.0.2.1": true, "10.1.2.3": true, "203.0.113.7": false})
	if err := checkErr(h.Set); err != nil {
		t.Errorf("Check after a success = %v", err)
	}
}

func TestWithoutIPList(t *testing.T) {
	tests := []struct {
		name   string
		global []string
		cidrs  []string
		app    string // asked for; appA is configured
		want   map[string]bool
	}{
		{"nothing configured accepts every source", nil, nil, appA,
			map[string]bool{"203.0.113.7": true, "2001:db8::1": true, "127.0.0.1": true}},
		{"global only", []string{"192.0.2.0/24", "2001:db8::/32"}, nil, appA,
			map[string]bool{"192.0.2.200": true, "2001:db8::1": true, "::ffff:192.0.2.1": true, "203.0.113.7": false}},
		{"the app's CIDRs only restrict too", nil, []string{"10.0.0.0/8"}, appA,
			map[string]bool{"10.9.9.9": true, "192.0.2.1": false}},
		{"global and the app's CIDRs are a union", []string{"192.0.2.0/24"}, []string{"10.0.0.0/8", "203.0.113.7/32"}, appA,
			map[string]bool{"10.9.9.9": true, "192.0.2.1": true, "203.0.113.7": true, "203.0.113.8": false}},
		{"an unknown app gets global only", []string{"192.0.2.0/24"}, []string{"10.0.0.0/8"}, "1400009999",
			map[string]bool{"192.0.2.1": true, "10.9.9.9": false}},
		{"an unknown app without global accepts every source", nil, []string{"10.0.0.0/8"}, "1400009999",
			map[string]bool{"203.0.113.7": true}},
		// A link-local peer's address carries its interface's zone, which
		// no prefix contains; entries have none (the configuration refuses it).
		{"a zoned address is its address", []string{"fe80::/10"}, []string{"fe80::5/128"}, appA,
			map[string]bool{"fe80::1%eth0": true, "fe80::5%eth1": true, "2001:db8::1%eth0": false}},
		{"a zoned address is its address, for an unknown app too", []string{"fe80::5/128"}, nil, "1400009999",
			map[string]bool{"fe80::5%eth0": true, "fe80::6%eth0": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSet(t, allowlist.Options{
				Global: prefixes(t, tt.global...),
				Apps:   []allowlist.App{{ID: appA, CIDRs: prefixes(t, tt.cidrs...)}},
			})
			wantAllowed(t, h.Set, tt.app, tt.want)
			if err := checkErr(h.Set); err != nil {
				t.Errorf("Check = %v", err)
			}
			if err := refresh(t, h.Set); err != nil {
				t.Errorf("RefreshNow without IPList apps = %v", err)
			}
			l := h.Describe()[0]
			if l.Open != (len(tt.global)+len(tt.cidrs) == 0) || l.Closed || l.IPList {
				t.Errorf("Describe = %+v", l)
			}
		})
	}
}

func TestParsesMixedEntries(t *testing.T) {
	tests := []struct {
		name    string
		raw     []string
		entries []string // the Tencent entries Describe shows
		skipped int
		want    map[string]bool
	}{
		{
			name:    "addresses and CIDRs, IPv4 and IPv6",
			raw:     []string{"127.0.0.2", "183.192.202.0/25", "2001:db8::7", "2001:db8:1::/48"},
			entries: []string{"127.0.0.2/32", "183.192.202.0/25", "2001:db8::7/128", "2001:db8:1::/48"},
			want: map[string]bool{"127.0.0.2": true, "127.0.0.3": false, "183.192.202.127": true, "183.192.202.128": false,
				"2001:db8::7": true, "2001:db8::8": false, "2001:db8:1:ffff::1": true, "2001:db8:2::1": false},
		},
		{
			name:    "unmasked CIDRs, mapped addresses, spaces and repeats are normalised",
			raw:     []string{"198.51.100.77/25", "::ffff:203.0.113.9", " 203.0.113.10 ", "203.0.113.9", "::ffff:192.0.2.0/120"},
			entries: []string{"192.0.2.0/24", "198.51.100.0/25", "203.0.113.9/32", "203.0.113.10/32"},
			want:    map[string]bool{"198.51.100.1": true, "203.0.113.9": true, "::ffff:203.0.113.9": true, "203.0.113.10": true, "192.0.2.9": true},
		},
		{
			name:    "unusable entries are skipped and counted",
			raw:     []string{"203.0.113.7", "nope", "", "1.2.3.4/33", "300.1.1.1", "fe80::1%eth0", "0.0.0.0/0", "::/0", "10.0.0.0/7", "2001::/15"},
			entries: []string{"203.0.113.7/32"},
			skipped: 9,
			want:    map[string]bool{"203.0.113.7": true, "10.0.0.1": false, "1.2.3.4": false, "8.8.8.8": false, "2001:db8::1": false},
		},
		{
			// ::ffff:192.0.2.0/80 masks to ::/80, which holds no IPv4
			// address but ::1 and the IPv4-compatible ::a.b.c.d: as a
			// configured network (config.ParsePrefixes), it is refused.
			name:    "IPv4-mapped networks shorter than /96 are skipped",
			raw:     []string{"203.0.113.7", "::ffff:192.0.2.0/80", "::ffff:0:0/95", "::ffff:198.51.100.0/120"},
			entries: []string{"198.51.100.0/24", "203.0.113.7/32"},
			skipped: 2,
			want:    map[string]bool{"203.0.113.7": true, "198.51.100.9": true, "::1": false, "::192.0.2.1": false, "192.0.2.1": false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			h := newSet(t, allowlist.Options{
				Apps: []allowlist.App{{ID: appA, IPList: true, NetTypes: []int{imrest.NetTypeCallbackChina},
					Client: newLister(map[int][]string{5: tt.raw})}},
				Dir: t.TempDir(),
				Now: clk.Now,
			})
			if err := refresh(t, h.Set); err != nil {
				t.Fatalf("RefreshNow: %v", err)
			}
			if got := tencentEntries(t, h.Describe(), appA); !slices.Equal(got, tt.entries) {
				t.Errorf("entries = %v, want %v", got, tt.entries)
			}
			wantAllowed(t, h.Set, appA, tt.want)
			wantMetrics(t, h.reg, appA, len(tt.entries), clk.Now(), 0)
			e := findLog(h.logs, "iplist: skipped unusable entries", appA)
			switch {
			case tt.skipped == 0 && e != nil:
				t.Errorf("unexpected warning: %v", e.ContextMap())
			case tt.skipped > 0 && (e == nil || e.ContextMap()["skipped"] != int64(tt.skipped)):
				t.Errorf("want a warning counting %d skipped entries, got %v", tt.skipped, e)
			}
		})
	}
}

func TestUnusableAnswerIsAFailure(t *testing.T) {
	tests := []struct {
		name   string
		answer map[int][]string
	}{
		{"no entries at all", map[int][]string{5: nil, 6: nil}},
		{"empty lists", map[int][]string{5: {}, 6: {}}},
		{"all garbage", map[int][]string{5: {"garbage", "1.2.3"}, 6: {"::zz"}}},
		{"only networks too broad", map[int][]string{5: {"0.0.0.0/0"}, 6: {"::/0"}}},
		{"one nettype empty", map[int][]string{5: {"203.0.113.8"}, 6: {}}},
		{"one nettype all garbage", map[int][]string{5: {"not an address"}, 6: {"2001:db8::2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refreshFailsAfterAGoodList(t, tt.answer, "no usable address", "203.0.113.8", "2001:db8::2")
		})
	}
}

// goodList is a usable Tencent answer, of one address per nettype.
var goodList = map[int][]string{5: {"203.0.113.7"}, 6: {"2001:db8::1"}}

// refreshFailsAfterAGoodList applies goodList to app A, then answer
// an hour later: that refresh must fail saying want, and the good list
// stay in force (notAllowed refused) and on disk as it was, the failure
// counted.
func refreshFailsAfterAGoodList(t *testing.T, answer map[int][]string, want string, notAllowed ...string) {
	t.Helper()
	dir, clk := t.TempDir(), newClock()
	lister := newLister(goodList)
	h := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: lister}}, Dir: dir, Now: clk.Now})
	if err := refresh(t, h.Set); err != nil {
		t.Fatal(err)
	}
	fetched := clk.Now()
	before, err := os.ReadFile(filepath.Join(dir, "iplist", appA+".json"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	lister.serve(answer)
	if err := refresh(t, h.Set); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("RefreshNow = %v, want a failure saying %q", err, want)
	}
	allowed := map[string]bool{"203.0.113.7": true, "2001:db8::1": true}
	for _, ip := range notAllowed {
		allowed[ip] = false
	}
	wantAllowed(t, h.Set, appA, allowed)
	wantMetrics(t, h.reg, appA, 2, fetched, 1)
	after, err := os.ReadFile(filepath.Join(dir, "iplist", appA+".json"))
	if err != nil || string(after) != string(before) {
		t.Errorf("the file changed on a failed refresh: %s (%v)", after, err)
	}
}

// hosts returns n distinct /32 networks from 10.0.0.0 on, as a Tencent
// list writes them: more networks than any real list holds.
func hosts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.%d.%d.%d/32", i>>16&0xff, i>>8&0xff, i&0xff)
	}
	return out
}

// TestAnOversizedAnswerIsAFailure: a list of more entries than any real
// one (Tencent's holds tens) is refused before it is parsed or applied,
// the last good list kept: every entry costs time at each refresh and
// start, and networks are compared one by one on every request.
func TestAnOversizedAnswerIsAFailure(t *testing.T) {
	tests := []struct {
		name   string
		answer map[int][]string
	}{
		{"one nettype over the bound", map[int][]string{5: hosts(allowlist.MaxEntries + 1), 6: {"2001:db8::2"}}},
		{"the union over the bound", map[int][]string{5: hosts(allowlist.MaxEntries + 1)[:allowlist.MaxEntries/2+1],
			6: hosts(allowlist.MaxEntries + 1)[allowlist.MaxEntries/2+1:]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refreshFailsAfterAGoodList(t, tt.answer, "more than", "10.0.0.1", "2001:db8::2")
		})
	}
	t.Run("a list at the bound applies", func(t *testing.T) {
		h := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, NetTypes: []int{5},
			Client: newLister(map[int][]string{5: hosts(allowlist.MaxEntries)})}}, Dir: t.TempDir()})
		if err := refresh(t, h.Set); err != nil {
			t.Fatal(err)
		}
		wantAllowed(t, h.Set, appA, map[string]bool{"10.0.0.1": true, "10.0.0.0": true, "203.0.113.7": false})
	})
}

func TestNetTypes(t *testing.T) {
	tests := []struct {
		name     string
		netTypes []int
		want     []int
	}{
		{"default", nil, []int{5, 6}},
		{"one", []int{6}, []int{6}},
		{"repeats asked once", []int{5, 5, 6, 4}, []int{5, 6, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lister := newLister(map[int][]string{4: {"192.0.2.1"}, 5: {"203.0.113.5"}, 6: {"203.0.113.6"}})
			h := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, NetTypes: tt.netTypes, Client: lister}}, Dir: t.TempDir()})
			if err := refresh(t, h.Set); err != nil {
				t.Fatal(err)
			}
			if got := lister.takeCalls(); !slices.Equal(got, tt.want) {
				t.Errorf("nettypes asked = %v, want %v", got, tt.want)
			}
			for nt, addr := range map[int]string{4: "192.0.2.1", 5: "203.0.113.5", 6: "203.0.113.6"} {
				if got, want := h.Allowed(appA, netip.MustParseAddr(addr)), slices.Contains(tt.want, nt); got != want {
					t.Errorf("Allowed(%s) of nettype %d = %v, want %v", addr, nt, got, want)
				}
			}
		})
	}
}

// TestRealClient runs the refresh through *imrest.Client against a fake
// Tencent endpoint that checks the exact request.
func TestRealClient(t *testing.T) {
	const (
		secret = "the-secret-key-0123456789abcdef"
		admin  = "admin-ops"
	)
	var (
		mu       sync.Mutex
		netTypes []int
		fail     bool
		lastSig  string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		body, _ := io.ReadAll(r.Body)
		var problems []string
		if r.Method != http.MethodPost || r.URL.Path != "/v4/ConfigSvc/GetIPList" {
			problems = append(problems, fmt.Sprintf("%s %s, want POST /v4/ConfigSvc/GetIPList", r.Method, r.URL.Path))
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range q {
				if !yield(k) {
					return
				}
			}
		})
		if want := []string{"contenttype", "identifier", "nettype", "random", "sdkappid", "usersig"}; !slices.Equal(keys, want) {
			problems = append(problems, fmt.Sprintf("query keys %v, want %v", keys, want))
		}
		if q.Get("sdkappid") != appA || q.Get("identifier") != admin || q.Get("contenttype") != "json" {
			problems = append(problems, fmt.Sprintf("sdkappid %q identifier %q contenttype %q", q.Get("sdkappid"), q.Get("identifier"), q.Get("contenttype")))
		}
		if _, err := strconv.ParseUint(q.Get("random"), 10, 32); err != nil {
			problems = append(problems, fmt.Sprintf("random %q is not a 32-bit number", q.Get("random")))
		}
		id, _ := strconv.ParseUint(appA, 10, 64)
		if err := imrest.VerifyUserSig(id, secret, admin, q.Get("usersig"), time.Now()); err != nil {
			problems = append(problems, fmt.Sprintf("usersig: %v", err))
		}
		if string(body) != "{}" {
			problems = append(problems, fmt.Sprintf("body %q, want {}", body))
		}
		nt, err := strconv.Atoi(q.Get("nettype"))
		if err != nil {
			problems = append(problems, fmt.Sprintf("nettype %q", q.Get("nettype")))
		}
		mu.Lock()
		netTypes = append(netTypes, nt)
		lastSig = q.Get("usersig")
		failing := fail
		mu.Unlock()
		for _, p := range problems {
			t.Errorf("request: %s", p)
		}
		w.Header().Set("Content-Type", "application/json")
		if failing {
			// An answer that echoes the request, secret included.
			fmt.Fprintf(w, `{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":%q}`, "bad request "+r.URL.String()+" key "+secret)
			return
		}
		lists := map[int]string{
			imrest.NetTypeCallbackChina:    `["127.0.0.2","183.192.202.0/25"]`,
			imrest.NetTypeCallbackOverseas: `["2001:db8::5","43.132.0.0/24"]`,
		}
		fmt.Fprintf(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","IPList":%s}`, lists[nt])
	}))
	defer srv.Close()

	client, err := imrest.New(imrest.Config{
		SdkAppID: appA, SecretKey: imrest.Secret(secret), AdminIdentifier: admin,
		BaseURL: srv.URL, HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: client}}, Dir: t.TempDir()})
	if err := refresh(t, h.Set); err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	mu.Lock()
	if got := slices.Sorted(slices.Values(netTypes)); !slices.Equal(got, []int{5, 6}) {
		t.Errorf("nettypes asked = %v, want 5 and 6 once each", got)
	}
	fail = true
	mu.Unlock()
	wantAllowed(t, h.Set, appA, map[string]bool{
		"127.0.0.2": true, "183.192.202.100": true, "2001:db8::5": true, "43.132.0.9": true, "127.0.0.1": false,
	})

	err = refresh(t, h.Set)
	var apiErr *imrest.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 70001 {
		t.Fatalf("RefreshNow against a failing endpoint = %v, want the APIError", err)
	}
	wantAllowed(t, h.Set, appA, map[string]bool{"127.0.0.2": true})

	// Neither the secret key nor the UserSig shows anywhere.
	mu.Lock()
	sig := lastSig
	mu.Unlock()
	var shown strings.Builder
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range h.logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		shown.Write(buf.Bytes())
	}
	fmt.Fprint(&shown, err, checkErr(h.Set))
	desc, _ := json.Marshal(h.Describe())
	shown.Write(desc)
	for what, s := range map[string]string{"secret key": secret, "usersig": sig, "escaped usersig": url.QueryEscape(sig)} {
		if s == "" || strings.Contains(shown.String(), s) {
			t.Errorf("the %s shows in the logs, errors or Describe", what)
		}
	}
	if !strings.Contains(shown.String(), "70001") {
		t.Errorf("the failure is not logged: %s", shown.String())
	}
}

func TestJitter(t *testing.T) {
	const d = time.Hour
	lo, hi := d-d/10, d+d/10
	for _, tt := range []struct {
		u    float64
		want time.Duration
	}{{0, lo}, {0.25, d - d/20}, {0.5, d}, {0.75, d + d/20}} {
		if got := allowlist.Jitter(d, tt.u); got != tt.want {
			t.Errorf("Jitter(1h, %v) = %v, want %v", tt.u, got, tt.want)
		}
	}
	if got := allowlist.Jitter(d, 0.9999999999); got >= hi || got < d {
		t.Errorf("Jitter(1h, ~1) = %v, want just under %v", got, hi)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, base := range []time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour} {
		for range 10000 {
			got := allowlist.Jitter(base, r.Float64())
			if got < base-base/10 || got > base+base/10 {
				t.Fatalf("Jitter(%v) = %v, outside ±10%%", base, got)
			}
		}
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		refresh  time.Duration
		failures int
		want     time.Duration
	}{
		{time.Hour, 0, time.Hour},
		{time.Hour, 1, time.Minute},
		{time.Hour, 2, 2 * time.Minute},
		{time.Hour, 3, 4 * time.Minute},
		{time.Hour, 6, 32 * time.Minute},
		{time.Hour, 7, time.Hour},
		{time.Hour, 1000, time.Hour},
		{30 * time.Second, 1, 30 * time.Second},
		{30 * time.Second, 5, 30 * time.Second},
		{90 * time.Second, 2, 90 * time.Second},
		// A refresh interval longer than an hour does not space the
		// retries of a failing list further: an app without a list would
		// refuse every callback for hours after Tencent came back, and
		// ImcallbackAllowlistStale (errors within 3 hours) would go quiet
		// while the refresh kept failing.
		{24 * time.Hour, 0, 24 * time.Hour},
		{24 * time.Hour, 6, 32 * time.Minute},
		{24 * time.Hour, 7, time.Hour},
		{24 * time.Hour, 20, time.Hour},
		{168 * time.Hour, 1000, time.Hour},
	}
	for _, tt := range tests {
		if got := allowlist.RetryDelay(tt.refresh, tt.failures); got != tt.want {
			t.Errorf("RetryDelay(%v, %d) = %v, want %v", tt.refresh, tt.failures, got, tt.want)
		}
	}
}

// verifyNoLeak fails t if goroutines other than those ignore names are
// still running, asked again for up to leakwait.Wait: the refresh loops,
// and the goroutine with which Stop waits for them, end once scheduled
// after the Done or the close Stop returned on, which goleak's own
// retries (about 0.4 s) need not see on a loaded machine; a loop the
// stop left running keeps its goroutine for good.
func verifyNoLeak(t *testing.T, ignore goleak.Option) {
	t.Helper()
	if err := leakwait.Find(ignore); err != nil {
		t.Errorf("goroutines outlive the stop: %v", err)
	}
}

func TestStartStop(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	lister := newLister(map[int][]string{5: {"203.0.113.7"}, 6: {"203.0.113.8"}})
	core, _ := observer.New(zapcore.DebugLevel)
	s, err := allowlist.New(allowlist.Options{
		Apps: []allowlist.App{{ID: appA, IPList: true, Client: lister}, {ID: appB}},
		Dir:  t.TempDir(),
	}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	// Start returns after the first fetch.
	wantAllowed(t, s, appA, map[string]bool{"203.0.113.7": true, "203.0.113.8": true, "203.0.113.9": false})
	if err := s.Start(ctx); !errors.Is(err, allowlist.ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	verifyNoLeak(t, ignore)
	if err := s.Start(ctx); !errors.Is(err, allowlist.ErrStarted) {
		t.Errorf("Start after Stop = %v, want ErrStarted", err)
	}
	// A Set never started stops at once.
	idle, err := allowlist.New(allowlist.Options{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Stop(ctx); err != nil {
		t.Errorf("Stop of a Set never started: %v", err)
	}
}

// stuckLister ignores its context and answers only once released.
type stuckLister struct{ release chan struct{} }

func (l stuckLister) GetIPList(context.Context, int) ([]string, error) {
	<-l.release
	return []string{"203.0.113.7"}, nil
}

func TestStartIsBoundedByItsContext(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	lister := stuckLister{release: make(chan struct{})}
	s, err := allowlist.New(allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: lister}}, Dir: t.TempDir()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Start(ctx); err != nil { // returns although the fetch hangs
		t.Fatalf("Start: %v", err)
	}
	close(lister.release)
	stop, cancelStop := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelStop()
	if err := s.Stop(stop); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Stop waited for the first fetch, which succeeded once released.
	wantAllowed(t, s, appA, map[string]bool{"203.0.113.7": true})
	verifyNoLeak(t, ignore)
}

// TestStartLeavesTheRestOfItsDeadline: a first fetch that never ends is
// cut halfway to the deadline of Start's context, which Start returns
// before: an fx start fails when its context ends, whatever the hook
// returns, so a hung Tencent failed a start bounded under the fetch's 30 s
// although the app had its saved list. The cut fetch is a failed refresh.
func TestStartLeavesTheRestOfItsDeadline(t *testing.T) {
	lister := &blockingLister{entered: make(chan struct{}, 1)}
	lister.block.Store(true)
	dir, clk := t.TempDir(), newClock()
	seed := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: newLister(goodList)}}, Dir: dir, Now: clk.Now})
	if err := refresh(t, seed.Set); err != nil {
		t.Fatal(err)
	}
	h := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: lister}}, Dir: dir, Now: clk.Now})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // Start returns after 5 s
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("Start returned once its context had ended (%v): an fx start fails then", err)
	}
	wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.7": true, "2001:db8::1": true, "192.0.2.1": false})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		c := h.RefreshCheck()
		if err := c.Check(context.Background()); err != nil && strings.Contains(err.Error(), "deadline exceeded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cut first fetch is not a failed refresh")
		}
	}
	wantMetrics(t, h.reg, appA, 2, clk.Now(), 1)
}

func TestNewRejectsBadOptions(t *testing.T) {
	client := newLister(nil)
	tests := []struct {
		name string
		o    allowlist.Options
		want string
	}{
		{"IPList without a client", allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true}}, Dir: "d"}, "needs a Client"},
		{"IPList without a directory", allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: client}}}, "needs Dir"},
		{"an id that is not a number", allowlist.Options{Apps: []allowlist.App{{ID: "../etc"}}}, "decimal SdkAppid"},
		{"an empty id", allowlist.Options{Apps: []allowlist.App{{}}}, "decimal SdkAppid"},
		{"an app twice", allowlist.Options{Apps: []allowlist.App{{ID: appA}, {ID: appA}}}, "listed twice"},
		// IMCALLBACK_IPLIST_REFRESH's rule (config.CheckIPListRefresh):
		// under a minute a library user's Set called GetIPList, one call per
		// nettype, as often as every second.
		{"a refresh under a second", allowlist.Options{Refresh: time.Millisecond}, "Refresh 1ms must be from 1m to 168h0m0s"},
		{"a refresh under a minute", allowlist.Options{Refresh: 59 * time.Second}, "Refresh 59s must be from 1m to 168h0m0s"},
		{"a negative refresh", allowlist.Options{Refresh: -time.Hour}, "must be from 1m to 168h0m0s"},
		// Centuries overflowed the ±10 % spread of the wait into a
		// negative one: the list was fetched again at once, over and over.
		{"a refresh of centuries", allowlist.Options{Refresh: math.MaxInt64}, "must be from 1m to 168h0m0s"},
		{"an invalid global prefix", allowlist.Options{Global: []netip.Prefix{{}}}, "Global"},
		{"an invalid app prefix", allowlist.Options{Apps: []allowlist.App{{ID: appA, CIDRs: []netip.Prefix{{}}}}}, "CIDRs"},
		{"a negative nettype", allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: client, NetTypes: []int{-1}}}, Dir: "d"},
			"nettype -1 must be a positive nettype"},
		// iplist_nettypes' rule (config.CheckIPListNetType): nettype 0 is
		// every server address of IM, its SDK access points too, not the
		// callback egress, and those sources were all accepted.
		{"nettype 0", allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: client, NetTypes: []int{5, 0}}}, Dir: "d"},
			"app " + appA + ": nettype 0 must be a positive nettype, e.g. 5 or 6"},
		// What config.ParsePrefixes refuses in IMCALLBACK_ALLOW_CIDRS and
		// allow_cidrs, New refuses from a library user too: a /0 written
		// with an address admitted every source, a wide network written
		// with bits past its length half of them, a mapped network
		// shorter than /96 none of the IPv4 sources it names.
		{"a global /0 written with an address", allowlist.Options{Global: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/0")}}, "Global: \"10.0.0.0/0\" is /0"},
		{"an app's wide network with bits past its length", allowlist.Options{Apps: []allowlist.App{{ID: appA,
			CIDRs: []netip.Prefix{netip.MustParsePrefix("99.0.0.0/1")}}}}, "CIDRs: \"99.0.0.0/1\" keeps only its first 1 bits"},
		{"an IPv6 /0 written with an address", allowlist.Options{Apps: []allowlist.App{{ID: appA,
			CIDRs: []netip.Prefix{netip.MustParsePrefix("2001:db8::/0")}}}}, "is /0"},
		{"a mapped network shorter than /96", allowlist.Options{Global: []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/80")}}, "at least /96"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := allowlist.New(tt.o, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error with %q", err, tt.want)
			}
		})
	}
	t.Run("metrics registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		if _, err := allowlist.New(allowlist.Options{}, nil, reg); err != nil {
			t.Fatal(err)
		}
		if _, err := allowlist.New(allowlist.Options{}, nil, reg); err == nil {
			t.Error("a second Set on the same registry registered its metrics")
		}
	})
}

func TestDescribe(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	o := allowlist.Options{
		Global: prefixes(t, "192.0.2.0/24"),
		Apps: []allowlist.App{
			{ID: appA, CIDRs: prefixes(t, "10.0.0.0/8"), IPList: true, Client: newLister(map[int][]string{5: {"203.0.113.7"}, 6: {"2001:db8::1"}})},
			{ID: appB, IPList: true, Client: newLister(nil)},
			{ID: appC, CIDRs: prefixes(t, "198.51.100.0/24")},
		},
		Dir: dir,
		Now: clk.Now,
	}
	h := newSet(t, o)
	if err := refresh(t, h.Set); err == nil {
		t.Fatal("appB's empty answer refreshed")
	}
	fetched := clk.Now()
	clk.Advance(10 * time.Minute)

	want := []allowlist.AppList{
		{App: appA, IPList: true, FetchedAt: fetched, Age: 10 * time.Minute, Entries: []allowlist.Entry{
			{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Source: allowlist.SourceGlobal},
			{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: allowlist.SourceApp},
			{Prefix: netip.MustParsePrefix("203.0.113.7/32"), Source: allowlist.SourceTencent, FetchedAt: fetched},
			{Prefix: netip.MustParsePrefix("2001:db8::1/128"), Source: allowlist.SourceTencent, FetchedAt: fetched},
		}},
		{App: appB, IPList: true, Closed: true, Entries: []allowlist.Entry{
			{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Source: allowlist.SourceGlobal},
		}},
		{App: appC, Entries: []allowlist.Entry{
			{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Source: allowlist.SourceGlobal},
			{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Source: allowlist.SourceApp},
		}},
	}
	got := h.Describe()
	if len(got) == 3 && !strings.Contains(got[1].Error, "no usable address") {
		t.Errorf("appB's Error = %q, want the failed refresh", got[1].Error)
	}
	if len(got) == 3 {
		got[1].Error = ""
	}
	equalLists(t, "Set.Describe", got, want)

	// The CLI's: from the configuration and the files alone, no clients.
	for i := range o.Apps {
		o.Apps[i].Client = nil
	}
	static, err := allowlist.Describe(o, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	equalLists(t, "Describe", static, want)

	// Open, and a list file that cannot be used.
	if err := os.WriteFile(filepath.Join(dir, "iplist", appB+".json"), []byte(`{"app":"1400000001","fetched_at":"2030-01-01T00:00:00Z","entries":["203.0.113.1"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	static, err = allowlist.Describe(allowlist.Options{Apps: []allowlist.App{{ID: appB, IPList: true}, {ID: appC}}, Dir: dir}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if l := static[0]; !l.Closed || !strings.Contains(l.Error, "not "+appB) {
		t.Errorf("Describe with another app's file = %+v, want Closed and the problem", l)
	}
	if l := static[1]; !l.Open || len(l.Entries) != 0 {
		t.Errorf("Describe of an app without any list = %+v, want Open", l)
	}
	if _, err := allowlist.Describe(allowlist.Options{Apps: []allowlist.App{{ID: "x"}}}, clk.Now()); err == nil {
		t.Error("Describe accepted an invalid app id")
	}
}

func equalLists(t *testing.T, what string, got, want []allowlist.AppList) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s =\n%s\nwant\n%s", what, g, w)
	}
	for i := range min(len(got), len(want)) {
		if got[i].Age != want[i].Age {
			t.Errorf("%s: app %s Age = %v, want %v", what, got[i].App, got[i].Age, want[i].Age)
		}
	}
}

func TestUnusableFiles(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"not JSON", `{"app":`, "not a list file"},
		{"another app's", `{"app":"1400000002","fetched_at":"2030-01-01T00:00:00Z","entries":["203.0.113.1"]}`, "not " + appA},
		{"a bad time", `{"app":"1400000001","fetched_at":"yesterday","entries":["203.0.113.1"]}`, "fetched_at"},
		{"no usable entry", `{"app":"1400000001","fetched_at":"2030-01-01T00:00:00Z","entries":["garbage"]}`, "no usable entry"},
		{"empty", `{"app":"1400000001","fetched_at":"2030-01-01T00:00:00Z","entries":[]}`, "no usable entry"},
		{"more entries than a list holds", `{"app":"1400000001","fetched_at":"2030-01-01T00:00:00Z","entries":["` +
			strings.Join(hosts(allowlist.MaxEntries+1), `","`) + `"]}`, "more than"},
		// Its age unknown: imcallback_iplist_last_success_timestamp_seconds
		// would be negative or ahead of time(), and ImcallbackAllowlistStale
		// would never fire while its refresh fails.
		{"a time before 1970", `{"app":"1400000001","fetched_at":"0001-01-01T00:00:00Z","entries":["203.0.113.1"]}`, "fetched_at"},
		{"a time in the future", `{"app":"1400000001","fetched_at":"2031-01-01T00:00:00Z","entries":["203.0.113.1"]}`, "in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "iplist"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "iplist", appA+".json"), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			h := newSet(t, allowlist.Options{Global: prefixes(t, "203.0.113.0/24"),
				Apps: []allowlist.App{{ID: appA, IPList: true, Client: newLister(nil)}}, Dir: dir, Now: newClock().Now})
			wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.1": false})
			if err := checkErr(h.Set); err == nil || !strings.Contains(err.Error(), appA) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want an error naming %s and %q", err, appA, tt.want)
			}
			if e := findLog(h.logs, "iplist: ignoring the saved list; the app refuses every callback until a fetch succeeds", appA); e == nil {
				t.Error("no warning about the file")
			}
		})
	}
	t.Run("a usable file with some garbage", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "iplist"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "iplist", appA+".json"),
			[]byte(`{"app":"1400000001","fetched_at":"2030-01-01T00:00:00.5+08:00","entries":["203.0.113.1","junk","2001:db8::/48"]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		h := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: newLister(nil)}}, Dir: dir, Now: newClock().Now})
		wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.1": true, "2001:db8::9": true, "203.0.113.2": false})
		wantMetrics(t, h.reg, appA, 2, time.Date(2029, 12, 31, 16, 0, 0, 0, time.UTC), 0)
		if e := findLog(h.logs, "iplist: skipped unusable entries of the saved list", appA); e == nil || e.ContextMap()["skipped"] != int64(1) {
			t.Errorf("want a warning counting 1 skipped entry, got %v", e)
		}
	})
}

// blockingLister answers until block is set, then blocks each call until
// its context ends, saying on entered that it did.
type blockingLister struct {
	block   atomic.Bool
	entered chan struct{}
}

func (l *blockingLister) GetIPList(ctx context.Context, _ int) ([]string, error) {
	if !l.block.Load() {
		return []string{"203.0.113.7"}, nil
	}
	select {
	case l.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestStopDuringARefreshIsNoFailure: Stop cuts a refresh in flight short;
// that is no failure of Tencent's list, so it is not counted in
// imcallback_iplist_refresh_errors_total, logged as a failed refresh, or
// kept as the app's problem.
func TestStopDuringARefreshIsNoFailure(t *testing.T) {
	defer allowlist.AllowShortRefresh()()
	lister := &blockingLister{entered: make(chan struct{}, 1)}
	core, logs := observer.New(zapcore.DebugLevel)
	reg := prometheus.NewRegistry()
	s, err := allowlist.New(allowlist.Options{
		Apps:    []allowlist.App{{ID: appA, IPList: true, Client: lister}},
		Dir:     t.TempDir(),
		Refresh: time.Second,
	}, zap.New(core), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	lister.block.Store(true)
	select {
	case <-lister.entered: // the first refresh after the start is in flight
	case <-ctx.Done():
		t.Fatal("no refresh after the first fetch")
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n, _ := metric(t, reg, "imcallback_iplist_refresh_errors_total", appA); n != 0 {
		t.Errorf("refresh_errors_total = %v after a stop, want 0", n)
	}
	if l := logs.FilterMessageSnippet("refresh failed"); l.Len() != 0 {
		t.Errorf("a stop logged %q", l.All()[0].Message)
	}
	for _, l := range s.Describe() {
		if l.Error != "" {
			t.Errorf("app %s has the problem %q after a stop", l.App, l.Error)
		}
	}
}

// TestStopDuringTheFirstFetch: a Stop while Start still waits for the
// first fetch (a library user stopping as it starts) cuts that fetch short
// as it does a later refresh; it went on, bound only by Start's context
// and the fetch's 30 s, so the Stop waited for it or gave up.
func TestStopDuringTheFirstFetch(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	lister := &blockingLister{entered: make(chan struct{}, 1)}
	lister.block.Store(true)
	reg := prometheus.NewRegistry()
	s, err := allowlist.New(allowlist.Options{
		Apps: []allowlist.App{{ID: appA, IPList: true, Client: lister}},
		Dir:  t.TempDir(),
	}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- s.Start(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-lister.entered: // the first fetch is in flight
	case <-ctx.Done():
		t.Fatal("no first fetch")
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop during the first fetch: %v", err)
	}
	select {
	case err := <-started:
		if err != nil {
			t.Errorf("Start: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Start did not return once stopped")
	}
	if n, _ := metric(t, reg, "imcallback_iplist_refresh_errors_total", appA); n != 0 {
		t.Errorf("refresh_errors_total = %v after a stop, want 0", n)
	}
	verifyNoLeak(t, ignore)
}

// TestRefreshCheckNamesAFailingListInUse: an app whose last refresh failed,
// or whose list could not be saved, keeps accepting from its list, and the
// informational check iplist_refresh says so (without it only the log and
// a counter did: an unwritable data directory showed nowhere until a
// restart during a Tencent outage refused every callback).
func TestRefreshCheckNamesAFailingListInUse(t *testing.T) {
	lister := newLister(map[int][]string{5: {"203.0.113.7"}, 6: {"203.0.113.9"}})
	dir := t.TempDir()
	h := newSet(t, allowlist.Options{
		Apps: []allowlist.App{{ID: appA, IPList: true, Client: lister}, {ID: appB}},
		Dir:  dir,
		Now:  newClock().Now,
	})
	c := h.RefreshCheck()
	if c.Name != "iplist_refresh" || c.DecidesReadiness(false) {
		t.Fatalf("RefreshCheck is %q, deciding readiness: %v; want iplist_refresh, not deciding", c.Name, c.DecidesReadiness(false))
	}
	// Without a list the app is iplist_apps' business.
	lister.fail(map[int]error{5: errors.New("connection refused")})
	if err := refresh(t, h.Set); err == nil {
		t.Fatal("a failed refresh reported no error")
	}
	if err := c.Check(context.Background()); err != nil {
		t.Errorf("iplist_refresh of an app without a list = %v, want nil (iplist_apps names it)", err)
	}

	lister.serve(map[int][]string{5: {"203.0.113.7"}, 6: {"203.0.113.9"}})
	if err := refresh(t, h.Set); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background()); err != nil {
		t.Errorf("iplist_refresh after a success = %v", err)
	}

	lister.fail(map[int]error{6: errors.New("connection refused")})
	if err := refresh(t, h.Set); err == nil {
		t.Fatal("a failed refresh reported no error")
	}
	wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.7": true, "192.0.2.1": false})
	if err := c.Check(context.Background()); err == nil || !strings.Contains(err.Error(), appA) ||
		!strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), appB) {
		t.Errorf("iplist_refresh after a failed refresh = %v, want an error naming %s and the failure", err, appA)
	}

	// The data directory cannot hold the list (a file where its directory should be).
	if err := os.RemoveAll(filepath.Join(dir, "iplist")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "iplist"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lister.serve(map[int][]string{5: {"203.0.113.8"}, 6: {"203.0.113.9"}})
	if err := refresh(t, h.Set); err == nil {
		t.Fatal("a refresh whose list could not be saved reported no error")
	}
	wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.8": true, "203.0.113.7": false})
	if err := c.Check(context.Background()); err == nil || !strings.Contains(err.Error(), appA) || !strings.Contains(err.Error(), "saving the list") {
		t.Errorf("iplist_refresh after a failed save = %v, want an error naming %s and the save", err, appA)
	}

	if err := os.Remove(filepath.Join(dir, "iplist")); err != nil {
		t.Fatal(err)
	}
	if err := refresh(t, h.Set); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background()); err != nil {
		t.Errorf("iplist_refresh once saved again = %v", err)
	}
}

// TestSaveSyncsTheIPListDirectoryAndItsParent: a list saved into a data
// directory without iplist/ yet is durable only once the rename is synced
// in iplist/ and iplist/'s own new entry in the data directory: a crash
// after the save could otherwise lose the directory, and the next start
// during a Tencent outage would have no list.
func TestSaveSyncsTheIPListDirectoryAndItsParent(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	defer allowlist.SetSyncDir(func(name string) error {
		mu.Lock()
		defer mu.Unlock()
		synced = append(synced, filepath.Clean(name))
		return nil
	})()
	dir := t.TempDir()
	h := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true,
		Client: newLister(map[int][]string{5: {"203.0.113.7"}, 6: {"203.0.113.8"}})}}, Dir: dir})
	if err := refresh(t, h.Set); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "iplist", appA+".json")); err != nil {
		t.Fatalf("the list was not saved: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{filepath.Join(dir, "iplist"), filepath.Clean(dir)} {
		if !slices.Contains(synced, want) {
			t.Errorf("synced directories %q, want %s among them", synced, want)
		}
	}
}

// TestRefreshCheckNamesUnusableEntriesOfTheListInUse: entries of an
// answer that cannot be used (a format the service does not read, a
// network too broad) are addresses Tencent says its callbacks come from,
// refused with 403 while the rest of the list applies; the refresh counts
// as a success, so the check iplist_refresh names the app and the entries
// until an answer without them, not only a log line.
func TestRefreshCheckNamesUnusableEntriesOfTheListInUse(t *testing.T) {
	lister := newLister(map[int][]string{5: {"203.0.113.7", "203.0.113.20-203.0.113.29"}})
	h := newSet(t, allowlist.Options{
		Apps: []allowlist.App{{ID: appA, IPList: true, NetTypes: []int{imrest.NetTypeCallbackChina}, Client: lister}},
		Dir:  t.TempDir(),
		Now:  newClock().Now,
	})
	c := h.RefreshCheck()
	if err := refresh(t, h.Set); err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.7": true, "203.0.113.21": false})
	if err := c.Check(context.Background()); err == nil || !strings.Contains(err.Error(), appA) ||
		!strings.Contains(err.Error(), "203.0.113.20-203.0.113.29") {
		t.Errorf("iplist_refresh with an unusable entry in the list in use = %v, want an error naming %s and the entry", err, appA)
	}
	lister.serve(map[int][]string{5: {"203.0.113.7", "203.0.113.20/30"}})
	if err := refresh(t, h.Set); err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	if err := c.Check(context.Background()); err != nil {
		t.Errorf("iplist_refresh once every entry is usable = %v", err)
	}
}

// TestAllowedByAnyWithoutApps: a Set without apps treats every request as
// an unlisted app's, which Allowed accepts from Global (every source when
// it is empty); AllowedByAny, which the listener's peer check asks as a
// peer connects, must accept the same sources instead of none.
func TestAllowedByAnyWithoutApps(t *testing.T) {
	tests := []struct {
		name   string
		global []string
		want   map[string]bool
	}{
		{"nothing configured", nil, map[string]bool{"203.0.113.7": true, "2001:db8::1": true}},
		{"global only", []string{"192.0.2.0/24"}, map[string]bool{"192.0.2.1": true, "::ffff:192.0.2.9": true, "203.0.113.7": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSet(t, allowlist.Options{Global: prefixes(t, tt.global...)})
			wantAllowed(t, h.Set, "1400009999", tt.want)
			for addr, want := range tt.want {
				if got := h.AllowedByAny(netip.MustParseAddr(addr)); got != want {
					t.Errorf("AllowedByAny(%s) = %v, want %v (as Allowed of an unlisted app)", addr, got, want)
				}
			}
		})
	}
}

// heldLister says on entered that a call began, and answers once released,
// whatever its context.
type heldLister struct {
	entered chan struct{}
	release chan struct{}
}

func (l heldLister) GetIPList(context.Context, int) ([]string, error) {
	select {
	case l.entered <- struct{}{}:
	default:
	}
	<-l.release
	return []string{"203.0.113.7"}, nil
}

// TestRefreshNowEndsWithItsContext: a RefreshNow waiting for a refresh
// already running returns its context's error once that context ends; it
// waited for the running refresh whatever its context. The running
// refresh goes on for its own caller, and succeeds.
func TestRefreshNowEndsWithItsContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		// cancelLate cancels the context after RefreshNow was called
		// rather than before.
		cancelLate bool
		want       error
	}{
		{"canceled before the call", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, false, context.Canceled},
		{"canceled while it waits", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, true, context.Canceled},
		{"past its deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Unix(0, 0))
		}, false, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lister := heldLister{entered: make(chan struct{}, 1), release: make(chan struct{})}
			h := newSet(t, allowlist.Options{Apps: []allowlist.App{{ID: appA, IPList: true, Client: lister}}, Dir: t.TempDir()})
			released := false
			release := func() {
				if !released {
					released = true
					close(lister.release)
				}
			}
			defer release()
			running := make(chan error, 1)
			go func() { running <- h.RefreshNow(context.Background()) }()
			<-lister.entered

			ctx, cancel := tt.ctx()
			defer cancel()
			waiting := make(chan error, 1)
			go func() { waiting <- h.RefreshNow(ctx) }()
			if tt.cancelLate {
				cancel()
			}
			select {
			case err := <-waiting:
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), appA) {
					t.Errorf("RefreshNow = %v, want %v naming app %s", err, tt.want, appA)
				}
			case <-time.After(30 * time.Second): // a bound only broken code reaches
				release()
				<-waiting
				t.Fatal("RefreshNow waited for the refresh running although its context had ended")
			}
			release()
			if err := <-running; err != nil {
				t.Fatalf("the running refresh: %v", err)
			}
			wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.7": true})
			if n, _ := metric(t, h.reg, "imcallback_iplist_refresh_errors_total", appA); n != 0 {
				t.Errorf("refresh_errors_total = %v, want 0: a caller that went away is no failure of the list", n)
			}
		})
	}
}
