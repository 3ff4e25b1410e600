// Package config defines imcallback's configuration: one struct with
// defaults, loaded from an optional YAML file and then from IMCALLBACK_*
// environment variables, and validated once at start with messages that name
// the bad key.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole service configuration. The koanf tag is the YAML key;
// the environment variable is IMCALLBACK_ followed by the key in upper case.
type Config struct {
	// SdkAppIDs are the SDKAppIDs whose callbacks are accepted.
	SdkAppIDs []string `koanf:"sdkappid" yaml:"sdkappid"`
	// Tokens are the callback authentication tokens; several during rotation.
	Tokens []string `koanf:"tokens" yaml:"tokens"`
	// Listen is the public listener address.
	Listen string `koanf:"listen" yaml:"listen"`
	// Path is the callback path on the public listener.
	Path string `koanf:"path" yaml:"path"`
	// AdminListen is the admin listener (health, metrics, read API).
	AdminListen string `koanf:"admin_listen" yaml:"admin_listen"`
	// AllowCIDRs restricts callback sources; empty allows all.
	AllowCIDRs []string `koanf:"allow_cidrs" yaml:"allow_cidrs"`
	// TrustedProxies are the peers whose X-Forwarded-For / X-Real-IP count.
	TrustedProxies []string `koanf:"trusted_proxies" yaml:"trusted_proxies"`
	// SignWindow is the largest accepted |now - RequestTime|.
	SignWindow time.Duration `koanf:"sign_window" yaml:"sign_window"`
	// BodyLimit is the largest accepted request body in bytes.
	BodyLimit int64 `koanf:"body_limit" yaml:"body_limit"`
	// BeforeTimeout is the deadline of a before-handler.
	BeforeTimeout time.Duration `koanf:"before_timeout" yaml:"before_timeout"`
	// BeforeFallback is the decision sent when a before-handler fails,
	// panics or misses its deadline: "allow" (IM's own default) or "deny".
	BeforeFallback string `koanf:"before_fallback" yaml:"before_fallback"`
	// DataDir holds the embedded stores.
	DataDir string `koanf:"data_dir" yaml:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `koanf:"log_level" yaml:"log_level"`
	// LogFormat is json or console.
	LogFormat string `koanf:"log_format" yaml:"log_format"`
	// TLSCert and TLSKey, both set, serve the public listener over HTTPS.
	TLSCert string `koanf:"tls_cert" yaml:"tls_cert"`
	TLSKey  string `koanf:"tls_key" yaml:"tls_key"`
	// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" yaml:"shutdown_timeout"`
	// ReadHeaderTimeout and IdleTimeout keep slow or idle clients from
	// holding connections forever; keep-alive stays on.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout" yaml:"read_header_timeout"`
	IdleTimeout       time.Duration `koanf:"idle_timeout" yaml:"idle_timeout"`
	// StoreDSN chooses the topic store: empty for SQLite under DataDir,
	// postgres://… for PostgreSQL.
	StoreDSN string `koanf:"store_dsn" yaml:"store_dsn"`
}

// Default returns the configuration used when nothing overrides it.
func Default() Config {
	return Config{
		Listen:            ":8080",
		Path:              "/im/callback",
		AdminListen:       "127.0.0.1:9090",
		SignWindow:        60 * time.Second,
		BodyLimit:         1 << 20,
		BeforeTimeout:     1500 * time.Millisecond,
		BeforeFallback:    "allow",
		DataDir:           "./data",
		LogLevel:          "info",
		LogFormat:         "json",
		ShutdownTimeout:   10 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// imBudget is IM's hard timeout for a callback answer (PROTOCOL.md §1.5).
const imBudget = 2 * time.Second

// Validate checks every field and returns all problems at once, each naming
// the environment variable and the YAML key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", EnvName(key), key, fmt.Sprintf(format, args...)))
	}
	if len(c.SdkAppIDs) == 0 {
		bad("sdkappid", "required: the SDKAppID(s) of your IM application, comma-separated")
	}
	for _, id := range c.SdkAppIDs {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			bad("sdkappid", "%q is not a decimal SDKAppID", id)
		}
	}
	for i, t := range c.Tokens {
		if t == "" || len(t) > 128 {
			bad("tokens", "token #%d must be 1 to 128 characters", i+1)
		}
	}
	if c.Listen == "" {
		bad("listen", "required")
	}
	if c.AdminListen == "" {
		bad("admin_listen", "required")
	}
	if c.Listen != "" && c.Listen == c.AdminListen {
		bad("admin_listen", "must differ from %s: admin endpoints stay off the public listener", EnvName("listen"))
	}
	if !strings.HasPrefix(c.Path, "/") {
		bad("path", "%q must start with /", c.Path)
	}
	if _, err := ParsePrefixes(c.AllowCIDRs); err != nil {
		bad("allow_cidrs", "%v", err)
	}
	if _, err := ParsePrefixes(c.TrustedProxies); err != nil {
		bad("trusted_proxies", "%v", err)
	}
	if c.SignWindow <= 0 {
		bad("sign_window", "must be positive, e.g. 60s")
	}
	if c.BodyLimit <= 0 {
		bad("body_limit", "must be a positive number of bytes")
	}
	if c.BeforeTimeout <= 0 || c.BeforeTimeout >= imBudget {
		bad("before_timeout", "%v must be positive and below IM's 2s budget", c.BeforeTimeout)
	}
	if c.BeforeFallback != "allow" && c.BeforeFallback != "deny" {
		bad("before_fallback", "%q must be allow or deny", c.BeforeFallback)
	}
	if c.DataDir == "" {
		bad("data_dir", "required")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q must be debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("log_format", "%q must be json or console", c.LogFormat)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_cert", "%s and %s must be set together", EnvName("tls_cert"), EnvName("tls_key"))
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	if c.ReadHeaderTimeout <= 0 {
		bad("read_header_timeout", "must be positive")
	}
	if c.IdleTimeout <= 0 {
		bad("idle_timeout", "must be positive")
	}
	if c.StoreDSN != "" && !strings.HasPrefix(c.StoreDSN, "postgres://") && !strings.HasPrefix(c.StoreDSN, "postgresql://") {
		bad("store_dsn", "must be empty (SQLite under %s) or a postgres:// URL", EnvName("data_dir"))
	}
	return errors.Join(errs...)
}

// ParsePrefixes parses CIDRs; a bare address is taken as a single-host prefix.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// EnvName is the environment variable that sets key.
func EnvName(key string) string { return envPrefix + strings.ToUpper(key) }

// Redacted returns a copy that is safe to print or log: tokens and the
// store password are replaced.
func (c Config) Redacted() Config {
	r := c
	r.Tokens = make([]string, len(c.Tokens))
	for i := range c.Tokens {
		r.Tokens[i] = redacted
	}
	r.StoreDSN = redactDSN(c.StoreDSN)
	return r
}

// YAML renders the configuration, secrets redacted, in the file format Load reads.
func (c Config) YAML() string {
	out, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return fmt.Sprintf("# cannot render config: %v\n", err)
	}
	return string(out)
}

const redacted = "[redacted]"

// redactDSN hides the password of a URL-style DSN.
func redactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return dsn
	}
	user, _, hasPass := strings.Cut(userinfo, ":")
	if !hasPass {
		return dsn
	}
	return scheme + "://" + user + ":" + redacted + "@" + host
}
