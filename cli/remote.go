package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/internal/redact"
	"github.com/imcallback/imcallback/internal/textcut"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

// adminClient calls the admin API of a running service.
type adminClient struct {
	base  string
	token string
	http  *http.Client
	// onlineOnly marks a command that only acts on a running service
	// (delivery): when nothing answers, it does not suggest --offline.
	onlineOnly bool
	// work bounds the wait for the answer of a request that runs until its
	// work is done (untilDone): 0 waits however long it takes.
	work time.Duration
	// limit says where the client's time limit comes from (" (--timeout)"),
	// after the limit in the error of a request that outlives it.
	limit string
	// prog is the command line's name (globalFlags.name), in the
	// commands its errors name.
	prog string
}

// untilDone is a copy of a whose requests wait for their answer as long
// as a.work allows (0: however long it takes), for a request that runs
// until its work is done (a pause, a replay by filter or of every dead
// letter); ctx still ends the wait.
func (a *adminClient) untilDone() *adminClient {
	c := *a
	hc := *a.http
	hc.Timeout = a.work
	c.http = &hc
	return &c
}

// localAddress is where this machine reaches a listener of the setting key
// bound to listen: a wildcard host (":8080", "0.0.0.0", "::") is loopback,
// and a port given as a service name (127.0.0.1:http-alt, which the
// service takes) is looked up, since a URL takes only digits.
func localAddress(key, listen string) (string, error) {
	host, port, err := config.ListenPort(key, listen)
	if err != nil {
		return "", err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// envSetting is the value of the setting key's variable as the service
// reads it (config.LookupEnv): its name in any case after IMCALLBACK_,
// trimmed, and def when it is unset, empty or blank. Two variables that set
// it to different values are an error, as they stop the service's start.
func envSetting(key, def string) (string, error) {
	_, v, err := config.LookupEnv(os.Environ(), key)
	return cmp.Or(v, def), err
}

// errNotRunning says that nothing answers at the admin address.
var errNotRunning = errors.New("no imcallback service answers there")

// errSlow says that the service took the request but did not answer in time.
var errSlow = errors.New("the service did not answer in time")

// adminClient is the client of --admin (default IMCALLBACK_ADMIN_URL, else
// http:// and IMCALLBACK_ADMIN_LISTEN) with IMCALLBACK_ADMIN_TOKEN.
func (g *globalFlags) adminClient() (*adminClient, error) {
	cfg, err := g.clientConfig()
	if err != nil {
		return nil, err
	}
	return g.adminClientAt(cfg.AdminListen, cfg.AdminToken)
}

// adminClientAt is the client of --admin (default IMCALLBACK_ADMIN_URL, else
// http:// and listen, the admin listener's address) with token.
func (g *globalFlags) adminClientAt(listen, token string) (*adminClient, error) {
	base, source := g.adminURL, "--admin"
	if base == "" {
		base, source = os.Getenv("IMCALLBACK_ADMIN_URL"), "IMCALLBACK_ADMIN_URL" // no setting: config does not note it (clientEnv)
		if base == "" {
			if err := refuseMiscasedAdminURL(os.Environ()); err != nil {
				return nil, err
			}
		}
	}
	if base == "" {
		addr, err := localAddress("admin_listen", listen)
		if err != nil {
			return nil, err
		}
		base = "http://" + addr
	} else {
		var err error
		if base, err = adminBase(source, base); err != nil {
			return nil, err
		}
	}
	return &adminClient{base: base, token: token, prog: g.name,
		http: &http.Client{Timeout: 60 * time.Second, CheckRedirect: noRedirect}}, nil
}

// refuseMiscasedAdminURL refuses a variable that is IMCALLBACK_ADMIN_URL in
// another case (IMCALLBACK_admin_url), set while IMCALLBACK_ADMIN_URL, which
// is read as written (config.clientEnv), is not. The settings are read in
// any case after the prefix, so its writer meant it, and the client would
// ask the local service instead, which `delivery pause` or `events replay`
// would act on. The service notes it as no setting; a client prints no
// notes, so it refuses.
func refuseMiscasedAdminURL(environ []string) error {
	const want = "IMCALLBACK_ADMIN_URL"
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if name != want && strings.EqualFold(name, want) && strings.TrimSpace(value) != "" {
			return fmt.Errorf("%s is set, but the admin URL is read from %s as written, which is not set: rename it, "+
				"or give --admin", name, want)
		}
	}
	return nil
}

// noRedirect keeps the admin client from following a redirect: Go's client
// hands the Authorization header on to every address of the same host name,
// whatever its port or scheme, so the admin token would go to another
// listener of that host (over plain http too), and a POST would be sent
// again there. The admin API never redirects; callAt reports the redirect.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// withoutToken is s, text quoted from an answer, with the admin token the
// request sent cut out: a proxy or a debugging endpoint may echo the
// request's Authorization header back. A short token, which config allows
// on loopback, is cut only where it stands alone, not from the answer's
// words that hold its letters.
func (a *adminClient) withoutToken(s string) string {
	if a.token == "" {
		return s
	}
	return redact.StandaloneText(s, a.token)
}

// adminBase reads the admin API's address as source (--admin or
// IMCALLBACK_ADMIN_URL) gives it: an http or https URL, optionally with a
// path prefix (a proxy's), or host:port, which is taken as http://host:port.
// It returns the URL without a trailing slash, or an error naming source
// and the form it expects.
func adminBase(source, raw string) (string, error) {
	shown := config.RedactQuery(raw) // a query may carry a proxy's credential (access_token=)
	bad := func(why string) error {
		return fmt.Errorf("%s %q: %s; give the admin listener's URL, e.g. http://127.0.0.1:9090, or its host:port", source, shown, why)
	}
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "http://" + s // host:port, or a host
	}
	u, err := url.Parse(s)
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // without the URL, which bad names already
	}
	switch {
	case err != nil:
		// It may hold a user info, which Redacted could not cut: redacted
		// before the query, so that a '?' in it does not show its start.
		shown = config.RedactQuery(config.RedactUserinfo(raw))
		return "", bad(withoutSecrets(err.Error(), raw))
	case u.User != nil:
		// No part of it is shown (Redacted shows the user): a user alone,
		// or before an empty password, may be the admin token itself.
		shown = config.RedactQuery(config.RedactUserinfo(s))
		return "", bad("a user and password have no place there (the admin token is IMCALLBACK_ADMIN_TOKEN)")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("the scheme must be http or https")
	case u.Hostname() == "":
		return "", bad("no host")
	case strings.ContainsAny(s, "?#"): // an empty one too: every request would go to the root path
		return "", bad("a query or fragment has no place there")
	}
	return strings.TrimSuffix(s, "/"), nil
}

// withoutSecrets is detail, url.Parse's complaint about raw, with each
// piece of raw's password redacted: a parser that cut the password at a
// '/', '?' or '#' quotes what it misread (the port ":pw-start"), which is
// the password's start.
func withoutSecrets(detail, raw string) string {
	for _, secret := range config.Secrets(raw, false) {
		for _, piece := range strings.FieldsFunc(secret, func(r rune) bool { return strings.ContainsRune("/?#", r) }) {
			detail = strings.ReplaceAll(detail, piece, "[redacted]")
		}
	}
	return detail
}

// call sends one request and decodes a 2xx answer into out. required
// names the fields every answer of the admin API to it has: an answer
// without one of them (a `{}` of a proxy or another service) is not the
// admin API's, and fails naming what answered.
func (a *adminClient) call(ctx context.Context, method, path string, body, out any, required ...string) error {
	_, err := a.callAt(ctx, method, path, body, out, required...)
	return err
}

// callAt is call that also returns when the service answered, by the
// answer's Date (the service's clock, to the second; zero without one).
func (a *adminClient) callAt(ctx context.Context, method, path string, body, out any, required ...string) (time.Time, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return time.Time{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return time.Time{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	var connected atomic.Bool // the request had a connection to go out on
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	}))
	resp, err := a.http.Do(req)
	if err != nil {
		var netErr net.Error
		if ctx.Err() == nil && !connected.Load() && errors.As(err, &netErr) && netErr.Timeout() {
			// No connection (a mistyped address, a firewall that drops it, a
			// TLS handshake that never completes): nothing was sent, so
			// nothing runs there.
			return time.Time{}, fmt.Errorf("%w at %s: no connection was made in time (%v), so nothing was sent: check the address "+
				"of --admin (IMCALLBACK_ADMIN_URL), and that no firewall drops the connection", errNotRunning, a.base, err)
		}
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()) {
			// Something answers the connection: the service is running, and
			// what was asked may still be under way there.
			within := "within " + a.http.Timeout.String() + a.limit
			if a.http.Timeout == 0 { // a request that waits for its answer: its connection timed out
				within = "before its connection timed out"
			}
			if method == http.MethodGet {
				// A read changes nothing there: nothing to check before it is
				// asked again.
				return time.Time{}, fmt.Errorf("%w: %s %s at %s did not answer %s: the service took the request but is slow "+
					"(busy, or the stream or store it reads does not answer); asking again is safe", errSlow, method, path, a.base, within)
			}
			return time.Time{}, fmt.Errorf("%w: %s %s at %s did not answer %s; it may still be running there (check with "+
				"`%s delivery status` or `events list` before asking again)", errSlow, method, path, a.base, within, a.prog)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			if a.onlineOnly {
				return time.Time{}, fmt.Errorf("%w at %s: start it, or point --admin (IMCALLBACK_ADMIN_URL) at it", errNotRunning, a.base)
			}
			return time.Time{}, fmt.Errorf("%w at %s: start it, point --admin (IMCALLBACK_ADMIN_URL) at it, or add --offline to open a stopped service's data directory",
				errNotRunning, a.base)
		}
		return time.Time{}, err
	}
	defer resp.Body.Close()
	answered, _ := http.ParseTime(resp.Header.Get("Date")) // zero without one
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return time.Time{}, err
	}
	if len(data) > maxAnswer {
		// Cut, it would read as an answer that is not the admin API's.
		return time.Time{}, fmt.Errorf("%s %s at %s: HTTP %d, with an answer of more than %d MiB, more than the command line reads",
			method, path, a.base, resp.StatusCode, maxAnswer>>20)
	}
	if resp.StatusCode/100 == 3 {
		to := "no Location"
		if loc, err := resp.Location(); err == nil {
			// Its user info and query may carry a proxy's credential (access_token=):
			// a password, or a user alone, which Redacted would show.
			to = tableCell(excerpt(config.RedactQuery(config.RedactUserinfo(loc.String())), maxAnswerExcerpt))
		} else if resp.Header.Get("Location") != "" {
			to = "a Location that is no URL"
		}
		return time.Time{}, fmt.Errorf("%s %s at %s: HTTP %d, a redirect to %s, not followed (the admin API never redirects, "+
			"and the admin token would go with it): point --admin (IMCALLBACK_ADMIN_URL) at the imcallback admin listener "+
			"or a proxy that reaches it", method, path, a.base, resp.StatusCode, to)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error  string            `json:"error"`
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Error == "" && len(e.Checks) > 0 {
			e.Error = failingChecks(e.Status, e.Checks) // /readyz: every failing check, however long the first
		}
		notAPI := e.Error == "" // a proxy's page, net/http's own answer, another listener's
		e.Error = tableCell(a.withoutToken(e.Error))
		if notAPI {
			e.Error = "an empty body"
			if len(bytes.TrimSpace(data)) > 0 {
				e.Error = excerpt(a.withoutToken(string(data)), maxAnswerExcerpt) // cut, a token's start would show
			}
			// Quoted when it must be, before a hint is added: the hint is
			// not part of what answered.
			e.Error = tableCell(e.Error)
		}
		if notAPI && resp.StatusCode == http.StatusNotFound {
			// The admin API answers every 404 with its JSON: this is another
			// listener's, such as the callback listener's (the protocol's
			// envelope), or a proxy's that routes nowhere.
			e.Error = fmt.Sprintf("%s, not the admin API's answer: point --admin (IMCALLBACK_ADMIN_URL), now %s, at the "+
				"imcallback admin listener (IMCALLBACK_ADMIN_LISTEN) or a proxy that reaches it", e.Error, tableCell(a.base))
		}
		if !notAPI && resp.StatusCode == http.StatusNotFound && e.Error == http.StatusText(http.StatusNotFound) {
			// The admin API's answer to a path it has no route for, not to a
			// missing event or topic (which names it): most likely --admin
			// with a path the listener does not serve under.
			tried, _, _ := strings.Cut(path, "?")
			e.Error = fmt.Sprintf("%s: the admin API has no %s (asked at %s); --admin (IMCALLBACK_ADMIN_URL) is its base URL, "+
				"scheme://host:port, with a path only for a proxy that serves it under one", e.Error, tried, tableCell(a.base+tried))
		}
		if resp.StatusCode == http.StatusUnauthorized && strings.Contains(resp.Header.Get("WWW-Authenticate"), adminRealm) {
			e.Error = a.tokenRefused() // the service's own answer names the header to send, not the setting
		}
		return time.Time{}, &httpError{Method: method, Path: path, Status: resp.StatusCode, Message: e.Error, notAPI: notAPI}
	}
	if out == nil {
		return answered, nil
	}
	err = decodeAnswer(data, out)
	if err == nil {
		err = requireFields(data, required)
	}
	if err != nil {
		// Something else answers there: a login page, a proxy's, another
		// service, or one answering any JSON object ({}).
		body := "an empty body"
		if len(bytes.TrimSpace(data)) > 0 {
			body = tableCell(excerpt(a.withoutToken(string(data)), maxAnswerExcerpt))
		}
		return time.Time{}, fmt.Errorf("%s %s at %s: HTTP %d, but the answer is not the admin API's JSON (%v; Content-Type %q: %s): "+
			"point --admin (IMCALLBACK_ADMIN_URL) at the imcallback admin listener", method, path, a.base, resp.StatusCode,
			err, resp.Header.Get("Content-Type"), body)
	}
	return answered, nil
}

// adminRealm is the realm of the admin API's 401 challenge, which tells
// its refusal of the token from a proxy's.
const adminRealm = `realm="imcallback admin"`

// tokenRefused is what the admin API's 401 means to the command line: the
// setting to give, IMCALLBACK_ADMIN_TOKEN, and whether the token it sent,
// never shown, was wrong or there was none.
func (a *adminClient) tokenRefused() string {
	const setting = "IMCALLBACK_ADMIN_TOKEN (admin_token in --config)"
	if a.token == "" {
		return "the service requires its admin token: set " + setting + " to the service's admin token"
	}
	return "the token of " + setting + " is not the service's admin token: set it to the one the service runs with"
}

// failingChecks is what /readyz's answer says when it is not ready: its
// status and each check that is not "ok", in the order of their names.
func failingChecks(status string, checks map[string]string) string {
	var failing []string
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		if checks[name] != "ok" {
			failing = append(failing, name+": "+checks[name])
		}
	}
	if status == "" {
		status = "not ready"
	}
	return status + ": " + strings.Join(failing, "; ")
}

// maxAnswer bounds how much of an answer of the admin API the command line
// reads: 64 MiB, an event's body at IMCALLBACK_BODY_LIMIT's largest.
const maxAnswer = 64 << 20

// maxAnswerExcerpt bounds how much of an answer that is not the admin API's
// an error quotes: enough to recognise it, never a whole page.
const maxAnswerExcerpt = 200

// decodeAnswer decodes a 2xx answer of the admin API into out. Every
// answer the CLI decodes is a JSON object: an answer that is not (HTML, an
// array) comes from something else.
func decodeAnswer(data []byte, out any) error {
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	return json.Unmarshal(data, out)
}

// requireFields fails when data, a JSON object, lacks one of fields or has
// it null: every answer of the admin API has them.
func requireFields(data []byte, fields []string) error {
	if len(fields) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	var missing []string
	for _, f := range fields {
		if v, ok := obj[f]; !ok || string(v) == "null" {
			missing = append(missing, strconv.Quote(f))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no %s in it", strings.Join(missing, ", "))
	}
	return nil
}

// excerpt is s without surrounding space, cut to at most max bytes with
// "…" when longer.
func excerpt(s string, max int) string { return textcut.Cut(strings.TrimSpace(s), max) }

// httpError is an answer of the admin API other than 2xx.
type httpError struct {
	Method, Path string
	// Status is the HTTP status.
	Status int
	// Message is the answer's "error", else its body.
	Message string
	// notAPI marks an answer that is not the admin API's (no "error"): a
	// proxy's, or another listener's.
	notAPI bool
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// isStatus reports whether err is an answer of the admin API with status.
func isStatus(err error, status int) bool {
	var he *httpError
	return errors.As(err, &he) && he.Status == status && !he.notAPI
}

// errNoTopicModule says that the running service has no topic read API.
var errNoTopicModule = errors.New("the service has no topic module")

// noTopicModule is the error for an HTTP 404 on GET /v1/topics, which the
// topic module's list never answers: the route itself is missing.
func (a *adminClient) noTopicModule() error {
	return fmt.Errorf("%w at %s (GET /v1/topics: HTTP 404): its binary was built without topicsync.Module, "+
		"which cmd/imcallback includes and a binary of cli.Main must list among its modules", errNoTopicModule, a.base)
}

// answersHealth reports whether the admin API answers /healthz at the
// base URL, which tells a route it lacks from a base URL with a wrong path.
func (a *adminClient) answersHealth(ctx context.Context) bool {
	var st struct {
		Status string `json:"status"`
	}
	return a.call(ctx, http.MethodGet, "/healthz", nil, &st, "status") == nil
}

// printJSON writes v indented, its characters that are not graphic
// escaped (jsonText).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(jsonWriter{w})
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// eventsPage selects a page of `events list` against the running service.
type eventsPage struct {
	command, since string
	limit          int
	beforeSeq      uint64 // 0: the newest events
}

// remoteEventsList is `events list` against the running service. The
// table (or the JSON) goes to w; the hint naming the next page of a cut
// list goes to errOut, as `topics list`'s does, so that w carries only data.
func remoteEventsList(ctx context.Context, w, errOut io.Writer, a *adminClient, p eventsPage, asJSON bool) error {
	q := url.Values{}
	for k, v := range map[string]string{"command": p.command, "since": p.since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", fmt.Sprint(p.limit))
	if p.beforeSeq != 0 {
		q.Set("before_seq", strconv.FormatUint(p.beforeSeq, 10))
	}
	var page struct {
		Events []delivery.EventInfo `json:"events"`
		Next   uint64               `json:"next_before_seq"`
	}
	answered, err := a.callAt(ctx, http.MethodGet, "/v1/events?"+q.Encode(), nil, &page, "events")
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, page)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tRECEIVED\tCOMMAND\tAPP ID\tSTATE\tREQUEST ID\tREPLAY OF\tLAST ERROR")
	for _, e := range page.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, tableTime(e.ReceivedAt), tableCell(commandTo(e.Command, e.Destination)),
			tableCell(e.AppID), tableCell(e.State), tableCell(dash(e.RequestID)), tableCell(dash(e.ReplayOf)), tableCell(dash(e.LastError)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case page.Next == 0:
	case len(page.Events) == 0:
		// The service read as much of the log as a page reads and found no
		// match: not the end of the selection.
		fmt.Fprintf(errOut, "(none shown: older events may match; the next page: %s--before-seq %d)\n",
			nextFilters(p, answered), page.Next)
	case len(page.Events) < p.limit:
		fmt.Fprintf(errOut, "(newest first, %d shown; older events may match; the next page: %s--before-seq %d)\n",
			len(page.Events), nextFilters(p, answered), page.Next)
	default:
		fmt.Fprintf(errOut, "(older events follow: newest first, %d shown; the next page: %s--before-seq %d)\n",
			len(page.Events), nextFilters(p, answered), page.Next)
	}
	return nil
}

// nextFilters is the flags of the next page of a list of p before its
// --before-seq, each with a space after it: the filters p was listed with
// (--command, --since as nextSince gives it) and its --limit when not the
// default, so that the next page lists the same selection. Values are
// quoted for a shell when they need it (a pattern's '*').
func nextFilters(p eventsPage, answered time.Time) string {
	var b strings.Builder
	if p.command != "" {
		b.WriteString("--command " + shellQuote(p.command) + " ")
	}
	b.WriteString(nextSince(p.since, answered))
	if p.limit != defaultEventsLimit {
		b.WriteString("--limit " + strconv.Itoa(p.limit) + " ")
	}
	return b.String()
}

// shellQuote is s as one word of a POSIX shell: as it is when it holds
// only characters no shell reads specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:/@%+=-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// nextSince is the --since of the next page of a list since since, with a
// space after it ("" without one): a duration as the time it named when
// the service answered (its Date), so that the next page, asked for
// minutes later, does not start later and leave out the oldest events the
// first one selected; a time as given.
func nextSince(since string, answered time.Time) string {
	if since == "" {
		return ""
	}
	if d, err := config.ParseDuration(since); err == nil && d > 0 && !answered.IsZero() {
		since = answered.Add(-d).UTC().Format(time.RFC3339)
	}
	return "--since " + shellQuote(since) + " "
}

// commandTo is the COMMAND column: the command, and the forward
// destination of a gateway-mode copy ("Group.X → backend").
func commandTo(command, destination string) string {
	if destination == "" {
		return command
	}
	return command + " → " + destination
}

// remoteDead is `events dead` against the running service: the oldest
// limit dead letters on w, and a line on errOut saying so when there are more.
func remoteDead(ctx context.Context, w, errOut io.Writer, a *adminClient, limit int, asJSON bool) error {
	var res struct {
		DeadLetters   []delivery.DeadLetterInfo `json:"dead_letters"`
		Total         int                       `json:"total"`
		Truncated     bool                      `json:"truncated,omitempty"`
		ByDestination map[string]int            `json:"by_destination,omitempty"`
	}
	if err := a.call(ctx, http.MethodGet, "/v1/dead-letters?limit="+strconv.Itoa(limit), nil, &res, "dead_letters", "total"); err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, res)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tFAILED AT\tCOMMAND\tAPP ID\tDELIVERIES\tLAST ERROR")
	for _, d := range res.DeadLetters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", d.Seq, tableTime(d.FailedAt), tableCell(commandTo(d.Command, d.Destination)),
			tableCell(d.AppID), d.Deliveries, tableCell(d.LastError))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.Truncated {
		fmt.Fprint(errOut, deadCutNote(len(res.DeadLetters), res.Total, limit))
	}
	return nil
}

// deadCutNote is the line under a cut dead-letter list: how many of how
// many are shown and how to see more. A larger --limit shows more only
// below maxDeadLimit; at it, --offline is the way to see them all.
func deadCutNote(shown, total, limit int) string {
	more := fmt.Sprintf(": --limit shows up to %d, --offline lists them all", maxDeadLimit)
	if limit >= maxDeadLimit {
		more = ", the most the running service lists: --offline lists them all"
	}
	return fmt.Sprintf("(the oldest %d of %d dead letters shown%s; events replay --dead replays them all)\n", shown, total, more)
}

// maxDeadLimit is the most dead letters GET /v1/dead-letters lists at once.
const maxDeadLimit = 10000

// maxEventsLimit is the most events one page of GET /v1/events lists.
const maxEventsLimit = 1000

// defaultEventsLimit is events list's --limit when none is given.
const defaultEventsLimit = 100

// adminBodyLimit is the largest request body the admin API reads (its
// replay route answers a longer one with HTTP 413).
const adminBodyLimit = 1 << 20

// replayBatch is the most sequences one replay request carries. The service
// replays them one by one, a read and a publish to the stream each, and
// answers when it is done: the batch must be done well within the admin
// server's write timeout (35 s by default) and the client's 60 s. Some
// 50,000 sequences, the most that the body limit holds, took about 9 s
// with a local NATS server, and take longer with a remote one; 5,000 keep a
// request to a second or so. Its body stays far below adminBodyLimit.
const replayBatch = 5000

// seqRuns writes sorted sequences as --seq takes them, contiguous runs as
// N-M: "1-5000,20000,90000". Past maxRuns runs it says how many more.
func seqRuns(seqs []uint64) string {
	const maxRuns = 50
	var runs []string
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if j == i {
			runs = append(runs, strconv.FormatUint(seqs[i], 10))
		} else {
			runs = append(runs, fmt.Sprintf("%d-%d", seqs[i], seqs[j]))
		}
		i = j + 1
	}
	if len(runs) > maxRuns {
		return strings.Join(runs[:maxRuns], ",") + fmt.Sprintf(" and %d more run(s)", len(runs)-maxRuns)
	}
	return strings.Join(runs, ",")
}

// newestEventSeq is the work-stream sequence of the newest event the
// running service lists, 0 when it lists none: the last a replay by
// sequence that begins now can find stored (a later message is not an
// event, or a copy the replay appended). A page with no event whose
// next_before_seq is not 0 (the service read as much of the log as a page
// reads without finding one) is followed to the next.
func newestEventSeq(ctx context.Context, a *adminClient) (uint64, error) {
	path, before := "/v1/events?limit=1", uint64(0)
	for {
		var page struct {
			Events []struct {
				Seq uint64 `json:"seq"`
			} `json:"events"`
			Next uint64 `json:"next_before_seq"`
		}
		if err := a.call(ctx, http.MethodGet, path, nil, &page, "events"); err != nil {
			return 0, err
		}
		switch {
		case len(page.Events) > 0:
			return page.Events[0].Seq, nil
		case page.Next == 0, before != 0 && page.Next >= before: // the last page, or one that would not go down
			return 0, nil
		}
		before = page.Next
		path = "/v1/events?limit=1&before_seq=" + strconv.FormatUint(before, 10)
	}
}

// replayAnswer is the admin API's answer to a replay.
type replayAnswer struct {
	Replayed int      `json:"replayed"`
	Missing  []uint64 `json:"missing"`
	// AlreadyReplayed are dead letters another replay took already.
	AlreadyReplayed []uint64 `json:"already_replayed"`
	// MissingCount and AlreadyReplayedCount count the sequences of a list
	// the service cut (a replay of every dead letter, one request), else 0.
	MissingCount         int `json:"missing_count"`
	AlreadyReplayedCount int `json:"already_replayed_count"`
}

// add adds o's counts to a's.
func (a *replayAnswer) add(o replayAnswer) {
	a.Replayed += o.Replayed
	a.Missing = append(a.Missing, o.Missing...)
	a.AlreadyReplayed = append(a.AlreadyReplayed, o.AlreadyReplayed...)
}

// remoteReplay is `events replay` against the running service. Sequences
// go in requests of at most replayBatch each (a range may select millions),
// one after the other; the output adds their answers up, as one request's
// would read. The first request that fails ends the replay: the error says
// what the requests before it replayed and which sequences were not sent.
// A replay of several requests shows its progress on progressOut.
func remoteReplay(ctx context.Context, w, progressOut io.Writer, a *adminClient, bySeq bool, seqs []uint64, command, since string, dead bool) error {
	if bySeq && len(seqs) == 0 {
		return errNoSeqs // never the whole retention, which no --seq would select
	}
	if !bySeq {
		body := map[string]any{}
		if dead {
			body["dead"] = true
		} else {
			if since == "" {
				since = "876000h" // --command alone: the whole retention
			}
			body["since"], body["command"] = since, command
		}
		// One request, which the service answers when the replay is done:
		// minutes for a large selection. Cut off by the client's time limit,
		// the closed connection would stop the replay part way, unknown
		// where; so the answer is awaited (ctx, Ctrl-C, still ends it).
		// A stop signal (Ctrl-C) closes the connection, which stops the
		// replay there where it got to: the error says so, and what to run.
		ctx, release := onStopSignal(ctx)
		defer release()
		var res replayAnswer
		if err := a.untilDone().call(ctx, http.MethodPost, "/v1/events/replay", body, &res, "replayed"); err != nil {
			if interruption(ctx, err) == errInterrupted {
				return replayInterrupted(a.prog, dead)
			}
			if errors.Is(err, errSlow) && a.work > 0 {
				return replayCut(dead, a)
			}
			return err
		}
		printReplay(w, res, dead)
		return nil
	}
	var beyond []uint64 // past the work stream's end when the replay began
	if len(seqs) > replayBatch {
		// The service replays the events stored when a request began, not
		// the copies it appends; a range past the end sent in several
		// requests would find the copies of the requests before, there
		// (with --dead, those of events that keep failing, dead-lettered
		// again).
		// None listed: no event under the current subject prefix yet, while
		// the sequences may be events of an earlier one (which the listing
		// leaves out), so nothing is left out.
		end, err := newestEventSeq(ctx, a)
		if err != nil {
			return err
		}
		if end != 0 {
			i := sort.Search(len(seqs), func(i int) bool { return seqs[i] > end })
			seqs, beyond = seqs[:i], seqs[i:]
		}
	}
	requests := (len(seqs) + replayBatch - 1) / replayBatch
	if requests > 1 {
		// A stop signal (Ctrl-C) ends the replay between or during requests
		// with what was replayed and the --seq of the rest, as a failed
		// request does.
		var release context.CancelFunc
		ctx, release = onStopSignal(ctx)
		defer release()
	}
	bar := newProgress(progressOut)
	var total replayAnswer
	for i := 0; i < len(seqs); i += replayBatch {
		batch := seqs[i:min(i+replayBatch, len(seqs))]
		body := map[string]any{"seqs": batch} // with dead: those events' dead letters
		if dead {
			body["dead"] = true
		}
		var res replayAnswer
		if err := a.call(ctx, http.MethodPost, "/v1/events/replay", body, &res, "replayed"); err != nil {
			bar.stop()
			if requests == 1 {
				return err
			}
			err = interruption(ctx, err)
			n := i/replayBatch + 1
			if n > 1 {
				printReplay(w, total, dead)
			}
			// The failed request's sequences count as not replayed: an error
			// answer (a 503, a timeout) does not say how far the service got.
			left := seqs[i:]
			return fmt.Errorf("events replay stopped at request %d of %d (%d sequence(s), %d–%d): %w; the %d request(s) before it replayed %d event(s); "+
				"%d sequence(s) from this request on are not known to be replayed: --seq %s",
				n, requests, len(batch), batch[0], batch[len(batch)-1], err, n-1, total.Replayed, len(left), seqRuns(left))
		}
		total.add(res)
		if requests > 1 {
			bar.update(i+len(batch), len(seqs))
		}
	}
	bar.finish()
	total.Missing = append(total.Missing, beyond...)
	slices.Sort(total.Missing) // each answer's are sorted, and so are the batches
	slices.Sort(total.AlreadyReplayed)
	printReplay(w, total, dead)
	return nothingReplayed(ctx, a.prog, total, dead, func(ctx context.Context, seq uint64) string { return remoteEventState(ctx, a, seq) })
}

// replayInterrupted is the error of a replay by filter (dead: of every
// dead letter) that a stop signal ended before the service answered: the
// closed connection stops the replay there, how far it got is not known
// here. prog is the command line's name.
func replayInterrupted(prog string, dead bool) error {
	what := "the replay"
	if dead {
		what = "the replay of the dead letters"
	}
	return fmt.Errorf("%w before the service answered: it stops %s where it got to; %s", errInterrupted, what, replayGoOn(prog, dead))
}

// replayGoOn is what to run after a replay by filter (dead: of every dead
// letter) stopped where it got to, prog being the command line's name.
func replayGoOn(prog string, dead bool) string {
	if dead {
		return fmt.Sprintf("those replayed were removed from the dead-letter stream: run `%s events replay --dead` again for the rest "+
			"(`%s events dead` lists them)", prog, prog)
	}
	return fmt.Sprintf("`%s events list` shows the copies it republished (REPLAY OF): replaying the same selection again repeats those", prog)
}

// replayCut is the error of a replay by filter (dead: of every dead
// letter) that --timeout cut off before the service answered: as after a
// stop signal, the closed connection stops the replay where it got to.
func replayCut(dead bool, a *adminClient) error {
	return fmt.Errorf("%w: POST /v1/events/replay at %s did not answer within --timeout %s; the closed connection stops the replay "+
		"where it got to: %s", errSlow, a.base, a.work, replayGoOn(a.prog, dead))
}

// errNothingReplayed ends a replay of --seq that replayed none of them, so
// that a script's `&&` does not go on as if it had: a mistyped or expired
// sequence, or an event without a dead letter. A replay by filter or of
// every dead letter that finds nothing is no error: there was nothing to do;
// nor is one of dead letters another replay took already (a second click):
// they are replayed.
var errNothingReplayed = errors.New("nothing replayed")

// mostExplained is how many of the sequences without a dead letter the
// error of a replay of --dead --seq says what they are of.
const mostExplained = 3

// nothingReplayed is errNothingReplayed when a replay of --seq replayed
// nothing and found none replayed already, else nil. With --dead it says
// what the first sequences are instead, each told by what (an event's
// state, or that there is none), and what to use; prog is the command
// line's name.
func nothingReplayed(ctx context.Context, prog string, res replayAnswer, dead bool, what func(context.Context, uint64) string) error {
	switch {
	case res.Replayed > 0 || len(res.AlreadyReplayed) > 0:
		return nil
	case !dead || len(res.Missing) == 0:
		return fmt.Errorf("%w: none of the --seq sequences was replayed", errNothingReplayed)
	}
	var whys []string
	for _, seq := range res.Missing[:min(len(res.Missing), mostExplained)] {
		whys = append(whys, what(ctx, seq))
	}
	if more := len(res.Missing) - mostExplained; more > 0 {
		whys = append(whys, fmt.Sprintf("and %d more sequence(s) without a dead letter", more))
	}
	return fmt.Errorf("%w: %s. --dead --seq takes the SEQ of a dead letter as `%s events dead` lists it; "+
		"to run a stored event again whether it failed or not, leave --dead out: %s events replay --seq %s",
		errNothingReplayed, strings.Join(whys, "; "), prog, prog, seqRuns(res.Missing))
}

// noDeadLetter says what seq is when a replay of --dead --seq found no
// dead letter of it, from the event's state (GET /v1/events/<seq>): the
// event's own, none when there is no such event, or only that it has no
// dead letter when the state cannot be read. prog is the command line's
// name.
func noDeadLetter(prog string, seq uint64, state string, found bool) string {
	if !found {
		return fmt.Sprintf("there is no event %d (never stored, past the retention, or not an event)", seq)
	}
	switch state {
	case delivery.StateProcessed:
		// Processed is also an event whose dead letter a replay took before
		// the copies the service searches (or one removed by hand): its
		// copy may have failed again, dead-lettered under its own sequence.
		return fmt.Sprintf("event %d is not a dead letter: it is processed (its handler succeeded, or its dead letter was replayed "+
			"or removed before: a replayed copy that failed again has a dead letter of its own, under the copy's SEQ in "+
			"`%s events dead`)", seq, prog)
	case delivery.StatePending:
		return fmt.Sprintf("event %d is not a dead letter: it is pending (not processed yet, waiting for a retry, "+
			"or processed while an older event still waits: every event above the consumer's ack floor shows pending)", seq)
	case delivery.StateDead:
		return fmt.Sprintf("event %d became a dead letter after the replay looked: run it again", seq)
	}
	return fmt.Sprintf("event %d has no dead letter", seq)
}

// remoteEventState is noDeadLetter of seq as the running service tells it.
func remoteEventState(ctx context.Context, a *adminClient, seq uint64) string {
	var ev struct {
		State string `json:"state"`
	}
	err := a.call(ctx, http.MethodGet, "/v1/events/"+strconv.FormatUint(seq, 10), nil, &ev, "state")
	if isStatus(err, http.StatusNotFound) {
		return noDeadLetter(a.prog, seq, "", false)
	}
	return noDeadLetter(a.prog, seq, ev.State, err == nil) // another error: no state to tell
}

// printReplay writes the summary of a replay: how many events were
// republished, the dead letters another replay took already, and the
// selected sequences not replayed: for dead (a replay of dead letters), those
// without a dead letter, else those not in the stream (no longer, or never).
func printReplay(w io.Writer, res replayAnswer, dead bool) {
	fmt.Fprintf(w, "replayed %d event(s)\n", res.Replayed)
	if len(res.AlreadyReplayed) > 0 {
		fmt.Fprintf(w, "already replayed, not run again (another replay took their dead letters): %s\n",
			listedSeqs(res.AlreadyReplayed, res.AlreadyReplayedCount))
	}
	switch missing := listedSeqs(res.Missing, res.MissingCount); {
	case len(res.Missing) == 0:
	case dead:
		fmt.Fprintf(w, "not replayed, no dead letter (`events dead` lists the dead letters): %s\n", missing)
	default:
		// Past the stream's last sequence too: a --seq range reaching past
		// the end, or a mistyped sequence, names events never stored.
		fmt.Fprintf(w, "not replayed, not in the stream (expired or deleted, past its last sequence when the replay began, "+
			"or not an event): %s\n", missing)
	}
}

// mostListedSeqs is how many entries (a sequence, or a run N-M) the
// summary of a replay lists of each list at most: a --seq range past the
// stream's end, or long expired, selects millions.
const mostListedSeqs = 1000

// listedSeqs is seqs, sorted, as the summary of a replay lists them: runs
// of three or more as N-M, at most mostListedSeqs entries, and how many
// more sequences there were, past those entries or, when count (of a list
// the service cut) is larger, left out by the service.
func listedSeqs(seqs []uint64, count int) string {
	var entries []string
	i := 0
	for ; i < len(seqs) && len(entries) < mostListedSeqs; i++ {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			entries = append(entries, fmt.Sprintf("%d-%d", seqs[i], seqs[j]))
			i = j
		default:
			entries = append(entries, strconv.FormatUint(seqs[i], 10))
		}
	}
	more := len(seqs) - i
	if count > len(seqs) {
		more += count - len(seqs)
	}
	if more > 0 {
		return strings.Join(entries, ", ") + fmt.Sprintf(" and %d more", more)
	}
	return strings.Join(entries, ", ")
}

func newEventsGetCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get <seq>",
		Short: "Show one stored event with its parameters and body (from the running service)",
		Args: oneArg("<seq>", "the SEQ of an event as `"+g.name+" events list` shows it (1, 2, …)", func(arg string) error {
			if n, err := strconv.ParseUint(arg, 10, 64); err != nil || n == 0 {
				return fmt.Errorf("<seq> %q is not a stream sequence (1, 2, …): give the SEQ of an event as `%s events list` shows it", arg, g.name)
			}
			return nil
		}),
		RunE: func(c *cobra.Command, args []string) error {
			if g.offline {
				return errEventsGetOffline
			}
			a, err := g.adminClient()
			if err != nil {
				return err
			}
			a.onlineOnly = true
			var ev json.RawMessage
			if err := a.call(c.Context(), http.MethodGet, "/v1/events/"+url.PathEscape(args[0]), nil, &ev, "seq"); err != nil {
				return err
			}
			return printJSON(c.OutOrStdout(), ev)
		},
	}
}

// oneArg is the Args of a command that takes one argument, name (its
// Use's placeholder), described by what: no argument, several or a blank
// one (an unset shell variable) fail naming it and what to write, as does
// one that check refuses, before anything is asked. cobra's own check
// said only "accepts 1 arg(s), received 0", and a blank argument asked
// for the collection's path, whose 404 named nothing.
func oneArg(name, what string, check func(string) error) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) != 1:
			return fmt.Errorf("%s takes one argument, %s: %s; %d were given", c.CommandPath(), name, what, len(args))
		case strings.TrimSpace(args[0]) == "":
			return fmt.Errorf("%s is empty: give %s", name, what)
		case check != nil:
			return check(args[0])
		}
		return nil
	}
}

// errEventsGetOffline answers events get --offline: one event's body is
// read through the running service.
var errEventsGetOffline = errors.New("events get reads one event through the running service: --offline does not apply " +
	"(events list --offline lists a stopped service's events)")

// errDeliveryOffline answers delivery --offline: pausing and resuming act on
// the workers of a running service, which a stopped one does not have.
var errDeliveryOffline = errors.New("delivery acts on the workers of the running service: --offline does not apply " +
	"(a stopped service's events are listed with events --offline)")

// errEmptyCommand answers delivery pause or resume --command "": an empty
// --command (an unset shell variable) must not act on all delivery.
var errEmptyCommand = errors.New("--command is empty: give an after-command, or leave the flag out for all delivery")

// deliveryState is the admin API's answer of GET /v1/delivery, and of a
// pause or resume.
type deliveryState struct {
	State          string                  `json:"state"`
	PausedCommands []string                `json:"paused_commands"`
	Commands       []delivery.CommandState `json:"commands"`
	// DeadLettersWithoutCommand counts the dead letters of work-stream
	// messages without a command (no events), which no line of Commands holds.
	DeadLettersWithoutCommand int `json:"dead_letters_without_command"`
	// StatusError: the pause or resume happened, the counts could not be read.
	StatusError string `json:"status_error,omitempty"`
}

// remoteDelivery asks the running service for its delivery state (GET) or
// to pause or resume (POST) all delivery, or command's events when command
// is set. A pause answers once the running handlers have finished, up to
// IMCALLBACK_SHUTDOWN_TIMEOUT (at most an hour), and a resume once an
// earlier pause's have: their answer is awaited as long as a.work allows
// (pauseWait), not the client's time limit, which would report a pause
// that goes on there as failed (ctx still ends the wait).
func remoteDelivery(ctx context.Context, a *adminClient, method, path, command string) (deliveryState, error) {
	var st deliveryState
	var body any
	if method == http.MethodPost {
		a = a.untilDone()
		body = map[string]any{}
		if command != "" {
			body = map[string]any{"command": command}
		}
		// A stop signal (Ctrl-C) ends the wait, not the pause or resume,
		// which the service goes on with: the error says so.
		var release context.CancelFunc
		ctx, release = onStopSignal(ctx)
		defer release()
	}
	if err := a.call(ctx, method, path, body, &st, "state"); err != nil {
		if method == http.MethodPost && interruption(ctx, err) == errInterrupted {
			what := strings.TrimPrefix(path, "/v1/delivery/") // pause or resume
			return deliveryState{}, fmt.Errorf("%w before the service answered: the %s, once the service has it, goes on there all the same "+
				"(a pause of all delivery waits there for the running handlers); `%s delivery status` shows the state",
				errInterrupted, what, a.prog)
		}
		return deliveryState{}, err
	}
	return st, nil
}

// pauseMargin is how much longer than IMCALLBACK_SHUTDOWN_TIMEOUT, the
// longest a pause waits for the running handlers, delivery pause and
// resume wait for the answer by default: for the status read after it.
const pauseMargin = time.Minute

// pauseWait is how long delivery pause or resume (c) waits for the
// service's answer, and where that limit comes from for the error of an
// answer that does not come: --timeout when given (positive), else the
// shutdown timeout (IMCALLBACK_SHUTDOWN_TIMEOUT as this command reads the
// configuration) and pauseMargin. Without a limit a hung service held the
// command forever.
func pauseWait(c *cobra.Command, timeout, shutdown time.Duration) (time.Duration, string, error) {
	if c.Flags().Changed("timeout") {
		if timeout <= 0 {
			return 0, "", fmt.Errorf("--timeout %s: must be positive", timeout)
		}
		return timeout, " (--timeout)", nil
	}
	return shutdown + pauseMargin, fmt.Sprintf(" (--timeout's default, %s %s + %s, the longest a pause waits there for the running handlers: "+
		"a service with a longer one needs a longer --timeout)", config.EnvName("shutdown_timeout"), shutdown, pauseMargin), nil
}

func newDeliveryCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "delivery", Short: "Pause, resume and inspect the durable delivery workers of the running service"}
	var command string        // --command of pause and resume
	var timeout time.Duration // --timeout of pause and resume
	run := func(method, path string) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			if g.offline {
				return errDeliveryOffline
			}
			if f := c.Flags().Lookup("command"); f != nil && f.Changed && strings.TrimSpace(command) == "" {
				// An empty shell variable: never all delivery instead of one command.
				return errEmptyCommand
			}
			cfg, err := g.clientConfig()
			if err != nil {
				return err
			}
			a, err := g.adminClientAt(cfg.AdminListen, cfg.AdminToken)
			if err != nil {
				return err
			}
			a.onlineOnly = true
			if method == http.MethodPost {
				if a.work, a.limit, err = pauseWait(c, timeout, cfg.ShutdownTimeout); err != nil {
					return err
				}
			}
			st, err := remoteDelivery(c.Context(), a, method, path, command)
			if err != nil {
				return err
			}
			if g.asJSON {
				return printJSON(c.OutOrStdout(), st)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "delivery %s\n", tableCell(st.State)) // the answer of whatever --admin names
			if st.StatusError != "" {
				fmt.Fprintln(tw, tableCell(st.StatusError))
			}
			if len(st.Commands) > 0 {
				fmt.Fprintln(tw, "COMMAND\tSTATE\tPENDING\tDEAD LETTERS")
			}
			for _, s := range st.Commands {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", tableCell(s.Command), tableCell(s.State), s.Pending, s.DeadLetters)
			}
			if n := st.DeadLettersWithoutCommand; n > 0 {
				fmt.Fprintf(tw, "%d dead letters without a command (stream messages that are no event; listed by events dead)\n", n)
			}
			return tw.Flush()
		}
	}
	pause := &cobra.Command{Use: "pause", Short: "Stop the workers (or one command's events); callbacks keep being stored", Args: cobra.NoArgs, RunE: run(http.MethodPost, "/v1/delivery/pause")}
	resume := &cobra.Command{Use: "resume", Short: "Start the workers (or one command's events) again", Args: cobra.NoArgs, RunE: run(http.MethodPost, "/v1/delivery/resume")}
	for _, c := range []*cobra.Command{pause, resume} {
		c.Flags().StringVar(&command, "command", "", "one after-command (e.g. Group.CallbackAfterCreateTopic) instead of all")
		c.Flags().DurationVar(&timeout, "timeout", 0, "how long to wait for the answer (default "+config.EnvName("shutdown_timeout")+
			" + "+pauseMargin.String()+": a pause waits that long there for the running handlers)")
	}
	cmd.AddCommand(
		&cobra.Command{Use: "status", Short: "Whether the workers run, and state, pending and dead-letter counts per command", Args: cobra.NoArgs, RunE: run(http.MethodGet, "/v1/delivery")},
		pause, resume,
	)
	cmd.PersistentFlags().BoolVar(&g.asJSON, "json", false, "print JSON")
	return cmd
}

// remoteTopics is one page of `topics list` from the running service.
func remoteTopics(ctx context.Context, a *adminClient, app *string, group string, includeDeleted bool, limit int, cursor string) (topicsync.ListResponse, error) {
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if app != nil {
		q.Set("sdk_app_id", *app)
	}
	if group != "" {
		q.Set("group_id", group)
	}
	if includeDeleted {
		q.Set("include_deleted", "true")
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var page topicsync.ListResponse
	if err := a.call(ctx, http.MethodGet, "/v1/topics?"+q.Encode(), nil, &page, "topics"); err != nil {
		if isStatus(err, http.StatusNotFound) && a.answersHealth(ctx) {
			// The admin API answers at the base URL (not one with a wrong
			// path), without the route of the topic module.
			return topicsync.ListResponse{}, a.noTopicModule()
		}
		return topicsync.ListResponse{}, err
	}
	return page, nil
}
