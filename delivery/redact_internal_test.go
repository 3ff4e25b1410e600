package delivery

import (
	"errors"
	"fmt"
	"strings"
	"testing"

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
