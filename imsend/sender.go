package imsend

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/imcallback/imcallback/internal/redact"
	"github.com/imcallback/imcallback/protocol"
)

// Sender sends callbacks the way Tencent IM does.
type Sender struct {
	// URL is the callback URL as configured in the IM console, e.g.
	// http://127.0.0.1:8080/im/callback. A query string of its own is kept,
	// the callback parameters appended after it; it must not name one of
	// them (SdkAppid, CallbackCommand, contenttype, ClientIP, OptPlatform,
	// Sign, RequestTime, in any case), which Send refuses. A fragment is
	// left out, as HTTP never sends it.
	URL string
	// Handler, when set, receives the requests in memory instead of URL's
	// server (URL's path is still used). Send's ctx bounds the wait for its
	// answer as it bounds an HTTP round trip.
	Handler http.Handler
	// AppID is the SdkAppid sent.
	AppID string
	// Token signs requests when set; empty sends no Sign/RequestTime, like
	// IM with callback authentication off.
	Token string
	// ClientIP is the end user's address IM sends (the ClientIP
	// parameter); empty sends 127.0.0.1.
	ClientIP string
	// OptPlatform is the client platform IM sends (iOS, Android, Web,
	// RESTAPI …); empty sends RESTAPI. WithPlatform sets it per request.
	OptPlatform string
	// Now is the clock RequestTime is taken from; nil is time.Now.
	Now func() time.Time
	// Client sends the requests; nil is a client that, like IM, does not
	// follow redirects (the 3xx is the answer).
	Client *http.Client
}

// defaultClient sends when Sender.Client is nil. IM counts every status
// other than 200 as a failed callback, a redirect included (a proxy's
// http-to-https 308, say): following one would report OK for a URL IM fails on.
var defaultClient = &http.Client{CheckRedirect: noRedirect}

// NewClient is a client for conns requests in flight at once to one
// listener: a kept-alive connection each (the default transport keeps only
// two idle), through the environment's proxy (HTTP_PROXY …) as a nil
// Sender.Client goes, following no redirect, like IM. tlsConfig, when not
// nil, is its TLS settings (a listener's own certificate to trust, say).
func NewClient(conns int, tlsConfig *tls.Config) *http.Client {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		TLSClientConfig: tlsConfig}
	return &http.Client{Transport: tr, CheckRedirect: noRedirect}
}

// noRedirect makes a client return a redirect as the answer.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Option changes one request.
type Option func(*request)

type request struct {
	method   string
	params   protocol.Params
	at       time.Time
	unsigned bool
	header   http.Header
	peer     string
}

// At sets RequestTime (and the Sign computed for it), e.g. to send a stale
// or future request.
func At(t time.Time) Option { return func(r *request) { r.at = t } }

// Late sends the request d in the past.
func Late(d time.Duration) Option { return func(r *request) { r.at = r.at.Add(-d) } }

// Unsigned leaves Sign and RequestTime out even when a token is set.
func Unsigned() Option { return func(r *request) { r.unsigned = true } }

// WithAppID sends another SdkAppid; "" leaves the parameter out.
func WithAppID(id string) Option { return func(r *request) { r.params.SdkAppid = id } }

// WithPlatform sets OptPlatform.
func WithPlatform(p string) Option { return func(r *request) { r.params.OptPlatform = p } }

// WithHeader adds a request header, e.g. X-Forwarded-For.
func WithHeader(name, value string) Option { return func(r *request) { r.header.Add(name, value) } }

// WithMethod sends another HTTP method than POST.
func WithMethod(m string) Option { return func(r *request) { r.method = m } }

// WithPeer sets the TCP peer address of an in-memory request (Handler
// only; the default is 192.0.2.1:1234). Over HTTP the peer is the
// connection's own address, so Send refuses WithPeer without a Handler
// (imtest's Service.InMemory has one) rather than send from another
// address than the one asked for.
func WithPeer(addr string) Option { return func(r *request) { r.peer = addr } }

// Send posts body as a callback for command and reads the answer. A
// rejection is a Result without error. The error is a transport failure
// (no Result), or an answer that is not a JSON envelope (a proxy's HTML
// page, say, JSON without an ActionStatus of OK or FAIL, such as a
// gateway's {"message":"Not Found"}, or without an integer ErrorCode, a
// null one included, or JSON that gives a name twice), returned with its
// Result.
func (s *Sender) Send(ctx context.Context, command string, body []byte, opts ...Option) (*Result, error) {
	r := &request{
		method: http.MethodPost,
		at:     s.now(),
		header: http.Header{},
		params: protocol.Params{
			SdkAppid:        s.AppID,
			CallbackCommand: command,
			ContentType:     "json",
			ClientIP:        or(s.ClientIP, "127.0.0.1"),
			OptPlatform:     or(s.OptPlatform, "RESTAPI"),
		},
	}
	for _, o := range opts {
		o(r)
	}
	if s.Token != "" && !r.unsigned {
		r.params.Sign, r.params.RequestTime = protocol.SignAt(s.Token, r.at)
	}
	if r.peer != "" && s.Handler == nil {
		return nil, fmt.Errorf("imsend: %s: WithPeer sets the peer of an in-memory request only (Sender.Handler, "+
			"imtest's Service.InMemory): over HTTP the peer is the connection's own address", command)
	}
	url, err := withParams(s.URL, r.params.Encode())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, r.method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("imsend: %w", withoutQuery(err))
	}
	req.Header = r.header
	if s.Handler != nil {
		req.RemoteAddr = "192.0.2.1:1234" // a documentation address, as no TCP peer exists
		if r.peer != "" {
			req.RemoteAddr = r.peer
		}
		return serveInMemory(ctx, s.Handler, req, command)
	}
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("imsend: %s: %w", command, withoutQuery(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("imsend: %s: read answer: %w", command, err)
	}
	if len(raw) > MaxAnswer {
		return &Result{Command: command, Status: resp.StatusCode, Header: resp.Header, Body: raw[:MaxAnswer]},
			fmt.Errorf("imsend: %s: answer (HTTP %d) is over %d bytes", command, resp.StatusCode, MaxAnswer)
	}
	return newResult(command, resp.StatusCode, resp.Header, raw)
}

// serveInMemory runs req through h and reads the answer, as Send does over
// HTTP: a ctx that is done before the handler answers is an error (the
// handler, which sees ctx as the request's context, finishes on its own
// goroutine), so a Sender with a Handler is bounded by ctx like one
// sending over HTTP. A handler that panics is an error too, as net/http
// recovers the panic and drops the connection: on the handler's own
// goroutine it would otherwise end the whole test binary. The error holds
// the panic's stack, which net/http would log. The Result's headers are
// those the handler had set when it wrote its answer, as a client receives
// them.
func serveInMemory(ctx context.Context, h http.Handler, req *http.Request, command string) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("imsend: %s: %w", command, err)
	}
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	var panicked any
	var stack string // the panic's, as net/http logs it
	go func() {
		defer close(done)
		defer func() {
			if panicked = recover(); panicked != nil && panicked != http.ErrAbortHandler {
				stack = "\n" + string(debug.Stack())
			}
		}()
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
		if panicked != nil {
			return nil, fmt.Errorf("imsend: %s: the handler panicked in memory: %v%s", command, panicked, stack)
		}
		// Result's header is the one written with the status, as over
		// HTTP: rec.Header() is the handler's live map, changes made after
		// the answer was written (which no client receives) included.
		answer := rec.Result()
		return newResult(command, answer.StatusCode, answer.Header, rec.Body.Bytes())
	case <-ctx.Done():
		return nil, fmt.Errorf("imsend: %s: no answer in memory: %w", command, ctx.Err())
	}
}

// CheckURL returns the error Send would return for a Sender.URL whose
// query string names a callback parameter, so that a caller about to send
// many requests can refuse it once.
func CheckURL(url string) error {
	_, err := withParams(url, "")
	return err
}

// withParams is base with the callback parameters query appended to its
// own query string, if it has one. A parameter of query named in base's
// own is refused: the service takes the first non-empty value of a name,
// so base's would be checked instead of the signed one, or the two would
// be read as a forgery.
func withParams(base, query string) (string, error) {
	if !strings.ContainsAny(base, "?#") {
		return base + "?" + query, nil
	}
	base, _, _ = strings.Cut(base, "#")
	path, own, _ := strings.Cut(base, "?")
	for pair := range strings.SplitSeq(own, "&") {
		name, _, _ := strings.Cut(pair, "=")
		plain, err := neturl.QueryUnescape(name)
		if err != nil {
			plain = name
		}
		if protocol.IsParam(name) || protocol.IsParam(plain) {
			return "", fmt.Errorf("imsend: the URL's query string sets %q, a callback parameter the sender sends itself "+
				"(SdkAppid, CallbackCommand, contenttype, ClientIP, OptPlatform, Sign, RequestTime): leave it out of the URL",
				plain)
		}
	}
	own = strings.Trim(own, "&")
	switch {
	case own == "":
		return path + "?" + query, nil
	case query == "":
		return path + "?" + own, nil
	}
	return path + "?" + own + "&" + query, nil
}

// withoutQuery drops the query string from the URL a *url.Error quotes: it
// carries Sign, which the service accepts again for as long as its window
// takes the RequestTime, and the error is printed (the CLI, a load run's
// FirstError, test logs). Its cause may quote it too, from the answer: the
// "status code" of a server that is no HTTP server and echoes the request
// line (a mistyped port) is the request's target; there it is redacted.
// Its user info is redacted too (withoutUserinfo).
func withoutQuery(err error) error {
	var ue *neturl.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, query, _ := strings.Cut(ue.URL, "?")
	return &neturl.Error{Op: ue.Op, URL: withoutUserinfo(u), Err: redact.Error(ue.Err, query)}
}

// withoutUserinfo is u, the URL a *url.Error quotes without its query
// string, with its whole user info replaced by redact.Mark. net/http stars
// the password of a URL it sent to, but shows the user before it, a user
// without one (a gateway's key put where a user goes, http://KEY@host, or
// http://KEY:@host), and a URL that does not parse as it was given,
// password included. The user info runs to the last '@' of the authority,
// or of the whole of a URL that does not parse, whose user info may hold
// an unescaped '/' (the host may then be hidden too, never a secret
// shown).
func withoutUserinfo(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	authority := rest
	if _, err := neturl.Parse(u); err == nil {
		if end := strings.IndexAny(rest, "/?#"); end >= 0 {
			authority = rest[:end]
		}
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return u
	}
	return scheme + "://" + redact.Mark + rest[at:]
}

// MaxAnswer bounds the answer Send reads over HTTP, far above any envelope
// with reply fields: a longer one (an endpoint streaming without end, under
// load or chaos) is an error, returned with a Result holding the status and
// the first MaxAnswer bytes.
const MaxAnswer = 1 << 20

// now reads the Sender's clock.
func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
