package delivery_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/server"
)

// optionalSink reads the AfterSink when one is provided.
type optionalSink struct {
	fx.In
	Sink dispatcher.AfterSink `optional:"true"`
}

// TestModule runs imcallback.Module with delivery.Module wired (durable:
// the Service is the dispatcher's sink) and without it (inline).
func TestModule(t *testing.T) {
	for _, c := range []struct {
		mode        string
		wantDurable bool
	}{
		{config.DeliveryDurable, true},
		{config.DeliveryInline, false},
	} {
		t.Run(c.mode, func(t *testing.T) {
			env := []string{
				"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS=test-token",
				"IMCALLBACK_LISTEN=" + imtest.FreeAddr(t), "IMCALLBACK_ADMIN_LISTEN=" + imtest.FreeAddr(t),
				"IMCALLBACK_DATA_DIR=" + t.TempDir(),
				"IMCALLBACK_LOG_LEVEL=error", "IMCALLBACK_BACKOFF=10ms,20ms", "IMCALLBACK_HANDLER_TIMEOUT=2s",
			}
			rec := newRecorder()
			var (
				svc   *delivery.Service
				sink  dispatcher.AfterSink
				pub   *server.Public
				admin *server.Admin
			)
			wiring := fx.Options()
			if c.wantDurable {
				wiring = fx.Options(delivery.Module, fx.Populate(&svc))
			}
			app := fxtest.New(t,
				fx.NopLogger,
				fx.Supply(config.Source{Environ: func() []string { return env }}),
				imcallback.Module,
				wiring,
				fx.Provide(dispatcher.AsCommand(func() dispatcher.Command { return dispatcher.After(testCommand, rec.handle) })),
				fx.Invoke(func(in optionalSink) { sink = in.Sink }),
				fx.Populate(&pub, &admin),
			)
			if (svc != nil) != c.wantDurable || (sink != nil) != c.wantDurable {
				t.Fatalf("service %v, sink %v in %s mode", svc != nil, sink != nil, c.mode)
			}
			app.RequireStart()
			defer app.RequireStop()

			status, body := post(t, "http://"+pub.Addr().String()+"/im/callback", "m1")
			if status != http.StatusOK || !strings.Contains(body, `"ActionStatus":"OK"`) {
				t.Fatalf("callback answered %d %s", status, body)
			}
			eventually(t, 10*time.Second, "the event applied", func() bool { return rec.appliedCount("m1") == 1 })

			code, checks := readyz(t, admin)
			if _, hasCheck := checks["jetstream"]; code != http.StatusOK || hasCheck != c.wantDurable {
				t.Errorf("/readyz %d %v", code, checks)
			}
			if !c.wantDurable {
				return
			}
			if evs := listEvents(t, events(t, started{Service: svc}), delivery.Filter{}); len(evs) != 1 {
				t.Errorf("stream holds %d events, want 1", len(evs))
			}

			// The connection goes away: no OK for an event that is not stored.
			svc.Conn().NC.Close()
			status, body = post(t, "http://"+pub.Addr().String()+"/im/callback", "m2")
			if status != http.StatusServiceUnavailable || !strings.Contains(body, `"ActionStatus":"FAIL"`) {
				t.Errorf("callback without JetStream answered %d %s", status, body)
			}
			code, checks = readyz(t, admin)
			if code != http.StatusServiceUnavailable || checks["jetstream"] == "ok" || checks["jetstream"] == "" {
				t.Errorf("/readyz without JetStream: %d %v", code, checks)
			}
		})
	}
}

func readyz(t *testing.T, admin *server.Admin) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + admin.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, ready.Checks
}

// post sends a signed testCommand callback for id.
func post(t *testing.T, url, id string) (int, string) {
	t.Helper()
	sign, at := protocol.SignAt("test-token", time.Now())
	p := protocol.Params{SdkAppid: "1400000000", CallbackCommand: testCommand, ContentType: "json",
		ClientIP: "10.0.0.1", OptPlatform: "Web", Sign: sign, RequestTime: at}
	r := request(testCommand, id)
	resp, err := http.Post(url+"?"+p.Encode(), "application/json", strings.NewReader(string(r.Body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
