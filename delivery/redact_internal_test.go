package delivery

import (
	"strings"
	"testing"
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
