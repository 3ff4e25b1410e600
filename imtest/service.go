package imtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/server"
)

// Test defaults of Start.
const (
	AppID = "1400000000"
	Token = "imtest-token"
)

// Service is an imcallback.Module app running on loopback ports for a test.
type Service struct {
	// PublicURL and AdminURL are the listeners' base URLs.
	PublicURL, AdminURL string
	// Sender targets the callback path for the first accepted app (AppID
	// unless overridden), signed with its first token (Token unless
	// overridden, globally or for the app).
	Sender *Sender
	// App is the running fx app; Start stops it in t.Cleanup.
	App *fxtest.App

	public *server.Public
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

// Start runs imcallback.Module plus opts on 127.0.0.1:0 listeners with a
// fresh data directory, SdkAppid AppID and token Token. env adds or
// overrides IMCALLBACK_* variables ("NAME=value"). Without delivery.Module
// in opts after-handlers run inline; when the configuration says durable,
// Start notes that in the test's log.
func Start(t testing.TB, env []string, opts ...fx.Option) *Service {
	t.Helper()
	environ := append([]string{
		"IMCALLBACK_SDKAPPID=" + AppID,
		"IMCALLBACK_TOKENS=" + Token,
		"IMCALLBACK_LISTEN=127.0.0.1:0",
		"IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0",
		"IMCALLBACK_DATA_DIR=" + t.TempDir(),
		"IMCALLBACK_LOG_LEVEL=error",
	}, env...)
	var pub *server.Public
	var adm *server.Admin
	var cfg *config.Config
	var sink optionalSink
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(config.Source{Environ: func() []string { return environ }}),
		imcallback.Module,
		fx.Options(opts...),
		fx.Populate(&pub, &adm, &cfg),
		fx.Invoke(func(in optionalSink) { sink = in }),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	if sink.Sink == nil && cfg.Delivery == config.DeliveryDurable {
		t.Log("imtest: IMCALLBACK_DELIVERY is durable but delivery.Module is not among the options: " +
			"after-handlers run inline (pass delivery.Module for durable delivery)")
	}
	s := &Service{
		PublicURL: "http://" + pub.Addr().String(),
		AdminURL:  "http://" + adm.Addr().String(),
		App:       app,
		public:    pub,
	}
	s.Sender = senderFor(cfg, s.PublicURL+cfg.Path)
	return s
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

// Send sends one callback with the service's Sender, failing t on a transport error.
func (s *Service) Send(t testing.TB, command string, body []byte, opts ...Option) *Result {
	t.Helper()
	res, err := s.Sender.Send(context.Background(), command, body, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Metrics is the admin listener's /metrics, as Prometheus text.
func (s *Service) Metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(s.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// GetJSON fetches an admin path, checks the status and decodes the body into v (when not nil).
func (s *Service) GetJSON(t testing.TB, path string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(s.AdminURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d, want %d: %s", path, resp.StatusCode, wantStatus, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatal(fmt.Errorf("GET %s: %w: %s", path, err, body))
		}
	}
}
