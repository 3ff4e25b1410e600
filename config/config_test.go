package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

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
		c.Delivery != want.Delivery || c.DedupWindow != 10*time.Minute || c.MaxDeliveries != 10 {
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
		{"non-numeric sdkappid", config.Source{Environ: env("IMCALLBACK_SDKAPPID=abc")}, []string{"IMCALLBACK_SDKAPPID", `"abc"`}},
		{"bad cidr", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ALLOW_CIDRS=10.0.0.0/99")}, []string{"IMCALLBACK_ALLOW_CIDRS"}},
		{"bad proxy", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TRUSTED_PROXIES=proxy.local")}, []string{"IMCALLBACK_TRUSTED_PROXIES"}},
		{"before timeout over IM's budget", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_BEFORE_TIMEOUT=2s")}, []string{"IMCALLBACK_BEFORE_TIMEOUT", "2s budget"}},
		{"unparsable duration", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=soon")}, []string{"sign_window"}},
		{"zero body limit", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_BODY_LIMIT=0")}, []string{"IMCALLBACK_BODY_LIMIT"}},
		{"path without slash", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_PATH=cb")}, []string{"IMCALLBACK_PATH"}},
		{"admin on the public address", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_LISTEN=:9000", "IMCALLBACK_ADMIN_LISTEN=:9000")}, []string{"IMCALLBACK_ADMIN_LISTEN"}},
		{"tls half set", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TLS_CERT=a.pem")}, []string{"IMCALLBACK_TLS_CERT", "IMCALLBACK_TLS_KEY"}},
		{"log level", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_LOG_LEVEL=loud")}, []string{"IMCALLBACK_LOG_LEVEL"}},
		{"delivery", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_DELIVERY=later")}, []string{"IMCALLBACK_DELIVERY"}},
		{"subject prefix ending in a dot", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SUBJECT_PREFIX=im.")}, []string{"IMCALLBACK_SUBJECT_PREFIX", "trailing '.'"}},
		{"stream with a dot", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_STREAM=A.B")}, []string{"IMCALLBACK_STREAM"}},
		{"inline timeout over IM's budget", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_INLINE_TIMEOUT=3s")}, []string{"IMCALLBACK_INLINE_TIMEOUT"}},
		{"too few connections", config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_MAX_CONNS=3")}, []string{"IMCALLBACK_MAX_CONNS"}},
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

func TestDevSdkAppID(t *testing.T) {
	c, err := config.Load(config.Source{Dev: true, Environ: env()})
	if err != nil || len(c.SdkAppIDs) != 1 || c.SdkAppIDs[0] != config.DevSdkAppID {
		t.Fatalf("dev mode: %+v, %v", c, err)
	}
	c, err = config.Load(config.Source{Dev: true, Environ: env("IMCALLBACK_SDKAPPID=1400000009")})
	if err != nil || c.SdkAppIDs[0] != "1400000009" {
		t.Fatalf("dev mode must not override a configured SdkAppid: %+v, %v", c, err)
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
	// What is printed loads back.
	back, err := config.Load(config.Source{File: writeTemp(t, out), Environ: env("IMCALLBACK_TOKENS=t")})
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
