package delivery

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestRedactURL: the NATS URL logged at start and on reconnect shows no
// credential, including the token of the nats://token@host form, which
// url.URL.Redacted keeps.
func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, url, want string
		secrets         []string
	}{
		{"no credentials", "nats://nats:4222", "nats://nats:4222", nil},
		{"token", "nats://s3cr3tToken@nats:4222", "nats://[redacted]@nats:4222", []string{"s3cr3tToken"}},
		{"user and password", "nats://alice:pw123@nats:4222", "nats://alice:[redacted]@nats:4222", []string{"pw123"}},
		{"a list", "nats://tokA@n1:4222,nats://bob:pwB@n2:4222", "nats://[redacted]@n1:4222,nats://bob:[redacted]@n2:4222",
			[]string{"tokA", "pwB"}},
		{"an '@' in a password", "nats://alice:pw@123@nats:4222", "nats://alice:[redacted]@nats:4222", []string{"pw", "123"}},
		{"an '@' in a token", "nats://s3cr3t@Token@nats:4222", "nats://[redacted]@nats:4222", []string{"s3cr3t", "Token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redactURL(tt.url)
			if got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.url, got, tt.want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("redactURL(%q) = %q shows %q", tt.url, got, s)
				}
			}
		})
	}
}

// TestExplainDown: the workers' outage line said only nats.go's "outbound
// buffer limit exceeded" while the connection to NATS was down.
func TestExplainDown(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("fetch: %w", nats.ErrReconnectBufExceeded), "the connection to NATS is down, reconnecting: fetch: nats: outbound buffer limit exceeded"},
		{nats.ErrConnectionReconnecting, "the connection to NATS is down, reconnecting: nats: connection reconnecting"},
		{nats.ErrTimeout, "nats: timeout"},
		{errors.New("other"), "other"},
	} {
		if got := explainDown(tt.err).Error(); got != tt.want {
			t.Errorf("explainDown(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if !errors.Is(explainDown(tt.err), tt.err) {
			t.Errorf("explainDown(%v) does not wrap it", tt.err)
		}
	}
}

// TestConnectedURLShowsNoCredential: the "NATS connected" and "NATS
// connection restored" lines name the server by nats.go's ConnectedUrl:
// one URL, as url.URL.String writes it, which leaves a ',' of a password
// or a token unescaped (the configuration's %2C comes back as ','). Read
// as NATS's comma-separated list, the part before that ',' was shown.
func TestConnectedURLShowsNoCredential(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("the test's NATS server did not start")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
	for _, tt := range []struct {
		name, urls, want string
		secrets          []string
	}{
		{"a password", "nats://alice:pw123@HOST", "nats://alice:[redacted]@HOST", []string{"pw123"}},
		{"a token", "nats://s3cr3tToken@HOST", "nats://[redacted]@HOST", []string{"s3cr3tToken"}},
		{"a ',' in a password", "nats://alice:first%2Csecond@HOST", "nats://alice:[redacted]@HOST", []string{"first", "second"}},
		{"a ',' in a token", "nats://tokenstart%2Ctokenend@HOST", "nats://[redacted]@HOST", []string{"tokenstart", "tokenend"}},
		{"an '@' in a password", "nats://alice:first%40second@HOST", "nats://alice:[redacted]@HOST", []string{"first", "second"}},
		{"an '@' in a token", "nats://tokenstart%40tokenend@HOST", "nats://[redacted]@HOST", []string{"tokenstart", "tokenend"}},
		{"a list", "nats://tokA%2CtokB@HOST,nats://tokA%2CtokB@HOST", "nats://[redacted]@HOST", []string{"tokA", "tokB"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(strings.ReplaceAll(tt.urls, "HOST", addr))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			got := connectedURL(nc, nil)
			if want := strings.ReplaceAll(tt.want, "HOST", addr); got != want {
				t.Errorf("connectedURL = %q, want %q", got, want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("connectedURL = %q shows %q of %s", got, s, tt.urls)
				}
			}
		})
	}
}

// TestRedactOneURL: a server's URL as url.URL.String writes it keeps its
// user name and host and shows no password or token.
func TestRedactOneURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"nats://n1:4222", "nats://n1:4222"},
		{"nats://alice:pw@n1:4222", "nats://alice:[redacted]@n1:4222"},
		{"nats://alice:first,second@n1:4222", "nats://alice:[redacted]@n1:4222"},
		{"nats://tok,en@n1:4222", "nats://[redacted]@n1:4222"},
		{"nats://tok%40en@n1:4222", "nats://[redacted]@n1:4222"},
		{"tls://a&password=b:p&password=q@n1:4222", "tls://a&password=b:[redacted]@n1:4222"},
		{"nats://alice:p%25w@[::1]:4222", "nats://alice:[redacted]@[::1]:4222"},
		{"nats://alice:p%zz@n1:4222", "[redacted]"},
		{"//tok@n1:4222", "//[redacted]@n1:4222"},
	} {
		if got := redactOneURL(tt.url); got != tt.want {
			t.Errorf("redactOneURL(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
