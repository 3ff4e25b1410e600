package config_test

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/imcallback/imcallback/config"
)

func env(vars ...string) func() []string { return func() []string { return vars } }

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000000")})
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	if c.Listen != ":8080" || c.AdminListen != "127.0.0.1:9090" || c.Path != "/im/callback" ||
		c.SignWindow != time.Minute || c.BodyLimit != 1<<20 || c.BeforeTimeout != 1500*time.Millisecond ||
		c.DataDir != "./data" || c.LogLevel != "info" || c.LogFormat != "json" || len(c.Tokens) != 0 ||
		c.Delivery != want.Delivery || c.DedupWindow != 10*time.Minute || c.MaxDeliveries != 10 || c.ProxyHeader != "X-Forwarded-For" {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestLoadEnvironment(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env(
		"IMCALLBACK_SDKAPPID=1400000000, 1400000001",
		"IMCALLBACK_TOKENS=old,new",
		"IMCALLBACK_LISTEN=127.0.0.1:1",
		"IMCALLBACK_PATH=/cb",
		"IMCALLBACK_ADMIN_LISTEN=127.0.0.1:2",
		"IMCALLBACK_ALLOW_CIDRS=203.0.113.0/24",
		"IMCALLBACK_TRUSTED_PROXIES=10.0.0.1",
		"IMCALLBACK_PROXY_HEADER=x-real-ip",
		"IMCALLBACK_SIGN_WINDOW=90s",
		"IMCALLBACK_BODY_LIMIT=4096",
		"IMCALLBACK_BEFORE_TIMEOUT=800ms",
		"IMCALLBACK_DATA_DIR=/tmp/x",
		"IMCALLBACK_LOG_LEVEL=debug",
		"IMCALLBACK_LOG_FORMAT=console",
		"IMCALLBACK_BACKOFF=10ms,1s",
		"IMCALLBACK_TEST_POSTGRES_DSN=postgres://ignored", // not a config key: ignored
		"OTHER=1",
	)})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"sdkappid", len(c.SdkAppIDs) == 2 && c.SdkAppIDs[1] == "1400000001"},
		{"tokens", len(c.Tokens) == 2 && c.Tokens[0] == "old"},
		{"listen", c.Listen == "127.0.0.1:1"},
		{"path", c.Path == "/cb"},
		{"admin_listen", c.AdminListen == "127.0.0.1:2"},
		{"allow_cidrs", len(c.AllowCIDRs) == 1},
		{"trusted_proxies", len(c.TrustedProxies) == 1},
		{"proxy_header", c.ProxyHeader == "x-real-ip"},
		{"sign_window", c.SignWindow == 90*time.Second},
		{"body_limit", c.BodyLimit == 4096},
		{"before_timeout", c.BeforeTimeout == 800*time.Millisecond},
		{"data_dir", c.DataDir == "/tmp/x"},
		{"log_level", c.LogLevel == "debug"},
		{"log_format", c.LogFormat == "console"},
		{"backoff", len(c.Backoff) == 2 && c.Backoff[0] == 10*time.Millisecond},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s not loaded from the environment: %+v", ch.name, c)
		}
	}
}

func TestLoadFileThenEnvironment(t *testing.T) {
	c, err := config.Load(config.Source{File: "testdata/valid.yaml", Environ: env("IMCALLBACK_BODY_LIMIT=4096")})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SdkAppIDs) != 2 || c.Listen != "127.0.0.1:8081" || c.SignWindow != 30*time.Second || len(c.AllowCIDRs) != 2 {
		t.Fatalf("file not applied: %+v", c)
	}
	if c.BodyLimit != 4096 {
		t.Fatalf("environment must override the file: body_limit = %d", c.BodyLimit)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		src  config.Source
		want []string
	}{
		{"missing sdkappid", config.Source{Environ: env()}, []string{"IMCALLBACK_SDKAPPID (sdkappid): required"}},
		{"non-numeric sdkappid", config.Source{Environ: env("IMCALLBACK_SDKAPPID=abc")}, []string{"IMCALLBACK_SDKAPPID",
			"is not a decimal SDKAppID: character 1 of 3 is no digit"}},
		{"sdkappid listed twice", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001, 1400000001")}, []string{"IMCALLBACK_SDKAPPID (sdkappid): 1400000001 is listed twice"}},
		{"bad cidr", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ALLOW_CIDRS=10.0.0.0/99")}, []string{"IMCALLBACK_ALLOW_CIDRS"}},
		{"mapped cidr naming no IPv4 address", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ALLOW_CIDRS=::ffff:0:0/80")}, []string{"IMCALLBACK_ALLOW_CIDRS", "at least /96"}},
		{"apps in a variable", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APPS=x")}, []string{"IMCALLBACK_APPS (apps)", "configuration file only", "IMCALLBACK_APP_<SDKAPPID>_<KEY>"}},
		{"forward in a variable", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_FORWARD=x")}, []string{"IMCALLBACK_FORWARD (forward)", "IMCALLBACK_FORWARD_URL"}},
		{"log buffer that only spins", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_LOG_BUFFER=1us")}, []string{"IMCALLBACK_LOG_BUFFER", "0 (no buffer) or from 1ms to 10s"}},
		{"log buffer past 10s", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_LOG_BUFFER=11s")}, []string{"IMCALLBACK_LOG_BUFFER", "from 1ms to 10s"}},
		{"zero shutdown timeout", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SHUTDOWN_TIMEOUT=0s")}, []string{"IMCALLBACK_SHUTDOWN_TIMEOUT", "from 1ns to 1h"}},
		{"read header timeout that overflows the body's", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_READ_HEADER_TIMEOUT=2562047h")}, []string{"IMCALLBACK_READ_HEADER_TIMEOUT", "from 1ns to 5m"}},
		{"handler timeout that overflows the ack wait", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_HANDLER_TIMEOUT=2562047h")}, []string{"IMCALLBACK_HANDLER_TIMEOUT", "from 1ns to 1h"}},
		{"shutdown timeout whose stop deadline overflows", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SHUTDOWN_TIMEOUT=700000h")}, []string{"IMCALLBACK_SHUTDOWN_TIMEOUT", "from 1ns to 1h"}},
		{"dedup window under JetStream's least", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_DEDUP_WINDOW=50ms")}, []string{"IMCALLBACK_DEDUP_WINDOW", "50ms must be from 100ms"}},
		{"dedup window within the ack wait", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_DEDUP_WINDOW=35s")},
			[]string{"IMCALLBACK_DEDUP_WINDOW", "35s is not longer than the ack wait, IMCALLBACK_HANDLER_TIMEOUT + 5s (35s)", "stored twice"}},
		{"dedup window within a longer handler's ack wait", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_HANDLER_TIMEOUT=10m")},
			[]string{"IMCALLBACK_DEDUP_WINDOW", "10m0s is not longer than the ack wait, IMCALLBACK_HANDLER_TIMEOUT + 5s (10m5s)"}},
		{"retention under JetStream's least", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_RETENTION=50ms", "IMCALLBACK_DEDUP_WINDOW=40ms")}, []string{"IMCALLBACK_RETENTION", "50ms must be at least 100ms"}},
		{"zero retention", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_RETENTION=0s")}, []string{"IMCALLBACK_RETENTION", "must be at least 100ms"}},
		{"retention shorter than the retry schedule", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_RETENTION=30m")},
			[]string{"IMCALLBACK_RETENTION", "30m0s is not longer than the retry schedule of an event whose handler keeps failing, 57m36s", "dropped before it is dead-lettered"}},
		{"retention shorter than a long retry schedule", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_BACKOFF=2562047h", "IMCALLBACK_MAX_DELIVERIES=9000000000000000000")},
			[]string{"IMCALLBACK_RETENTION", "168h0m0s is not longer than the retry schedule"}},
		{"zero start timeout", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_START_TIMEOUT=0s")}, []string{"IMCALLBACK_START_TIMEOUT", "from 1ns to 1h"}},
		{"negative start timeout", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_START_TIMEOUT=-1s")}, []string{"IMCALLBACK_START_TIMEOUT", "from 1ns to 1h"}},
		{"start timeout past an hour", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_START_TIMEOUT=61m")}, []string{"IMCALLBACK_START_TIMEOUT", "from 1ns to 1h"}},
		{"unparsable start timeout", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_START_TIMEOUT=soon")}, []string{"start_timeout"}},
		{"negative shutdown delay", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SHUTDOWN_DELAY=-1s")}, []string{"IMCALLBACK_SHUTDOWN_DELAY", "from 0 to 5m"}},
		{"bad proxy", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TRUSTED_PROXIES=proxy.local")}, []string{"IMCALLBACK_TRUSTED_PROXIES"}},
		{"proxy header", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_PROXY_HEADER=Forwarded")}, []string{"IMCALLBACK_PROXY_HEADER", `"Forwarded" must be X-Forwarded-For or X-Real-IP`}},
		{"before timeout over IM's budget", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_BEFORE_TIMEOUT=2s")}, []string{"IMCALLBACK_BEFORE_TIMEOUT", "2s budget"}},
		{"unparsable duration", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=soon")}, []string{"sign_window"}},
		{"sign window under a second", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=500ms")}, []string{"IMCALLBACK_SIGN_WINDOW", "at least 1s"}},
		{"sign window with a fraction of a second", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=1500ms")},
			[]string{"IMCALLBACK_SIGN_WINDOW", "1.5s is not a whole number of seconds", "the window would be 1s"}},
		{"sign window of a day", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=24h")},
			[]string{"IMCALLBACK_SIGN_WINDOW (sign_window): 24h0m0s is longer than 1h", "replayed", "synchronise the clock"}},
		{"sign window a second past an hour", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=3601s")},
			[]string{"IMCALLBACK_SIGN_WINDOW (sign_window): 1h0m1s is longer than 1h"}},
		{"sign window past the dedup window", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=15m")},
			[]string{"IMCALLBACK_SIGN_WINDOW (sign_window): 15m0s is longer than IMCALLBACK_DEDUP_WINDOW 10m0s",
				"a replay between 10m0s and 15m0s after it arrived would be stored and processed again", "raise IMCALLBACK_DEDUP_WINDOW to at least 15m0s"}},
		{"zero body limit", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_BODY_LIMIT=0")}, []string{"IMCALLBACK_BODY_LIMIT"}},
		{"path without slash", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_PATH=cb")}, []string{"IMCALLBACK_PATH"}},
		{"admin on the public address", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_LISTEN=:9000", "IMCALLBACK_ADMIN_LISTEN=:9000")}, []string{"IMCALLBACK_ADMIN_LISTEN"}},
		{"tls half set", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TLS_CERT=a.pem")}, []string{"IMCALLBACK_TLS_CERT", "IMCALLBACK_TLS_KEY"}},
		{"log level", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_LOG_LEVEL=loud")}, []string{"IMCALLBACK_LOG_LEVEL"}},
		{"delivery", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_DELIVERY=later")}, []string{"IMCALLBACK_DELIVERY"}},
		{"subject prefix ending in a dot", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SUBJECT_PREFIX=im.")}, []string{"IMCALLBACK_SUBJECT_PREFIX", "has an empty token"}},
		{"stream with a dot", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_STREAM=A.B")}, []string{"IMCALLBACK_STREAM"}},
		{"inline timeout over IM's budget", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_INLINE_TIMEOUT=3s")}, []string{"IMCALLBACK_INLINE_TIMEOUT"}},
		{"too few connections", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_MAX_CONNS=3")}, []string{"IMCALLBACK_MAX_CONNS"}},
		{"admin on every address without a token", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ADMIN_LISTEN=:9090")}, []string{"IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_ADMIN_TOKEN is not set"}},
		{"admin on every address with a short token", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ADMIN_LISTEN=:9090", "IMCALLBACK_ADMIN_TOKEN=change-me-too")},
			[]string{"IMCALLBACK_ADMIN_TOKEN", "shorter than 16 characters while the admin listener :9090 is not on loopback"}},
		{"embedded NATS on every address", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_NATS_LISTEN=:4222")}, []string{"IMCALLBACK_NATS_LISTEN", "not a loopback address"}},
		{"embedded NATS on a public address", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_NATS_LISTEN=192.0.2.1:4222")}, []string{"IMCALLBACK_NATS_LISTEN", "no authentication"}},
		{"embedded NATS on a random port of every address", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_NATS_LISTEN=:0")}, []string{"IMCALLBACK_NATS_LISTEN"}},
		{"listen without a port", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_LISTEN=8080")},
			[]string{`IMCALLBACK_LISTEN (listen): "8080" is not host:port`}},
		{"admin listen without a port", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ADMIN_LISTEN=localhost")},
			[]string{`IMCALLBACK_ADMIN_LISTEN (admin_listen): "localhost" is not host:port`}},
		{"nats listen with a bad port", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_NATS_LISTEN=127.0.0.1:42x22")},
			[]string{`IMCALLBACK_NATS_LISTEN (nats_listen): "127.0.0.1:42x22": "42x22" is not a port`}},
		{"store dsn", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_STORE_DSN=mysql://x")}, []string{"IMCALLBACK_STORE_DSN"}},
		{"unknown file key", config.Source{File: "testdata/typo.yaml", Environ: env()}, []string{"unknown key", "lisen"}},
		{"missing file", config.Source{File: "testdata/none.yaml", Environ: env("IMCALLBACK_SDKAPPID=1")}, []string{"testdata/none.yaml"}},
		{"several problems at once", config.Source{Environ: env("IMCALLBACK_LOG_FORMAT=xml", "IMCALLBACK_WORKERS=0")}, []string{"IMCALLBACK_SDKAPPID", "IMCALLBACK_LOG_FORMAT", "IMCALLBACK_WORKERS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(tt.src)
			if err == nil {
				t.Fatal("Load accepted a bad configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestLoopbackNameInAnyCase: a host name is matched without case, as the
// resolver and the admin listener's own Host check (server) read it, so
// LOCALHOST is loopback as localhost is: the admin and embedded NATS
// listeners there need no token, and an app's REST API base may be http.
func TestLoopbackNameInAnyCase(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001", "IMCALLBACK_ADMIN_LISTEN=LocalHost:9090",
		"IMCALLBACK_NATS_LISTEN=LOCALHOST:4222", "IMCALLBACK_APP_1400000001_API_BASE=http://LOCALHOST:8081")})
	if err != nil {
		t.Fatalf("a loopback name in upper case refused: %v", err)
	}
	if c.AdminListen != "LocalHost:9090" || c.Apps[0].APIBase != "http://LOCALHOST:8081" {
		t.Errorf("admin listen %q, api base %q", c.AdminListen, c.Apps[0].APIBase)
	}
}

func TestDevSdkAppID(t *testing.T) {
	c, err := config.Load(config.Source{Dev: true, Environ: env()})
	if err != nil || len(c.SdkAppIDs) != 1 || c.SdkAppIDs[0] != config.DevSdkAppID {
		t.Fatalf("dev mode: %+v, %v", c, err)
	}
	c, err = config.Load(config.Source{Dev: true, Environ: env("IMCALLBACK_SDKAPPID=1400000009")})
	if err != nil || c.SdkAppIDs[0] != "1400000009" {
		t.Fatalf("dev mode must not override a configured SdkAppid: %+v, %v", c, err)
	}
	// An app of the file's apps list is a configured app too: the
	// development app, unsigned, must not be accepted beside it.
	file := writeTemp(t, "apps:\n  - sdkappid: \"1400000005\"\n    tokens: [t]\n")
	c, err = config.Load(config.Source{Dev: true, File: file, Environ: env()})
	if err != nil || !slices.Equal(c.SdkAppIDs, []string{"1400000005"}) {
		t.Fatalf("dev mode beside the file's apps: %v, %v", c.SdkAppIDs, err)
	}
	// So is one entry written without its dash, which is read as that entry.
	file = writeTemp(t, "apps:\n  sdkappid: \"1400000005\"\n  tokens: [t]\n")
	c, err = config.Load(config.Source{Dev: true, File: file, Environ: env()})
	if err != nil || !slices.Equal(c.SdkAppIDs, []string{"1400000005"}) {
		t.Fatalf("dev mode beside the file's entry without its dash: %v, %v", c.SdkAppIDs, err)
	}
}

func TestRedacted(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env(
		"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=super-secret-1,super-secret-2",
		"IMCALLBACK_STORE_DSN=postgres://app:hunter2@db:5432/im?password=pw-in-query",
		"IMCALLBACK_NATS_URL=nats://nats-token@n1:4222,nats://u:nats-pass@n2:4222",
	)})
	if err != nil {
		t.Fatal(err)
	}
	out := c.YAML()
	for _, secret := range []string{"super-secret", "hunter2", "pw-in-query", "nats-token", "nats-pass"} {
		if strings.Contains(out, secret) {
			t.Fatalf("rendered config leaks %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "postgres://app:[redacted]@db:5432/im?password=[redacted]") {
		t.Fatalf("store_dsn not redacted as expected:\n%s", out)
	}
	if c.Tokens[0] != "super-secret-1" {
		t.Fatal("Redacted modified the original")
	}
	// What is printed loads back, its secrets set again (the placeholder
	// itself is refused: TestRedactedPlaceholderIsNoSecret).
	back, err := config.Load(config.Source{File: writeTemp(t, out), Environ: env("IMCALLBACK_TOKENS=t",
		"IMCALLBACK_STORE_DSN=postgres://app:hunter2@db:5432/im", "IMCALLBACK_NATS_URL=nats://nats-token@n1:4222")})
	if err != nil || back.StoreDSN == "" {
		t.Fatalf("printed config does not load back: %v", err)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := t.TempDir() + "/c.yaml"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRedactSecrets(t *testing.T) {
	tests := []struct {
		name, value string
		tokenUser   bool
		secrets     []string
		keep        string
	}{
		{"userinfo password", "postgres://app:hunter2@db:5432/im", false, []string{"hunter2"}, "postgres://app:"},
		{"escaped password", "postgres://app:p%40ss@db/im", false, []string{"p%40ss", "p@ss"}, "@db/im"},
		{"query password", "postgres://app@db/im?sslmode=require&password=pw1&sslpassword=pw2", false, []string{"pw1", "pw2"}, "sslmode=require"},
		{"user is not a secret in a DSN", "postgres://app@db/im", false, nil, "postgres://app@db/im"},
		{"NATS token", "nats://s3cr3t@nats1:4222", true, []string{"s3cr3t"}, "@nats1:4222"},
		{"NATS user and password, several URLs", "nats://u:p1@a:4222,nats://u:p2@b:4222", true, []string{"p1", "p2"}, "nats://u:"},
		{"no URL", "plain", false, nil, "plain"},
		{"a '?' in the password", "postgres://u:pa?ss@h/db", false, []string{"pa?ss", "ss@h"}, "@h/db"},
		{"a '?' in the password, no path", "tls://u:pa?x@h:4222", true, []string{"pa?x"}, "@h:4222"},
		{"a '?' in the password and a query password", "postgres://u:a?b@h/db?password=pw3", false, []string{"a?b", "pw3"}, "@h/db?password="},
		{"a comma in the password", "postgres://bob:pa,ssw0rd@127.0.0.1:5432/db", false, []string{"pa,ssw0rd", "ssw0rd"}, "postgres://bob:[redacted]@127.0.0.1:5432/db"},
		{"a comma in a query password", "postgres://bob@h/db?password=pa,ss&sslmode=disable", false, []string{"pa,ss", ",ss"}, "postgres://bob@h/db?password=[redacted]&sslmode=disable"},
		{"a password that is also the port", "postgres://imcb:5432@db.internal:5432/topics", false, nil, "postgres://imcb:[redacted]@db.internal:5432/topics"},
		{"an '@' in a query password", "postgres://u@db.internal?password=p@ss&sslmode=disable", false, []string{"p@ss", "ss&"}, "postgres://u@db.internal?password=[redacted]&sslmode=disable"},
		{"an '@' in an sslpassword", "postgres://u@db.internal?sslpassword=k3y@x", false, []string{"k3y@x"}, "postgres://u@db.internal?sslpassword=[redacted]"},
		{"an '@' in a query password, no user", "postgres://db.internal/im?password=p@ss", false, []string{"p@ss", "p@"}, "postgres://db.internal/im?password=[redacted]"},
		{"an '@' in a query password after another parameter, no user", "postgres://db.internal/im?sslmode=disable&password=p@ss&x=1", false, []string{"p@ss", "p@"},
			"postgres://db.internal/im?sslmode=disable&password=[redacted]&x=1"},
		{"an escaped password key", "postgres://u@db.internal/im?pass%77ord=hunter2&sslmode=disable", false, []string{"hunter2"},
			"postgres://u@db.internal/im?pass%77ord=[redacted]&sslmode=disable"},
		{"a password key after spaces", "postgres://u@db.internal/im?sslmode=disable&  password=hunter2", false, []string{"hunter2"}, "sslmode=disable&  password=[redacted]"},
		{"an escaped password key holding an '@', no user", "postgres://db.internal/im?%70assword=p@ss", false, []string{"p@ss", "p@"}, "postgres://db.internal/im?%70assword=[redacted]"},
		{"an '@' in an sslpassword, no user", "postgres://db.internal/im?sslpassword=k3y@x", false, []string{"k3y@x", "k3y@"}, "postgres://db.internal/im?sslpassword=[redacted]"},
		{"a '/' left unescaped in the password", "postgres://u:ab/cd+ef@db.internal/topics", false, []string{"ab/cd+ef", "cd+ef"}, "postgres://u:[redacted]@db.internal/topics"},
		{"a '?' after digits in the password", "postgres://app:12?s3cr3tpw@db.internal/imcb", false, []string{"s3cr3tpw"}, "postgres://app:[redacted]@db.internal/imcb"},
		{"a '#' after digits in the password", "postgres://app:99#s3cr3tpw@db.internal/imcb", false, []string{"s3cr3tpw"}, "postgres://app:[redacted]@db.internal/imcb"},
		{"a '/' first in the password", "postgres://app:/s3cr3tpw@db.internal:5432/imcb", false, []string{"s3cr3tpw"}, "postgres://app:[redacted]@db.internal:5432/imcb"},
		{"a '/' after digits in the password", "postgres://app:2024/s3cr3tpw@db.internal/imcb", false, []string{"s3cr3tpw"}, "@db.internal/imcb"},
		{"a '/' in a NATS token", "nats://s3cr3t/tok@nats:4222", true, []string{"s3cr3t", "tok"}, "nats://[redacted]@nats:4222"},
		{"a '?' in a NATS token", "nats://s3cr3t?tok@nats:4222", true, []string{"s3cr3t", "tok"}, "nats://[redacted]@nats:4222"},
		{"an '@' in a query password after a '/' in the password", "postgres://u:pa/ss@h/db?password=p@ss", false, []string{"pa/ss", "p@ss", "@ss"}, "@h/db?password=[redacted]"},
		{"NATS URLs keep their commas", "nats://t1@a:4222,nats://u:p2@b:4222", true, []string{"t1", "p2"}, "nats://[redacted]@a:4222,nats://u:[redacted]@b:4222"},
		// An '@' left unescaped in the password: the userinfo reaches to the
		// last '@', so no part of what the operator meant is shown.
		{"an '@' and a '/' left unescaped in the password", "postgres://user:p@ss/word@host/db", false, []string{"p@ss/word", "ss/word", "word"},
			"postgres://user:[redacted]@host/db"},
		{"an '@' left unescaped in the password, and a query", "postgres://user:p@ss/word@host:5432/db?sslmode=disable", false, []string{"ss/word"},
			"postgres://user:[redacted]@host:5432/db?sslmode=disable"},
		{"an '@' and a '?' left unescaped in the password", "postgres://u:p@ss?x=y1@h/db", false, []string{"ss?x=y1", "x=y1"}, "postgres://u:[redacted]@h/db"},
		{"an '@' and a ':' in the password", "postgres://u:p@s:s9@h/db", false, []string{"p@s:s9", "s:s9"}, "postgres://u:[redacted]@h/db"},
		{"an '@' in the user (user@server)", "postgres://adm@srv:pw1234@db.internal/im", false, []string{"pw1234"}, "postgres://adm@srv:[redacted]@db.internal/im"},
		{"an '@' in a NATS token", "nats://s3c@r3t@nats:4222", true, []string{"s3c", "r3t"}, "nats://[redacted]@nats:4222"},
		// Query keys are matched in any case, as an operator may write them.
		{"an upper-case password key", "postgres://u@db.internal/im?PASSWORD=s3cr3tpw&sslmode=disable", false, []string{"s3cr3tpw"},
			"postgres://u@db.internal/im?PASSWORD=[redacted]&sslmode=disable"},
		{"a mixed-case sslpassword key", "postgres://u@db.internal/im?SSLPassword=k3yk3y", false, []string{"k3yk3y"}, "postgres://u@db.internal/im?SSLPassword=[redacted]"},
		{"an escaped upper-case password key", "postgres://db.internal/im?PASS%57ORD=s3cr3tpw", false, []string{"s3cr3tpw"}, "postgres://db.internal/im?PASS%57ORD=[redacted]"},
		// An '@' in a query value before the password, and no userinfo: the
		// password is still found in the query.
		{"an '@' in the query user, then a password", "postgres://db.internal/im?user=adm@srv&password=s3cr3tpw", false, []string{"s3cr3tpw"},
			"&password=[redacted]"},
		{"an '@' in a query value after the password", "postgres://u:s3cr3tpw@h/db?application_name=a@b&password=q3cr3t", false, []string{"s3cr3tpw", "q3cr3t"},
			"password=[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := config.Redact(tt.value, tt.tokenUser)
			for _, s := range tt.secrets {
				if strings.Contains(out, s) {
					t.Errorf("%q still contains %q", out, s)
				}
			}
			if !strings.Contains(out, tt.keep) {
				t.Errorf("%q lost %q", out, tt.keep)
			}
		})
	}
}

// TestSecretsOfQueryPasswords: Secrets, which the topic store uses to
// scrub its errors, finds a query password whole, '@' and all, with or
// without a userinfo before it, its key in any case, and a userinfo's
// password holding an '@' whole.
func TestSecretsOfQueryPasswords(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"postgres://db.internal/im?password=p@ss", []string{"p@ss"}},
		{"postgres://db.internal/im?sslmode=disable&password=p@ss", []string{"p@ss"}},
		{"postgres://u@db.internal/im?password=p@ss", []string{"p@ss"}},
		{"postgres://u:pw@db.internal/im?password=p@ss", []string{"pw", "p@ss"}},
		{"postgres://db.internal/im?ssl%70assword=k3y", []string{"k3y"}},
		{"postgres://db.internal/im?PASSWORD=k3y", []string{"k3y"}},
		{"postgres://db.internal/im?user=adm@srv&password=p@ss", []string{"p@ss"}},
		// The password up to the last '@', and as a URL parser reads it.
		{"postgres://user:p@ss/word@host/db", []string{"p@ss/word", "p"}},
	}
	for _, tt := range tests {
		if got := config.Secrets(tt.value, false); !slices.Equal(got, tt.want) {
			t.Errorf("Secrets(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

// TestRedactURL: a forwarding destination is shown without its user info,
// path and query, where webhook URLs carry their keys.
func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://hooks.example.com/services/T000/B000/s3cr3tkey", "https://hooks.example.com/[redacted]"},
		{"https://u:pw@backend.internal:8443/im?key=s3cr3t#frag", "https://[redacted]@backend.internal:8443/[redacted]?[redacted]"},
		{"https://backend.internal/a%2Fb", "https://backend.internal/[redacted]"},
		{"http://backend.internal:8080/", "http://backend.internal:8080/"},
		{"http://backend.internal", "http://backend.internal"},
		{"not a url", "[redacted]"},
		{"http://%zz", "[redacted]"},
		// A user info holding an unescaped '/', '?' or '#' ends the
		// authority early: what a parser takes for the host is the key.
		{"https://s3cr3tT0ken?x@hooks.example.com/in", "https://[redacted]"},
		{"https://u:1234/s3cr3t@hooks.example.com/in", "https://[redacted]"},
		{"https://T0k/en@hooks.example.com/in", "https://[redacted]"},
	}
	for _, tt := range tests {
		if got := config.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRedactUserinfo: a URL where no user belongs is shown without any
// part of its user info, a user alone or before an empty password (a key)
// included; it is one URL, so a ',' in the user info cuts nothing.
func TestRedactUserinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://h:9090/cb?x=1", "http://h:9090/cb?x=1"},
		{"http://s3cr3t@h:9090/cb", "http://[redacted]@h:9090/cb"},
		{"http://s3cr3t:@h:9090", "http://[redacted]@h:9090"},
		{"http://u:s3cr3t@h:9090", "http://[redacted]@h:9090"},
		{"http://u:s3c,r3t@h:9090", "http://[redacted]@h:9090"},
		{"http://s3c,r3t@h:9090", "http://[redacted]@h:9090"},
		{"http://u:s3c@r3t@h:9090", "http://[redacted]@h:9090"},
		{"s3cr3t@h:8443/cb", "[redacted]@h:8443/cb"},
		{"http://h/cb?password=s3c@r3t", "http://h/cb?password=[redacted]"},
	}
	for _, tt := range tests {
		if got := config.RedactUserinfo(tt.in); got != tt.want {
			t.Errorf("RedactUserinfo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// loadYAML loads content as the configuration file, then environ.
func loadYAML(t *testing.T, content string, environ ...string) (*config.Config, error) {
	t.Helper()
	src := config.Source{Environ: env(environ...)}
	if content != "" {
		src.File = writeTemp(t, content)
	}
	return config.Load(src)
}

func TestDurationNeedsUnit(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		want    []string // lines of the error
	}{
		{"YAML number", "sign_window: 30", nil,
			[]string{"IMCALLBACK_SIGN_WINDOW (sign_window): 30 needs a unit, e.g. 30s"}},
		{"YAML quoted number", `sign_window: "30"`, nil,
			[]string{"IMCALLBACK_SIGN_WINDOW (sign_window): 30 needs a unit, e.g. 30s"}},
		{"YAML fraction", "before_timeout: 1.5", nil,
			[]string{"IMCALLBACK_BEFORE_TIMEOUT (before_timeout): 1.5 needs a unit, e.g. 1.5s"}},
		{"YAML negative number", "retention: -5", nil,
			[]string{"IMCALLBACK_RETENTION (retention): -5 needs a unit, e.g. -5s"}},
		{"YAML list item", "backoff: [1s, 5, 2m, 7]", nil, []string{
			"IMCALLBACK_BACKOFF (backoff): item #2: 5 needs a unit, e.g. 5s",
			"IMCALLBACK_BACKOFF (backoff): item #4: 7 needs a unit, e.g. 7s",
		}},
		{"YAML single value for a list", "backoff: 5", nil,
			[]string{"IMCALLBACK_BACKOFF (backoff): 5 needs a unit, e.g. 5s"}},
		{"environment, same message", "", []string{"IMCALLBACK_SIGN_WINDOW=30"},
			[]string{"IMCALLBACK_SIGN_WINDOW (sign_window): 30 needs a unit, e.g. 30s"}},
		{"environment list item", "", []string{"IMCALLBACK_BACKOFF=1s, 5"},
			[]string{"IMCALLBACK_BACKOFF (backoff): item #2: 5 needs a unit, e.g. 5s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, "sdkappid: [\"1\"]\n"+tt.yaml+"\n", tt.environ...)
			if err == nil {
				t.Fatal("Load accepted a duration without a unit")
			}
			lines := errorLines(err)
			if !slices.Equal(lines, tt.want) {
				t.Errorf("error lines\n%q\nwant\n%q", lines, tt.want)
			}
		})
	}
}

func TestDurationsWithUnits(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		ok   func(*config.Config) bool
	}{
		{"seconds", "sign_window: 45s", func(c *config.Config) bool { return c.SignWindow == 45*time.Second }},
		{"days", "retention: 7d", func(c *config.Config) bool { return c.Retention == 7*24*time.Hour }},
		{"list", "backoff: [1s, 2m]", func(c *config.Config) bool {
			return slices.Equal(c.Backoff, []time.Duration{time.Second, 2 * time.Minute})
		}},
		{"single value for a list", "backoff: 3s", func(c *config.Config) bool {
			return slices.Equal(c.Backoff, []time.Duration{3 * time.Second})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, "sdkappid: [\"1\"]\n"+tt.yaml+"\n")
			if err != nil {
				t.Fatal(err)
			}
			if !tt.ok(c) {
				t.Errorf("%s not loaded: %+v", tt.yaml, c)
			}
		})
	}
	// 0 needs no unit (as in time.ParseDuration); validation then rejects it.
	_, err := loadYAML(t, "sdkappid: [\"1\"]\nsign_window: 0\n")
	if err == nil || strings.Contains(err.Error(), "unit") || !strings.Contains(err.Error(), "must be positive") {
		t.Errorf("sign_window: 0: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		want    []string // lines of the error, in order
		not     []string // in none of them
	}{
		{"not a duration", "", []string{"IMCALLBACK_SIGN_WINDOW=soon"},
			[]string{`IMCALLBACK_SIGN_WINDOW (sign_window): "soon" is not a duration (e.g. 60s)`},
			[]string{"time:", "must be positive"}},
		{"not a duration in a list", "backoff: [1s, later]", nil,
			[]string{`IMCALLBACK_BACKOFF (backoff): item #2: "later" is not a duration (e.g. 60s)`}, nil},
		{"not a duration in YAML", "sign_window: true", nil,
			[]string{`IMCALLBACK_SIGN_WINDOW (sign_window): true is not a duration (e.g. 60s)`}, nil},
		{"not a number", "", []string{"IMCALLBACK_WORKERS=many", "IMCALLBACK_BODY_LIMIT=1MB"}, []string{
			`IMCALLBACK_BODY_LIMIT (body_limit): "1MB" is not a whole number`,
			`IMCALLBACK_WORKERS (workers): "many" is not a whole number`,
		}, []string{"strconv", "must be"}},
		{"not a whole number", "workers: 1.5\nmax_conns: true\n", []string{"IMCALLBACK_MAX_DELIVERIES=0x10"}, []string{
			`IMCALLBACK_MAX_CONNS (max_conns): true is not a whole number`,
			`IMCALLBACK_WORKERS (workers): 1.5 is not a whole number`,
			`IMCALLBACK_MAX_DELIVERIES (max_deliveries): "0x10" is not a whole number`,
		}, []string{"strconv", "must be"}},
		{"out of range", "workers: 1e30\nbackoff: [1s, 9999999h]\n", []string{"IMCALLBACK_BODY_LIMIT=99999999999999999999", "IMCALLBACK_RETENTION=-3000000h"}, []string{
			`IMCALLBACK_BODY_LIMIT (body_limit): "99999999999999999999" is too large: at most 9223372036854775807`,
			`IMCALLBACK_RETENTION (retention): "-3000000h" is out of range: from -2562047h to 2562047h (about 292 years)`,
			`IMCALLBACK_WORKERS (workers): 1e+30 is too large: at most 9223372036854775807`,
			`IMCALLBACK_BACKOFF (backoff): item #2: "9999999h" is out of range: from -2562047h to 2562047h (about 292 years)`,
		}, []string{"not a whole number", "not a duration"}},
		{"out of range in days", "retention: 0.5d200000d\n", []string{"IMCALLBACK_HANDLER_TIMEOUT=200000d"}, []string{
			`IMCALLBACK_RETENTION (retention): "0.5d200000d" is out of range: from -2562047h to 2562047h (about 292 years)`,
			`IMCALLBACK_HANDLER_TIMEOUT (handler_timeout): "200000d" is out of range: from -2562047h to 2562047h (about 292 years)`,
		}, []string{"not a duration"}},
		{"list for a single value", "listen: [a, b]", nil,
			[]string{"IMCALLBACK_LISTEN (listen): [a b] is a list, not a single value"}, []string{"required"}},
		{"secret not shown", "store_dsn: [postgres://app:hunter2@db/im]", nil,
			[]string{"IMCALLBACK_STORE_DSN (store_dsn): the value is a list, not a single value"}, []string{"hunter2"}},
		{"forward url not shown", "forward_url: [https://hooks.example/services/s3cr3tkey]", nil,
			[]string{"IMCALLBACK_FORWARD_URL (forward_url): the value is a list, not a single value"}, []string{"s3cr3tkey"}},
		{"every problem at once", "lisen: x\nsign_window: soon\n", []string{"IMCALLBACK_WORKERS=many", "IMCALLBACK_LOG_FORMAT=xml"}, []string{
			"unknown key lisen; did you mean listen?",
			`IMCALLBACK_SIGN_WINDOW (sign_window): "soon" is not a duration (e.g. 60s)`,
			`IMCALLBACK_WORKERS (workers): "many" is not a whole number`,
			"IMCALLBACK_SDKAPPID (sdkappid): required: the SDKAppID(s) of your IM application, comma-separated",
			`IMCALLBACK_LOG_FORMAT (log_format): "xml" must be json or console`,
		}, []string{"must be positive", "must be between"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := tt.yaml
			if !strings.Contains(tt.name, "at once") {
				yaml = "sdkappid: [\"1\"]\n" + yaml
			}
			_, err := loadYAML(t, yaml+"\n", tt.environ...)
			if err == nil {
				t.Fatal("Load accepted a bad configuration")
			}
			lines := strings.Split(err.Error(), "\n")
			if lines[0] != "config: invalid:" || len(lines)-1 != len(tt.want) {
				t.Fatalf("error\n%v\nwant config: invalid: and %d lines", err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasSuffix(lines[i+1], w) {
					t.Errorf("line %d %q, want %q", i+1, lines[i+1], w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error mentions %q:\n%v", n, err)
				}
			}
		})
	}
}

// TestWholeNumbersAreDecimal: a number setting is read in decimal, whole,
// as written; the weakly typed decoder read "010" as octal 8 and
// truncated 1.5 to 1.
func TestWholeNumbersAreDecimal(t *testing.T) {
	c, err := loadYAML(t, "sdkappid: [\"1\"]\nmax_conns: 1e4\n", "IMCALLBACK_BODY_LIMIT=010", "IMCALLBACK_WORKERS= +8 ")
	if err != nil {
		t.Fatal(err)
	}
	if c.BodyLimit != 10 || c.MaxConns != 10000 || c.Workers != 8 {
		t.Errorf("body_limit %d, max_conns %d, workers %d; want 10, 10000, 8", c.BodyLimit, c.MaxConns, c.Workers)
	}
	if _, err := loadYAML(t, "sdkappid: [\"1\"]\nmax_deliveries: 1e300\n"); err == nil || !strings.Contains(err.Error(), "1e+300 is too large") {
		t.Errorf("max_deliveries: 1e300: %v, want too large", err)
	}
	for _, bad := range []string{"body_limit: 1.5", "workers: true", "max_conns: \"0x100\"",
		"apps: [{sdkappid: \"1\", iplist_nettypes: [5.5, 6]}]"} {
		if _, err := loadYAML(t, "sdkappid: [\"1\"]\n"+bad+"\n"); err == nil || !strings.Contains(err.Error(), "is not a whole number") {
			t.Errorf("%s: %v, want not a whole number", bad, err)
		}
	}
}

func TestFieldErrorIsTyped(t *testing.T) {
	_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=soon")})
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Key != "sign_window" || fe.Msg != `"soon" is not a duration (e.g. 60s)` {
		t.Fatalf("errors.As(%v) = %+v", err, fe)
	}
}

func TestUnknownFileKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"typo", "lisen: x", "unknown key lisen; did you mean listen?"},
		{"nested instead of underscore", "nats:\n  url: nats://n:4222", "unknown key nats.url; did you mean nats_url?"},
		{"letters swapped", "dleivery: inline", "unknown key dleivery; did you mean delivery?"},
		{"nothing close", "colour: red", "unknown key colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, "sdkappid: [\"1\"]\n"+tt.yaml+"\n")
			var uk *config.UnknownKeyError
			if err == nil || !strings.HasSuffix(err.Error(), "c.yaml: "+tt.want) || !errors.As(err, &uk) {
				t.Fatalf("error %v, want one ending in %q", err, tt.want)
			}
		})
	}
}

func TestUnknownEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"singular for plural", []string{"IMCALLBACK_TOKEN=t"},
			[]string{"IMCALLBACK_TOKEN is not a setting; did you mean IMCALLBACK_TOKENS?"}},
		{"letters swapped", []string{"IMCALLBACK_LSITEN=:1"},
			[]string{"IMCALLBACK_LSITEN is not a setting; did you mean IMCALLBACK_LISTEN?"}},
		{"missing underscore", []string{"IMCALLBACK_SIGNWINDOW=1s"},
			[]string{"IMCALLBACK_SIGNWINDOW is not a setting; did you mean IMCALLBACK_SIGN_WINDOW?"}},
		{"nothing close", []string{"IMCALLBACK_COLOR=red"}, []string{"IMCALLBACK_COLOR is not a setting"}},
		{"sorted, each once", []string{"IMCALLBACK_WORKER=1", "IMCALLBACK_SDKAPPIDS=1", "IMCALLBACK_WORKER=2"}, []string{
			"IMCALLBACK_SDKAPPIDS is not a setting; did you mean IMCALLBACK_SDKAPPID?",
			"IMCALLBACK_WORKER is not a setting; did you mean IMCALLBACK_WORKERS?",
		}},
		{"tests' and CI's variables", []string{"IMCALLBACK_TEST_POSTGRES_DSN=postgres://x", "IMCALLBACK_TEST_NATS_URL=nats://x"}, nil},
		{"the command line's admin URL", []string{"IMCALLBACK_ADMIN_URL=http://x"}, nil},
		{"a misspelt admin URL", []string{"IMCALLBACK_ADMIN_URI=http://x"},
			[]string{"IMCALLBACK_ADMIN_URI is not a setting; did you mean IMCALLBACK_ADMIN_URL?"}},
		{"the admin URL in lower case, which the command line does not read", []string{"IMCALLBACK_admin_url=http://x"},
			[]string{"IMCALLBACK_admin_url is not a setting; did you mean IMCALLBACK_ADMIN_URL?"}},
		{"other admin variables are still checked", []string{"IMCALLBACK_ADMIN_URL=http://x", "IMCALLBACK_ADMIN_TOKNE=t"},
			[]string{"IMCALLBACK_ADMIN_TOKNE is not a setting; did you mean IMCALLBACK_ADMIN_TOKEN?"}},
		{"a configuration file named in the environment", []string{"IMCALLBACK_CONFIG=/etc/imcallback.yaml", "IMCALLBACK_config_file=x.yaml"}, []string{
			"IMCALLBACK_CONFIG is not a setting; a configuration file is given with --config",
			"IMCALLBACK_config_file is not a setting; a configuration file is given with --config",
		}},
		{"settings and others", []string{"IMCALLBACK_LISTEN=:1", "IMCALLBACK_listen=:1", "PATH=/bin", "imcallback_tokn=1"}, nil},
		// apps and forward are read from the file only: their own variables
		// are refused, so a name close to one is pointed at the variables
		// that set them, not at the refused one.
		{"close to a file-only list", []string{"IMCALLBACK_APP=x", "IMCALLBACK_FORWARDS=x"}, []string{
			"IMCALLBACK_APP is not a setting; did you mean IMCALLBACK_APP_<SDKAPPID>_<KEY>? (apps is read from the configuration file only)",
			"IMCALLBACK_FORWARDS is not a setting; did you mean IMCALLBACK_FORWARD_URL, _SECRET and _MATCH? (forward is read from the configuration file only)",
		}},
		// An app's key with its id out of place, or without one.
		{"an app's variable with its words in another order", []string{"IMCALLBACK_APPS_1400000000_TOKENS=t",
			"IMCALLBACK_1400000000_SECRET_KEY=k", "IMCALLBACK_APP_ALLOW_CIDRS_1400000000=10.0.0.0/8"}, []string{
			"IMCALLBACK_1400000000_SECRET_KEY is not a setting; did you mean IMCALLBACK_APP_1400000000_SECRET_KEY?",
			"IMCALLBACK_APPS_1400000000_TOKENS is not a setting; did you mean IMCALLBACK_APP_1400000000_TOKENS?",
			"IMCALLBACK_APP_ALLOW_CIDRS_1400000000 is not a setting; did you mean IMCALLBACK_APP_1400000000_ALLOW_CIDRS?",
		}},
		{"an app's variable without its id", []string{"IMCALLBACK_APP_TOKENS=t", "IMCALLBACK_APP_x_SECRET_KEY=k"}, []string{
			"IMCALLBACK_APP_TOKENS is not a setting; did you mean IMCALLBACK_APP_<SDKAPPID>_TOKENS, with the app's decimal SDKAppID " +
				"in place of <SDKAPPID>, or IMCALLBACK_TOKENS for every app?",
			"IMCALLBACK_APP_x_SECRET_KEY is not a setting; did you mean IMCALLBACK_APP_<SDKAPPID>_SECRET_KEY, with the app's decimal SDKAppID " +
				"in place of <SDKAPPID>?",
		}},
		{"a number beside another setting", []string{"IMCALLBACK_WORKERS_2=8", "IMCALLBACK_APP_1_COLOR=red"}, []string{
			"IMCALLBACK_APP_1_COLOR is not a setting",
			"IMCALLBACK_WORKERS_2 is not a setting; did you mean IMCALLBACK_WORKERS?",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.UnknownEnv(tt.environ); !slices.Equal(got, tt.want) {
				t.Errorf("UnknownEnv = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestUnknownEnvInTheError: a configuration that does not load names,
// after its problems, the IMCALLBACK_* variables that are no setting, with
// the closest real name: the misspelt variable is then most often the
// cause (IMCALLBACK_SDKAPID for the required IMCALLBACK_SDKAPPID), and
// Notes, where a valid configuration says it, is never reached.
func TestUnknownEnvInTheError(t *testing.T) {
	_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPID=1400000001", "IMCALLBACK_SIGN_WINDOW=soon")})
	if err == nil {
		t.Fatal("Load accepted a configuration without an app")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"IMCALLBACK_SDKAPPID (sdkappid): required: the SDKAppID(s) of your IM application, comma-separated",
		`IMCALLBACK_SIGN_WINDOW (sign_window): "soon" is not a duration (e.g. 60s)`,
		"note: IMCALLBACK_SDKAPID is not a setting; did you mean IMCALLBACK_SDKAPPID?",
	}
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("error %q: no line %q", err, w)
		}
	}
	if last := lines[len(lines)-1]; last != want[2] {
		t.Errorf("last line %q, want the note after the problems", last)
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Key != "sign_window" && fe.Key != "sdkappid" {
		t.Errorf("errors.As finds %+v, want a problem's *FieldError", fe)
	}
	// A declared section's variable is a setting, not noted.
	_, err = config.LoadWith(config.Source{Environ: env("IMCALLBACK_WORDS_LIST=a")}, config.SectionInfo{Key: "words", Fields: []string{"list"}})
	if err == nil || strings.Contains(err.Error(), "note:") {
		t.Errorf("error %v: want no note about a section's variable", err)
	}
}

func TestListenerOverlap(t *testing.T) {
	tests := []struct {
		name, listen, admin, nats string
		want                      []string // nil: accepted
	}{
		{"wildcard and loopback", ":8080", "127.0.0.1:8080", "",
			[]string{`IMCALLBACK_ADMIN_LISTEN (admin_listen): must differ from IMCALLBACK_LISTEN: "127.0.0.1:8080" and ":8080" both take port 8080`}},
		{"loopback and wildcard", "127.0.0.1:8080", ":8080", "", []string{"IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_LISTEN", "port 8080"}},
		{"IPv4 wildcard", "0.0.0.0:8080", "10.1.2.3:8080", "", []string{"IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_LISTEN"}},
		{"IPv6 wildcard", "[::]:8080", "127.0.0.1:8080", "", []string{"IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_LISTEN"}},
		{"same host", "127.0.0.1:9000", "127.0.0.1:9000", "", []string{"IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_LISTEN", `both are "127.0.0.1:9000"`}},
		{"localhost", "localhost:9000", "127.0.0.1:9000", "", []string{"IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_LISTEN"}},
		{"NATS on the public port", ":8080", "127.0.0.1:9090", "127.0.0.1:8080",
			[]string{"IMCALLBACK_NATS_LISTEN (nats_listen): must differ from IMCALLBACK_LISTEN"}},
		{"NATS on the admin port", ":8080", "127.0.0.1:9090", "127.0.0.1:9090",
			[]string{"IMCALLBACK_NATS_LISTEN (nats_listen): must differ from IMCALLBACK_ADMIN_LISTEN"}},
		{"different ports", ":8080", ":9090", "127.0.0.1:4222", nil},
		{"different hosts", "10.0.0.1:8080", "10.0.0.2:8080", "", nil},
		{"random ports", ":0", ":0", "127.0.0.1:0", nil},
		{"random ports on one host", "127.0.0.1:0", "127.0.0.1:0", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ADMIN_TOKEN=a-token-of-16-chars",
				"IMCALLBACK_LISTEN="+tt.listen, "IMCALLBACK_ADMIN_LISTEN="+tt.admin, "IMCALLBACK_NATS_LISTEN="+tt.nats)})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("overlapping listeners accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNotes(t *testing.T) {
	const noToken = "no token is configured (IMCALLBACK_TOKENS): unsigned callbacks are accepted"
	const typo = "IMCALLBACK_TOKEN is not a setting; did you mean IMCALLBACK_TOKENS?"
	tests := []struct {
		name    string
		environ []string
		want    []string // prefixes, in order
	}{
		{"no token", nil, []string{noToken}},
		{"tokens", []string{"IMCALLBACK_TOKENS=t"}, nil},
		{"misspelt token variable", []string{"IMCALLBACK_TOKEN=t"}, []string{noToken, typo}},
		// An id that is no number is no app's: said once, as no setting.
		{"a per-app variable without an id", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_APP__TOKENS=t"},
			[]string{"IMCALLBACK_APP__TOKENS is not a setting"}},
		{"a per-app variable whose id is no number", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_APP_x_TOKENS=t"},
			[]string{"IMCALLBACK_APP_x_TOKENS is not a setting"}},
		{"unknown variable beside tokens", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_WORKER=2"},
			[]string{"IMCALLBACK_WORKER is not a setting; did you mean IMCALLBACK_WORKERS?"}},
		{"tests' variables", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_TEST_POSTGRES_DSN=postgres://x"}, nil},
		{"a wide sign window", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_SIGN_WINDOW=1h", "IMCALLBACK_DEDUP_WINDOW=1h"},
			[]string{"IMCALLBACK_SIGN_WINDOW 1h0m0s is wide: a captured callback is accepted again for that long"}},
		{"a sign window of five minutes", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_SIGN_WINDOW=5m"}, nil},
		{"an admin token the console cannot send", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_ADMIN_TOKEN=admin-token-0123\u200b"},
			[]string{"IMCALLBACK_ADMIN_TOKEN holds U+200B at character 17, outside printable ASCII: the console cannot use it"}},
		{"an admin token with a space", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_ADMIN_TOKEN=admin token 0123456"}, nil},
		// Only the embedded server listens there.
		{"a NATS listener beside a cluster", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_NATS_LISTEN=127.0.0.1:4223", "IMCALLBACK_NATS_URL=nats://10.0.0.5:4222"},
			[]string{"IMCALLBACK_NATS_LISTEN 127.0.0.1:4223 is ignored: no embedded NATS server runs, since IMCALLBACK_NATS_URL is set"}},
		{"a NATS listener with inline delivery", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_NATS_LISTEN=127.0.0.1:4223", "IMCALLBACK_DELIVERY=inline"},
			[]string{"IMCALLBACK_NATS_LISTEN 127.0.0.1:4223 is ignored: no embedded NATS server runs, since IMCALLBACK_DELIVERY is inline"}},
		{"a NATS listener of the embedded server", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_NATS_LISTEN=127.0.0.1:4223"}, nil},
		// Inline delivery keeps no stream and runs no workers; the URL's
		// password is not shown.
		{"durable settings with inline delivery", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_DELIVERY=inline",
			"IMCALLBACK_WORKERS=8", "IMCALLBACK_NATS_URL=nats://u:secret-pass@10.0.0.5:4222", "IMCALLBACK_BACKOFF=1s,2s"},
			[]string{"IMCALLBACK_NATS_URL, IMCALLBACK_WORKERS, IMCALLBACK_BACKOFF: ignored, since IMCALLBACK_DELIVERY is inline"}},
		{"durable settings at their defaults with inline delivery", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_DELIVERY=inline",
			"IMCALLBACK_WORKERS=64", "IMCALLBACK_STREAM=IMCALLBACK"}, nil},
		{"durable settings with durable delivery", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_WORKERS=8", "IMCALLBACK_BACKOFF=1s,2s"}, nil},
		// Only the REST API client reads an app's admin_identifier and
		// api_base, and only a secret key builds it; the values are not
		// shown (api_base is a secret's place).
		{"REST API settings without a secret key", []string{"IMCALLBACK_TOKENS=t",
			"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=ops", "IMCALLBACK_APP_1_API_BASE=https://secret-pass.im.qcloud.com"},
			[]string{"app 1: its admin_identifier, api_base (IMCALLBACK_APP_1_ADMIN_IDENTIFIER, IMCALLBACK_APP_1_API_BASE) are ignored: " +
				"they set the app's REST API client, which only its secret_key (IMCALLBACK_APP_1_SECRET_KEY) enables"}},
		{"an API base without a secret key", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_APP_1_API_BASE=https://adminapisgp.im.qcloud.com"},
			[]string{"app 1: its api_base (IMCALLBACK_APP_1_API_BASE) is ignored: it sets the app's REST API client"}},
		{"REST API settings with a secret key", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_APP_1_SECRET_KEY=k",
			"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=ops", "IMCALLBACK_APP_1_API_BASE=https://adminapisgp.im.qcloud.com"}, nil},
		{"REST API settings at their defaults without a secret key", []string{"IMCALLBACK_TOKENS=t",
			"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=administrator", "IMCALLBACK_APP_1_API_BASE=https://console.tim.qq.com"}, nil},
		// Only iplist fetches the lists of iplist_nettypes, every
		// iplist_refresh.
		{"nettypes without iplist", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_APP_1_SECRET_KEY=k", "IMCALLBACK_APP_1_IPLIST_NETTYPES=5"},
			[]string{"app 1: its iplist_nettypes (IMCALLBACK_APP_1_IPLIST_NETTYPES) is ignored: it chooses the address lists iplist " +
				"(IMCALLBACK_APP_1_IPLIST) fetches, which is off"}},
		{"nettypes with iplist", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_APP_1_SECRET_KEY=k", "IMCALLBACK_APP_1_IPLIST=true",
			"IMCALLBACK_APP_1_IPLIST_NETTYPES=5", "IMCALLBACK_IPLIST_REFRESH=30m"}, nil},
		{"nettypes at their default without iplist", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_APP_1_IPLIST_NETTYPES=5,6"}, nil},
		{"a refresh without iplist", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_IPLIST_REFRESH=30m"},
			[]string{"IMCALLBACK_IPLIST_REFRESH (iplist_refresh) is ignored: it is how often the address lists of the apps with iplist are fetched, " +
				"and no app has iplist"}},
		{"a refresh at its default without iplist", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_IPLIST_REFRESH=1h"}, nil},
		// Only a trusted proxy's forwarding header is read.
		{"a proxy header without trusted proxies", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_PROXY_HEADER=X-Real-IP"},
			[]string{"IMCALLBACK_PROXY_HEADER (proxy_header) is ignored: it names the forwarding header believed from a trusted proxy, " +
				"and IMCALLBACK_TRUSTED_PROXIES is empty, so every request's source is its TCP peer"}},
		{"a proxy header beside trusted proxies", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_PROXY_HEADER=X-Real-IP",
			"IMCALLBACK_TRUSTED_PROXIES=10.0.0.0/8"}, nil},
		{"a proxy header at its default without trusted proxies", []string{"IMCALLBACK_TOKENS=t", "IMCALLBACK_PROXY_HEADER=x-forwarded-for"}, nil},
		// A request is verified with its own app's tokens only.
		{"global tokens beside every app's own", []string{"IMCALLBACK_TOKENS=secret-pass", "IMCALLBACK_APP_1_TOKENS=own"},
			[]string{"IMCALLBACK_TOKENS (tokens) is ignored: every app has tokens of its own (IMCALLBACK_APP_<SDKAPPID>_TOKENS or its apps entry's tokens)"}},
		// docker's --env-file and a ConfigMap made --from-env-file keep the quotes, and
		// IM signs with the token without them; the token is never shown.
		{"a token in double quotes", []string{`IMCALLBACK_TOKENS="secret-pass"`},
			[]string{"IMCALLBACK_TOKENS: token #1 begins or ends with a quote mark, which is part of the token as written: " +
				"docker's --env-file, an item of a compose file's environment list and a Kubernetes ConfigMap or Secret " +
				"made --from-env-file keep the quotes"}},
		{"a list of tokens in quotes", []string{`IMCALLBACK_TOKENS="secret-pass,secret-pass2"`},
			[]string{"IMCALLBACK_TOKENS: token #1 begins or ends with a quote mark", "IMCALLBACK_TOKENS: token #2 begins or ends with a quote mark"}},
		{"an app's token in single quotes", []string{`IMCALLBACK_APP_1_TOKENS='secret-pass'`},
			[]string{"IMCALLBACK_APP_1_TOKENS: token #1 begins or ends with a quote mark"}},
		{"a token with a quote mark inside", []string{`IMCALLBACK_TOKENS=it's-"ok"-secret-pass`}, nil},
		// The admin token and an app's secret key, in the same env file.
		{"the admin token in quotes", []string{"IMCALLBACK_TOKENS=t", `IMCALLBACK_ADMIN_TOKEN="secret-pass-admin"`},
			[]string{"IMCALLBACK_ADMIN_TOKEN begins or ends with a quote mark, which is part of the token as written"}},
		{"an app's secret key in quotes", []string{"IMCALLBACK_TOKENS=t", `IMCALLBACK_APP_1_SECRET_KEY="secret-pass-key"`},
			[]string{"IMCALLBACK_APP_1_SECRET_KEY begins or ends with a quote mark, which is part of the key as written"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(config.Source{Environ: env(append(tt.environ, "IMCALLBACK_SDKAPPID=1")...)})
			if err != nil {
				t.Fatal(err) // an unknown variable is no error
			}
			got := c.Notes()
			if len(got) != len(tt.want) {
				t.Fatalf("Notes = %q, want %q", got, tt.want)
			}
			if strings.Contains(strings.Join(got, "\n"), "secret-pass") {
				t.Errorf("Notes = %q, showing a password", got)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("note %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
	if d := config.Default(); len(d.Notes()) != 1 || !strings.HasPrefix(d.Notes()[0], noToken) {
		t.Errorf("Default().Notes() = %q", d.Notes())
	}
}

// TestEachDurableSettingIsNotedWithInlineDelivery: every setting the
// README lists as durable delivery's alone is named in the start's note
// when set off its default with inline delivery.
func TestEachDurableSettingIsNotedWithInlineDelivery(t *testing.T) {
	for _, v := range []string{
		"IMCALLBACK_NATS_URL=nats://10.0.0.5:4222", "IMCALLBACK_STREAM=OTHER", "IMCALLBACK_STREAM_REPLICAS=3",
		"IMCALLBACK_SUBJECT_PREFIX=other", "IMCALLBACK_RETENTION=30m", "IMCALLBACK_DEDUP_WINDOW=1m",
		"IMCALLBACK_WORKERS=8", "IMCALLBACK_HANDLER_TIMEOUT=10s", "IMCALLBACK_BACKOFF=1s,2s", "IMCALLBACK_MAX_DELIVERIES=3",
	} {
		name, _, _ := strings.Cut(v, "=")
		t.Run(name, func(t *testing.T) {
			c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=t", "IMCALLBACK_DELIVERY=inline", v)})
			if err != nil {
				t.Fatal(err)
			}
			if notes := c.Notes(); len(notes) != 1 || !strings.HasPrefix(notes[0], name+": ignored, since IMCALLBACK_DELIVERY is inline") {
				t.Errorf("Notes = %q, want %s named as ignored", notes, name)
			}
		})
	}
}

// TestEmptyProxyHeaderIsTheDefault: a variable set but empty, as templated
// environment files write it, is the default, not an error, as every
// setting's (TestEmptyVariableCountsAsUnset). In the file, where a value
// is taken as written, an empty one is not one of the two headers.
func TestEmptyProxyHeaderIsTheDefault(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_PROXY_HEADER=")})
	if err != nil {
		t.Fatal(err)
	}
	if c.ProxyHeader != "X-Forwarded-For" {
		t.Fatalf("proxy header %q", c.ProxyHeader)
	}
	if _, err := loadYAML(t, "sdkappid: [\"1\"]\nproxy_header: \"\"\n"); err == nil ||
		!strings.Contains(err.Error(), `IMCALLBACK_PROXY_HEADER (proxy_header): "" must be X-Forwarded-For or X-Real-IP`) {
		t.Errorf("proxy_header \"\" in the file: %v", err)
	}
}

// TestParsePrefixesUnmaps: an IPv4-mapped entry is the IPv4 prefix it
// names, the form the allowlist compares an unmapped source with.
func TestParsePrefixesUnmaps(t *testing.T) {
	got, err := config.ParsePrefixes([]string{"::ffff:203.0.113.0/120", "::ffff:198.51.100.7", "192.0.2.9/24", "2001:db8::1/32", "::ffff:0:0/96"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"203.0.113.0/24", "198.51.100.7/32", "192.0.2.0/24", "2001:db8::/32", "0.0.0.0/0"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %v, want %s", i, got[i], want[i])
		}
	}
}

// TestParsePrefixesRefusesAWideNetworkWithHostBits: "99.0.0.0/1", meant
// as /8, was masked to 0.0.0.0/1 and admitted half of every IPv4 source
// without a word. A network broader than /8 (IPv4) or /16 (IPv6) written
// with bits past its length is refused; one written as its network, or a
// narrower one, is taken.
func TestParsePrefixesRefusesAWideNetworkWithHostBits(t *testing.T) {
	for _, s := range []string{"99.0.0.0/1", "10.0.0.0/4", "172.16.0.0/7", "2001:db8::/15", "::ffff:10.0.0.0/100"} {
		if got, err := config.ParsePrefixes([]string{s}); err == nil || !strings.Contains(err.Error(), "keeps only its first") {
			t.Errorf("ParsePrefixes(%q) = %v, %v; want an error naming the network it is", s, got, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"0.0.0.0/1", "0.0.0.0/1"},
		{"128.0.0.0/1", "128.0.0.0/1"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"2001:db8::1/16", "2001::/16"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
	} {
		got, err := config.ParsePrefixes([]string{tc.in})
		if err != nil || len(got) != 1 || got[0].String() != tc.want {
			t.Errorf("ParsePrefixes(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, v := range []string{"IMCALLBACK_ALLOW_CIDRS", "IMCALLBACK_APP_1_ALLOW_CIDRS"} {
		_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", v+"=99.0.0.0/1")})
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("%s=99.0.0.0/1: %v, want an error naming the variable", v, err)
		}
	}
}

// TestParsePrefixesRefusesATypedAddressWithSlash0: a prefix keeps only
// its first bits, so "10.0.0.0/0" (a typo for /8) or
// "::ffff:10.0.0.0/96" was taken as 0.0.0.0/0 and admitted every IPv4
// source, without a word. A /0 is taken only written as every address.
func TestParsePrefixesRefusesATypedAddressWithSlash0(t *testing.T) {
	for _, s := range []string{"10.0.0.0/0", "192.0.2.1/0", "::ffff:10.0.0.0/96", "2001:db8::/0"} {
		if got, err := config.ParsePrefixes([]string{s}); err == nil || !strings.Contains(err.Error(), "/0") {
			t.Errorf("ParsePrefixes(%q) = %v, %v; want an error saying /0 is every address", s, got, err)
		}
	}
	for _, s := range []string{"0.0.0.0/0", "::/0", "::ffff:0:0/96", "192.0.2.9/24"} {
		if _, err := config.ParsePrefixes([]string{s}); err != nil {
			t.Errorf("ParsePrefixes(%q): %v", s, err)
		}
	}
	_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ALLOW_CIDRS=10.0.0.0/0")})
	if err == nil || !strings.Contains(err.Error(), "IMCALLBACK_ALLOW_CIDRS") {
		t.Errorf("IMCALLBACK_ALLOW_CIDRS=10.0.0.0/0: %v, want an error naming the variable", err)
	}
}

// TestParsePrefixesRefusesZones: netip reads everything after "%" as the
// zone, a prefix length included, and PrefixFrom drops the zone, so
// "2001:db8::%eth0/32" was taken as the one address 2001:db8::. A zone is
// an error, in the global and an app's allow_cidrs and in trusted_proxies.
func TestParsePrefixesRefusesZones(t *testing.T) {
	for _, s := range []string{"fe80::1%eth0", "fe80::%eth0/10", "2001:db8::%eth0/32", "fe80::1%25"} {
		if got, err := config.ParsePrefixes([]string{s}); err == nil || !strings.Contains(err.Error(), "zone") {
			t.Errorf("ParsePrefixes(%q) = %v, %v; want an error naming the zone", s, got, err)
		}
	}
	for _, v := range []string{"IMCALLBACK_ALLOW_CIDRS", "IMCALLBACK_TRUSTED_PROXIES", "IMCALLBACK_APP_1_ALLOW_CIDRS"} {
		_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", v+"=fe80::%eth0/10")})
		if err == nil || !strings.Contains(err.Error(), "IPv6 zone") {
			t.Errorf("%s with a zone: %v, want an error naming the zone", v, err)
		}
	}
}

// TestCheckFiles: the TLS files are read by CheckFiles (serve, config
// check), not by Load, which the other commands run where the files are not.
func TestCheckFiles(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TLS_CERT=/nonexistent/c.pem", "IMCALLBACK_TLS_KEY=/nonexistent/k.pem")})
	if err != nil {
		t.Fatalf("Load read the TLS files: %v", err)
	}
	if err := c.CheckFiles(); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_TLS_CERT") || !strings.Contains(err.Error(), "/nonexistent/c.pem") {
		t.Errorf("CheckFiles: %v", err)
	}
	if def := config.Default(); def.CheckFiles() != nil {
		t.Error("CheckFiles refused a configuration without TLS")
	}
}

// FuzzRedactHidesThePassword: whatever characters a password holds, '@'
// included, the redacted DSN shows neither it nor what follows an '@' in it
// (the part a userinfo cut at the first '@' showed), and nothing panics.
func FuzzRedactHidesThePassword(f *testing.F) {
	for _, pw := range []string{"s3cr3tpw", "12?s3cr3tpw", "99#s3cr3tpw", "/s3cr3tpw", "pa,ss", "5432", "a?b/c#d", "p@ss/word", "p@ss?x=y1"} {
		f.Add(pw)
	}
	const frame = "postgres://imcb:@db.internal:5432/topics?sslmode=require[redacted]"
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 6 || strings.Contains(pw, "\x00") || strings.Contains(frame, pw) {
			return
		}
		dsn := "postgres://imcb:" + pw + "@db.internal:5432/topics?sslmode=require"
		out := config.Redact(dsn, false)
		if strings.Contains(out, pw) {
			t.Errorf("Redact(%q) = %q shows the password", dsn, out)
		}
		if _, tail, ok := strings.Cut(pw, "@"); ok && len(tail) >= 6 && !strings.Contains(frame, tail) && strings.Contains(out, tail) {
			t.Errorf("Redact(%q) = %q shows %q of the password", dsn, out, tail)
		}
	})
}

// A quoted or block value in the file keeps the whitespace around it, which
// a variable loses: such a token would never match the one IM signs with,
// and an admin token with it cannot be sent. The error never shows it
// (every value of the file is checked so: TestFileValueWithWhitespace).
func TestLoadRejectsUntrimmedSecrets(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"global token", "sdkappid: [\"1\"]\ntokens: [\"s3cret \"]\n", []string{"IMCALLBACK_TOKENS (tokens): item #1 has whitespace"}},
		{"app token", "apps:\n  - sdkappid: \"1\"\n    tokens: [\"ok\", \" s3cret\"]\n", []string{"IMCALLBACK_APP_1_TOKENS (app_1_tokens): item #2 has whitespace"}},
		{"admin token from a block scalar", "sdkappid: [\"1\"]\nadmin_token: |\n  s3cret\n", []string{"IMCALLBACK_ADMIN_TOKEN (admin_token): the value has whitespace"}},
		{"tab inside", "sdkappid: [\"1\"]\ntokens: [\"s3\\tcret\"]\n", []string{"IMCALLBACK_TOKENS (tokens): token #1 contains a control character"}},
		{"byte-order mark", "sdkappid: [\"1\"]\ntokens: [\"\\uFEFFs3cret\"]\n", []string{"IMCALLBACK_TOKENS (tokens): token #1 contains an invisible character, U+FEFF"}},
		{"zero-width space in an app token", "apps:\n  - sdkappid: \"1\"\n    tokens: [\"s3\u200bcret\"]\n", []string{"IMCALLBACK_APP_1_TOKENS (app_1_tokens): token #1 contains an invisible character, U+200B"}},
		{"a list written as one string", "sdkappid: [\"1\"]\ntokens: \"s3cretA, s3cretB\"\n", []string{"IMCALLBACK_TOKENS (tokens): token #1 contains a comma"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(config.Source{File: writeTemp(t, tt.file), Environ: env()})
			if err == nil {
				t.Fatal("Load accepted the secret")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	// A byte-order mark is no whitespace: the environment's value keeps it,
	// and is refused as the file's is ($(cat token.txt) of a file an editor
	// saved with one).
	if _, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=\uFEFFs3cret")}); err == nil ||
		!strings.Contains(err.Error(), "token #1 contains an invisible character, U+FEFF") || strings.Contains(err.Error(), "s3") {
		t.Errorf("a token beginning with a byte-order mark: %v", err)
	}
	// The same values from the environment are trimmed, and valid.
	if _, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS= s3cret ", "IMCALLBACK_ADMIN_TOKEN=s3cret\n")}); err != nil {
		t.Fatal(err)
	}
}

// TestTrustedProxiesNotTheInternet: a trusted proxy network as broad as
// 0.0.0.0/0 would believe every client's forwarding header, so any client
// could forge its source past the allowlist; it is refused, a proxy's
// network (10.0.0.0/8) is not.
func TestTrustedProxiesNotTheInternet(t *testing.T) {
	const why = ": a forwarding header would be believed from any client on the internet, which could then write its own " +
		"source address into it and pass the allowlist; list your proxies' addresses or their network, "
	const v4 = "at most /8 for IPv4 (e.g. 10.0.0.0/8), or leave it empty when no proxy is in front"
	const v6 = "at most /16 for IPv6 (e.g. 2001:db8::/32, or fd00::/8 for unique local addresses), or leave it empty when no proxy is in front"
	tests := []struct {
		value string
		want  string // the error line; "" is valid
	}{
		{"10.0.0.0/8", ""},
		{"10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10", ""},
		{"3.0.0.0/8", ""},
		{"203.0.113.7,2001:db8::/32", ""},
		{"2001:db8::/16", ""},
		{"fc00::/7", ""},
		{"fd00::/8", ""},
		{"fe80::/10", ""},
		{"::ffff:10.0.0.0/104", ""},
		{"0.0.0.0/0", `IMCALLBACK_TRUSTED_PROXIES (trusted_proxies): "0.0.0.0/0" is every IPv4 address` + why + v4},
		{"10.0.0.1,::/0", `IMCALLBACK_TRUSTED_PROXIES (trusted_proxies): "::/0" is every IPv6 address` + why + v6},
		{"::ffff:0:0/96", `IMCALLBACK_TRUSTED_PROXIES (trusted_proxies): "::ffff:0:0/96" is every IPv4 address` + why + v4},
		{"0.0.0.0/1", `IMCALLBACK_TRUSTED_PROXIES (trusted_proxies): "0.0.0.0/1" is broader than /8` + why + v4},
		{"10.0.0.0/7", `IMCALLBACK_TRUSTED_PROXIES (trusted_proxies): "10.0.0.0/7" is broader than /8` + why + v4},
		{"2000::/3", `IMCALLBACK_TRUSTED_PROXIES (trusted_proxies): "2000::/3" is broader than /16` + why + v6},
		{"fc00::/6", `IMCALLBACK_TRUSTED_PROXIES (trusted_proxies): "fc00::/6" is broader than /16` + why + v6},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TRUSTED_PROXIES="+tt.value)})
			got := errorLines(err)
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("error lines\n%q\nwant\n%q", got, want)
			}
			_, perr := config.ParseTrustedProxies(strings.Split(tt.value, ","))
			if (perr == nil) != (tt.want == "") {
				t.Errorf("ParseTrustedProxies: %v", perr)
			}
		})
	}
}

// TestBodyLimitBounds: the body limit is at most 64 MiB, NATS's largest
// message. Near the int64 maximum (an "unlimited" 9223372036854775807)
// it overflowed: the request limit became negative, refusing every
// callback with 413, and the embedded server's max_payload wrapped.
func TestBodyLimitBounds(t *testing.T) {
	tests := []struct {
		value string
		want  string // "" when it loads
	}{
		{"1", ""},
		{"67108864", ""},
		{"67108865", `IMCALLBACK_BODY_LIMIT (body_limit): 67108865 must be from 1 to 67108864 (64 MiB)`},
		{"9223372036854775807", `IMCALLBACK_BODY_LIMIT (body_limit): 9223372036854775807 must be from 1 to 67108864 (64 MiB)`},
		{"0", `IMCALLBACK_BODY_LIMIT (body_limit): 0 must be from 1 to 67108864 (64 MiB)`},
		{"-1", `IMCALLBACK_BODY_LIMIT (body_limit): -1 must be from 1 to 67108864 (64 MiB)`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_BODY_LIMIT="+tt.value)})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !slices.Contains(strings.Split(err.Error(), "\n"), tt.want)):
				t.Fatalf("error\n%v\nwant the line\n%s", err, tt.want)
			}
		})
	}
}

// TestPathIsALiteralURLPath: the callback path is registered as an echo
// route: whitespace (from the quotes of a file), a query or a fragment
// made a route no callback matched, and so did a percent-escape written
// as net/http writes it (such a request is routed on its decoded path);
// ':' or '*' made one matching other paths too (route parameters). Each is
// refused, naming the value; an escape net/http does not write is routed
// as written, and accepted.
func TestPathIsALiteralURLPath(t *testing.T) {
	tests := []struct {
		path string
		want string // "" when it loads
	}{
		{"/im/callback", ""},
		{"/im/v1/callback-2_x.y~z", ""},
		{"/im/callback ", `IMCALLBACK_PATH (path): "/im/callback " has whitespace before or after it (in the file, check the quotes or the block scalar)`},
		{"/im/call back", `IMCALLBACK_PATH (path): "/im/call back" holds ' '`},
		{"/im/callback?x=1", `IMCALLBACK_PATH (path): "/im/callback?x=1" holds '?'`},
		{"/im/callback#x", `IMCALLBACK_PATH (path): "/im/callback#x" holds '#'`},
		{"/im/:app", `IMCALLBACK_PATH (path): "/im/:app" holds ':'`},
		{"/im/*", `IMCALLBACK_PATH (path): "/im/*" holds '*'`},
		{"/im/\tx", `IMCALLBACK_PATH (path): "/im/\tx" holds '\t'`},
		// An escape as net/http writes it is routed decoded, so a route
		// written with one was never reached (40401); one net/http does not
		// write is kept as it came (URL.RawPath), which echo routes on.
		{"/回调", ""},
		{"/im%2Fcb", ""},
		{"//im%2Fcb", ""}, // a request's path, not a URL with a host
		{"//%E5%9B%9E%E8%B0%83", `write it unescaped: "//回调"`},
		{"/im%2Fcb%3A", ""},
		{"/%e5%9b%9e", ""},
		{"/im%20cb", `IMCALLBACK_PATH (path): "/im%20cb" is percent-escaped as net/http escapes, so its requests are routed ` +
			`on the decoded path and a route written escaped never matches; write the characters themselves ` +
			`(letters of any script work as they are), with no whitespace`},
		{"/%E5%9B%9E%E8%B0%83", `IMCALLBACK_PATH (path): "/%E5%9B%9E%E8%B0%83" is percent-escaped as net/http escapes, ` +
			`so its requests are routed on the decoded path and a route written escaped never matches; write it unescaped: "/回调"`},
		{"/im/100%", `IMCALLBACK_PATH (path): "/im/100%" holds a '%' that starts no escape (%XX)`},
		{"/im/100%25", `IMCALLBACK_PATH (path): "/im/100%25" is percent-escaped as net/http escapes`},
		{"/im/%FF", `IMCALLBACK_PATH (path): "/im/%FF" is percent-escaped as net/http escapes, so its requests are routed ` +
			`on the decoded path and a route written escaped never matches; write the characters themselves`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := loadYAML(t, "path: "+strconv.Quote(tt.path)+"\n", "IMCALLBACK_SDKAPPID=1")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

// TestStartTimeoutIsASetting: IMCALLBACK_START_TIMEOUT sets the bound of
// the start, two minutes unless set.
func TestStartTimeoutIsASetting(t *testing.T) {
	for _, tt := range []struct {
		environ func() []string
		want    time.Duration
	}{
		{env("IMCALLBACK_SDKAPPID=1"), 2 * time.Minute},
		{env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_START_TIMEOUT=5m"), 5 * time.Minute},
		{env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_START_TIMEOUT=1h"), time.Hour},
	} {
		c, err := config.Load(config.Source{Environ: tt.environ})
		if err != nil {
			t.Fatal(err)
		}
		if c.StartTimeout != tt.want {
			t.Errorf("%v: start timeout %v, want %v", tt.environ(), c.StartTimeout, tt.want)
		}
	}
}

func TestStoreDSNIsReadByTheDriverAsWritten(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		want    string   // in the error; "" when the DSN is accepted
		secrets []string // never in the error
	}{
		{"plain", "postgres://u@db/imcb", "", nil},
		{"escaped '@' in the password", "postgres://u:p%40ss@db/x", "", nil},
		{"'@' in a query value", "postgresql://u:pw@db:5432/x?sslmode=disable&application_name=a@b", "", nil},
		{"'@' in the database name", "postgres://u:pw@host/db@x", "has an '@' or a '/' in its database name", nil},
		{"'@' and '/' in the password, no database", "postgres://u:Ab@c/d3@host", "has an '@' or a '/' in its database name",
			[]string{"Ab@c", "d3@host"}},
		{"'@' and '?' in the password", "postgres://u:p@s?x@host/db", "has a query parameter without '='", []string{"x@host"}},
		{"a password parameter holding '@', no database", "postgres://host?password=p@ss", "has a query before its first '@'",
			[]string{"p@ss"}},
		{"'?' in the password", "postgres://u:p?ss@host/db", "", nil},
		{"'?' in the password, no database", "postgres://u:p?ss@host", "", nil},
		{"a user and a password parameter holding '@', no database", "postgres://host:5432?user=u&password=p@ss",
			"has a query before its first '@'", []string{"p@ss"}},
		{"an empty query", "postgres://u:pw@host/db?", "", nil},
		{"'?' and '/' in the password", "postgres://u:?}/@host/db?sslmode=disable", "has a query parameter whose name is none",
			[]string{"}/@host"}},
		{"'[' and '@' in the password, no database", "postgres://u:[>@{?=@host", "has a character no host name holds in its host",
			[]string{"[>", "{?"}},
		{"'/', '?' and '=' in the password", "postgres://u:/|?=|@host:5432/db", "has a query parameter whose name is none",
			[]string{"|@host"}},
		{"a bracketed IPv6 host with a zone", "postgres://u:pw@[fe80::1%25eth0]:5432/db", "", nil},
		{"settings in the query", "postgres://u:pw@host/db?options=-c%20search_path%3Dim&application_name=imcb.1_a-b", "", nil},
		{"a trailing '&'", "postgres://u:pw@host/db?sslmode=disable&", "", nil},
		{"escaped '@' in the database name", "postgres://u:pw@host/my%40db", "", nil},
		{"characters of generated passwords", "postgres://u:pa^s{x}|y[1]<>\"#?s@host/db", "", nil},
		{"'@' in a query value, no path", "postgres://u@host?application_name=a@b", "", nil},
		{"several hosts", "postgres://u:pw@pg1:5432,pg2:5432,[::1]:5433/db", "", nil},
		// The driver ends the host at its first ':' and reads the rest as
		// the port: "invalid port" at start, after config check.
		{"an IPv6 host without brackets", "postgres://u:s3cr3tpw@::1:5432/db", "has an IPv6 address without brackets in its host",
			[]string{"s3cr3tpw"}},
		{"an IPv6 host without brackets nor port", "postgres://u:pw@pg1:5432,fe80::1/db", "has an IPv6 address without brackets in its host", nil},
		{"not postgres", "mysql://x", "a postgres:// URL", nil},
		{"unescaped '@' in the password", "postgres://imcb:s3cr@tPart@nohost.invalid/db", "has an '@' in its host",
			[]string{"s3cr", "tPart", "nohost"}},
		{"unescaped '@' and '/' in the password", "postgres://user:Ab@c/d3@host/db", "has an '@' or a '/' in its database name",
			[]string{"Ab@c", "c/d3", "d3@host"}},
		{"a '/' after the database name", "postgres://u:pw@host/db/", "has an '@' or a '/' in its database name", nil},
		{"a '/' in a query value", "postgres://u:pw@host/db?sslrootcert=/etc/ssl/ca.pem", "", nil},
		{"a '/' in a query value, no database", "postgres://imcb:pw@db.example:5432?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem", "", nil},
		{"a socket directory", "postgresql://imcb@?host=/var/run/postgresql", "", nil},
		{"no user info, a '/' in a query value", "postgres://db.example?sslrootcert=/etc/ssl/ca.pem", "", nil},
		{"unescaped '@' in the password, no path", "postgresql://u:p@ss@host?sslmode=disable", "has an '@' in its host",
			[]string{"p@ss"}},
		// The driver decodes each part's escapes and refuses one that is
		// none, a %00 or a space within: at start, after config check.
		{"a '%' that is no escape in the password", "postgres://u:p%zzs3cr3t@host/db", "has a '%' that is no escape (%XX), a %00 or a space",
			[]string{"s3cr3t"}},
		{"a '%' at the password's end", "postgres://u:s3cr3t%@host/db", "has a '%' that is no escape", []string{"s3cr3t"}},
		{"a %00 in the password", "postgres://u:s3%00cr3t@host/db", "has a '%' that is no escape", []string{"cr3t"}},
		{"a space in the password", "postgres://u:s3cr3t pw@host/db", "has a '%' that is no escape", []string{"s3cr3t"}},
		{"a '%' that is no escape in the database name", "postgres://u:pw@host/d%b", "has a '%' that is no escape", nil},
		{"a '%' that is no escape in a query value", "postgres://u:pw@host/db?password=s3%cr3t", "has a '%' that is no escape",
			[]string{"cr3t"}},
		{"a '%' that is no escape in the host", "postgres://u:pw@ho%st/db", "has a '%' that is no escape", nil},
		{"an escaped '%' and space in the password", "postgres://u:p%25w%20d@host/db", "", nil},
		{"spaces around the user", "postgres:// u :pw@host/db", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" && !strings.Contains(tt.dsn, "sslrootcert=") { // the driver reads a CA file as it parses
				// What is accepted, the driver reads.
				if _, err := pgconn.ParseConfig(tt.dsn); err != nil {
					t.Fatalf("the driver refuses %q: %v", tt.dsn, err)
				}
			}
			_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_STORE_DSN="+tt.dsn)})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load refused %q: %v", tt.dsn, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted %q", tt.dsn)
			}
			if !strings.Contains(err.Error(), "IMCALLBACK_STORE_DSN") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name IMCALLBACK_STORE_DSN and %q", err, tt.want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows %q of the DSN", err, s)
				}
			}
		})
	}
}

// TestSecretWrittenAsAMapIsNotQuoted: a secret setting written as a YAML
// map (tokens: {tok1, tok2}, braces for brackets) made each secret a key,
// and the unknown-key lines of the error quoted them
// ("unknown key tokens.tok1"), printing the secrets the decode error
// beside them was careful to hide. The error now says the value is a map
// without them.
func TestSecretWrittenAsAMapIsNotQuoted(t *testing.T) {
	tests := []struct{ key, yaml, want string }{
		{"tokens", "tokens: {tok-s3cr3t-1, tok-s3cr3t-2}", "IMCALLBACK_TOKENS (tokens): the value is a map"},
		{"admin_token", "admin_token: {adm-s3cr3t}", "IMCALLBACK_ADMIN_TOKEN (admin_token): the value is a map"},
		{"store_dsn", "store_dsn: {postgres://u:pw-s3cr3t@h/db}", "IMCALLBACK_STORE_DSN (store_dsn): the value is a map"},
		{"nats_url", "nats_url:\n  nats://u:pw-s3cr3t@h:", "IMCALLBACK_NATS_URL (nats_url): the value is a map"},
		{"forward_secret", "forward_secret: {whsec_s3cr3t}", "IMCALLBACK_FORWARD_SECRET (forward_secret): the value is a map"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := loadYAML(t, "sdkappid: [\"1\"]\n"+tt.yaml+"\n")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error shows the secret:\n%v", err)
			}
		})
	}
}

// TestSecretWrittenAsAKeyIsNotQuoted: in braces, a secret written without
// its key ({…, whsec_…}), or without the ':' after its key ({…, secret_key
// s3cr3t}), is a key without a value, and the unknown-key line quoted it
// whole, secret and all. Such a key is now withheld, named by where it is;
// a near miss of a real key without whitespace (lisen:) is still named,
// with its suggestion, and so is every unknown key that has a value.
func TestSecretWrittenAsAKeyIsNotQuoted(t *testing.T) {
	const withheld = "holds a key without a value that no setting reads; it is not shown"
	tests := []struct{ name, yaml, want string }{
		{"forward secret without its key", "forward: [{name: a, url: 'https://x.example/h', match: ['*'], whsec_s3cr3tMfKQ9r8GKYqrTwjUPD8I}]",
			"c.yaml: forward[0] " + withheld},
		{"app secret key without its colon", "apps: [{sdkappid: '1', secret_key s3cr3t-key}]", "c.yaml: apps[0] " + withheld},
		{"app token without its key", "apps: [{sdkappid: '1', tok-s3cr3t}]", "c.yaml: apps[0] " + withheld},
		{"a setting's value without its colon", "{sdkappid: ['1'], admin_token adm-s3cr3t}", "c.yaml: the file " + withheld},
		{"a near miss without a value", "lisen:", "c.yaml: unknown key lisen; did you mean listen?"},
		{"an entry's near miss without a value", "apps: [{sdkappid: '1', tokns: }]", "c.yaml: unknown key apps[0].tokns; did you mean apps[0].tokens?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := tt.yaml + "\n"
			if !strings.HasPrefix(tt.yaml, "{") {
				content = "sdkappid: [\"1\"]\n" + content
			}
			_, err := loadYAML(t, content)
			var uk *config.UnknownKeyError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &uk) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(uk.Key, "s3cr3t") {
				t.Errorf("the error shows the secret:\n%v", err)
			}
		})
	}
}

// TestDurationsCountDays: as the README's Configuration says, a duration
// may count days of 24 hours with d, in a variable, in the file and in a
// list's items, with or without other units.
func TestDurationsCountDays(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		get     func(*config.Config) time.Duration
		want    time.Duration
	}{
		{"variable", "", []string{"IMCALLBACK_RETENTION=8d"}, func(c *config.Config) time.Duration { return c.Retention }, 192 * time.Hour},
		{"days and hours", "", []string{"IMCALLBACK_RETENTION=1d12h"}, func(c *config.Config) time.Duration { return c.Retention }, 36 * time.Hour},
		{"a fraction of a day", "", []string{"IMCALLBACK_IPLIST_REFRESH=0.5d"}, func(c *config.Config) time.Duration { return c.IPListRefresh }, 12 * time.Hour},
		{"file", "retention: 9d\n", nil, func(c *config.Config) time.Duration { return c.Retention }, 216 * time.Hour},
		{"list item", "", []string{"IMCALLBACK_BACKOFF=1s,1d", "IMCALLBACK_RETENTION=10d"}, func(c *config.Config) time.Duration { return c.Backoff[1] }, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: env(append([]string{"IMCALLBACK_SDKAPPID=1"}, tt.environ...)...)}
			if tt.file != "" {
				src.File = writeTemp(t, tt.file)
			}
			c, err := config.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// loadVerdict is a configuration from the environment and whether Load
// takes it.
type loadVerdict struct {
	name    string
	environ []string // besides IMCALLBACK_SDKAPPID=1
	ok      bool
}

// loadVerdicts loads each configuration of tests and checks its verdict: a
// refusal must name variable.
func loadVerdicts(t *testing.T, variable string, tests []loadVerdict) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(config.Source{Environ: env(append([]string{"IMCALLBACK_SDKAPPID=1"}, tt.environ...)...)})
			switch {
			case tt.ok && err != nil:
				t.Errorf("refused: %v", err)
			case !tt.ok && (err == nil || !strings.Contains(err.Error(), variable)):
				t.Errorf("accepted, or refused for another reason: %v", err)
			}
		})
	}
}

// TestDedupWindowOutlastsTheAckWait: an event whose termination is lost
// (after its dead letter was stored) is delivered again once the ack wait
// has passed, and dead-lettered again; only the dead-letter stream's
// duplicate window keeps that second copy out. A window no longer than
// the ack wait is refused; inline delivery keeps no stream and is spared.
func TestDedupWindowOutlastsTheAckWait(t *testing.T) {
	tests := []loadVerdict{
		{"defaults: 10m over 35s", nil, true},
		// A sign window within each duplicate window, which it must not outlast.
		{"just over the ack wait", []string{"IMCALLBACK_DEDUP_WINDOW=35001ms", "IMCALLBACK_SIGN_WINDOW=35s"}, true},
		{"just the ack wait", []string{"IMCALLBACK_DEDUP_WINDOW=35s", "IMCALLBACK_SIGN_WINDOW=35s"}, false},
		{"a short handler timeout", []string{"IMCALLBACK_DEDUP_WINDOW=1s", "IMCALLBACK_HANDLER_TIMEOUT=1ms", "IMCALLBACK_SIGN_WINDOW=1s"}, false},
		{"a short handler timeout, a window past its ack wait", []string{"IMCALLBACK_DEDUP_WINDOW=6s", "IMCALLBACK_HANDLER_TIMEOUT=500ms",
			"IMCALLBACK_SIGN_WINDOW=6s"}, true},
		{"inline delivery keeps no stream", []string{"IMCALLBACK_DEDUP_WINDOW=1s", "IMCALLBACK_DELIVERY=inline"}, true},
	}
	loadVerdicts(t, "IMCALLBACK_DEDUP_WINDOW", tests)
}

// TestSignWindowWithinTheDedupWindow: the signature does not cover the
// body, so a captured callback is accepted again for the sign window; with
// durable delivery the stream's duplicate window is what keeps a replay of
// an after-callback from being processed again. A sign window longer than
// the duplicate window let a replay past the duplicate window be stored
// and processed a second time, with only a note above 5 minutes (or none:
// a duplicate window lowered under the default minute); it is refused.
// Inline delivery keeps no stream and is spared.
func TestSignWindowWithinTheDedupWindow(t *testing.T) {
	tests := []loadVerdict{
		{"defaults: 60s within 10m", nil, true},
		{"the sign window as long as the duplicate window", []string{"IMCALLBACK_SIGN_WINDOW=10m"}, true},
		{"a second past the default duplicate window", []string{"IMCALLBACK_SIGN_WINDOW=601s"}, false},
		{"an hour in a duplicate window of an hour", []string{"IMCALLBACK_SIGN_WINDOW=1h", "IMCALLBACK_DEDUP_WINDOW=1h"}, true},
		{"a duplicate window lowered under the default sign window", []string{"IMCALLBACK_DEDUP_WINDOW=40s"}, false},
		{"inline delivery keeps no stream", []string{"IMCALLBACK_SIGN_WINDOW=1h", "IMCALLBACK_DELIVERY=inline"}, true},
	}
	loadVerdicts(t, "IMCALLBACK_SIGN_WINDOW", tests)
}

// TestRetentionCoversTheRetrySchedule: JetStream drops an event at the
// retention age whether or not it was processed, so a retention shorter
// than the retry schedule (the backoff delays before the last attempt and
// the attempts themselves) drops every event whose handler keeps failing
// before it is dead-lettered, and is refused. A retention that covers it,
// or inline delivery, which keeps no stream, is accepted.
func TestRetentionCoversTheRetrySchedule(t *testing.T) {
	tests := []loadVerdict{
		{"defaults", nil, true},
		{"an hour, over the default 57m36s", []string{"IMCALLBACK_RETENTION=1h"}, true},
		{"just the default schedule", []string{"IMCALLBACK_RETENTION=57m36s"}, false},
		{"just over it", []string{"IMCALLBACK_RETENTION=57m37s"}, true},
		{"one delivery: no delay, one attempt", []string{"IMCALLBACK_RETENTION=11s", "IMCALLBACK_DEDUP_WINDOW=11s", "IMCALLBACK_HANDLER_TIMEOUT=5s",
			"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_SIGN_WINDOW=10s"}, true},
		{"one delivery outlasting the retention", []string{"IMCALLBACK_RETENTION=10s", "IMCALLBACK_DEDUP_WINDOW=10s", "IMCALLBACK_HANDLER_TIMEOUT=10s",
			"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_SIGN_WINDOW=10s"}, false},
		{"the last delay repeating", []string{"IMCALLBACK_RETENTION=1h", "IMCALLBACK_BACKOFF=1s,10m", "IMCALLBACK_MAX_DELIVERIES=8"}, false},
		{"fewer deliveries than delays", []string{"IMCALLBACK_RETENTION=10m", "IMCALLBACK_MAX_DELIVERIES=3"}, true},
		{"inline delivery keeps no stream", []string{"IMCALLBACK_RETENTION=30m", "IMCALLBACK_DELIVERY=inline"}, true},
		// A forward destination's Retry-After can stretch every delay to
		// the longest: 9 × 10m + 10 × 30s.
		{"forwarding, over the default schedule but under its stretched one",
			[]string{"IMCALLBACK_RETENTION=1h", "IMCALLBACK_FORWARD_URL=https://h/", "IMCALLBACK_FORWARD_SECRET=" + whsec}, false},
		{"forwarding, just the stretched schedule",
			[]string{"IMCALLBACK_RETENTION=95m", "IMCALLBACK_FORWARD_URL=https://h/", "IMCALLBACK_FORWARD_SECRET=" + whsec}, false},
		{"forwarding, just over the stretched schedule",
			[]string{"IMCALLBACK_RETENTION=95m1s", "IMCALLBACK_FORWARD_URL=https://h/", "IMCALLBACK_FORWARD_SECRET=" + whsec}, true},
	}
	loadVerdicts(t, "IMCALLBACK_RETENTION", tests)
}

// TestSdkAppIDHoldingASecretIsNotShown: a token or a key set in an
// SDKAppID's place (two variables swapped, an entry's values mixed up) was
// quoted by the error, so the secret reached the start's log; an id of
// digits alone is still quoted.
func TestSdkAppIDHoldingASecretIsNotShown(t *testing.T) {
	tests := []struct {
		name, file string
		environ    []string
		want       string
	}{
		{"the variable", "", []string{"IMCALLBACK_SDKAPPID=1400000000,s3cret-Token", "IMCALLBACK_TOKENS=1400000000"},
			"IMCALLBACK_SDKAPPID (sdkappid): is not a decimal SDKAppID: character 1 of 12 is no digit (the value is not shown"},
		{"a file entry", "apps:\n  - sdkappid: \"14s3cret-Token\"\n", nil,
			"apps[0].sdkappid: is not a decimal SDKAppID: character 3 of 14 is no digit"},
		{"digits past a uint64", "", []string{"IMCALLBACK_SDKAPPID=18446744073709551616"},
			`"18446744073709551616" is not a decimal SDKAppID: it is past 18446744073709551615`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.file, tt.environ...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the value", err)
			}
		})
	}
}
