package imtest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/fxresult"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/server"
)

// Test defaults of Start.
const (
	AppID = "1400000000"
	Token = "imtest-token"
)

// envPrefix starts the names of the variables Start's env may set.
const envPrefix = "IMCALLBACK_"

// DefaultTimeout bounds each request of a Service's Send, Metrics and
// GetJSON unless Service.Timeout says otherwise: generous, far above any
// answer of a working service, short of go test's own timeout.
const DefaultTimeout = 30 * time.Second

// Service is an imcallback.Module app running on loopback ports for a test.
type Service struct {
	// PublicURL and AdminURL are the listeners' base URLs, on 127.0.0.1
	// for a listener bound to a wildcard address (IMCALLBACK_LISTEN=:0);
	// PublicURL is https:// when IMCALLBACK_TLS_CERT and
	// IMCALLBACK_TLS_KEY serve the public listener over TLS (the Sender
	// then needs a Client that trusts the certificate).
	PublicURL, AdminURL string
	// Sender targets the callback path for the first accepted app (AppID
	// unless overridden), signed with its first token (Token unless
	// overridden, globally or for the app). Its Client is nil: over TLS,
	// set one that trusts the certificate (SelfSigned's pool).
	Sender *Sender
	// App is the running fx app; Start stops it in t.Cleanup.
	App *fxtest.App
	// Timeout bounds each request of Send, Metrics and GetJSON, the answer
	// read included; zero is DefaultTimeout. A service that does not answer
	// in time fails the test with an error naming the request, instead of
	// hanging it until go test's own timeout.
	Timeout time.Duration

	public *server.Public
	// adminToken is the configured IMCALLBACK_ADMIN_TOKEN, sent by Metrics
	// and GetJSON.
	adminToken string
	// cfg is the service's configuration, for SenderFor.
	cfg *config.Config
}

// lastOfEachName keeps the last "NAME=value" of each name of vars, in the
// order of those last ones. The service reads an empty variable as unset,
// so an override "NAME=" must replace an earlier value, not sit beside it;
// and it reads a name in any case after IMCALLBACK_ (IMCALLBACK_tokens is
// IMCALLBACK_TOKENS), so names are compared as settings (config.EnvSetting): beside Start's default,
// another spelling would be the setting set twice, or, empty, leave the
// default in place.
func lastOfEachName(vars []string) []string {
	setting := func(kv string) string {
		name, _, _ := strings.Cut(kv, "=")
		if key, ok := config.EnvSetting(name); ok {
			return key
		}
		return name
	}
	last := map[string]int{}
	for i, kv := range vars {
		last[setting(kv)] = i
	}
	out := make([]string, 0, len(last))
	for i, kv := range vars {
		if last[setting(kv)] == i {
			out = append(out, kv)
		}
	}
	return out
}

// SenderFor returns a copy of the service's Sender for another app,
// signed with that app's first token (IMCALLBACK_APP_<appid>_TOKENS, else
// the global IMCALLBACK_TOKENS) as the service verifies it: with per-app
// tokens, WithAppID alone would still sign with the first app's token and
// be answered 401.
func (s *Service) SenderFor(appID string) *Sender {
	in := *s.Sender
	in.AppID, in.Token = appID, s.cfg.SigningToken(appID)
	return &in
}

// InMemory returns a copy of the service's Sender that calls the public
// listener's handler directly, without a network round trip. The request's
// peer address is 192.0.2.1 unless WithPeer sets another.
func (s *Service) InMemory() *Sender {
	in := *s.Sender
	in.Handler = s.public.Echo()
	return &in
}

// optionalSink reads the dispatcher's AfterSink when a delivery module
// provides one.
type optionalSink struct {
	fx.In
	Sink dispatcher.AfterSink `optional:"true"`
}

// declaredSections reads the configuration sections the modules declare
// (config.Section), whose variables are settings too.
type declaredSections struct {
	fx.In
	Sections []config.SectionInfo `group:"config_sections"`
}

// Start runs imcallback.Module plus opts on 127.0.0.1:0 listeners with a
// fresh data directory, SdkAppid AppID and token Token. env adds or
// overrides IMCALLBACK_* variables ("NAME=value"), the last of a name
// winning (a name in any case after IMCALLBACK_, as the service reads
// it); "NAME=" removes Start's default, so the setting's own default
// applies (IMCALLBACK_TOKENS= runs without a token: the service reads an
// empty variable as unset). An entry of env that sets nothing fails the
// test: one that is not IMCALLBACK_NAME=value, or whose name is no setting
// (IMCALLBACK_TOKEN for IMCALLBACK_TOKENS, a module section's misspelt
// field, a tests' IMCALLBACK_TEST_* or the command line's
// IMCALLBACK_ADMIN_URL, which the service never reads). The service would
// ignore it, and the test would pass or fail on a configuration it did
// not mean. So does a module in opts that Start
// wires itself (imcallback.Module), one given twice, a nil option (on
// which fx would panic), or a config.Source or logging.Tee, which Start
// supplies, saying so. A service that does not
// build fails the test with the constructor's own error (a setting that
// does not decode, a section's Validate), as `serve` says it; a section no
// constructor takes is read and validated too, as `serve` reads it.
//
// Without delivery.Module in opts after-handlers run inline; when the
// configuration says durable, the service warns about that, and the
// warning is in the test's log (below). With it, they are delivered
// durably, so IMCALLBACK_DELIVERY=inline beside it fails the test; Send's
// OK then says the event is stored, not that its handler ran, which it
// does after Send returns: a test waits for the handler's effect (polling,
// with a bound), and a check at once that a handler did nothing proves
// nothing.
//
// The service logs at level error only (IMCALLBACK_LOG_LEVEL=error, which
// env may change), so Start puts in the test's log (t.Log: shown with -v
// and when the test fails) what the service warns about as it starts,
// whatever the level:
//
//   - the configuration's notes, as `config check` prints them: no token
//     (unsigned callbacks accepted), a variable set empty (it counts as
//     unset), a per-app variable of an app env does not accept
//     (IMCALLBACK_APP_<id>_TOKENS beside an IMCALLBACK_SDKAPPID without
//     id), a forward destination's timeout cut by the handler deadline, a
//     wide IMCALLBACK_SIGN_WINDOW;
//   - every line the service logs at warn level or above while it is built
//     and started (then, too, when the start fails): no token, apps
//     sharing the global tokens, a handler registered under a name the
//     catalogue lacks or limited by ForApps to an app not configured, a
//     command or middleware provided without AsCommand or AsMiddleware
//     (or a list of commands without AsCommands),
//     after-handlers run inline while IMCALLBACK_DELIVERY says durable
//     (no delivery.Module in opts), NATS not reachable yet, IMCALLBACK_MAX_CONNS lowered to the
//     open-file limit, and any module's own. What it logs after the start is not
//     shown; set IMCALLBACK_LOG_LEVEL=warn in env to see it on stderr.
//     Start supplies a logging.Tee for these, so opts cannot supply one.
//
// None of these fails the test, unlike an env entry that sets nothing:
// each can be what a test means. "NAME=" is how env removes Start's
// default (IMCALLBACK_TOKENS= for no token), or how a helper passes on a
// variable of its own that is unset; several apps under Start's one
// token, a handler for an app the test does not run, inline
// after-handlers without IMCALLBACK_DELIVERY=inline, NATS down at the
// start and a wide window for a fixed clock are ordinary test setups; and
// a per-app variable may be left behind by a helper's env shared by tests
// of other apps. The log says which applied, for a test that fails.
func Start(t testing.TB, env []string, opts ...fx.Option) *Service {
	t.Helper()
	if err := fxresult.NilOption("imtest: Start", opts); err != nil {
		t.Fatal(err) // fx would panic on it
	}
	for _, kv := range env {
		if name, _, ok := strings.Cut(kv, "="); !ok || !strings.HasPrefix(name, envPrefix) {
			t.Fatalf("imtest: Start's env entry %q is not %sNAME=value: it would set nothing", kv, envPrefix)
		}
	}
	environ := lastOfEachName(append([]string{
		"IMCALLBACK_SDKAPPID=" + AppID,
		"IMCALLBACK_TOKENS=" + Token,
		"IMCALLBACK_LISTEN=127.0.0.1:0",
		"IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0",
		"IMCALLBACK_DATA_DIR=" + t.TempDir(),
		"IMCALLBACK_LOG_LEVEL=error",
	}, env...))
	var pub *server.Public
	var adm *server.Admin
	var cfg *config.Config
	var sink optionalSink
	var sections declaredSections
	start := newStartLog()
	t.Cleanup(func() { start.report(t) }) // after a failed start, which ends the test
	src := config.Source{Environ: func() []string { return environ }}
	all := fx.Options(
		fx.NopLogger,
		imcallback.Timeouts(src), // the start and stop bounded as `serve` bounds them
		fx.Supply(src),
		fx.Supply(start.tee()),
		imcallback.Module,
		fx.Options(opts...),
		fx.Populate(&pub, &adm, &cfg),
		fx.Invoke(func(in optionalSink) { sink = in }),
		fx.Invoke(func(in declaredSections) { sections = in }),
	)
	if err := wiredTwice(fx.ValidateApp(all)); err != nil {
		t.Fatal(err)
	}
	app := newApp(t, all)
	t.Cleanup(app.RequireStop)
	start.report(t)
	// `serve` warns about these at start; imcallback.Module alone does not.
	unknown := config.UnknownServiceEnv(environ, sections.Sections...)
	if len(unknown) > 0 {
		t.Fatalf("imtest: Start's env sets nothing with: %s", strings.Join(unknown, "; "))
	}
	for _, note := range cfg.Notes() { // no unknown variable among them now
		t.Log("imtest: " + note)
	}
	if sink.Sink != nil && cfg.Delivery == config.DeliveryInline {
		t.Fatal("imtest: IMCALLBACK_DELIVERY is inline but delivery.Module is among the options, " +
			"which delivers after-handlers durably: leave out one of them")
	}
	scheme := "http://"
	if cfg.TLSCert != "" { // as the server decides (the configuration requires both files)
		scheme = "https://"
	}
	s := &Service{
		PublicURL:  scheme + reachable(pub.Addr()),
		AdminURL:   "http://" + reachable(adm.Addr()),
		App:        app,
		public:     pub,
		adminToken: cfg.AdminToken,
		cfg:        cfg,
	}
	s.Sender = senderFor(cfg, s.PublicURL+cfg.Path)
	return s
}

// newApp builds and starts the app of all, failing t at its caller's line
// when it does not build or start. fxtest.New and RequireStart fail the
// test themselves, and none of fxtest's functions is a helper, so go test
// would show the failure at fxtest's own line (app.go:45, a file of the
// module cache), not at the test's call of Start: their failure is held
// and reported here instead, with the same message.
func newApp(t testing.TB, all fx.Option) *fxtest.App {
	t.Helper()
	tb := &buildErrorTB{TB: t, holding: true}
	app, failed := func() (app *fxtest.App, failed bool) {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(heldFailure); !ok {
					panic(r)
				}
				failed = true
			}
		}()
		app = fxtest.New(tb, all)
		app.RequireStart()
		return app, false
	}()
	tb.holding = false // RequireStop's failure, in the test's cleanup, is fxtest's
	if failed || len(tb.held) > 0 {
		t.Fatal(strings.Join(tb.held, "\n"))
	}
	return app
}

// heldFailure ends fxtest's call in newApp when it fails the test: newApp
// reports the failure itself.
type heldFailure struct{}

// buildErrorTB is the test as fxtest sees it: an app that does not
// build fails the test with the constructor's own error (a module's
// setting that does not decode, its Validate's error), as cli.Main's start
// says it, not with fxtest's "fx.New failed:" and dig's account of the
// wiring that led to it, about a kilobyte naming functions such as the
// catalogue's check and reflect.makeFuncStub as the ones that could not
// be built, the cause at its very end. While holding (newApp), failures
// are kept for newApp to report and FailNow ends fxtest's call; after,
// they are fxtest's.
type buildErrorTB struct {
	testing.TB
	holding bool
	held    []string
}

func (b *buildErrorTB) Errorf(format string, args ...any) {
	b.Helper()
	msg := fmt.Sprintf(format, args...)
	if err := fxtestBuildError(format, args); err != nil {
		msg = fmt.Sprintf("imtest: the service does not build: %v", dig.RootCause(err))
	}
	if b.holding {
		b.held = append(b.held, msg)
		return
	}
	b.TB.Errorf("%s", msg)
}

func (b *buildErrorTB) FailNow() {
	if b.holding {
		panic(heldFailure{})
	}
	b.TB.FailNow()
}

// fxtestBuildError is the error of fxtest.New's failure to build the app,
// which it reports as Errorf("fx.New failed: %v", err); nil for any other
// failure.
func fxtestBuildError(format string, args []any) error {
	if format != "fx.New failed: %v" || len(args) != 1 {
		return nil
	}
	err, _ := args[0].(error)
	return err
}

// reachable is the address a client reaches a listener bound to addr at:
// a wildcard host (0.0.0.0, ::, as IMCALLBACK_LISTEN=:0 binds) on loopback,
// as `imcallback send` reaches one. The wildcard itself is no loopback
// address, so a client would send to it through HTTP_PROXY, which cannot
// reach the test's listener (and [::] needs IPv6).
func reachable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // a wildcard listener takes IPv4 too
	}
	return net.JoinHostPort(host, port)
}

// wiredTwice is the error of an app that provides a type twice (a module
// passed to Start that Start wires itself, or one passed twice), saying
// what to do, as cli.Main's start says it: dig's own error names the type
// and the first provider, not the cause. A command's or a middleware's
// type provided twice is said to come of constructors given to fx.Provide
// without dispatcher.AsCommand (AsCommands, middleware.AsMiddleware), its
// usual cause (fxresult.OutsideGroup). So is the error of a type nothing
// provides, naming who needs it (dig's account names fx's annotation stub
// for a command's constructor). Any other error is left to the start,
// which reports it; nil for none.
func wiredTwice(err error) error {
	if what, missing := fxresult.MissingType(err); missing {
		return fmt.Errorf("imtest: %s: nothing provides it: pass the module that provides it to Start, or provide it with "+
			"fx.Provide (a module's configuration struct with config.Section)", what)
	}
	what, twice := fxresult.ProvidedTwice(err)
	if !twice {
		return nil
	}
	if why, outside := fxresult.OutsideGroup(what); outside {
		return fmt.Errorf("imtest: %s", why)
	}
	for _, own := range []struct {
		typ reflect.Type
		why string
	}{
		{reflect.TypeFor[config.Source](), "Start supplies the configuration's source itself, from its env: set IMCALLBACK_* variables in env instead"},
		{reflect.TypeFor[*logging.Tee](), "Start supplies a logging.Tee itself, which puts the start's warnings in the test's log"},
	} {
		if strings.HasPrefix(what, "cannot provide "+own.typ.String()+" ") {
			return fmt.Errorf("imtest: %s: %s", what, own.why)
		}
	}
	return fmt.Errorf("imtest: %s: a module is wired twice; Start wires imcallback.Module itself: "+
		"pass only modules of your own (and delivery.Module for durable delivery), each once", what)
}

// senderFor signs as the service verifies: for the first accepted app
// (AppID unless env overrides IMCALLBACK_SDKAPPID), with that app's own
// first token, else the first global one.
func senderFor(cfg *config.Config, url string) *Sender {
	id := AppID
	if len(cfg.SdkAppIDs) > 0 {
		id = cfg.SdkAppIDs[0]
	}
	return &Sender{URL: url, AppID: id, Token: cfg.SigningToken(id)}
}

// timeout is the bound of one request.
func (s *Service) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// Send sends one callback with the service's Sender, failing t on a
// transport error, when no answer comes within the Timeout, or on an
// answer that is not IM's JSON envelope (the plain-text 503 of a listener
// over IMCALLBACK_MAX_CONNS, say: s.Sender.Send returns such an answer's
// error to read instead); over TLS with the Sender's Client left nil, the
// failure says which to set.
func (s *Service) Send(t testing.TB, command string, body []byte, opts ...Option) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout())
	defer cancel()
	res, err := s.Sender.Send(ctx, command, body, opts...)
	if err != nil {
		if ctx.Err() != nil {
			t.Fatalf("imtest: Send %s to %s: no answer within %v (Service.Timeout): %v", command, s.Sender.URL, s.timeout(), err)
		}
		var untrusted x509.UnknownAuthorityError
		if s.Sender.Client == nil && errors.As(err, &untrusted) {
			t.Fatalf("%v: the Sender's Client is nil, which does not trust the listener's certificate: "+
				"set s.Sender.Client = imtest.NewClient(4, &tls.Config{RootCAs: pool}), with the pool SelfSigned returns", err)
		}
		t.Fatal(err)
	}
	return res
}

// get fetches an admin path, with the configured admin token when there is
// one, failing t on a transport error or when the answer is not read within
// the Timeout.
func (s *Service) get(t testing.TB, path string) (status int, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout())
	defer cancel()
	fail := func(err error) {
		t.Helper()
		if ctx.Err() != nil {
			t.Fatalf("imtest: GET %s%s: no answer within %v (Service.Timeout): %v", s.AdminURL, path, s.timeout(), err)
		}
		t.Fatalf("imtest: GET %s%s: %v", s.AdminURL, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.AdminURL+path, nil)
	if err != nil {
		fail(err)
	}
	if s.adminToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.adminToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		fail(err)
	}
	return resp.StatusCode, body
}

// Metrics is the admin listener's /metrics, as Prometheus text. An answer
// other than 200 fails t: its body is no exposition, and a test checking
// that a series is absent would pass on it.
func (s *Service) Metrics(t testing.TB) string {
	t.Helper()
	status, body := s.get(t, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("imtest: GET %s/metrics = %d, want 200: %.512s", s.AdminURL, status, body)
	}
	return string(body)
}

// GetJSON fetches an admin path, checks the status and decodes the body into
// v (when not nil). With IMCALLBACK_ADMIN_TOKEN set in Start's env it sends
// the token, as the CLI does, so a route that requires it answers.
func (s *Service) GetJSON(t testing.TB, path string, wantStatus int, v any) {
	t.Helper()
	status, body := s.get(t, path)
	if status != wantStatus {
		t.Fatalf("GET %s = %d, want %d: %s", path, status, wantStatus, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatal(fmt.Errorf("GET %s: %w: %s", path, err, body))
		}
	}
}
