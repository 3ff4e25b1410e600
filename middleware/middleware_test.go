package middleware_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/tracing"
)

// serve runs one request through mw in front of a handler answering OK,
// with the project's error handler.
func serve(t *testing.T, req *http.Request, extractor echo.IPExtractor, mw ...echo.MiddlewareFunc) (*httptest.ResponseRecorder, *metrics.Callbacks) {
	t.Helper()
	m := metrics.NewCallbacks(prometheus.NewRegistry())
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(zap.NewNop(), m)
	if extractor != nil {
		e.IPExtractor = extractor
	}
	e.POST("/im/callback", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
	}, mw...)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec, m
}

func post(query string) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/im/callback?"+query, strings.NewReader(`{}`))
}

// assertRejected checks status and envelope of a rejection.
// assertOutcome checks that the request passed (200) when want is nil, and
// was rejected with want otherwise.
func assertOutcome(t *testing.T, rec *httptest.ResponseRecorder, want *protocol.Error) {
	t.Helper()
	if want == nil {
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return
	}
	assertRejected(t, rec, want)
}

func assertRejected(t *testing.T, rec *httptest.ResponseRecorder, want *protocol.Error) {
	t.Helper()
	if rec.Code != want.Status {
		t.Fatalf("status = %d, want %d (body %s)", rec.Code, want.Status, rec.Body)
	}
	if ct := rec.Header().Get(echo.HeaderContentType); ct != echo.MIMEApplicationJSON {
		t.Fatalf("Content-Type = %q", ct)
	}
	var env protocol.Envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("body is not an envelope: %s", rec.Body)
	}
	if env.ActionStatus != "FAIL" || env.ErrorCode != want.Code || env.ErrorInfo != want.Info {
		t.Fatalf("envelope = %+v, want FAIL %d %q", env, want.Code, want.Info)
	}
}

func TestAppID(t *testing.T) {
	mw := middleware.AppIDWithConfig(middleware.AppIDConfig{Allowed: []string{"1400000000", "1400000001"}})
	tests := []struct {
		name, query string
		want        *protocol.Error
	}{
		{"allowed", "SdkAppid=1400000000", nil},
		{"second allowed id, other casing", "SDKAppID=1400000001", nil},
		{"other app", "SdkAppid=1400000002", protocol.ErrAppIDNotAllowed},
		{"missing", "CallbackCommand=X", protocol.ErrAppIDNotAllowed},
		{"empty", "SdkAppid=", protocol.ErrAppIDNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, m := serve(t, post(tt.query), nil, mw)
			assertOutcome(t, rec, tt.want)
			if tt.want == nil {
				return
			}
			if got := testutil.ToFloat64(m.Rejections.WithLabelValues(tt.want.Reason, metrics.OtherApp)); got != 1 {
				t.Fatalf("rejections{%s} = %v", tt.want.Reason, got)
			}
		})
	}
}

func TestAppIDSkipper(t *testing.T) {
	mw := middleware.AppIDWithConfig(middleware.AppIDConfig{Skipper: func(echo.Context) bool { return true }})
	if rec, _ := serve(t, post(""), nil, mw); rec.Code != http.StatusOK {
		t.Fatalf("skipped check still rejected: %d", rec.Code)
	}
}

func TestSignature(t *testing.T) {
	now := time.Unix(1700000000, 0)
	mw := middleware.SignatureWithConfig(middleware.SignatureConfig{
		Tokens: []string{"old-token", "new-token"},
		Window: time.Minute,
		Now:    func() time.Time { return now },
	})
	signed := func(token string, at time.Time) string {
		sign, rt := protocol.SignAt(token, at)
		return "SdkAppid=1&Sign=" + sign + "&RequestTime=" + rt
	}
	tests := []struct {
		name, query string
		want        *protocol.Error
	}{
		{"new token", signed("new-token", now), nil},
		{"old token during rotation", signed("old-token", now), nil},
		{"inside the window, past", signed("new-token", now.Add(-60*time.Second)), nil},
		{"inside the window, future", signed("new-token", now.Add(60*time.Second)), nil},
		{"stale", signed("new-token", now.Add(-61*time.Second)), protocol.ErrStaleRequest},
		{"future", signed("new-token", now.Add(61*time.Second)), protocol.ErrStaleRequest},
		{"unknown token", signed("other-token", now), protocol.ErrBadSign},
		{"missing sign", "SdkAppid=1&RequestTime=1700000000", protocol.ErrMissingSign},
		{"missing time", "SdkAppid=1&Sign=" + protocol.Sign("new-token", "1700000000"), protocol.ErrMissingSign},
		{"time not a number", "Sign=" + protocol.Sign("new-token", "soon") + "&RequestTime=soon", protocol.ErrStaleRequest},
		{"sign for another time", "Sign=" + protocol.Sign("new-token", "1700000001") + "&RequestTime=1700000000", protocol.ErrBadSign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _ := serve(t, post(tt.query), nil, mw)
			assertOutcome(t, rec, tt.want)
		})
	}
}

// TestSignatureAppWithoutAnEntryFailsClosed: with tokens configured per app
// only, a request for an app that has no entry in AppTokens (no SdkAppid, or
// an app the check was not configured for) is verified against the global
// Tokens, which are empty: no signature matches, so it is refused. It once
// passed unsigned, as if the check were off, while only an app whose entry
// holds no tokens has the check off.
func TestSignatureAppWithoutAnEntryFailsClosed(t *testing.T) {
	now := time.Unix(1700000000, 0)
	mw := middleware.SignatureWithConfig(middleware.SignatureConfig{
		AppTokens: map[string][]string{"1": {"tokA"}, "2": nil},
		Window:    time.Minute,
		Now:       func() time.Time { return now },
	})
	signed := func(app, token string) string {
		sign, rt := protocol.SignAt(token, now)
		return "SdkAppid=" + app + "&Sign=" + sign + "&RequestTime=" + rt
	}
	tests := []struct {
		name, query string
		want        *protocol.Error
	}{
		{"app 1 signed with its token", signed("1", "tokA"), nil},
		{"app 1 unsigned", "SdkAppid=1", protocol.ErrMissingSign},
		{"app 2, an entry without tokens: the check is off", "SdkAppid=2", nil},
		{"app 3 without an entry, unsigned", "SdkAppid=3", protocol.ErrMissingSign},
		{"app 3 without an entry, signed with app 1's token", signed("3", "tokA"), protocol.ErrBadSign},
		{"no SdkAppid, unsigned", "CallbackCommand=X", protocol.ErrMissingSign},
		{"no SdkAppid, signed with app 1's token", signed("", "tokA"), protocol.ErrBadSign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _ := serve(t, post(tt.query), nil, mw)
			assertOutcome(t, rec, tt.want)
		})
	}
}

// TestSignatureRequestTimeIsPlainDecimal: RequestTime is IM's Unix second
// in plain decimal digits. Sign covers the string, token and time run
// together, so a time read leniently (a leading zero or a sign) let a
// signature made with one token pass as another's made with that token
// less its trailing "0" or "+": app 2's token "tok0" signs "1700000000",
// and the same Sign is app 1's, token "tok", for "01700000000", which read
// as 1700000000 was fresh. One app's signed request opened the other.
func TestSignatureRequestTimeIsPlainDecimal(t *testing.T) {
	now := time.Unix(1700000000, 0)
	mw := middleware.SignatureWithConfig(middleware.SignatureConfig{
		AppTokens: map[string][]string{"1": {"tok"}, "2": {"tok0"}, "3": {"tok+"}},
		Window:    time.Minute,
		Now:       func() time.Time { return now },
	})
	query := func(app, token, rt string) string {
		return "SdkAppid=" + app + "&Sign=" + protocol.Sign(token, rt) + "&RequestTime=" + url.QueryEscape(rt)
	}
	tests := []struct {
		name, query string
		want        *protocol.Error
	}{
		{"plain", query("1", "tok", "1700000000"), nil},
		{"app 2's signature as app 1's, a leading zero", "SdkAppid=1&Sign=" + protocol.Sign("tok0", "1700000000") + "&RequestTime=01700000000", protocol.ErrStaleRequest},
		{"app 3's signature as app 1's, a plus sign", "SdkAppid=1&Sign=" + protocol.Sign("tok+", "1700000000") + "&RequestTime=%2B1700000000", protocol.ErrStaleRequest},
		{"leading zero", query("1", "tok", "01700000000"), protocol.ErrStaleRequest},
		{"plus sign", query("1", "tok", "+1700000000"), protocol.ErrStaleRequest},
		{"minus zero", query("1", "tok", "-0"), protocol.ErrStaleRequest},
		{"leading space", query("1", "tok", " 1700000000"), protocol.ErrStaleRequest},
		{"trailing space", query("1", "tok", "1700000000 "), protocol.ErrStaleRequest},
		{"underscore", query("1", "tok", "1_700_000_000"), protocol.ErrStaleRequest},
		{"beyond int64", query("1", "tok", "99999999999999999999"), protocol.ErrStaleRequest},
		{"int64's least", query("1", "tok", "-9223372036854775808"), protocol.ErrStaleRequest},
		{"full-width digits", query("1", "tok", "１７００００００００"), protocol.ErrStaleRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _ := serve(t, post(tt.query), nil, mw)
			assertOutcome(t, rec, tt.want)
		})
	}
}

func TestSignatureWithoutTokensIsOff(t *testing.T) {
	mw := middleware.SignatureWithConfig(middleware.SignatureConfig{})
	if rec, _ := serve(t, post("SdkAppid=1"), nil, mw); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
}

// TestSignatureRefusesAnEmptyToken: sha256(RequestTime) alone is a
// signature anyone can compute, so an empty token is a configuration error.
func TestSignatureRefusesAnEmptyToken(t *testing.T) {
	for _, cfg := range []middleware.SignatureConfig{
		{Tokens: []string{"real", ""}},
		{Tokens: []string{"real"}, AppTokens: map[string][]string{"1": {""}}},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "empty token") {
					t.Errorf("%+v: recovered %v, want a panic about the empty token", cfg, r)
				}
			}()
			middleware.SignatureWithConfig(cfg)
		}()
	}
}

func TestIPAllowAndForwardingHeaders(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}
	tests := []struct {
		name    string
		peer    string
		headers map[string]string
		trusted []netip.Prefix
		want    *protocol.Error
		header  string // the forwarding header believed; empty: X-Forwarded-For
	}{
		{"allowed peer", "203.0.113.9:1234", nil, nil, nil, ""},
		{"peer outside", "198.51.100.1:1234", nil, nil, protocol.ErrIPNotAllowed, ""},
		{"spoofed X-Forwarded-For from an untrusted peer", "198.51.100.1:1234",
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, proxy, protocol.ErrIPNotAllowed, ""},
		{"spoofed X-Real-IP from an untrusted peer", "198.51.100.1:1234",
			map[string]string{"X-Real-IP": "203.0.113.9"}, proxy, protocol.ErrIPNotAllowed, ""},
		{"spoofed header with no trusted proxies at all", "127.0.0.1:1234",
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, nil, protocol.ErrIPNotAllowed, ""},
		{"loopback is not trusted by default", "127.0.0.1:1234",
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, proxy, protocol.ErrIPNotAllowed, ""},
		{"X-Forwarded-For from a trusted proxy", "10.0.0.5:1234",
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, proxy, nil, ""},
		{"X-Real-IP from a trusted proxy", "10.0.0.5:1234",
			map[string]string{"X-Real-IP": "203.0.113.9"}, proxy, nil, "X-Real-IP"},
		{"X-Real-IP is not read when X-Forwarded-For is the header", "10.0.0.5:1234",
			map[string]string{"X-Real-IP": "203.0.113.9"}, proxy, protocol.ErrIPNotAllowed, ""},
		{"a client's own X-Forwarded-For through an X-Real-IP proxy", "10.0.0.5:1234",
			map[string]string{"X-Real-IP": "198.51.100.1", "X-Forwarded-For": "203.0.113.9"}, proxy, protocol.ErrIPNotAllowed, "x-real-ip"},
		{"a client's own X-Real-IP through an X-Forwarded-For proxy", "10.0.0.5:1234",
			map[string]string{"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "198.51.100.1"}, proxy, protocol.ErrIPNotAllowed, "X-Forwarded-For"},
		{"trusted proxy forwarding an outsider", "10.0.0.5:1234",
			map[string]string{"X-Forwarded-For": "198.51.100.1"}, proxy, protocol.ErrIPNotAllowed, ""},
		{"client-prepended entry is not believed", "10.0.0.5:1234",
			map[string]string{"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}, proxy, protocol.ErrIPNotAllowed, ""},
		{"ClientIP query parameter is never used", "198.51.100.1:1234", nil, nil, protocol.ErrIPNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := post("SdkAppid=1&ClientIP=203.0.113.9")
			req.RemoteAddr = tt.peer
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec, _ := serve(t, req, middleware.NewIPExtractor(tt.trusted, tt.header),
				middleware.IPAllowWithConfig(middleware.IPAllowConfig{Allow: allow}))
			assertOutcome(t, rec, tt.want)
		})
	}
}

// TestIPAllowRealIPLines: a proxy that adds its X-Real-IP line instead of
// replacing the header (HAProxy's add-header) passes the client's own line
// through first; the proxy's, the last, is the one believed.
func TestIPAllowRealIPLines(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/29")}
	tests := []struct {
		name  string
		lines []string
		want  *protocol.Error
	}{
		{"client's own line first, the proxy's last", []string{"203.0.113.9", "198.51.100.1"}, protocol.ErrIPNotAllowed},
		{"allowed source named by the proxy", []string{"198.51.100.1", "203.0.113.9"}, nil},
		{"two proxies, each adding its peer", []string{"203.0.113.9", "10.0.0.6"}, nil},
		{"two proxies, an outsider behind them", []string{"203.0.113.9", "198.51.100.1", "10.0.0.6"}, protocol.ErrIPNotAllowed},
		{"a line that is no address", []string{"203.0.113.9", "junk"}, protocol.ErrIPNotAllowed},
		{"one line", []string{"203.0.113.9"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := post("SdkAppid=1")
			req.RemoteAddr = "10.0.0.5:1234"
			for _, l := range tt.lines {
				req.Header.Add("X-Real-IP", l)
			}
			rec, _ := serve(t, req, middleware.NewIPExtractor(proxies, "X-Real-IP"),
				middleware.IPAllowWithConfig(middleware.IPAllowConfig{Allow: allow}))
			assertOutcome(t, rec, tt.want)
		})
	}
}

// TestForwardedEntries: the source named by a trusted proxy, read entry by
// entry. The allowlist here covers the proxy's own network, as an internal
// deployment's often does: an entry that is no address must not make the
// proxy the source, or every client behind it would pass.
func TestForwardedEntries(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("10.0.0.0/8")}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/29")}
	tests := []struct {
		name   string
		header string
		lines  []string
		source string // the address the extractor gives
		want   *protocol.Error
	}{
		{"an address", "X-Forwarded-For", []string{"203.0.113.9"}, "203.0.113.9", nil},
		{"an outsider", "X-Forwarded-For", []string{"198.51.100.1"}, "198.51.100.1", protocol.ErrIPNotAllowed},
		{"an IPv4 address with a port", "X-Forwarded-For", []string{"203.0.113.9:4711"}, "203.0.113.9", nil},
		{"an outsider with a port", "X-Forwarded-For", []string{"198.51.100.1:4711"}, "198.51.100.1", protocol.ErrIPNotAllowed},
		{"an IPv6 address with a port", "X-Forwarded-For", []string{"[2001:db8::1]:4711"}, "2001:db8::1", protocol.ErrIPNotAllowed},
		{"an outsider behind a second proxy, with ports", "X-Forwarded-For", []string{"198.51.100.1:4711, 10.0.0.6:80"}, "198.51.100.1", protocol.ErrIPNotAllowed},
		{"an entry that is no address", "X-Forwarded-For", []string{"junk"}, "", protocol.ErrIPNotAllowed},
		{"an empty entry", "X-Forwarded-For", []string{"203.0.113.9,,10.0.0.6"}, "", protocol.ErrIPNotAllowed},
		{"a bad entry after a second line", "X-Forwarded-For", []string{"203.0.113.9", "junk"}, "", protocol.ErrIPNotAllowed},
		{"an X-Real-IP line with a port", "X-Real-IP", []string{"203.0.113.9:4711"}, "203.0.113.9", nil},
		{"an X-Real-IP line that is no address", "X-Real-IP", []string{"junk"}, "", protocol.ErrIPNotAllowed},
		// A zone names an interface of the host that wrote the entry: it is
		// dropped, and with it what a client wrote after the %.
		{"a zoned address", "X-Forwarded-For", []string{"fe80::7%eth1"}, "fe80::7", protocol.ErrIPNotAllowed},
		{"a zoned address in brackets with a port", "X-Forwarded-For", []string{"[fe80::7%eth1]:4711"}, "fe80::7", protocol.ErrIPNotAllowed},
		{"a zone of header text", "X-Real-IP", []string{"2001:db8::1%" + strings.Repeat("x", 4096)}, "2001:db8::1", protocol.ErrIPNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := post("SdkAppid=1")
			req.RemoteAddr = "10.0.0.5:1234"
			for _, l := range tt.lines {
				req.Header.Add(tt.header, l)
			}
			extract := middleware.NewIPExtractor(proxies, tt.header)
			if got := extract(req); got != tt.source {
				t.Errorf("source %q, want %q", got, tt.source)
			}
			rec, _ := serve(t, req, extract,
				middleware.IPAllowWithConfig(middleware.IPAllowConfig{Allow: allow}))
			assertOutcome(t, rec, tt.want)
		})
	}
}

// TestIPAllowWithoutExtractorUsesThePeer: on an echo instance without an
// IPExtractor (the middleware used outside the service), echo's RealIP
// believed X-Forwarded-For and X-Real-IP from anyone before echo v4.16.3,
// so any client could name an allowed address. The allowlist checks the
// TCP peer there.
func TestIPAllowWithoutExtractorUsesThePeer(t *testing.T) {
	mw := middleware.IPAllowWithConfig(middleware.IPAllowConfig{Allow: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
	tests := []struct {
		name, peer string
		headers    map[string]string
		want       *protocol.Error
	}{
		{"allowed peer", "203.0.113.9:1", nil, nil},
		{"X-Forwarded-For naming an allowed address", "198.51.100.1:1",
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, protocol.ErrIPNotAllowed},
		{"X-Real-IP naming an allowed address", "198.51.100.1:1",
			map[string]string{"X-Real-IP": "203.0.113.9"}, protocol.ErrIPNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := post("SdkAppid=1")
			req.RemoteAddr = tt.peer
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec, _ := serve(t, req, nil, mw)
			assertOutcome(t, rec, tt.want)
		})
	}
}

func TestIPAllowEmptyAllowsAll(t *testing.T) {
	req := post("")
	req.RemoteAddr = "198.51.100.1:1"
	if rec, _ := serve(t, req, nil, middleware.IPAllowWithConfig(middleware.IPAllowConfig{})); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
}

// sourceRecorder is a SourceChecker that keeps the address it was asked
// about and accepts those in allow.
type sourceRecorder struct {
	allow []netip.Prefix
	asked netip.Addr
}

func (r *sourceRecorder) Allowed(_ string, addr netip.Addr) bool {
	r.asked = addr
	for _, p := range r.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// TestIPAllowLinkLocalPeersCarryAZone: a link-local IPv6 peer's address
// comes with its interface's zone (RemoteAddr [fe80::5%eth0]:1234), and a
// netip prefix never contains a zoned address. The configuration refuses
// zoned entries ("write the address or network without it") and accepts
// fe80::/10 as trusted proxies, so the zone is dropped before comparing:
// else such a proxy was never trusted, and such a peer never allowed.
func TestIPAllowLinkLocalPeersCarryAZone(t *testing.T) {
	linkLocal := []netip.Prefix{netip.MustParsePrefix("fe80::/10")}
	tests := []struct {
		name    string
		peer    string
		xff     string
		trusted []netip.Prefix
		allow   []netip.Prefix
		want    *protocol.Error
	}{
		{"allowed link-local peer", "[fe80::5%eth0]:1234", "", nil, linkLocal, nil},
		{"allowed link-local host", "[fe80::5%eth0]:1234", "", nil, []netip.Prefix{netip.MustParsePrefix("fe80::5/128")}, nil},
		{"link-local peer outside", "[fe80::5%eth0]:1234", "", nil, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}, protocol.ErrIPNotAllowed},
		{"trusted link-local proxy naming an allowed source", "[fe80::5%eth0]:1234", "203.0.113.9", linkLocal,
			[]netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, nil},
		{"trusted link-local proxy naming an outsider", "[fe80::5%eth0]:1234", "198.51.100.1", linkLocal,
			[]netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("fe80::/10")}, protocol.ErrIPNotAllowed},
		{"allowed zoned source behind a trusted proxy", "10.0.0.5:1234", "fe80::7%eth1", []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")},
			linkLocal, nil},
	}
	for _, tt := range tests {
		for _, checker := range []bool{false, true} {
			name := tt.name
			if checker {
				name += " (SourceChecker)"
			}
			t.Run(name, func(t *testing.T) {
				req := post("SdkAppid=1")
				req.RemoteAddr = tt.peer
				if tt.xff != "" {
					req.Header.Set("X-Forwarded-For", tt.xff)
				}
				cfg := middleware.IPAllowConfig{Allow: tt.allow}
				rec := &sourceRecorder{allow: tt.allow}
				if checker {
					cfg = middleware.IPAllowConfig{Sources: rec}
				}
				res, _ := serve(t, req, middleware.NewIPExtractor(tt.trusted, ""), middleware.IPAllowWithConfig(cfg))
				assertOutcome(t, res, tt.want)
				if checker && rec.asked.Zone() != "" {
					t.Errorf("the SourceChecker was asked about %v, with its zone", rec.asked)
				}
			})
		}
	}
}

// TestIPAllowRefusesWhatConfigRefuses: a library user's IPAllowConfig.Allow
// is checked as IMCALLBACK_ALLOW_CIDRS is (config.CheckPrefix): a /0
// written with an address (10.0.0.0/0, a typo for /8) admitted every
// source, a wide network with bits past its length half of them, and a
// mapped network shorter than /96 none of the IPv4 sources it names.
// What the configuration accepts, 0.0.0.0/0 included, is accepted.
func TestIPAllowRefusesWhatConfigRefuses(t *testing.T) {
	tests := []struct {
		prefix string
		want   string // in the panic; empty: accepted
	}{
		{"10.0.0.0/0", "is /0"},
		{"2001:db8::/0", "is /0"},
		{"99.0.0.0/1", "keeps only its first 1 bits"},
		{"::ffff:192.0.2.0/80", "at least /96"},
		{"0.0.0.0/0", ""},
		{"::/0", ""},
		{"192.0.2.9/24", ""},
		{"::ffff:192.0.2.0/120", ""},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			panicsWith(t, "IPAllowWithConfig", tt.want, func() {
				middleware.IPAllowWithConfig(middleware.IPAllowConfig{Allow: []netip.Prefix{netip.MustParsePrefix(tt.prefix)}})
			})
		})
	}
}

// TestIPExtractorRefusesWhatConfigRefuses: a library user's trusted
// proxies are checked as IMCALLBACK_TRUSTED_PROXIES are
// (config.CheckTrustedProxy): with 0.0.0.0/0 or ::/0 the forwarding
// header was believed from every peer, so any client could write an
// allowed address into it and pass the allowlist.
func TestIPExtractorRefusesWhatConfigRefuses(t *testing.T) {
	tests := []struct {
		prefix string
		want   string // in the panic; empty: accepted
	}{
		{"0.0.0.0/0", "every IPv4 address"},
		{"::/0", "every IPv6 address"},
		{"::ffff:0.0.0.0/96", "every IPv4 address"},
		{"64.0.0.0/2", "broader than /8"},
		{"2000::/3", "broader than /16"},
		{"10.0.0.0/0", "is /0"},
		{"10.0.0.0/8", ""},
		{"fc00::/7", ""},
		{"10.0.0.5/32", ""},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			panicsWith(t, "NewIPExtractor", tt.want, func() {
				middleware.NewIPExtractor([]netip.Prefix{netip.MustParsePrefix(tt.prefix)}, "")
			})
		})
	}
}

func TestIPAllowIPv6AndMapped(t *testing.T) {
	mw := middleware.IPAllowWithConfig(middleware.IPAllowConfig{Allow: []netip.Prefix{
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.0/24"),
		// IPv4-mapped entries name the IPv4 addresses they map.
		netip.MustParsePrefix("::ffff:203.0.113.0/120"), netip.MustParsePrefix("::ffff:198.51.100.7/128"),
	}})
	for peer, want := range map[string]int{
		"[2001:db8::1]:1":        http.StatusOK,
		"[::ffff:192.0.2.1]:1":   http.StatusOK,
		"203.0.113.9:1":          http.StatusOK,
		"[::ffff:203.0.113.9]:1": http.StatusOK,
		"198.51.100.7:1":         http.StatusOK,
		"198.51.100.8:1":         http.StatusForbidden,
		"203.0.114.1:1":          http.StatusForbidden,
		"[2001:db9::1]:1":        http.StatusForbidden,
		"not-an-address":         http.StatusForbidden,
	} {
		req := post("")
		req.RemoteAddr = peer
		if rec, _ := serve(t, req, nil, mw); rec.Code != want {
			t.Errorf("peer %s: status %d, want %d", peer, rec.Code, want)
		}
	}
}

func TestAccessLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	mw := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core)})
	sign := protocol.Sign("secret-token", "1700000000")
	req := httptest.NewRequest(http.MethodPost,
		"/im/callback?SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg&Sign="+sign+"&RequestTime=1700000000",
		strings.NewReader(`{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"private words"}}]}`))
	req.RemoteAddr = "192.0.2.10:5555"
	rec, _ := serve(t, req, nil, mw, middleware.AppIDWithConfig(middleware.AppIDConfig{Allowed: []string{"1"}}))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d", rec.Code)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("want one line per request, got %d", len(entries))
	}
	fields := entries[0].ContextMap()
	want := map[string]any{
		"command": "C2C.CallbackBeforeSendMsg", "app_id": "1400000000", "status": int64(403),
		"remote_ip": "192.0.2.10", "reason": "appid_not_allowed", "path": "/im/callback", "method": "POST",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("field %s = %v, want %v", k, fields[k], v)
		}
	}
	if _, ok := fields["latency"]; !ok {
		t.Error("no latency field")
	}
	if _, ok := fields["request_id"]; !ok {
		t.Error("no request_id field")
	}
	if entries[0].Level != zapcore.WarnLevel {
		t.Errorf("a 403 logs at %v, want warn", entries[0].Level)
	}
	var buf bytes.Buffer
	for k, v := range fields {
		buf.WriteString(k)
		buf.WriteString("=")
		buf.WriteString(strings.TrimSpace(strings.ReplaceAll(toString(v), "\n", " ")))
		buf.WriteString(" ")
	}
	for _, secret := range []string{sign, "private words", "secret-token"} {
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("access log leaks %q: %s", secret, buf.String())
		}
	}
}

// TestAccessLogBoundsQueryValues: the command and the app id come from an
// unverified query string; the line and the Recent record keep a bounded
// copy, never a pointer into a long query.
func TestAccessLogBoundsQueryValues(t *testing.T) {
	long := "C2C." + strings.Repeat("x", 60<<10)
	tests := []struct {
		name        string
		command     string
		padding     int // bytes of another parameter, to make the query long
		wantCommand string
	}{
		{"IM's own", "C2C.CallbackBeforeSendMsg", 0, "C2C.CallbackBeforeSendMsg"},
		{"a short command in a long query", "C2C.CallbackBeforeSendMsg", 4 << 10, "C2C.CallbackBeforeSendMsg"},
		{"a long command", long, 0, long[:128] + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			recent := middleware.NewRecent()
			mw := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core), Recent: recent})
			req := post("SdkAppid=1400000000&CallbackCommand=" + tt.command + "&OptPlatform=" + strings.Repeat("p", tt.padding))
			serve(t, req, nil, mw)
			if got := logs.All()[0].ContextMap()["command"]; got != tt.wantCommand {
				t.Errorf("logged command %.80q…, want %.80q…", got, tt.wantCommand)
			}
			cb := recent.Last(1)[0]
			if cb.Command != tt.wantCommand || cb.App != "1400000000" {
				t.Fatalf("recent command %.80q…, app %q", cb.Command, cb.App)
			}
			query := req.URL.RawQuery
			if len(query) > 1024 {
				for _, v := range []string{cb.Command, cb.App} {
					if shares(v, query) {
						t.Errorf("the Recent record's %q points into the %d-byte query string", v, len(query))
					}
				}
			}
		})
	}
}

// TestAccessLogBoundsPathAndMethod: every request is logged, 404s and 405s
// included, before anything is verified, and net/http reads a request line
// of up to its 64 KiB header limit: the line keeps a bounded path and method.
func TestAccessLogBoundsPathAndMethod(t *testing.T) {
	longPath := "/" + strings.Repeat("a", 60<<10)
	longMethod := strings.Repeat("M", 30<<10)
	tests := []struct {
		name, method, path   string
		wantMethod, wantPath string
		wantStatus           int
	}{
		{"the callback path", http.MethodPost, "/im/callback", http.MethodPost, "/im/callback", http.StatusOK},
		{"a long path", http.MethodPost, longPath, http.MethodPost, longPath[:256] + "…", http.StatusNotFound},
		{"a long method", longMethod, "/im/callback", longMethod[:128] + "…", "/im/callback", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			e := echo.New()
			e.HTTPErrorHandler = middleware.ErrorHandler(zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
			e.Use(middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core)}))
			e.POST("/im/callback", func(c echo.Context) error {
				return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
			})
			req := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(`{}`))
			req.Method = tt.method
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			fields := logs.All()[0].ContextMap()
			if got := fields["path"]; got != tt.wantPath {
				t.Errorf("logged path %.80q… (%d bytes), want %.80q…", got, len(toString(got)), tt.wantPath)
			}
			if got := fields["method"]; got != tt.wantMethod {
				t.Errorf("logged method %.80q… (%d bytes), want %.80q…", got, len(toString(got)), tt.wantMethod)
			}
		})
	}
}

// TestAccessLogReplacesCharactersThatAreNotGraphic: the method, path,
// command and app id come from a request nobody verified yet, percent-decoded
// into any characters. zap escapes the C0 controls only, so a C1 control
// (U+009B is CSI to a terminal), DEL or a format character (U+202E reverses
// the text after it on a screen, in a log viewer as in the console's list
// of recent requests) reached the access line, Recent and the span raw;
// each is replaced by U+FFFD, as a byte that is not UTF-8 is.
func TestAccessLogReplacesCharactersThatAreNotGraphic(t *testing.T) {
	tests := []struct {
		name, target  string
		field, want   string
		recentCommand string
		recentApp     string
	}{
		{"a command with a bidi override", "/im/callback?SdkAppid=1400000000&CallbackCommand=C2C.%E2%80%AEgsMdneS",
			"command", "C2C.\uFFFDgsMdneS", "C2C.\uFFFDgsMdneS", "1400000000"},
		{"a command with a C1 control", "/im/callback?SdkAppid=1400000000&CallbackCommand=%C2%9B2J%1B[31mC2C",
			"command", "\uFFFD2J\uFFFD[31mC2C", "\uFFFD2J\uFFFD[31mC2C", "1400000000"},
		{"an app id with DEL and a line separator", "/im/callback?SdkAppid=14%7F%E2%80%A8&CallbackCommand=C2C.X",
			"app_id", "14\uFFFD\uFFFD", "C2C.X", "14\uFFFD\uFFFD"},
		{"a path with a bidi isolate", "/im/%E2%81%A6callback", "path", "/im/\uFFFDcallback", "", ""},
		{"IM's own, kept as it is", "/im/callback?SdkAppid=1400000000&CallbackCommand=Group.CallbackAfterCreateTopic",
			"command", "Group.CallbackAfterCreateTopic", "Group.CallbackAfterCreateTopic", "1400000000"},
		{"graphic text outside ASCII, kept", "/im/callback?SdkAppid=1400000000&CallbackCommand=C2C.%E8%AF%9D%C2%A0x",
			"command", "C2C.话\u00a0x", "C2C.话\u00a0x", "1400000000"},
	}
	unquote := func(s string) string {
		u, err := strconv.Unquote(`"` + s + `"`)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			recent := middleware.NewRecent()
			e := echo.New()
			e.HTTPErrorHandler = middleware.ErrorHandler(zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
			e.Use(middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core), Recent: recent}))
			e.POST("/im/callback", func(c echo.Context) error {
				return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
			})
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(`{}`)))
			if got, want := logs.All()[0].ContextMap()[tt.field], unquote(tt.want); got != want {
				t.Errorf("logged %s %+q, want %+q", tt.field, got, want)
			}
			cb := recent.Last(1)[0]
			if want := unquote(tt.recentCommand); cb.Command != want {
				t.Errorf("recent command %+q, want %+q", cb.Command, want)
			}
			if want := unquote(tt.recentApp); cb.App != want {
				t.Errorf("recent app %+q, want %+q", cb.App, want)
			}
		})
	}
}

// TestRecentNeverKeepsALongRequestLine: net/http parses the method, the
// path and the query out of one string, the request line, of up to its 64
// KiB header limit. A short command or app id cut from a short query still
// points into that string, and a Recent record (1000 are kept) that held it
// would keep the whole line alive: the record keeps a copy when the line is
// long, whichever part makes it long.
func TestRecentNeverKeepsALongRequestLine(t *testing.T) {
	const query = "?SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg"
	tests := []struct {
		name, method, target string
	}{
		{"IM's own", http.MethodPost, "/im/callback" + query},
		{"a long path", http.MethodPost, "/" + strings.Repeat("a", 60<<10) + query},
		{"a long method", strings.Repeat("M", 60<<10), "/im/callback" + query},
		{"a long query", http.MethodPost, "/im/callback" + query + "&OptPlatform=" + strings.Repeat("p", 60<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recent := middleware.NewRecent()
			e := echo.New()
			e.HTTPErrorHandler = middleware.ErrorHandler(zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
			e.Use(middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.NewNop(), Recent: recent}))
			e.POST("/im/callback", func(c echo.Context) error {
				return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
			})
			req := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(`{}`))
			if tt.method != http.MethodPost {
				// One request line, as net/http reads it, with the long method.
				var err error
				req, err = http.ReadRequest(bufio.NewReader(strings.NewReader(tt.method + " " + tt.target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
				if err != nil {
					t.Fatal(err)
				}
			}
			e.ServeHTTP(httptest.NewRecorder(), req)
			cb := recent.Last(1)[0]
			if cb.Command != "C2C.CallbackBeforeSendMsg" || cb.App != "1400000000" {
				t.Fatalf("recent command %q, app %q", cb.Command, cb.App)
			}
			// The method begins the request line; the URI and the protocol follow.
			line := unsafe.String(unsafe.StringData(req.Method), len(req.Method)+1+len(req.RequestURI)+1+len(req.Proto))
			if !shares(req.RequestURI, line) {
				t.Fatal("the test's request was not parsed from one request line")
			}
			if len(line) > 1024 {
				for _, v := range []string{cb.Command, cb.App} {
					if shares(v, line) {
						t.Errorf("the Recent record's %q points into the %d-byte request line", v, len(line))
					}
				}
			}
		})
	}
}

// TestAccessLogRecordsAPanic: a handler's panic still gets its access line
// and Recent record, as the 500 the recover middleware answers.
func TestAccessLogRecordsAPanic(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	recent := middleware.NewRecent()
	recoverMW := middleware.NewRecover(zap.NewNop()).Func
	access := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core), Recent: recent})
	boom := func(echo.HandlerFunc) echo.HandlerFunc {
		return func(echo.Context) error { panic("handler bug") }
	}
	rec, _ := serve(t, post("SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg"), nil, recoverMW, access, boom)
	assertRejected(t, rec, protocol.ErrInternal)
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d access lines, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if fields["status"] != int64(500) || fields["reason"] != "internal" || fields["command"] != "C2C.CallbackBeforeSendMsg" ||
		entries[0].Level != zapcore.ErrorLevel {
		t.Errorf("access line %v at %v", fields, entries[0].Level)
	}
	if cb := recent.Last(1); len(cb) != 1 || cb[0].Status != 500 || cb[0].Reason != "internal" {
		t.Errorf("recent %+v", cb)
	}
}

// TestAccessLogRecordsAPanicAfterTheAnswer: a panic after the answer was
// sent (a middleware of the user's that panics once the handler answered)
// is recovered, but the status is the one already sent: the access line,
// the Recent record and the span name that one, not a 500 nobody got.
func TestAccessLogRecordsAPanicAfterTheAnswer(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	recent := middleware.NewRecent()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	recoverMW := middleware.NewRecover(zap.NewNop()).Func
	tracingMW := middleware.TracingWithConfig(middleware.TracingConfig{Tracer: tracing.New(tp)})
	access := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core), Recent: recent})
	afterAnswer := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			_ = next(c)
			panic("bug after the answer")
		}
	}
	rec, m := serve(t, post("SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg"), nil, recoverMW, tracingMW, access, afterAnswer)
	if rec.Code != http.StatusOK {
		t.Fatalf("status sent %d, want the handler's 200", rec.Code)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d access lines, want 1", len(entries))
	}
	if got := entries[0].ContextMap()["status"]; got != int64(http.StatusOK) {
		t.Errorf("access line status %v, want the 200 sent", got)
	}
	if cb := recent.Last(1); len(cb) != 1 || cb[0].Status != http.StatusOK {
		t.Errorf("recent %+v, want the 200 sent", cb)
	}
	if ended := spans.Ended(); len(ended) != 1 || spanAttr(ended[0], "http.response.status_code") != "200" {
		t.Errorf("span status %v, want the 200 sent", ended)
	}
	if n := testutil.ToFloat64(m.Rejections.WithLabelValues(protocol.ErrInternal.Reason, metrics.OtherApp)); n != 0 {
		t.Errorf("%v internal rejections counted for a request answered 200", n)
	}
}

// TestAccessLogErrorAfterTheAnswer: an error returned after the answer was
// sent (a middleware of the user's that fails once the handler answered)
// is no refusal: the access line and the Recent record name the 200 sent
// without a rejection's reason or outcome, and the line carries the error,
// which nothing else logs.
func TestAccessLogErrorAfterTheAnswer(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	recent := middleware.NewRecent()
	access := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core), Recent: recent})
	afterAnswer := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := next(c); err != nil {
				return err
			}
			middleware.SetOutcome(c, "allow")
			return errors.New("audit write failed")
		}
	}
	rec, m := serve(t, post("SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg"), nil, access, afterAnswer)
	if rec.Code != http.StatusOK {
		t.Fatalf("status sent %d, want the handler's 200", rec.Code)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d access lines, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if _, ok := fields["reason"]; ok || fields["status"] != int64(http.StatusOK) || fields["error"] != "audit write failed" {
		t.Errorf("access line %v, want status 200, the error and no reason", fields)
	}
	if cb := recent.Last(1); len(cb) != 1 || cb[0].Status != http.StatusOK || cb[0].Reason != "" || cb[0].Outcome != "allow" {
		t.Errorf("recent %+v, want the 200 sent, outcome allow, no reason", cb)
	}
	if n := testutil.ToFloat64(m.Rejections.WithLabelValues(protocol.ErrInternal.Reason, metrics.OtherApp)); n != 0 {
		t.Errorf("%v internal rejections counted for a request answered 200", n)
	}
}

// shares reports whether v's bytes lie inside s's.
func shares(v, s string) bool {
	if v == "" || s == "" {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(v))), uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= lo && p < lo+uintptr(len(s))
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestChainOrder(t *testing.T) {
	var calls []string
	mark := func(name string) echo.MiddlewareFunc {
		return func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { calls = append(calls, name); return next(c) }
		}
	}
	// Given out of order on purpose: the chain must sort by Order.
	list := []middleware.Ordered{
		{Name: "signature", Order: middleware.OrderSignature, Func: mark("signature")},
		{Name: "user-late", Order: middleware.OrderSignature + 10, Func: mark("user-late")},
		{Name: "recover", Order: middleware.OrderRecover, Func: mark("recover")},
		{Name: "body_limit", Order: middleware.OrderBodyLimit, Func: mark("body_limit")},
		{Name: "user-early", Order: middleware.OrderRequestID + 10, Func: mark("user-early")},
		{Name: "request_id", Order: middleware.OrderRequestID, Func: mark("request_id")},
	}
	ch, err := middleware.NewChain(list)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"recover", "request_id", "user-early", "body_limit", "signature", "user-late"}
	if strings.Join(ch.Names, ",") != strings.Join(want, ",") {
		t.Fatalf("names = %v, want %v", ch.Names, want)
	}
	if len(ch.Server) != 3 || len(ch.Route) != 3 {
		t.Fatalf("split at body_limit: server %d, route %d", len(ch.Server), len(ch.Route))
	}
	e := echo.New()
	e.Use(ch.Server...)
	e.POST("/x", func(c echo.Context) error { calls = append(calls, "handler"); return nil }, ch.Route...)
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/x", nil))
	if got := strings.Join(calls, ","); got != strings.Join(append(want, "handler"), ",") {
		t.Fatalf("ran %s", got)
	}
}

// TestChainScopes places middleware by their explicit Scope, whatever
// their Order, and by Order only for ScopeByOrder.
func TestChainScopes(t *testing.T) {
	noop := func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	tests := []struct {
		name         string
		mw           middleware.Ordered
		server, path string
	}{
		{"every request, late order", middleware.Ordered{Name: "audit", Order: middleware.OrderSignature + 5, Scope: middleware.ScopeEveryRequest, Func: noop},
			"recover,audit", "body_limit"},
		{"callback route, early order", middleware.Ordered{Name: "audit", Order: 1, Scope: middleware.ScopeCallbackRoute, Func: noop},
			"recover", "audit,body_limit"},
		{"by order, below the route", middleware.Ordered{Name: "audit", Order: middleware.OrderCallbackRoute - 1, Func: noop},
			"recover,audit", "body_limit"},
		{"by order, on the route", middleware.Ordered{Name: "audit", Order: middleware.OrderCallbackRoute + 1, Func: noop},
			"recover", "body_limit,audit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := middleware.NewChain([]middleware.Ordered{
				{Name: "recover", Order: middleware.OrderRecover, Scope: middleware.ScopeEveryRequest, Func: noop},
				{Name: "body_limit", Order: middleware.OrderBodyLimit, Scope: middleware.ScopeCallbackRoute, Func: noop},
				tt.mw,
			})
			if err != nil {
				t.Fatal(err)
			}
			n := len(strings.Split(tt.server, ","))
			if len(ch.Server) != n || strings.Join(ch.Names[:n], ",") != tt.server || strings.Join(ch.Names[n:], ",") != tt.path {
				t.Fatalf("names %v with %d every-request, want %s | %s", ch.Names, len(ch.Server), tt.server, tt.path)
			}
		})
	}
}

func TestChainRejectsAmbiguity(t *testing.T) {
	noop := func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	tests := []struct {
		name string
		list []middleware.Ordered
		want string // in the error: what names the culprit
	}{
		{"shared order", []middleware.Ordered{{Name: "a", Order: 1, Func: noop}, {Name: "b", Order: 1, Func: noop}}, "a and b share order 1"},
		{"no name", []middleware.Ordered{{Order: 1, Func: noop}}, "order 1 has no name"},
		{"no func", []middleware.Ordered{{Name: "a", Order: 1}}, "a (order 1) has a nil Func"},
		{"shared name", []middleware.Ordered{{Name: "audit", Order: 710, Func: noop}, {Name: "recover", Order: 100, Func: noop},
			{Name: "audit", Order: 705, Func: noop}}, "two entries are named audit (orders 705 and 710)"},
		{"unknown scope", []middleware.Ordered{{Name: "a", Order: 1, Scope: middleware.Scope(7), Func: noop}}, "a (order 1) has an unknown Scope 7"},
		// Outside recover, its panic would drop the connection unanswered.
		{"every request below recover", []middleware.Ordered{{Name: "recover", Order: middleware.OrderRecover, Scope: middleware.ScopeEveryRequest, Func: noop},
			{Name: "audit", Order: 50, Scope: middleware.ScopeEveryRequest, Func: noop}}, "audit (order 50) would run before recover (order 100)"},
		{"by order below recover", []middleware.Ordered{{Name: "recover", Order: middleware.OrderRecover, Scope: middleware.ScopeEveryRequest, Func: noop},
			{Name: "audit", Order: middleware.OrderRecover - 1, Func: noop}}, "audit (order 99) would run before recover (order 100)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := middleware.NewChain(tt.list)
			switch {
			case err == nil:
				t.Fatal("accepted")
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// geoBlocked is a rejection of a user's own middleware.
var geoBlocked = &protocol.Error{Status: http.StatusForbidden, Code: 40399, Reason: "geo_blocked", Info: "blocked"}

// TestErrorHandlerMapsEchoErrors: echo's errors get the codes of their
// statuses, a *protocol.Error is sent as it is when its status is a
// refusal (4xx or 5xx), and anything else is an internal error.
func TestErrorHandlerMapsEchoErrors(t *testing.T) {
	tests := []struct {
		err  error
		want *protocol.Error
	}{
		{echo.ErrNotFound, protocol.ErrNotFound},
		{echo.ErrMethodNotAllowed, protocol.ErrMethodNotAllowed},
		{echo.ErrStatusRequestEntityTooLarge, protocol.ErrBodyTooLarge},
		{echo.ErrBadRequest, protocol.ErrBadRequest}, // a user's middleware: echo's key auth without a key
		{echo.ErrUnauthorized, protocol.ErrUnauthorized},
		{echo.ErrForbidden, protocol.ErrForbidden},
		{echo.ErrTooManyRequests, protocol.ErrTooManyRequests},
		{echo.ErrServiceUnavailable, protocol.ErrServiceUnavailable}, // a load shedder: not durable delivery's 50301
		{echo.NewHTTPError(http.StatusTeapot), protocol.ErrInternal},
		{http.ErrHandlerTimeout, protocol.ErrInternal},
		{protocol.ErrBadSign, protocol.ErrBadSign},
		{geoBlocked, geoBlocked}, // a user's own rejection
		// A user's own without a status (it made net/http panic writing
		// status 0, logged as a panic with its stack) or with one that is
		// no refusal (a 200 with a FAIL envelope, which IM reads as a deny
		// of a before-callback): an internal error, as the README says.
		{&protocol.Error{Code: 40399, Reason: "geo", Info: "blocked"}, protocol.ErrInternal},
		{&protocol.Error{Status: http.StatusOK, Code: 40399, Reason: "geo", Info: "blocked"}, protocol.ErrInternal},
		{fmt.Errorf("wrapped: %w", &protocol.Error{Status: http.StatusFound, Code: 30201, Reason: "geo", Info: "blocked"}), protocol.ErrInternal},
		{&protocol.Error{Status: 600, Code: 60001, Reason: "geo", Info: "blocked"}, protocol.ErrInternal},
		// A typed nil (a non-nil error holding a nil pointer: `var err
		// error = check(c)` with check returning *protocol.Error) has no
		// status to send; reading it panicked in the error handler.
		{(*protocol.Error)(nil), protocol.ErrInternal},
		{(*echo.HTTPError)(nil), protocol.ErrInternal},
		{fmt.Errorf("wrapped: %w", (*protocol.Error)(nil)), protocol.ErrInternal},
	}
	for _, tt := range tests {
		if got := middleware.AsProtocolError(tt.err); got != tt.want {
			t.Errorf("%v mapped to %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRequestID(t *testing.T) {
	mw := middleware.RequestIDWithConfig(middleware.RequestIDConfig{})
	tests := []struct {
		name, incoming string
		kept           bool
	}{
		{"none: generated", "", false},
		{"plain id kept", "req-42_a.b", true},
		{"too long replaced", strings.Repeat("a", 65), false},
		{"odd characters replaced", "abc\"}{", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := post("")
			if tt.incoming != "" {
				req.Header.Set(echo.HeaderXRequestID, tt.incoming)
			}
			rec, _ := serve(t, req, nil, mw)
			got := rec.Header().Get(echo.HeaderXRequestID)
			if tt.kept && got != tt.incoming || !tt.kept && (got == tt.incoming || len(got) != 16) {
				t.Fatalf("X-Request-Id = %q", got)
			}
		})
	}
}

// anySources is a SourceChecker that can tell whether any app accepts a source.
type anySources struct{ accepted netip.Addr }

func (s anySources) Allowed(_ string, a netip.Addr) bool { return a == s.accepted }
func (s anySources) AllowedByAny(a netip.Addr) bool      { return a == s.accepted }

// perAppOnly is a SourceChecker that cannot.
type perAppOnly struct{}

func (perAppOnly) Allowed(string, netip.Addr) bool { return false }

func TestPeerCheckRefusesOnlyPeersNoRequestOfWhichCouldPass(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}
	tests := []struct {
		name    string
		allow   []netip.Prefix
		sources middleware.SourceChecker
		trusted []netip.Prefix
		peer    string
		want    bool
		noCheck bool
	}{
		{name: "no allowlist", peer: "203.0.113.9", noCheck: true},
		{name: "sources that cannot tell", sources: perAppOnly{}, peer: "203.0.113.9", noCheck: true},
		{name: "inside the allowlist", allow: allow, peer: "192.0.2.7", want: true},
		{name: "mapped, inside the allowlist", allow: allow, peer: "::ffff:192.0.2.7", want: true},
		{name: "outside the allowlist", allow: allow, peer: "203.0.113.9"},
		{name: "a trusted proxy outside the allowlist", allow: allow, trusted: trusted, peer: "10.0.0.1", want: true},
		{name: "another peer beside a trusted proxy", allow: allow, trusted: trusted, peer: "10.0.0.2"},
		{name: "accepted by an app", sources: anySources{netip.MustParseAddr("198.51.100.1")}, peer: "198.51.100.1", want: true},
		{name: "accepted by no app", sources: anySources{netip.MustParseAddr("198.51.100.1")}, peer: "198.51.100.2"},
		{name: "sources decide, not allow", allow: allow, sources: anySources{}, peer: "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := middleware.NewPeerCheck(tt.allow, tt.sources, tt.trusted)
			if tt.noCheck {
				if check != nil {
					t.Fatal("a check where every peer can pass")
				}
				return
			}
			if check == nil {
				t.Fatal("no check")
			}
			if got := check(netip.MustParseAddr(tt.peer)); got != tt.want {
				t.Errorf("peer %s: %v, want %v", tt.peer, got, tt.want)
			}
		})
	}
}

// appSources accepts the sources of its app only.
type appSources map[string]netip.Prefix

func (s appSources) Allowed(appID string, addr netip.Addr) bool {
	p, ok := s[appID]
	return ok && p.Contains(addr)
}

// TestNewIPAllowIsCallable: NewIPAllow, the built-in ip_allow at
// OrderIPAllow, is callable outside the package (it took an unexported
// fx.In struct): a program building its own chain gets the allowlist of
// its configuration, or of a SourceChecker when one is given.
func TestNewIPAllowIsCallable(t *testing.T) {
	cfg := &config.Config{AllowCIDRs: []string{"203.0.113.0/24"}}
	perApp := appSources{"1": netip.MustParsePrefix("198.51.100.0/24")}
	for _, tt := range []struct {
		name    string
		sources middleware.SourceChecker
		peer    string
		want    *protocol.Error
	}{
		{"inside the configured networks", nil, "203.0.113.9:1", nil},
		{"outside them", nil, "198.51.100.1:1", protocol.ErrIPNotAllowed},
		{"accepted by the SourceChecker", perApp, "198.51.100.1:1", nil},
		{"refused by the SourceChecker", perApp, "203.0.113.9:1", protocol.ErrIPNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := middleware.NewIPAllow(cfg, tt.sources)
			if err != nil {
				t.Fatal(err)
			}
			if o.Name != "ip_allow" || o.Order != middleware.OrderIPAllow || o.Scope != middleware.ScopeCallbackRoute {
				t.Fatalf("%s at %d, scope %d", o.Name, o.Order, o.Scope)
			}
			req := post("SdkAppid=1")
			req.RemoteAddr = tt.peer
			rec, _ := serve(t, req, nil, o.Func)
			assertOutcome(t, rec, tt.want)
		})
	}
	if _, err := middleware.NewIPAllow(&config.Config{AllowCIDRs: []string{"not-a-cidr"}}, nil); err == nil {
		t.Fatal("a malformed network was accepted")
	}
}

// TestForwardedForAllocatesNoEntryList: the source is read from the nearest
// entry back, before anything of the request is verified, and a client
// behind a trusted proxy chooses what the proxy passes on in front of its
// own address: up to the 64 KiB header limit of commas. Splitting the
// header into its entries allocated 16 bytes per comma (a megabyte for
// one header, at every read of the source) to look at the last one or two.
func TestForwardedForAllocatesNoEntryList(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/29")}
	extract := middleware.NewIPExtractor(proxies, "")
	tests := []struct {
		name   string
		lines  []string
		source string
	}{
		{"one line of commas", []string{strings.Repeat(",", 60<<10) + "203.0.113.9, 10.0.0.6"}, "203.0.113.9"},
		{"lines of commas", []string{strings.Repeat(",", 30<<10), strings.Repeat(",", 30<<10) + "203.0.113.9"}, "203.0.113.9"},
		{"commas after the source", []string{"203.0.113.9" + strings.Repeat(",", 60<<10)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := post("SdkAppid=1")
			req.RemoteAddr = "10.0.0.5:1234"
			req.Header[echo.HeaderXForwardedFor] = tt.lines
			if got := extract(req); got != tt.source {
				t.Fatalf("source %q, want %q", got, tt.source)
			}
			res := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					extract(req)
				}
			})
			// The address and its text: a few dozen bytes, whatever the header's length.
			if got := res.AllocedBytesPerOp(); got > 1024 {
				t.Errorf("reading the source allocated %d bytes for a header of %d bytes", got, len(strings.Join(tt.lines, "")))
			}
		})
	}
}

// TestAccessLogLatencyCountsFromTheArrival: behind RequestState the
// access log's latency counts from the request's arrival, the clock read
// the dispatcher's budget counts from, so time spent in the middleware
// before the access log is in it.
func TestAccessLogLatencyCountsFromTheArrival(t *testing.T) {
	const held = 30 * time.Millisecond
	core, logs := observer.New(zapcore.InfoLevel)
	hold := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			time.Sleep(held)
			return next(c)
		}
	}
	mw := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core)})
	rec, _ := serve(t, post("SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg"), nil, middleware.RequestState, hold, mw)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("want one line, got %d", len(entries))
	}
	latency, ok := entries[0].ContextMap()["latency"].(time.Duration)
	if !ok {
		t.Fatalf("latency field %#v", entries[0].ContextMap()["latency"])
	}
	if latency < held {
		t.Errorf("latency %v, want at least the %v spent after the arrival", latency, held)
	}
}

// panicsWith runs f, the constructor called name, and fails t unless it
// panics with want in its value, or, want empty, does not panic at all.
func panicsWith(t *testing.T, name, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		switch {
		case want == "" && r != nil:
			t.Errorf("%s panicked: %v", name, r)
		case want != "" && (r == nil || !strings.Contains(fmt.Sprint(r), want)):
			t.Errorf("%s recovered %v, want a panic with %q", name, r, want)
		}
	}()
	f()
}

// TestAccessLogNamesTheProxyOfAnUnknownSource: a trusted proxy's
// forwarding header that holds no address leaves the source unknown, and
// the request is refused. Its line names the TCP peer, the proxy, in
// remote_ip (it was empty, so an operator could not tell which proxy sent
// it) and the entry that is no address, bounded and with what is not
// graphic replaced.
func TestAccessLogNamesTheProxyOfAnUnknownSource(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/29")}
	long := strings.Repeat("x", 4096)
	tests := []struct {
		name    string
		header  string // the forwarding header believed
		headers [][2]string
		want    map[string]any // fields; nil: absent
	}{
		{"an X-Forwarded-For entry that is no address", "X-Forwarded-For",
			[][2]string{{"X-Forwarded-For", "203.0.113.9, unknown"}},
			map[string]any{"remote_ip": "10.0.0.5", "bad_x_forwarded_for": "unknown", "bad_x_real_ip": nil}},
		{"an X-Real-IP line that is no address", "X-Real-IP",
			[][2]string{{"X-Real-IP", "203.0.113.9"}, {"X-Real-IP", "\u202ejunk"}},
			map[string]any{"remote_ip": "10.0.0.5", "bad_x_real_ip": "\uFFFDjunk", "bad_x_forwarded_for": nil}},
		{"a long entry is bounded", "X-Forwarded-For",
			[][2]string{{"X-Forwarded-For", long}},
			map[string]any{"remote_ip": "10.0.0.5", "bad_x_forwarded_for": middleware.LoggedValue(long)}},
		{"a known source names no entry", "X-Forwarded-For",
			[][2]string{{"X-Forwarded-For", "junk, 198.51.100.1"}},
			map[string]any{"remote_ip": "198.51.100.1", "bad_x_forwarded_for": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			req := post("SdkAppid=1")
			req.RemoteAddr = "10.0.0.5:1234"
			for _, h := range tt.headers {
				req.Header.Add(h[0], h[1])
			}
			rec, _ := serve(t, req, middleware.NewIPExtractor(proxies, tt.header),
				middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.New(core)}),
				middleware.IPAllowWithConfig(middleware.IPAllowConfig{Allow: allow}))
			assertRejected(t, rec, protocol.ErrIPNotAllowed)
			entries := logs.All()
			if len(entries) != 1 {
				t.Fatalf("want one line, got %d", len(entries))
			}
			fields := entries[0].ContextMap()
			for k, v := range tt.want {
				if got, ok := fields[k]; v == nil && ok || v != nil && got != v {
					t.Errorf("field %s = %#v, want %#v", k, got, v)
				}
			}
		})
	}
}
