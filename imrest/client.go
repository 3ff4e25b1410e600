package imrest

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/imcallback/imcallback/internal/drain"
	"github.com/imcallback/imcallback/internal/redact"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultAdminIdentifier = "administrator"              // Config.AdminIdentifier
	DefaultBaseURL         = "https://console.tim.qq.com" // Config.BaseURL: the Chinese mainland endpoint
	DefaultSigTTL          = 24 * time.Hour               // Config.SigTTL
	DefaultTimeout         = 10 * time.Second             // the timeout of the default Config.HTTPClient
)

// maxAnswer bounds the answer Call reads; a longer one is ErrBadResponse.
const maxAnswer = 4 << 20

// drainBytes and drainTime bound what Call reads of the body of a status
// other than 200, which the status has decided: a short body that comes
// with the headers is read to its end, so that the connection is kept for
// the next call; a longer one, or one that has not come within drainTime
// (a proxy's page that trickles, or never ends), is left and its
// connection closed, instead of holding the call until its timeout.
const (
	drainBytes = 64 << 10
	drainTime  = 100 * time.Millisecond
)

var (
	// ErrInvalidArgument is wrapped when a Config, a GenUserSig argument or
	// an API name is missing or malformed, or when Call's ctx is nil or its
	// resp is no non-nil pointer.
	ErrInvalidArgument = errors.New("imrest: invalid argument")
	// ErrHTTPStatus is wrapped when IM answers with an HTTP status other than 200.
	ErrHTTPStatus = errors.New("imrest: unexpected HTTP status")
	// ErrBadResponse is wrapped when an answer is too large, does not
	// decode as JSON into the envelope or the caller's response value,
	// carries neither ActionStatus nor ErrorCode, or an ActionStatus
	// other than OK and FAIL.
	ErrBadResponse = errors.New("imrest: bad response")
)

// APIError is an answer whose ErrorCode is not zero (or whose ActionStatus
// is FAIL), even on HTTP 200. The codes are listed in Tencent's error code
// reference.
type APIError struct {
	API  string // the API called, e.g. "v4/openim/sendmsg"
	Code int    // ErrorCode
	Info string // ErrorInfo, the key and UserSig redacted, cut to MaxInfo bytes plus a note of its length
}

// MaxInfo is the most of an answer's ErrorInfo an APIError keeps: IM's are
// a sentence, and the error ends up in logs and in an app's problem text,
// where an answer of megabytes (a proxy's page, a broken server) must not.
const MaxInfo = 1 << 10

// Error reports the API, the code and the info.
func (e *APIError) Error() string {
	return fmt.Sprintf("imrest: %s: ErrorCode %d: %s", e.API, e.Code, e.Info)
}

// Is matches an *APIError target with the same Code, so that
// errors.Is(err, &imrest.APIError{Code: 70001}) tests for one code.
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	return ok && t.Code == e.Code
}

// Config configures a Client. Printing or encoding it never shows the
// secret key; HTTPClient and Now are left out of JSON.
type Config struct {
	// SdkAppID is the application's SdkAppID, in decimal digits without a
	// leading zero, as IM writes it. Required.
	SdkAppID string
	// SecretKey is the application's key for UserSig generation. Required.
	SecretKey Secret
	// AdminIdentifier is the app administrator that calls are made as;
	// DefaultAdminIdentifier when empty. A newline or bytes that are not
	// UTF-8 are refused, as GenUserSig refuses them.
	AdminIdentifier string
	// BaseURL is the http(s) endpoint the API path is appended to, e.g. a
	// regional one such as "https://adminapisgp.im.qcloud.com"; no
	// credentials, query or fragment (New's error refusing one shows it
	// with them redacted). DefaultBaseURL when empty.
	BaseURL string
	// HTTPClient sends the requests (a copy of it that follows no redirect:
	// IM makes none, and one followed would hand the UserSig on, in the
	// query or the Referer, so a redirect is ErrHTTPStatus); when nil, a
	// client with DefaultTimeout, with a connection pool of its own
	// (CloseIdleConnections closes its kept-alive connections, not those
	// of http.DefaultTransport, which other code shares), cloned from
	// http.DefaultTransport; when the program replaced that with another
	// RoundTripper, that one, shared.
	HTTPClient *http.Client `json:"-"`
	// SigTTL is the validity of the administrator UserSig, at least one
	// second; DefaultSigTTL when zero. A fraction of a second is dropped:
	// TLS.expire counts whole seconds.
	SigTTL time.Duration
	// Now is the clock (for tests); time.Now when nil.
	Now func() time.Time `json:"-"`
}

// Client calls Tencent Cloud IM's server REST API as the app administrator.
// It is safe for concurrent use.
type Client struct {
	appID    string
	appIDNum uint64
	admin    string
	baseURL  string
	http     *http.Client
	ttl      time.Duration
	now      func() time.Time

	// secrets returns the secret key and the cached UserSig. They are
	// behind a function, which fmt prints as an address under every verb:
	// where Format is not called (a Client value, or one in an unexported
	// field of a program's own struct) fmt prints a Client field by field,
	// and a pointer field under a verb it has no use for (%s, %q) as what
	// it points to, the key in clear.
	secrets func() *secrets
}

// keep returns a function that returns s (Client.secrets).
func keep(s *secrets) func() *secrets { return func() *secrets { return s } }

// secrets are a Client's secret key and its cached UserSig.
type secrets struct {
	key string

	mu        sync.Mutex
	sig       string    // cached administrator UserSig
	sigIssued time.Time // its TLS.time
	sigRenew  time.Time // generate a new one after this
}

// New validates cfg, applies the defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	appID, err := strconv.ParseUint(cfg.SdkAppID, 10, 64)
	if err != nil || appID == 0 || strconv.FormatUint(appID, 10) != cfg.SdkAppID {
		// A leading zero too: the query's sdkappid would not be the UserSig's
		// TLS.sdkappid, nor Clients.For's key the SdkAppid IM sends.
		return nil, fmt.Errorf("%w: SdkAppID %q is not a positive decimal number without a leading zero", ErrInvalidArgument, cfg.SdkAppID)
	}
	if cfg.SecretKey == "" {
		return nil, fmt.Errorf("%w: SecretKey is empty", ErrInvalidArgument)
	}
	c := &Client{
		appID:    cfg.SdkAppID,
		appIDNum: appID,
		secrets:  keep(&secrets{key: string(cfg.SecretKey)}),
		admin:    orDefault(cfg.AdminIdentifier, DefaultAdminIdentifier),
		http:     cfg.HTTPClient,
		ttl:      cfg.SigTTL,
		now:      cfg.Now,
	}
	if p := identifierProblem(c.admin); p != "" {
		return nil, fmt.Errorf("%w: AdminIdentifier: %s", ErrInvalidArgument, p)
	}
	if c.baseURL, err = baseURL(orDefault(cfg.BaseURL, DefaultBaseURL)); err != nil {
		return nil, err
	}
	if c.http == nil {
		c.http = &http.Client{Transport: ownTransport(), Timeout: DefaultTimeout}
	} else {
		own := *c.http // a copy: the program's client stays as it is for its other uses
		c.http = &own
	}
	// IM does not redirect; following one would hand the UserSig to whatever
	// URL the answer names: in the query when the Location keeps it, else in
	// the Referer, which net/http sets to the URL redirected, query included.
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.ttl == 0 {
		c.ttl = DefaultSigTTL
	}
	if c.ttl < time.Second {
		return nil, fmt.Errorf("%w: SigTTL %v is under one second", ErrInvalidArgument, c.ttl)
	}
	// The UserSig says whole seconds; the cache must renew by the same figure.
	c.ttl = c.ttl.Truncate(time.Second)
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ownTransport is a clone of http.DefaultTransport, a connection pool of
// the client's own. A program that replaced http.DefaultTransport with a
// RoundTripper of its own (an instrumentation's wrapper) has it used as
// it is, shared: it cannot be cloned.
func ownTransport() http.RoundTripper {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return http.DefaultTransport
}

// baseURL checks that raw is an http(s) URL with a host and without
// credentials, query or fragment, and returns it without a trailing slash.
// A bare '?' or '#' (an empty query or fragment) is refused too: Call
// appends the API path and its query, which would follow it. So is a
// space, which url.Parse takes in a path (a value pasted with a trailing
// blank would send every call to a path IM does not know).
func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || strings.ContainsAny(raw, "?# ") {
		return "", fmt.Errorf("%w: BaseURL %s is not an http(s) URL with a host, without credentials, query, fragment or spaces",
			ErrInvalidArgument, shownURL(raw))
	}
	return strings.TrimRight(raw, "/"), nil
}

// shownURL is raw quoted as an error may show it: whole when it has no
// '@', '?' or '#', else with its user info, query and fragment (where a
// password or a key would be) each redacted, and redacted entirely when
// it does not parse.
func shownURL(raw string) string {
	if !strings.ContainsAny(raw, "@?#") {
		return strconv.Quote(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	if u.Opaque != "" { // "user:password@host" without a scheme parses as scheme "user"
		return strconv.Quote(u.Scheme + ":" + redacted)
	}
	shown := u.Scheme + "://"
	if u.User != nil {
		shown += redacted + "@"
	}
	shown += u.Host + u.EscapedPath()
	if u.RawQuery != "" || u.ForceQuery {
		shown += "?" + redacted
	}
	if u.Fragment != "" {
		shown += "#" + redacted
	}
	return strconv.Quote(shown)
}

// SdkAppID returns the SdkAppID the client calls for.
func (c *Client) SdkAppID() string { return c.appID }

// CloseIdleConnections closes the connections to IM that its HTTP client
// keeps alive for the next call (see Config.HTTPClient). A later call
// opens a new one.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// String describes the client without its secret key or UserSig.
func (c *Client) String() string {
	return fmt.Sprintf("imrest.Client{SdkAppID:%s AdminIdentifier:%s BaseURL:%s}", c.appID, c.admin, c.baseURL)
}

// Format writes String for every verb, so not even %+v or %#v print the
// unexported secret key or cached UserSig.
func (c *Client) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// userSig returns the cached administrator UserSig, generating a new one
// when less than a tenth of SigTTL (at most an hour) remains.
func (c *Client) userSig() (string, error) {
	s := c.secrets()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := c.now()
	if s.sig != "" && !now.Before(s.sigIssued) && !now.After(s.sigRenew) {
		return s.sig, nil
	}
	sig, err := GenUserSig(c.appIDNum, s.key, c.admin, c.ttl, now)
	if err != nil {
		return "", err
	}
	s.sig = sig
	s.sigIssued = time.Unix(now.Unix(), 0) // TLS.time has whole seconds
	s.sigRenew = s.sigIssued.Add(c.ttl - min(c.ttl/10, time.Hour))
	return sig, nil
}

// CodeSigExpired is IM's ErrorCode for a UserSig it holds expired: past its
// TLS.expire by IM's clock, or issued before the administrator's login state
// was invalidated (v4/im_open_login_svc/kick), after which a new one works.
const CodeSigExpired = 70001

// dropSig forgets the cached UserSig when it is still sig, which IM refused
// as expired, so that the next call generates a new one instead of sending
// the refused one until its renewal (up to a day with DefaultSigTTL).
func (c *Client) dropSig(sig string) {
	s := c.secrets()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sig == sig {
		s.sig = ""
	}
}

// ownParams are the query parameters Call sets itself.
var ownParams = [...]string{"sdkappid", "identifier", "usersig", "random", "contenttype"}

// CallOption adjusts one Call.
type CallOption func(url.Values)

// WithQuery adds a query parameter to the request, e.g. GetIPList's nettype.
// The parameters the client sets itself (sdkappid, identifier, usersig,
// random, contenttype) cannot be overridden, in any case of their names.
func WithQuery(key, value string) CallOption {
	return func(q url.Values) { q.Set(key, value) }
}

// envelope is the part of every answer that reports success or failure.
// ErrorCode is a pointer so that an answer without it can be told from one
// with 0.
type envelope struct {
	ActionStatus string
	ErrorCode    *int
	ErrorInfo    string
}

// Call POSTs req as JSON ("{}" when nil) to api, e.g. "v4/openim/sendmsg",
// and decodes the answer into resp when resp is not nil (a non-nil
// pointer, else ErrInvalidArgument before anything is sent). A non-zero
// ErrorCode, or ActionStatus FAIL, is an *APIError (for CodeSigExpired the
// cached UserSig is dropped, so that the next call generates a new one;
// Call does not repeat the call itself); a status other than 200 wraps
// ErrHTTPStatus at once (of its body, only what comes within 100 ms is
// read, to keep the connection); an answer that does not decode, carries neither
// ActionStatus nor ErrorCode, or an ActionStatus other than OK and FAIL,
// wraps ErrBadResponse. No error carries the secret key or the UserSig.
// A nil ctx is ErrInvalidArgument, before anything is sent.
func (c *Client) Call(ctx context.Context, api string, req, resp any, opts ...CallOption) error {
	if ctx == nil {
		// net/http refuses it too, but only where Call reads its refusal
		// as an API name that does not form a URL.
		return fmt.Errorf("%w: %s: nil context", ErrInvalidArgument, api)
	}
	api = strings.TrimPrefix(api, "/")
	if api == "" || strings.ContainsAny(api, "?#") {
		return fmt.Errorf("%w: API name %q", ErrInvalidArgument, api)
	}
	if resp != nil {
		// Checked before the call: IM would carry it out, and an error
		// after it would have a caller that retries on error call again.
		if v := reflect.ValueOf(resp); v.Kind() != reflect.Pointer || v.IsNil() {
			return fmt.Errorf("%w: %s: resp %T is not a non-nil pointer, which the answer could be decoded into", ErrInvalidArgument, api, resp)
		} else if !holdsObject(v.Elem()) {
			return fmt.Errorf("%w: %s: resp %T leads to no struct, map with string keys or empty interface, which IM's answer (a JSON object) could be decoded into",
				ErrInvalidArgument, api, resp)
		}
	}
	body := []byte("{}")
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return fmt.Errorf("imrest: %s: encoding request: %w", api, err)
		}
	}
	sig, err := c.userSig()
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, opt := range opts {
		opt(q)
	}
	for key := range q {
		for _, own := range ownParams {
			if strings.EqualFold(key, own) {
				delete(q, key) // a second spelling would be a second parameter beside the client's own
			}
		}
	}
	q.Set("sdkappid", c.appID)
	q.Set("identifier", c.admin)
	q.Set("usersig", sig)
	q.Set("random", strconv.FormatUint(uint64(rand.Uint32()), 10))
	q.Set("contenttype", "json")

	// Canceled to cut short the body of a failure status (drainTime).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/"+api+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: API name %q does not form a URL", ErrInvalidArgument, api)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := c.http.Do(hreq)
	if err != nil {
		// *url.Error prints the whole URL, UserSig included: keep only its cause.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		// The cause may quote the answer: a malformed status line is, from a
		// server that echoes the request (not HTTP at all), the request line.
		err = redact.Error(err, c.secrets().key, sig, url.QueryEscape(sig))
		return fmt.Errorf("imrest: %s: %w", api, err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		drain.Body(hresp.Body, cancel, drainBytes, drainTime) // lets a short body keep the connection
		// The code and its standard text, not the answer's own reason phrase: that is the
		// server's text (or a proxy's), which may echo the request line, UserSig included.
		return fmt.Errorf("%w: %s answered %s", ErrHTTPStatus, api, strings.TrimSpace(fmt.Sprintf("%d %s", hresp.StatusCode, http.StatusText(hresp.StatusCode))))
	}
	answer, err := io.ReadAll(io.LimitReader(hresp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("imrest: %s: reading answer: %w", api, err)
	}
	if len(answer) > maxAnswer {
		return fmt.Errorf("%w: %s answered more than %d bytes", ErrBadResponse, api, maxAnswer)
	}
	var env envelope
	if err := json.Unmarshal(answer, &env); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadResponse, api, err)
	}
	if env.ActionStatus == "" && env.ErrorCode == nil {
		// Every answer of IM's REST API reports its status: a 200 without one ({}, null, another
		// service's JSON from a proxy or a wrong base URL) says nothing about the call.
		return fmt.Errorf("%w: %s answered neither ActionStatus nor ErrorCode", ErrBadResponse, api)
	}
	code := 0
	if env.ErrorCode != nil {
		code = *env.ErrorCode
	}
	if code != 0 || env.ActionStatus == "FAIL" {
		if code == CodeSigExpired {
			c.dropSig(sig)
		}
		return &APIError{API: api, Code: code, Info: clip(c.scrub(env.ErrorInfo, sig))}
	}
	if env.ActionStatus != "" && env.ActionStatus != "OK" {
		// IM spells its status OK or FAIL; another ("fail", "ERROR") is no
		// answer of IM's and says nothing of the call's success.
		return fmt.Errorf("%w: %s answered ActionStatus %q, neither OK nor FAIL", ErrBadResponse, api, clip(c.scrub(env.ActionStatus, sig)))
	}
	if resp != nil {
		if err := json.Unmarshal(answer, resp); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadResponse, api, err)
		}
	}
	return nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// holdsObject reports whether json.Unmarshal can decode a JSON object, as
// every answer of IM's is, into v (resp's element): a struct, a map with
// string keys, an empty interface, a type decoding itself, or a pointer or
// a non-nil interface leading to one.
func holdsObject(v reflect.Value) bool {
	for {
		switch v.Kind() {
		case reflect.Interface:
			// json decodes into the non-nil pointer an interface holds,
			// and replaces anything else only in an empty interface.
			if e := v.Elem(); e.Kind() == reflect.Pointer && !e.IsNil() {
				v = e
				continue
			}
			return v.NumMethod() == 0
		case reflect.Pointer:
			if v.IsNil() {
				return typeHoldsObject(v.Type())
			}
			if decodesItself(v.Type()) {
				return true
			}
			v = v.Elem()
		default:
			return typeHoldsObject(v.Type())
		}
	}
}

// typeHoldsObject is holdsObject for a value of type t not yet allocated.
func typeHoldsObject(t reflect.Type) bool {
	for ; t.Kind() == reflect.Pointer; t = t.Elem() {
		if decodesItself(t) {
			return true
		}
	}
	if decodesItself(t) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		return true
	case reflect.Map:
		k := t.Key()
		return k.Kind() == reflect.String || k.Implements(textUnmarshaler) || reflect.PointerTo(k).Implements(textUnmarshaler)
	case reflect.Interface:
		return t.NumMethod() == 0
	}
	return false
}

// decodesItself reports whether json calls an UnmarshalJSON of t's (or of
// a pointer to it, which json takes) instead of decoding by t's kind.
func decodesItself(t reflect.Type) bool {
	return t.Kind() != reflect.Interface && (t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler))
}

// clip cuts info to MaxInfo bytes, at a character's boundary, saying how
// long it was.
func clip(info string) string {
	if len(info) <= MaxInfo {
		return info
	}
	cut := MaxInfo
	for cut > 0 && !utf8.RuneStart(info[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", info[:cut], len(info))
}

// scrub removes the secret key and the UserSig from text IM sent back, in
// case an answer (or a proxy in between) echoes the request.
func (c *Client) scrub(text, sig string) string {
	return strings.NewReplacer(c.secrets().key, redacted, sig, redacted, url.QueryEscape(sig), redacted).Replace(text)
}

// Network types for GetIPList's nettype, as Tencent documents them.
const (
	NetTypeAll              = 0 // every server address
	NetTypeNativeChina      = 1 // native SDK access, Chinese mainland and Hong Kong
	NetTypeNativeOverseas   = 2 // native SDK access, outside China
	NetTypeWebChina         = 3 // web SDK access, Chinese mainland and Hong Kong
	NetTypeWebOverseas      = 4 // web SDK access, outside China
	NetTypeCallbackChina    = 5 // callback egress, Chinese mainland and Hong Kong
	NetTypeCallbackOverseas = 6 // callback egress, outside China
)

// GetIPList calls v4/ConfigSvc/GetIPList and returns IPList as given: bare
// addresses and CIDRs mixed, for the caller to parse. NetTypeCallbackChina
// and NetTypeCallbackOverseas list the addresses callbacks come from.
func (c *Client) GetIPList(ctx context.Context, netType int) ([]string, error) {
	var resp struct{ IPList []string }
	if err := c.Call(ctx, "v4/ConfigSvc/GetIPList", nil, &resp, WithQuery("nettype", strconv.Itoa(netType))); err != nil {
		return nil, err
	}
	return resp.IPList, nil
}
