package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// adminIn are the dependencies of newAdmin.
type adminIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *config.Config
	Log       *zap.Logger
	Drain     *Drain
	Registry  *prometheus.Registry
	Recent    *middleware.Recent   `optional:"true"`
	History   *metrics.History     `optional:"true"`
	Sink      dispatcher.AfterSink `optional:"true"`
	Routes    []admin.Route        `group:"admin_routes"`
	Checks    []admin.Check        `group:"readiness"`
	Source    config.Source        `optional:"true"`
	Sections  []config.SectionInfo `group:"config_sections"`
}

// FailingWithoutToken is what /readyz says of a failing check to a request
// without the admin token, when one is configured: the check's own text
// (a database's address, say) is the token's to read.
const FailingWithoutToken = "failing (send the admin token to read why)"

// CheckTimeout bounds each readiness check of /readyz; they run
// concurrently, so a slow dependency does not make another one look broken.
const CheckTimeout = 2 * time.Second

// CheckGrace is how long past its deadline a check's answer is awaited:
// /readyz answers within CheckTimeout + CheckGrace. A check that ignores
// its deadline is not run again until it returns (see checkRunner).
const CheckGrace = 250 * time.Millisecond

// checkChecks refuses readiness checks that would misreport or crash
// /readyz: one without a name or a func (a nil func panicked in the
// goroutine that ran it, ending the process), and two of one name, whose
// results shared one entry, so an "ok" could hide the other's failure.
func checkChecks(checks []admin.Check) error {
	seen := make(map[string]bool, len(checks))
	for i, ch := range checks {
		switch {
		case ch.Name == "":
			return fmt.Errorf("admin: readiness check #%d of %d has no name", i+1, len(checks))
		case ch.Check == nil:
			return fmt.Errorf("admin: readiness check %s has a nil Check func", ch.Name)
		case seen[ch.Name]:
			return fmt.Errorf("admin: two readiness checks are named %s; give each its own name, or provide it once", ch.Name)
		}
		seen[ch.Name] = true
	}
	return nil
}

// checkRoutes refuses plugin routes echo would take silently and serve
// wrongly: one without a method, a path or a handler, one whose method is
// not in upper-case letters (never matched), and one whose
// method and path are another's (a built-in one's included), which echo
// replaces without a word; paths that differ in a parameter's name only
// (/v1/events/:seq, /v1/events/:id) are one route to echo.
func checkRoutes(routes []admin.Route, builtin []*echo.Route) error {
	type owner struct{ who, route string }
	taken := make(map[string]owner, len(builtin)+len(routes))
	for _, r := range builtin {
		taken[r.Method+" "+routePattern(r.Path)] = owner{"a built-in route", r.Method + " " + r.Path}
	}
	for i, r := range routes {
		route := r.Method + " " + r.Path
		key := r.Method + " " + routePattern(r.Path)
		switch other, dup := taken[key]; {
		case r.Method == "" || r.Path == "":
			return fmt.Errorf("admin: route #%d of %d (%q) needs a method and a path", i+1, len(routes), route)
		case r.Handler == nil:
			return fmt.Errorf("admin: route %s has a nil Handler", route)
		case strings.TrimFunc(r.Method, isUpperASCII) != "":
			// echo matches a method as written, and clients send it in
			// upper case: a route of "get" would never be served.
			return fmt.Errorf("admin: route %s: method %q must be written in upper-case letters only (%s): "+
				"clients send methods so, and echo matches them as written", route, r.Method, strings.ToUpper(strings.TrimSpace(r.Method)))
		case dup && other.route == route:
			return fmt.Errorf("admin: route %s is registered twice (the other is %s); echo would serve only one of them", route, other.who)
		case dup:
			return fmt.Errorf("admin: route %s is registered twice (the other is %s, %s: echo ignores a parameter's name); "+
				"echo would serve only one of them", route, other.who, other.route)
		}
		taken[key] = owner{fmt.Sprintf("plugin route #%d", i+1), route}
	}
	return nil
}

// isUpperASCII reports whether r is a letter A to Z, of which an HTTP
// method is written.
func isUpperASCII(r rune) bool { return 'A' <= r && r <= 'Z' }

// withSlash is path with a leading "/", as echo registers a route's path.
func withSlash(path string) string {
	if !strings.HasPrefix(path, "/") {
		return "/" + path
	}
	return path
}

// routePattern is path as echo's router tells routes apart: with a
// leading "/", and without the names of its parameters (":seq", up to the
// next "/"; "\\:" is a literal colon).
func routePattern(path string) string {
	path = withSlash(path)
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		b.WriteByte(path[i])
		if path[i] == ':' && (i == 0 || path[i-1] != '\\') {
			for i+1 < len(path) && path[i+1] != '/' {
				i++
			}
		}
	}
	return b.String()
}

// probePaths are the admin routes probes and scrapers ask without a token.
var probePaths = []string{"/healthz", "/readyz", "/metrics"}

// probe routes GET and HEAD of path to h: probes and load balancers send
// HEAD /healthz, which net/http answers as GET without the body. Echo
// answered it 405.
func probe(e *echo.Echo, path string, h echo.HandlerFunc) {
	e.GET(path, h)
	e.HEAD(path, h)
}

// scrapeErrorLog logs what went wrong in a /metrics scrape, such as a
// collector that failed: the scrape is answered 500 with the error, and
// Prometheus shows only that the target is down.
type scrapeErrorLog struct{ log *zap.Logger }

// Println logs the scrape's error as promhttp words it.
func (l scrapeErrorLog) Println(v ...any) {
	l.log.Error("a metrics scrape failed", zap.String("error", strings.TrimSpace(fmt.Sprintln(v...))))
}

// newAdmin builds the admin listener: /healthz, /readyz, /metrics and the
// plugins' routes. Errors are answered as {"error": "..."}. A plugin's
// route or check that is incomplete, or that another already has, is an
// error at start.
func newAdmin(in adminIn) (*Admin, error) {
	if err := checkChecks(in.Checks); err != nil {
		return nil, err
	}
	e := newEcho()
	e.HTTPErrorHandler = adminErrorHandler(in.Log)
	e.Pre(adminHeaders)
	e.Use(recoverPanic())
	// A request that runs until its work is done or its context ends (a
	// profile, a trace, a replay of many events, a plugin's) is ended by
	// the stop (endRequests), answered with what it did: the drain does not
	// end a request's context, and it held the drain until
	// IMCALLBACK_SHUTDOWN_TIMEOUT ran out.
	running, endRequests := context.WithCancel(context.Background())
	e.Use(endAtStop(running))
	e.Use(refuseCrossSite(in.Config.AdminToken != "" && utf8.RuneCountInString(in.Config.AdminToken) >= config.MinAdminToken))
	if in.Config.AdminToken != "" {
		open := map[string]bool{}
		for _, path := range probePaths {
			open["GET "+path], open["HEAD "+path] = true, true
		}
		for _, r := range in.Routes {
			if r.Open {
				// As echo registers it, and c.Path() names it: with a leading "/".
				open[r.Method+" "+withSlash(r.Path)] = true
			}
		}
		e.Use(requireToken(in.Config.AdminToken, open))
	}
	e.Use(refuseMalformedQuery)
	probe(e, "/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	durable := in.Sink != nil
	// One runner per check, shared by /readyz, /v1/status and /metrics:
	// however many requests come, a check has at most one run in flight.
	runners := newCheckRunners(in.Checks)
	var readiness []*checkRunner // what decides whether a callback is accepted now
	for _, r := range runners {
		if r.check.DecidesReadiness(durable) {
			readiness = append(readiness, r)
		}
	}
	token := sha256.Sum256([]byte(in.Config.AdminToken))
	probe(e, "/readyz", func(c echo.Context) error {
		results := runChecks(c.Request().Context(), readiness, CheckTimeout)
		// The probe needs no token, and a failing check's text can name a
		// database's host, user and name: with a token configured, only a
		// request that carries it reads the reasons.
		hide := in.Config.AdminToken != "" && !carriesToken(c.Request(), token)
		status, word := http.StatusOK, "ready"
		for name, r := range results {
			if r != "ok" {
				status, word = http.StatusServiceUnavailable, "not ready"
				if hide {
					results[name] = FailingWithoutToken
				}
			}
		}
		return c.JSON(status, map[string]any{"status": word, "checks": results})
	})
	e.GET("/v1/status", statusHandler(runners, durable))
	if !durable {
		off := durableOff(in.Config.Delivery)
		for _, r := range delivery.EventRoutes {
			e.Add(r.Method, r.Path, func(echo.Context) error {
				return echo.NewHTTPError(http.StatusConflict, off)
			})
		}
	}
	health := newHealthCollector(runners, durable)
	health.drainPasses = in.Drain.passes
	health.stop = running // a scrape's wait for the checks ends at the stop, as a request's does
	if err := in.Registry.Register(health); err != nil {
		in.Log.Error("cannot register the health metrics", zap.Error(err))
	}
	probe(e, "/metrics", echo.WrapHandler(promhttp.HandlerFor(in.Registry, promhttp.HandlerOpts{
		ErrorLog: scrapeErrorLog{in.Log},
	})))
	if in.Recent != nil {
		e.GET("/v1/recent", recentHandler(in.Recent))
	}
	if in.History != nil {
		e.GET("/v1/series", seriesHandler(in.History))
	}
	e.GET("/v1/config", configHandler(in.Config, in.Source, in.Sections))
	// Go's profiler, for the admin listener only (it is never on the public
	// address). A profile, a trace or a delta profile (?seconds=) collects
	// until its request's context ends: the stop ends them (endAtStop), and
	// the client gets what was collected.
	e.GET("/debug/pprof/*", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
	e.GET("/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	e.GET("/debug/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	// The index links these two, which are handlers of their own, not
	// profiles: the catch-all above would answer them "Unknown profile".
	// go tool pprof symbolizes with a POST to symbol. The command line holds
	// no secret: the service reads its token and DSNs from the environment
	// or the configuration file.
	e.GET("/debug/pprof/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
	e.GET("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	e.POST("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	if err := checkRoutes(in.Routes, e.Routes()); err != nil {
		endRequests()
		return nil, err
	}
	for _, r := range in.Routes {
		e.Add(r.Method, r.Path, r.Handler)
	}
	a := &Admin{Listener{name: "admin", echo: e, log: in.Log, stopping: endRequests, fault: in.Drain.Fail}}
	a.server = newHTTPServer(in.Config, e, in.Log)
	// The admin listener's connections are bounded too: without a bound,
	// clients of an exposed admin address (with or without the token) could
	// take the open files the stores and the public listener need.
	a.limit = newConnLimit(AdminMaxConns, false, in.Config.ReadHeaderTimeout, logRefusals(in.Log))
	a.limit.answerFor = adminNetHTTPAnswer
	a.server.ConnState = a.limit.connState
	in.Lifecycle.Append(a.hook(in.Config.AdminListen, nil, in.Config.ShutdownTimeout, zap.Int("max_conns", AdminMaxConns)))
	return a, nil
}

// endAtStop serves every admin request with its context ended also when
// stop ends, with admin.ErrStopping as its cause: the graceful drain waits
// for every request in flight, and some run until their context ends or
// their work is done (one of Go's profiler for as many seconds as it asks,
// a replay of a large selection for minutes).
func endAtStop(stop context.Context) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			// The stop's cause, admin.ErrStopping, tells a route (and the
			// error handler) it from the caller leaving, whose cause is
			// context.Canceled, and errAnswered both from a context.Canceled
			// of something else the route waited for.
			ctx, cancel := context.WithCancelCause(r.Context())
			defer cancel(errAnswered)
			defer context.AfterFunc(stop, func() { cancel(admin.ErrStopping) })()
			c.SetRequest(r.WithContext(ctx))
			return next(c)
		}
	}
}

// errAnswered is the cause of an admin request's context that ended when
// its route returned (endAtStop), neither stopped nor left by its caller.
var errAnswered = errors.New("the admin request was answered")

// logRefusals is the admin listener's report of a connection refused
// beyond AdminMaxConns: a warning at most once a minute, with the count so
// far. It is called by the accept loop alone.
func logRefusals(log *zap.Logger) func(*protocol.Error, net.Addr) {
	var refused int64
	var lastWarned time.Time
	return func(*protocol.Error, net.Addr) {
		refused++
		if now := time.Now(); now.Sub(lastWarned) >= time.Minute {
			lastWarned = now
			log.Warn("the admin listener refused a connection beyond its bound",
				zap.Int("max_conns", AdminMaxConns), zap.Int64("refused_total", refused))
		}
	}
}

// AdminMaxConns bounds the admin listener's open connections (probes,
// Prometheus, the console, the CLI): a connection beyond it is closed at once.
const AdminMaxConns = 256

// ErrorBody is the admin listener's error answer.
type ErrorBody struct {
	// Error is an echo.HTTPError's message (its status text when the
	// message is no string), a 503's saying the request was cut short for
	// an error wrapping context.Canceled (the stop ended the request, or
	// its caller left: admin.CutShort), or "internal error" for any other
	// error.
	Error string `json:"error"`
}

func adminErrorHandler(log *zap.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		switch {
		case errors.As(err, &he):
			status = he.Code
			if m, ok := he.Message.(string); ok {
				msg = m
			} else {
				msg = http.StatusText(status)
			}
		case errors.Is(err, context.Canceled):
			// A route (a plugin's) that gave up when the stop ended its
			// request's context (endAtStop), or its caller left: no bug,
			// and another replica, or this one started again, answers. The
			// events API and the topics answer so themselves.
			status, msg = http.StatusServiceUnavailable, admin.CutShort(c.Request().Context())+", try again"
		}
		switch {
		case errors.Is(err, context.Canceled) && admin.CallerLeft(c.Request().Context()):
			// Its caller left (Ctrl-C on a replay, a --timeout, the
			// console giving up): what the operator did, no failure of
			// the service; nobody reads the answer.
			log.Info("admin request cut short: its caller left", zap.String("path", c.Request().URL.Path), zap.Error(err))
		case status >= http.StatusInternalServerError:
			log.Error("admin request failed", zap.String("path", c.Request().URL.Path), zap.Error(err))
		}
		if err := c.JSON(status, ErrorBody{Error: msg}); err != nil {
			log.Debug("writing the admin error failed", zap.Error(err))
		}
	}
}

// adminContentSecurityPolicy is the Content-Security-Policy of every admin
// answer but the console's page and assets (which send their own): JSON,
// the scrape and pprof load nothing and are never framed. pprof's index
// page keeps its one inline style.
const (
	adminContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	pprofContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

// adminHeaders gives every admin answer, errors included, the headers of
// an API whose answers hold callback payloads, dead letters, topics and
// the configuration: no copy kept in a browser's or a proxy's cache
// (Cache-Control: no-store), no content sniffing, no framing, no
// Referer, and no handle on the window for the page that opened it
// (Cross-Origin-Opener-Policy: same-origin: a page of another site that
// opens the console cannot later point that window at a copy of its token
// form). The console's files replace Cache-Control and the policy with
// their own.
func adminHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		for _, kv := range adminSecurityHeaders {
			h.Set(kv[0], kv[1])
		}
		if strings.HasPrefix(c.Request().URL.Path, "/debug/pprof/") {
			h.Set(echo.HeaderContentSecurityPolicy, pprofContentSecurityPolicy)
		}
		return next(c)
	}
}

// adminSecurityHeaders are the headers adminHeaders gives every admin
// answer, in their canonical form.
var adminSecurityHeaders = [][2]string{
	{echo.HeaderCacheControl, "no-store"},
	{echo.HeaderXContentTypeOptions, "nosniff"},
	{echo.HeaderXFrameOptions, "DENY"},
	{echo.HeaderReferrerPolicy, "no-referrer"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{echo.HeaderContentSecurityPolicy, adminContentSecurityPolicy},
}

// adminNetHTTPAnswer is the admin listener's answer instead of one net/http
// writes itself before any handler runs (a malformed Host header, headers
// over the limit …): its status, with net/http's text as the ErrorBody and
// the headers of every admin answer, so another site cannot frame even
// these, and the connection closed as net/http would.
func adminNetHTTPAnswer(status int, text []byte, _ net.Addr) []byte {
	msg := strings.TrimSpace(string(text))
	if msg == "" {
		msg = http.StatusText(status)
	}
	body, _ := json.Marshal(ErrorBody{Error: msg})
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	for _, kv := range adminSecurityHeaders {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "Content-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}

// refuseCrossSite refuses what a web page of another site can make a
// browser send to the admin listener, whose routes pause delivery, replay
// events and show payloads: a request the browser marks as coming from
// another origin (Sec-Fetch-Site, which the browser computes itself, so a
// proxy in front does not change it). Unless strongToken (the listener is
// then on loopback, and a request needs nothing a page cannot send, or a
// token it can guess) it also refuses, for browsers without
// Sec-Fetch-Site, an Origin of another host, and a Host that is not
// loopback, which is what a DNS-rebinding page sends. Such a page is of
// the listener's origin to the browser, so it can send a bearer header of
// its own, guess after guess: a token shorter than config.MinAdminToken
// (allowed on loopback only) it could find. With a token of
// config.MinAdminToken characters or more, the token check is the rest of
// the defence, and a proxy that keeps the Host it was sent reaches the
// listener. The console (same origin), curl, the
// CLI, probes and Prometheus are unaffected, and so is a link to the
// console on another site's page (see topLevelNavigation).
func refuseCrossSite(strongToken bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			switch site := r.Header.Get("Sec-Fetch-Site"); {
			case site == "same-origin", site == "none", topLevelNavigation(r):
			case site == "":
				if origin := r.Header.Get(echo.HeaderOrigin); origin != "" && !strongToken {
					if u, err := url.Parse(origin); err != nil || u.Host != r.Host {
						return echo.NewHTTPError(http.StatusForbidden, "a request from another origin is refused")
					}
				}
			default:
				return echo.NewHTTPError(http.StatusForbidden, "a request from another site's page is refused")
			}
			// No browser omits Host; a local checker speaking HTTP/1.0 may.
			if !strongToken && r.Host != "" && !loopbackHost(r.Host) {
				return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("without an IMCALLBACK_ADMIN_TOKEN of %d characters or more "+
					"the admin listener answers requests addressed to localhost or a loopback address only", config.MinAdminToken))
			}
			return next(c)
		}
	}
}

// topLevelNavigation reports whether r is a browser following a link (or
// an address typed or bookmarked) to a page of the admin listener: a GET
// or HEAD the browser marks as a navigation of a whole tab or window.
// Another site's page may start one, as to any address: it changes
// nothing (an admin GET only reads, see admin.Route), and the answer is
// shown in that tab as a document of the admin listener's origin, which
// the linking page cannot read. What that page requests itself (a fetch,
// an image, a frame, a form's POST) is no such GET, and stays refused.
// pprof's pages are no such page: their GETs do work (a CPU profile or a
// trace for as long as the link asks), which no other site may start.
func topLevelNavigation(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document" &&
		!strings.HasPrefix(r.URL.Path, "/debug/pprof/")
}

// recoverPanic is echo's Recover for the admin listener: a panic of an
// admin handler (a plugin's route, say) becomes an error with its stack,
// which the error handler answers 500 {"error":"internal error"} and logs;
// without it net/http closed the connection unanswered, so the CLI and the
// console saw a listener that does not answer. Echo passes
// http.ErrAbortHandler, a handler's way to abort its answer, on up.
func recoverPanic() echo.MiddlewareFunc {
	return echomw.RecoverWithConfig(echomw.RecoverConfig{
		DisableStackAll:     true,
		DisableErrorHandler: true,
		LogErrorFunc: func(_ echo.Context, err error, stack []byte) error {
			return fmt.Errorf("admin handler panicked: %w\n%s", err, stack)
		},
	})
}

// refuseMalformedQuery answers 400 to a request whose query string does not
// parse: Go's reading of a query leaves out, without a word, each pair it
// cannot decode (a bad %-escape, an unescaped ';'), so a filter or a cursor
// written so would be read as absent, and the answer would hold more than
// was asked (every app's topics, the first page again).
func refuseMalformedQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := url.ParseQuery(c.Request().URL.RawQuery); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest,
				"the query string is malformed (escape '%' as %25 and ';' as %3B): "+err.Error())
		}
		return next(c)
	}
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// requireToken answers 401 to a request that does not carry
// "Authorization: Bearer <token>", unless its route (its method and the
// matched pattern, "GET /static/*" covering the console's files) is open:
// the probes, the scrape and the routes marked admin.Route.Open. Another
// method's route on an open route's path is not open. The scheme's name is matched whatever
// its case (RFC 7235), the token exactly; the comparison takes the same
// time whatever the guess.
func requireToken(token string, open map[string]bool) echo.MiddlewareFunc {
	want := sha256.Sum256([]byte(token))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if open[c.Request().Method+" "+c.Path()] {
				return next(c)
			}
			if !carriesToken(c.Request(), want) {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="imcallback admin"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "admin token required: send Authorization: Bearer <IMCALLBACK_ADMIN_TOKEN>")
			}
			return next(c)
		}
	}
}

// carriesToken tells whether r's Authorization header carries the token
// whose SHA-256 is want; the comparison takes the same time whatever the
// guess.
func carriesToken(r *http.Request, want [sha256.Size]byte) bool {
	got, ok := bearerToken(r.Header.Get(echo.HeaderAuthorization))
	sum := sha256.Sum256([]byte(got))
	return ok && subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// bearerToken is the token of an Authorization header of the Bearer
// scheme: "Bearer", in any case, then one or more spaces and the token.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimLeft(token, " "), true
}

// ConfigBody is the answer of GET /v1/config.
type ConfigBody struct {
	// YAML is what `config check` prints: the effective configuration and
	// the modules' sections, secrets redacted.
	YAML string `json:"yaml"`
	// Notes are what `config check` notes (no token, ignored variables).
	Notes []string `json:"notes"`
}

// configHandler answers GET /v1/config: the running configuration as
// `config check` shows it, secrets redacted. The YAML is rendered once:
// the configuration does not change while the service runs. The notes are
// those of each request's time, as `config check` run then prints them: a
// certificate's expiry comes within their reach while the service runs.
func configHandler(c *config.Config, src config.Source, sections []config.SectionInfo) echo.HandlerFunc {
	var b strings.Builder
	b.WriteString(c.YAML())
	for _, info := range sections {
		text, err := info.Load(src)
		if err != nil { // validated at start; say so rather than fail the page
			text = fmt.Sprintf("# %s: %v\n", info.Key, err)
		}
		b.WriteString(text)
	}
	yaml := b.String()
	return func(ctx echo.Context) error {
		body := ConfigBody{YAML: yaml, Notes: c.Notes()}
		if body.Notes == nil {
			body.Notes = []string{}
		}
		return ctx.JSON(http.StatusOK, body)
	}
}

// SeriesBody is the answer of GET /v1/series.
type SeriesBody struct {
	IntervalSeconds float64          `json:"interval_seconds"` // seconds between two samples
	WindowSeconds   float64          `json:"window_seconds"`   // seconds the kept samples cover
	Samples         []metrics.Sample `json:"samples"`          // the kept samples, oldest first
}

// seriesHandler answers GET /v1/series: the callback counters sampled by
// h over the last window, oldest first (what the console's Overview draws).
func seriesHandler(h *metrics.History) echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, SeriesBody{
			IntervalSeconds: h.Interval().Seconds(),
			WindowSeconds:   h.Window().Seconds(),
			Samples:         h.Samples(),
		})
	}
}

// recentHandler answers GET /v1/recent?limit=N (default 100, at most
// middleware.RecentSize): the last requests the public listener answered,
// newest first, as {"recent":[…]}.
func recentHandler(r *middleware.Recent) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := admin.CheckQuery(c.QueryParams(), "limit"); err != nil {
			return err
		}
		limit := 100
		if v := c.QueryParam("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > middleware.RecentSize {
				return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit must be from 1 to %d", middleware.RecentSize))
			}
			limit = n
		}
		return c.JSON(http.StatusOK, map[string]any{"recent": r.Last(limit)})
	}
}

// Dependency is one line of /v1/status.
type Dependency struct {
	// Name is the check's admin.Check.Name.
	Name string `json:"name"`
	// State is "ok" or "failing".
	State string `json:"state"`
	// Error says why a failing check failed (its error, a panic, a
	// timeout); absent when ok.
	Error string `json:"error,omitempty"`
	// AffectsReadiness tells whether the dependency decides /readyz.
	AffectsReadiness bool `json:"affects_readiness"`
}

// durableOff is the answer of the event log's routes without durable
// delivery, given the configured delivery: how to turn it on, the setting
// when it is inline, else the module the binary does not wire.
func durableOff(configured string) string {
	env := config.EnvName("delivery")
	if configured == config.DeliveryDurable {
		return "durable delivery is off: " + env + " is durable, but this binary does not wire delivery.Module " +
			"(cli.Main does): add it to the app's modules"
	}
	return "durable delivery is off: the service runs with " + env + "=" + configured + "; set " + env +
		"=durable (delivery: durable in the config file) and restart it to store events and pause, resume or replay their delivery"
}

// statusHandler answers GET /v1/status: every dependency with its state,
// also those that do not decide readiness (with durable delivery, the
// handlers' stores), and the delivery mode.
func statusHandler(runners []*checkRunner, durable bool) echo.HandlerFunc {
	mode := "inline"
	if durable {
		mode = "durable"
	}
	return func(c echo.Context) error {
		results := runChecks(c.Request().Context(), runners, CheckTimeout)
		deps := make([]Dependency, 0, len(runners))
		for _, r := range runners {
			ch := r.check
			d := Dependency{Name: ch.Name, State: "ok", AffectsReadiness: ch.DecidesReadiness(durable)}
			if r := results[ch.Name]; r != "ok" {
				d.State, d.Error = "failing", r
			}
			deps = append(deps, d)
		}
		slices.SortFunc(deps, func(a, b Dependency) int { return strings.Compare(a.Name, b.Name) })
		return c.JSON(http.StatusOK, map[string]any{"delivery": mode, "dependencies": deps})
	}
}
