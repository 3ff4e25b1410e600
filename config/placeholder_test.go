package config_test

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// TestRedactedPlaceholderIsNoSecret: config check and /v1/config show each
// secret as [redacted]; a configuration copied from there sets that
// placeholder as the secret, which would sign and check nothing anyone
// holds. It is refused, naming the setting, for the callback tokens (the
// service's and an app's), the admin token, an app's REST API key, a
// forward destination's secret and the parts of its URL config check
// hides, the store DSN's password and a NATS server's password or token.
func TestRedactedPlaceholderIsNoSecret(t *testing.T) {
	const app = "IMCALLBACK_SDKAPPID=1400000001"
	tests := []struct {
		name string
		yaml string // "" loads no file
		env  []string
		want []string // each in the error
	}{
		{"a token", "", []string{app, "IMCALLBACK_TOKENS=good-token,[redacted]"},
			[]string{"IMCALLBACK_TOKENS (tokens): token #2 is \"[redacted]\"", "placeholder"}},
		{"the admin token", "", []string{app, "IMCALLBACK_ADMIN_TOKEN=[redacted]"},
			[]string{"IMCALLBACK_ADMIN_TOKEN (admin_token): is \"[redacted]\"", "placeholder"}},
		{"an app's token", "", []string{app, "IMCALLBACK_APP_1400000001_TOKENS=[redacted]"},
			[]string{"IMCALLBACK_APP_1400000001_TOKENS (app_1400000001_tokens): token #1 is \"[redacted]\""}},
		{"an app's secret key", "", []string{app, "IMCALLBACK_APP_1400000001_SECRET_KEY=[redacted]"},
			[]string{"IMCALLBACK_APP_1400000001_SECRET_KEY (app_1400000001_secret_key): is \"[redacted]\""}},
		{"a forward secret", "", []string{app, "IMCALLBACK_FORWARD_URL=https://h/", "IMCALLBACK_FORWARD_SECRET=[redacted]"},
			[]string{"IMCALLBACK_FORWARD_SECRET (forward_secret): forward[0] (default): secret is \"[redacted]\"", "placeholder"}},
		{"a forward secret of a rotation", "", []string{app, "IMCALLBACK_FORWARD_URL=https://h/", "IMCALLBACK_FORWARD_SECRET=" + whsec + " [redacted]"},
			[]string{"IMCALLBACK_FORWARD_SECRET (forward_secret): forward[0] (default): secret #2 is \"[redacted]\""}},
		{"the store DSN's password", "", []string{app, "IMCALLBACK_STORE_DSN=postgres://imcb:[redacted]@db:5432/im"},
			[]string{"IMCALLBACK_STORE_DSN (store_dsn): a password is \"[redacted]\"", "placeholder"}},
		{"the store DSN's password parameter", "", []string{app, "IMCALLBACK_STORE_DSN=postgres://imcb@db/im?sslmode=require&password=[redacted]"},
			[]string{"IMCALLBACK_STORE_DSN (store_dsn): a password is \"[redacted]\""}},
		{"the store DSN's sslpassword, escaped", "", []string{app, "IMCALLBACK_STORE_DSN=postgres://imcb@db/im?sslpassword=%5Bredacted%5D"},
			[]string{"IMCALLBACK_STORE_DSN (store_dsn): a password is \"[redacted]\""}},
		{"a NATS token", "", []string{app, "IMCALLBACK_NATS_URL=nats://[redacted]@n1:4222"},
			[]string{"IMCALLBACK_NATS_URL (nats_url): \"nats://[redacted]@n1:4222\" has a password or token that is \"[redacted]\"", "placeholder"}},
		{"a NATS password of the second server", "", []string{app, "IMCALLBACK_NATS_URL=nats://n1:4222,tls://u:[redacted]@n2"},
			[]string{"IMCALLBACK_NATS_URL (nats_url): entry 2 of 2: \"tls://u:[redacted]@n2\" has a password or token that is \"[redacted]\""}},
		{"a forward URL's path", "", []string{app, "IMCALLBACK_FORWARD_URL=https://hooks.example.com/[redacted]", "IMCALLBACK_FORWARD_SECRET=" + whsec},
			[]string{"IMCALLBACK_FORWARD_URL (forward_url): forward[0] (default): url \"https://hooks.example.com/[redacted]\" holds \"[redacted]\"", "placeholder"}},
		{"a forward URL's query", "", []string{app, "IMCALLBACK_FORWARD_URL=https://hooks.example.com/?[redacted]", "IMCALLBACK_FORWARD_SECRET=" + whsec},
			[]string{"IMCALLBACK_FORWARD_URL (forward_url): forward[0] (default): url \"https://hooks.example.com/?[redacted]\" holds \"[redacted]\""}},
		{"a forward URL's user info", "", []string{app, "IMCALLBACK_FORWARD_URL=https://[redacted]@hooks.example.com/", "IMCALLBACK_FORWARD_SECRET=" + whsec},
			[]string{"IMCALLBACK_FORWARD_URL (forward_url): forward[0] (default): url \"https://[redacted]@hooks.example.com/\" holds \"[redacted]\""}},
		{"a forward URL's path, escaped", "", []string{app, "IMCALLBACK_FORWARD_URL=https://hooks.example.com/%5Bredacted%5D", "IMCALLBACK_FORWARD_SECRET=" + whsec},
			[]string{"IMCALLBACK_FORWARD_URL (forward_url): forward[0] (default): url \"https://hooks.example.com/[redacted]\" holds \"[redacted]\""}},
		{"a file's app entry", "apps:\n  - sdkappid: \"1400000001\"\n    tokens: [\"[redacted]\"]\n    secret_key: \"[redacted]\"\n", nil,
			[]string{"IMCALLBACK_APP_1400000001_TOKENS (app_1400000001_tokens): token #1 is \"[redacted]\"",
				"IMCALLBACK_APP_1400000001_SECRET_KEY (app_1400000001_secret_key): is \"[redacted]\""}},
		{"a file's forward entry", "sdkappid: [\"1400000001\"]\nforward:\n  - name: x\n    match: [\"*\"]\n    url: https://h/\n    secret: \"[redacted] [redacted]\"\n", nil,
			[]string{"forward[0] (x): secret #1 is \"[redacted]\""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := config.Source{Environ: env(tc.env...)}
			if tc.yaml != "" {
				src.File = writeTemp(t, tc.yaml)
			}
			_, err := config.Load(src)
			if err == nil {
				t.Fatal("loaded, want the placeholder refused")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nwant it to hold %q", err, want)
				}
			}
		})
	}

	// What config check prints, copied back as the file without the
	// secrets given again, is refused for each of them.
	c, err := config.Load(config.Source{Environ: env(app, "IMCALLBACK_TOKENS=t0ken", "IMCALLBACK_ADMIN_TOKEN=admin-token-0123456789",
		"IMCALLBACK_FORWARD_URL=https://h/hook/K3Y?token=t0k", "IMCALLBACK_FORWARD_SECRET="+whsec,
		"IMCALLBACK_STORE_DSN=postgres://imcb:hunter2@db:5432/im", "IMCALLBACK_NATS_URL=nats://n-t0ken@n1:4222")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(config.Source{File: writeTemp(t, c.YAML()), Environ: env()})
	for _, want := range []string{"IMCALLBACK_TOKENS (tokens)", "IMCALLBACK_ADMIN_TOKEN (admin_token)", "forward[0] (default): secret is \"[redacted]\"",
		"IMCALLBACK_STORE_DSN (store_dsn)", "IMCALLBACK_NATS_URL (nats_url)", "forward[0] (default): url \"https://h/[redacted]?[redacted]\" holds"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the printed configuration loaded back: %v\nwant an error holding %q", err, want)
		}
	}
}
