// Package allowlist decides which source addresses may deliver an IM app's
// callbacks: the global IMCALLBACK_ALLOW_CIDRS, the app's own allow_cidrs
// and, for an app with iplist, the callback egress addresses Tencent
// publishes (GetIPList), kept current by a refresh loop.
//
// A Set is built once from Options (New loads the last good lists from the
// data directory; it does not fetch), started (Start fetches every list
// once, then refreshes them in the background) and asked per request
// (Allowed, lock-free). A refresh that fails, or whose answer holds no
// usable address, keeps the last good list: a refresh never opens nor
// empties a list. An app with iplist that has never had a list refuses
// every source, and the Set's AppsCheck names it; its readiness Check fails
// only while no configured app can accept a callback.
//
// Describe shows what applies to each app, every entry with its source;
// the package-level Describe does the same from the configuration and the
// files alone, for the command line while the service is not running.
package allowlist

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/imrest"
)

// DefaultRefresh is Options.Refresh when zero.
const DefaultRefresh = time.Hour

// DefaultNetTypes are App.NetTypes when empty: the callback egress
// addresses in and outside the Chinese mainland.
var DefaultNetTypes = []int{imrest.NetTypeCallbackChina, imrest.NetTypeCallbackOverseas}

// The sources of an Entry.
const (
	SourceGlobal  = "global"  // Options.Global (IMCALLBACK_ALLOW_CIDRS)
	SourceApp     = "app"     // App.CIDRs (the app's allow_cidrs)
	SourceTencent = "tencent" // the app's last good GetIPList answer
)

// IPLister fetches Tencent's published addresses of one network type;
// *imrest.Client implements it.
type IPLister interface {
	GetIPList(ctx context.Context, netType int) ([]string, error)
}

var _ IPLister = (*imrest.Client)(nil)

// App is one IM app's allowlist settings.
type App struct {
	// ID is the app's SdkAppid, in decimal digits; it names the app's file.
	ID string
	// CIDRs are the app's own allow_cidrs, added to Options.Global. New
	// refuses what config.ParsePrefixes refuses (config.CheckPrefix): a
	// /0 written with an address (10.0.0.0/0) and the like.
	CIDRs []netip.Prefix
	// IPList restricts the app's sources to Global ∪ CIDRs ∪ Tencent's
	// published list, even when Global is empty; it needs Client.
	IPList bool
	// NetTypes are the GetIPList nettypes whose union is the app's list;
	// DefaultNetTypes when empty. New refuses what iplist_nettypes
	// refuses (config.CheckIPListNetType): 0, every server address of IM,
	// and negative ones.
	NetTypes []int
	// Client fetches the list. It holds the app's secret key: the Set never
	// logs or prints it.
	Client IPLister
}

// Options configures a Set.
type Options struct {
	// Global are the sources every app accepts (IMCALLBACK_ALLOW_CIDRS),
	// checked as App.CIDRs are.
	Global []netip.Prefix
	// Apps are the configured apps; an app not listed is treated as one
	// without IPList and without own CIDRs.
	Apps []App
	// Dir is the data directory. The last good list of an IPList app is
	// kept in Dir/iplist/<app>.json, written atomically after every
	// successful fetch and read by New (not when saved for other
	// NetTypes). Required when an app has IPList.
	Dir string
	// Refresh is the time between two fetches of a list, ±10% jitter;
	// DefaultRefresh when zero, else from a minute to a week, as
	// IMCALLBACK_IPLIST_REFRESH (config.CheckIPListRefresh). After a failure the
	// next attempt comes after min(Refresh, 1m), doubling per consecutive
	// failure up to Refresh, and at most an hour.
	Refresh time.Duration
	// Now is the clock of the fetch times (for tests); time.Now when nil.
	Now func() time.Time
}

// Entry is one network an app accepts.
type Entry struct {
	// Prefix is the accepted network, masked, IPv4-mapped addresses as
	// IPv4; a single host is a /32 or /128.
	Prefix netip.Prefix `json:"prefix"`
	// Source is SourceGlobal, SourceApp or SourceTencent.
	Source string `json:"source"`
	// FetchedAt is when the Tencent list the entry belongs to was fetched;
	// zero for the other sources.
	FetchedAt time.Time `json:"fetched_at,omitzero"`
}

// AppList is what applies to one app.
type AppList struct {
	// App is the SdkAppid.
	App string `json:"app"`
	// IPList tells whether the app is restricted to Tencent's list.
	IPList bool `json:"iplist"`
	// Open is true when no list applies: every source is accepted (an app
	// without IPList, Global and own CIDRs).
	Open bool `json:"open"`
	// Closed is true for an IPList app that has never had a Tencent list:
	// every source is refused.
	Closed bool `json:"closed"`
	// FetchedAt is when the app's Tencent list was fetched; zero without one.
	FetchedAt time.Time `json:"fetched_at,omitzero"`
	// Age is the list's age at the time of the description; zero without one.
	Age time.Duration `json:"-"`
	// Error is the last problem with the app's Tencent list, empty after a
	// success: a file that could not be used, a failed refresh, unusable
	// entries of the answer in use.
	Error string `json:"error,omitempty"`
	// Entries are the accepted networks: global, then the app's own, then
	// Tencent's, each sorted. Those of a Closed app are not accepted yet:
	// they apply, with Tencent's, once its list is fetched.
	Entries []Entry `json:"entries"`
}

// Set is the allowlist of every app. Its methods are safe for concurrent use.
type Set struct {
	log     *zap.Logger
	now     func() time.Time
	dir     string
	every   time.Duration // Options.Refresh
	global  []netip.Prefix
	unknown *policy              // the policy of an app not in Options.Apps
	apps    []*appState          // in Options order
	byID    map[string]*appState // read-only after New
	listed  []*appState          // the apps with IPList
	m       metrics

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// appState is one app: its static settings and its current snapshot.
type appState struct {
	id       string
	iplist   bool
	netTypes []int
	client   IPLister
	global   []netip.Prefix
	own      []netip.Prefix

	// refreshing holds a value while a refresh runs: it serialises the
	// app's refreshes and the writes of cur, and, unlike a mutex, can be
	// waited for only until a context ends.
	refreshing chan struct{}
	cur        atomic.Pointer[snapshot]
}

// snapshot is an app's state between two refreshes; never modified once stored.
type snapshot struct {
	policy    *policy
	tencent   []netip.Prefix // nil: never had a list
	fetchedAt time.Time
	problem   string
}

// metrics are the Set's Prometheus collectors, all by app.
type metrics struct {
	entries     *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	errors      *prometheus.CounterVec
}

// New validates o and loads the last good list of every IPList app from
// Dir; it does not fetch (Start does). A list file that cannot be used is
// logged and ignored, leaving that app without a list until a fetch
// succeeds. The metrics are registered on reg (none when nil).
func New(o Options, log *zap.Logger, reg prometheus.Registerer) (*Set, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s, err := compile(o, true)
	if err != nil {
		return nil, err
	}
	s.log = log
	s.m = metrics{
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imcallback_iplist_entries",
			Help: "Entries of the app's current Tencent callback address list (0 without one).",
		}, []string{"app"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imcallback_iplist_last_success_timestamp_seconds",
			Help: "Unix time of the last successful fetch of the app's Tencent callback address list (0: never).",
		}, []string{"app"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_iplist_refresh_errors_total",
			Help: "Failed refreshes of the app's Tencent callback address list: a failed fetch (the last good list is kept), or a fetched list that could not be saved (it is used, not kept on disk).",
		}, []string{"app"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{s.m.entries, s.m.lastSuccess, s.m.errors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("allowlist: metrics: %w", err)
			}
		}
	}
	for _, a := range s.listed {
		skipped, err := a.load(s.dir, s.now())
		cur := a.cur.Load()
		s.m.errors.WithLabelValues(a.id).Add(0)
		s.m.entries.WithLabelValues(a.id).Set(float64(len(cur.tencent)))
		if cur.tencent == nil {
			s.m.lastSuccess.WithLabelValues(a.id).Set(0)
		} else {
			s.m.lastSuccess.WithLabelValues(a.id).Set(float64(cur.fetchedAt.Unix()))
		}
		switch {
		case err != nil:
			log.Warn("iplist: ignoring the saved list; the app refuses every callback until a fetch succeeds",
				zap.String("app", a.id), zap.Error(err))
		case cur.tencent == nil:
			log.Info("iplist: no saved list; the app refuses every callback until a fetch succeeds", zap.String("app", a.id))
		default:
			if len(skipped) > 0 {
				log.Warn("iplist: skipped unusable entries of the saved list", zap.String("app", a.id),
					zap.Int("skipped", len(skipped)), zap.Strings("examples", examples(skipped)))
			}
			log.Info("iplist: loaded the saved list", zap.String("app", a.id),
				zap.Int("entries", len(cur.tencent)), zap.Time("fetched_at", cur.fetchedAt))
		}
	}
	return s, nil
}

// checkRefresh is the rule of Options.Refresh, IMCALLBACK_IPLIST_REFRESH's
// (config.CheckIPListRefresh); a variable so that a test of the refresh
// loop can wait less than a minute for a refresh.
var checkRefresh = config.CheckIPListRefresh

// compile validates o and builds a Set without logger, metrics or lists.
// needClient requires a Client of every IPList app (not needed to describe).
func compile(o Options, needClient bool) (*Set, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("allowlist: "+format, args...)) }
	global, err := normalizeAll(o.Global)
	if err != nil {
		bad("Global: %v", err)
	}
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	} else if err := checkRefresh(o.Refresh); err != nil {
		bad("Refresh %v", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Set{
		now:     o.Now,
		dir:     o.Dir,
		every:   o.Refresh,
		global:  global,
		unknown: newPolicy(global),
		byID:    map[string]*appState{},
	}
	for _, app := range o.Apps {
		if !isNumber(app.ID) {
			bad("app id %q must be a decimal SdkAppid", app.ID)
			continue
		}
		if s.byID[app.ID] != nil {
			bad("app %s is listed twice", app.ID)
			continue
		}
		own, err := normalizeAll(app.CIDRs)
		if err != nil {
			bad("app %s: CIDRs: %v", app.ID, err)
		}
		a := &appState{id: app.ID, iplist: app.IPList, client: app.Client, global: global, own: own,
			refreshing: make(chan struct{}, 1)}
		if app.IPList {
			a.netTypes = uniqueInts(app.NetTypes)
			if len(a.netTypes) == 0 {
				a.netTypes = slices.Clone(DefaultNetTypes)
			}
			for _, n := range a.netTypes {
				if err := config.CheckIPListNetType(n); err != nil {
					bad("app %s: nettype %v", app.ID, err)
				}
			}
			if needClient && app.Client == nil {
				bad("app %s: IPList needs a Client (the app's REST API key)", app.ID)
			}
			if o.Dir == "" {
				bad("app %s: IPList needs Dir to keep the last good list", app.ID)
			}
			s.listed = append(s.listed, a)
		}
		a.cur.Store(a.snapshot(nil, time.Time{}, ""))
		s.apps = append(s.apps, a)
		s.byID[app.ID] = a
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// snapshot builds the app's state for the Tencent list tencent (nil: none).
func (a *appState) snapshot(tencent []netip.Prefix, fetchedAt time.Time, problem string) *snapshot {
	snap := &snapshot{tencent: tencent, fetchedAt: fetchedAt, problem: problem}
	switch {
	case !a.iplist:
		snap.policy = newPolicy(a.global, a.own)
	case tencent == nil:
		snap.policy = &policy{closed: true}
	default:
		snap.policy = newPolicy(a.global, a.own, tencent)
	}
	return snap
}

// withProblem stores the current snapshot with problem; during a refresh.
func (a *appState) withProblem(problem string) {
	cur := *a.cur.Load()
	cur.problem = problem
	a.cur.Store(&cur)
}

// Allowed reports whether a callback of appID may come from addr. An app
// without IPList accepts addr when Global ∪ its CIDRs is empty or contains
// it; an app with IPList when Global ∪ its CIDRs ∪ its Tencent list contains
// it, and never while it has no Tencent list. An unknown app is treated as
// one without IPList and without CIDRs. An IPv4-mapped IPv6 address counts
// as its IPv4 address, and a zoned one (fe80::5%eth0) as the address
// without its zone.
func (s *Set) Allowed(appID string, addr netip.Addr) bool {
	if a := s.byID[appID]; a != nil {
		return a.cur.Load().policy.allows(addr)
	}
	return s.unknown.allows(addr)
}

// AllowedByAny reports whether some configured app accepts a callback
// from addr (Allowed of its id): a source no app accepts is refused
// whatever its request says, so the public listener refuses it as it
// connects (middleware.NewPeerCheck). A Set without apps takes every
// request as an unlisted app's, so it accepts what Allowed accepts of one:
// Global, or every source when Global is empty.
func (s *Set) AllowedByAny(addr netip.Addr) bool {
	if len(s.apps) == 0 {
		return s.unknown.allows(addr)
	}
	for _, a := range s.apps {
		if a.cur.Load().policy.allows(addr) {
			return true
		}
	}
	return false
}

// Check is the readiness check "iplist": it fails while no configured app
// can accept a callback because every one is an IPList app that has never
// had a Tencent list, naming them. While another app can, a replica taken
// out of its load balancer would refuse that app too, so the apps without a
// list show in AppsCheck instead.
func (s *Set) Check() admin.Check {
	return admin.Check{Name: "iplist", Check: func(context.Context) error {
		if len(s.listed) < len(s.apps) {
			return nil // an app without IPList accepts callbacks whatever the lists
		}
		for _, a := range s.listed {
			if a.cur.Load().tencent != nil {
				return nil
			}
		}
		return s.missing()
	}}
}

// AppsCheck is the check "iplist_apps", which never decides readiness: it
// fails, naming them, while any IPList app has never had a Tencent list (and
// so refuses every callback of its own).
func (s *Set) AppsCheck() admin.Check {
	return admin.Check{Name: "iplist_apps", Informational: true, Check: func(context.Context) error { return s.missing() }}
}

// RefreshCheck is the check "iplist_refresh", which never decides
// readiness: it fails, naming them and their problem, while the last
// refresh of an IPList app that has a list failed, its list could not be
// saved, or its answer held entries that could not be used (refused while
// the rest applies). The app keeps accepting from the list it has; an app
// without one shows in AppsCheck instead.
func (s *Set) RefreshCheck() admin.Check {
	return admin.Check{Name: "iplist_refresh", Informational: true, Check: func(context.Context) error {
		now := s.now()
		var failing []string
		for _, a := range s.listed {
			cur := a.cur.Load()
			if cur.tencent == nil || cur.problem == "" {
				continue
			}
			failing = append(failing, fmt.Sprintf("%s (list of %s, %s old, in use: %s)",
				a.id, cur.fetchedAt.Format(time.RFC3339), max(now.Sub(cur.fetchedAt), 0).Truncate(time.Second), cur.problem))
		}
		if len(failing) == 0 {
			return nil
		}
		return fmt.Errorf("the last refresh of the Tencent callback address list failed, or refused part of it, for app %s", strings.Join(failing, "; "))
	}}
}

// missing is the error naming the IPList apps without a Tencent list, nil
// when there is none.
func (s *Set) missing() error {
	var missing []string
	for _, a := range s.listed {
		cur := a.cur.Load()
		if cur.tencent != nil {
			continue
		}
		m := a.id
		if cur.problem != "" {
			m += " (" + cur.problem + ")"
		}
		missing = append(missing, m)
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("no Tencent callback address list yet, every callback refused, for app %s", strings.Join(missing, "; "))
}

// Describe returns what applies to every configured app, in Options order.
func (s *Set) Describe() []AppList {
	now := s.now()
	out := make([]AppList, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a.describe(a.cur.Load(), now))
	}
	return out
}

// Describe returns what a Set made of o would apply to every configured
// app right after New: the configuration and the saved lists, without
// fetching (the command line, while the service is not running). A list
// file that cannot be used shows in its app's Error. Clients are not
// needed; an error means o is invalid.
func Describe(o Options, now time.Time) ([]AppList, error) {
	s, err := compile(o, false)
	if err != nil {
		return nil, err
	}
	for _, a := range s.listed {
		_, _ = a.load(s.dir, now) // a problem is kept in the snapshot: the app's Error
	}
	out := make([]AppList, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a.describe(a.cur.Load(), now))
	}
	return out, nil
}

// describe is the AppList of snap at now.
func (a *appState) describe(snap *snapshot, now time.Time) AppList {
	l := AppList{App: a.id, IPList: a.iplist, Error: snap.problem, Entries: []Entry{}}
	for _, p := range a.global {
		l.Entries = append(l.Entries, Entry{Prefix: p, Source: SourceGlobal})
	}
	for _, p := range a.own {
		l.Entries = append(l.Entries, Entry{Prefix: p, Source: SourceApp})
	}
	for _, p := range snap.tencent {
		l.Entries = append(l.Entries, Entry{Prefix: p, Source: SourceTencent, FetchedAt: snap.fetchedAt})
	}
	l.Open = snap.policy.open
	l.Closed = snap.policy.closed
	if snap.tencent != nil {
		l.FetchedAt = snap.fetchedAt
		l.Age = max(now.Sub(snap.fetchedAt), 0)
	}
	return l
}

// isNumber reports whether s is a non-empty string of decimal digits.
func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// uniqueInts returns ns without repeats, in order.
func uniqueInts(ns []int) []int {
	var out []int
	for _, n := range ns {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
