// Package config defines imcallback's configuration: one struct with
// defaults, loaded from an optional YAML file and then from IMCALLBACK_*
// environment variables, and validated once at start with messages that name
// the bad key.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Config is the whole service configuration. The koanf tag is the YAML key;
// the environment variable is IMCALLBACK_ followed by the key in upper case
// (set empty, it counts as unset), except for the lists of entries (apps,
// forward), which only the file holds (their variables are
// IMCALLBACK_APP_<SDKAPPID>_<KEY> and IMCALLBACK_FORWARD_URL).
type Config struct {
	// SdkAppIDs are the SDKAppIDs whose callbacks are accepted.
	SdkAppIDs []string `koanf:"sdkappid" yaml:"sdkappid"`
	// Tokens are the callback authentication tokens; several during rotation.
	// They verify every app that has no tokens of its own (Apps).
	Tokens []string `koanf:"tokens" yaml:"tokens"`
	// Apps are the apps' own settings (tokens, sources, REST API). After
	// Load every accepted app has an entry and every entry's app is in
	// SdkAppIDs.
	Apps []AppConfig `koanf:"apps" yaml:"apps"`
	// Forward are the destinations of gateway mode (see ForwardConfig).
	Forward []ForwardConfig `koanf:"forward" yaml:"forward,omitempty"`
	// ForwardURL, ForwardSecret and ForwardMatch (IMCALLBACK_FORWARD_URL,
	// _SECRET, _MATCH) set one destination without a file; Load turns them
	// into an entry of Forward.
	ForwardURL    string   `koanf:"forward_url" yaml:"-"`
	ForwardSecret string   `koanf:"forward_secret" yaml:"-" spaces:"separate"` // that destination's Secret
	ForwardMatch  []string `koanf:"forward_match" yaml:"-"`                    // its Match globs; "*" when empty
	// IPListRefresh is how often Tencent's callback address list is
	// fetched for the apps with IPList.
	IPListRefresh time.Duration `koanf:"iplist_refresh" yaml:"iplist_refresh"`
	// Listen is the public listener address.
	Listen string `koanf:"listen" yaml:"listen"`
	// Path is the callback path on the public listener: a literal URL path,
	// other characters written as they are, not escaped as net/http
	// escapes (such a request is routed on its decoded path).
	Path string `koanf:"path" yaml:"path"`
	// AdminListen is the admin listener (health, metrics, read API).
	AdminListen string `koanf:"admin_listen" yaml:"admin_listen"`
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// on every admin route but /healthz, /readyz, /metrics and the console's
	// page and assets (/, /static/*). Without it the admin listener must be
	// on a loopback address.
	AdminToken string `koanf:"admin_token" yaml:"admin_token"`
	// AllowCIDRs restricts callback sources; empty allows all.
	AllowCIDRs []string `koanf:"allow_cidrs" yaml:"allow_cidrs"`
	// TrustedProxies are the peers whose X-Forwarded-For / X-Real-IP count:
	// addresses or networks at most /8 (IPv4) or /16 (IPv6) wide, since a
	// client inside could forge its source (ParseTrustedProxies).
	TrustedProxies []string `koanf:"trusted_proxies" yaml:"trusted_proxies"`
	// ProxyHeader is the one forwarding header believed from a trusted
	// proxy: X-Forwarded-For (the default) or X-Real-IP. The other is
	// ignored, since a proxy that sets one usually passes the client's
	// own copy of the other through unchanged.
	ProxyHeader string `koanf:"proxy_header" yaml:"proxy_header"`
	// SignWindow is the largest accepted |now - RequestTime|: whole
	// seconds, at least one (RequestTime counts seconds), at most
	// MaxSignWindow, and with durable delivery at most DedupWindow (a
	// replay within it is recognised as a repeat only within that one).
	SignWindow time.Duration `koanf:"sign_window" yaml:"sign_window"`
	// BodyLimit is the largest accepted request body in bytes.
	BodyLimit int64 `koanf:"body_limit" yaml:"body_limit"`
	// BeforeTimeout is the deadline of a before-handler.
	BeforeTimeout time.Duration `koanf:"before_timeout" yaml:"before_timeout"`
	// InlineTimeout is the deadline of an after-handler run inside the
	// request (inline delivery); a failure or a missed deadline is answered 503.
	InlineTimeout time.Duration `koanf:"inline_timeout" yaml:"inline_timeout"`
	// BeforeFallback is the decision sent when a before-handler fails,
	// panics or misses its deadline: "allow" (IM's own default) or "deny".
	BeforeFallback string `koanf:"before_fallback" yaml:"before_fallback"`
	// DataDir holds the embedded stores.
	DataDir string `koanf:"data_dir" yaml:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `koanf:"log_level" yaml:"log_level"`
	// LogFormat is json or console.
	LogFormat string `koanf:"log_format" yaml:"log_format"`
	// LogBuffer is how long log lines may wait in a buffer before they are
	// written (one write for many lines); 0 writes each line at once. A
	// crash can lose at most this much of the log, never a callback.
	LogBuffer time.Duration `koanf:"log_buffer" yaml:"log_buffer"`
	// TLSCert and TLSKey, both set, serve the public listener over HTTPS.
	TLSCert string `koanf:"tls_cert" yaml:"tls_cert"`
	TLSKey  string `koanf:"tls_key" yaml:"tls_key"` // the PEM file of TLSCert's private key
	// ShutdownTimeout bounds each draining step of the stop on SIGTERM (the
	// workers, each listener, the NATS connection), one after another.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" yaml:"shutdown_timeout"`
	// ShutdownDelay is how long the service keeps serving after SIGTERM with
	// /readyz answering 503, before the stop begins, so that a load balancer
	// or Kubernetes stops sending to it first; 0 stops at once.
	ShutdownDelay time.Duration `koanf:"shutdown_delay" yaml:"shutdown_delay"`
	// StartTimeout bounds the whole start (JetStream's recovery after a
	// crash and the store's migrations can take a while). Past it, what had
	// started is stopped and the start fails naming the part that had not
	// finished. It also bounds each restart of the embedded NATS server by
	// the durable-delivery supervisor.
	StartTimeout time.Duration `koanf:"start_timeout" yaml:"start_timeout"`
	// ReadHeaderTimeout and IdleTimeout keep slow or idle clients from
	// holding connections forever; keep-alive stays on.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout" yaml:"read_header_timeout"`
	// IdleTimeout is how long a kept-alive connection of either listener
	// may wait for its next request before it is closed.
	IdleTimeout time.Duration `koanf:"idle_timeout" yaml:"idle_timeout"`
	// MaxConns bounds the open connections of the public listener; beyond
	// it a connection is answered 503 and closed.
	MaxConns int `koanf:"max_conns" yaml:"max_conns"`
	// StoreDSN chooses the topic store: empty for SQLite under DataDir,
	// postgres://… for PostgreSQL.
	StoreDSN string `koanf:"store_dsn" yaml:"store_dsn"`

	// Delivery is how after-callbacks run: durable (stored in JetStream
	// before the answer, processed by workers) or inline.
	Delivery string `koanf:"delivery" yaml:"delivery"`
	// NATSURL points at an existing NATS cluster: its servers' nats:// or
	// tls:// URLs (or host:port, read as nats.go reads it), comma-separated,
	// each with a host; empty runs an embedded server with its files under
	// DataDir.
	NATSURL string `koanf:"nats_url" yaml:"nats_url" spaces:"separate"`
	// NATSListen gives the embedded server a client listener (e.g.
	// 127.0.0.1:4222) for the nats CLI; empty means in-process only.
	NATSListen string `koanf:"nats_listen" yaml:"nats_listen"`
	// Stream is the JetStream work stream; dead letters go to Stream+"_DEAD".
	// Both must be JetStream names: no whitespace, control characters, '.',
	// '*', '>', '/' or '\', and at most 255 bytes: Stream at most 250.
	Stream string `koanf:"stream" yaml:"stream"`
	// StreamReplicas is the replication of the streams the service
	// creates (1 to 5); above 1 needs a NATS cluster (NATSURL).
	StreamReplicas int `koanf:"stream_replicas" yaml:"stream_replicas"`
	// SubjectPrefix starts every event subject: <prefix>.<SdkAppid>.<CallbackCommand>.
	// It is one or more literal subject tokens joined by single dots, its
	// first not one of NATS's own ($JS, $SYS, …).
	SubjectPrefix string `koanf:"subject_prefix" yaml:"subject_prefix"`
	// Retention is how long events stay in the stream (the audit log replay reads).
	Retention time.Duration `koanf:"retention" yaml:"retention"`
	// DedupWindow is the stream's duplicate window: a repeat of the same
	// body inside it is acknowledged and not processed again. With durable
	// delivery it must be at least SignWindow.
	DedupWindow time.Duration `koanf:"dedup_window" yaml:"dedup_window"`
	// Workers is how many after-handlers run at once.
	Workers int `koanf:"workers" yaml:"workers"`
	// HandlerTimeout is the deadline of one after-handler run.
	HandlerTimeout time.Duration `koanf:"handler_timeout" yaml:"handler_timeout"`
	// Backoff are the redelivery delays after a failure, the last repeating.
	Backoff []time.Duration `koanf:"backoff" yaml:"backoff"`
	// MaxDeliveries is how often an event is tried before it is dead-lettered.
	MaxDeliveries int `koanf:"max_deliveries" yaml:"max_deliveries"`

	// unknownEnv are Load's warnings about IMCALLBACK_* variables that are
	// not settings (UnknownEnv); Notes returns them.
	unknownEnv []string
	// appEnvNotes are Load's warnings about per-app variables of apps that
	// are not accepted; Notes returns them.
	appEnvNotes []string
	// emptyEnv are Load's notes about settings' variables set empty,
	// which count as unset (EmptyEnv).
	emptyEnv []string
	// idsFromApps counts the app ids at the end of SdkAppIDs that Load
	// added from the file's apps entries (the accepted apps are the
	// union), and appsFromIDs the entries at the end of Apps it added for
	// ids of SdkAppIDs: each id's problems are said once, under the
	// setting that wrote it.
	idsFromApps, appsFromIDs int
}

// Default returns the configuration used when nothing overrides it.
func Default() Config {
	return Config{
		Listen:            ":8080",
		Path:              "/im/callback",
		IPListRefresh:     time.Hour,
		AdminListen:       "127.0.0.1:9090",
		ProxyHeader:       "X-Forwarded-For",
		SignWindow:        60 * time.Second,
		BodyLimit:         1 << 20,
		BeforeTimeout:     1500 * time.Millisecond,
		InlineTimeout:     1500 * time.Millisecond,
		BeforeFallback:    "allow",
		DataDir:           "./data",
		LogLevel:          "info",
		LogFormat:         "json",
		LogBuffer:         200 * time.Millisecond,
		ShutdownTimeout:   10 * time.Second,
		StartTimeout:      2 * time.Minute,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxConns:          4096,
		Delivery:          DeliveryDurable,
		Stream:            "IMCALLBACK",
		StreamReplicas:    1,
		SubjectPrefix:     "imcallback",
		Retention:         7 * 24 * time.Hour,
		DedupWindow:       10 * time.Minute,
		Workers:           64,
		HandlerTimeout:    30 * time.Second,
		Backoff:           []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute},
		MaxDeliveries:     10,
	}
}

// MaxSignWindow is the longest SignWindow: an hour. The window is how
// long a captured callback is accepted again, since the signature does
// not cover the body; it is meant to absorb clock skew, which a
// synchronised clock keeps to seconds.
const MaxSignWindow = time.Hour

// MaxBodyLimit is the largest BodyLimit: 64 MiB, the largest message
// NATS takes.
const MaxBodyLimit = 64 << 20

// imBudget is IM's hard timeout for a callback answer (docs/protocol.md §1.3).
const imBudget = 2 * time.Second

// FieldError is a problem with one setting: its value does not decode
// (Load) or does not validate (Validate). Load and Validate return every
// problem at once, joined one per line; errors.As finds the first.
type FieldError struct {
	// Key is the YAML key of the setting, e.g. "sign_window". A problem
	// of an entry of the file's apps or forward lists has the list's key,
	// and its Msg starts with the entry's (forward[0].timeout: …).
	Key string
	// Msg says what is wrong, naming the bad value, e.g.
	// `"soon" is not a duration (e.g. 60s)`.
	Msg string
	// variable marks the problem of a file-only key's own variable
	// (IMCALLBACK_APPS, refused), which Error names.
	variable bool
}

// Error names the environment variable and the YAML key, then the problem:
// IMCALLBACK_SIGN_WINDOW (sign_window): "soon" is not a duration (e.g. 60s).
// A problem of the file's apps or forward lists, which no variable sets
// (IMCALLBACK_APPS is refused), names the file's key instead, as an
// unknown key of theirs is named: the entry's when it is about one
// (forward[0].timeout: "soon" is not a duration (e.g. 60s)), else the
// list's (apps: cannot read the value).
func (e *FieldError) Error() string {
	if _, fileOnly := fileOnlyKeys[e.Key]; fileOnly && !e.variable {
		if strings.HasPrefix(e.Msg, e.Key+"[") {
			return e.Msg
		}
		return e.Key + ": " + e.Msg
	}
	return fmt.Sprintf("%s (%s): %s", EnvName(e.Key), e.Key, e.Msg)
}

// Validate checks every field and returns all problems at once, each a
// *FieldError naming the environment variable and the YAML key. A string,
// or a list's item, with whitespace before or after it is refused (a
// setting's is reported alone; checkSpaced): a variable is trimmed when
// it is read, a value of the file is not.
func (c *Config) Validate() error { return errors.Join(c.problems()...) }

// StopTimeout bounds the whole stop of a service on c, as fx runs it: four
// hooks each drain within ShutdownTimeout, one after the other (workers,
// public listener, admin listener, NATS), then the embedded server and the
// stores close. fx's own 15 s default would cut the later ones short and
// skip closing the stores.
func (c *Config) StopTimeout() time.Duration { return 4*c.ShutdownTimeout + 15*time.Second }

// problems is what Validate reports, one *FieldError each.
func (c *Config) problems() []error {
	var errs []error
	report := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	// A value with whitespace around it would fail its own checks too,
	// with messages that do not show why.
	spaced := c.checkSpaced(report)
	bad := func(key, format string, args ...any) {
		if !spaced[key] {
			report(key, format, args...)
		}
	}
	if len(c.SdkAppIDs) == 0 {
		bad("sdkappid", "required: the SDKAppID(s) of your IM application, comma-separated")
	}
	c.validateApps(bad)
	listed := map[string]bool{}
	// The ids Load added from the file's apps entries are checked as theirs.
	for _, id := range c.SdkAppIDs[:c.listedIDs()] {
		if !fitsUint64(id) {
			bad("sdkappid", "%s", notDecimalID(id))
		} else if msg := leadingZero(id); msg != "" {
			bad("sdkappid", "%q %s", id, msg)
		}
		// A repeat would count as a second app (the topic store gives the
		// topics kept before apps to the service's app only when it serves one).
		if listed[id] {
			bad("sdkappid", "%s is listed twice", id)
		}
		listed[id] = true
	}
	checkTokens("tokens", c.Tokens, bad)
	if c.Listen == "" {
		bad("listen", "required")
	}
	// An address without a port (8080, localhost) would only fail when the
	// listener binds, after config check called it valid.
	malformed := map[string]bool{}
	for _, l := range []struct{ key, addr string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}, {"nats_listen", c.NATSListen}} {
		if msg := listenProblem(l.addr); msg != "" {
			bad(l.key, "%s", msg)
			malformed[l.key] = true
		}
	}
	if c.AdminListen != "" && c.AdminToken == "" && !loopbackListen(c.AdminListen) && !malformed["admin_listen"] {
		bad("admin_listen", "%s is not a loopback address and IMCALLBACK_ADMIN_TOKEN is not set: the admin API can replay "+
			"events and shows payloads; set a token, or listen on 127.0.0.1", c.AdminListen)
	}
	if c.AdminListen == "" {
		bad("admin_listen", "required")
	}
	if msg := placeholderProblem(c.AdminToken); msg != "" {
		bad("admin_token", "%s", msg)
	} else if msg := controlChar(c.AdminToken); msg != "" {
		bad("admin_token", "%s", msg)
	} else if n := utf8.RuneCountInString(c.AdminToken); n > 0 && n < MinAdminToken &&
		c.AdminListen != "" && !loopbackListen(c.AdminListen) && !malformed["admin_listen"] {
		// Nothing slows down wrong guesses: off loopback, a short token is
		// one that anyone who reaches the listener can find.
		bad("admin_token", "shorter than %d characters while the admin listener %s is not on loopback, where anyone "+
			"who reaches it can guess it; use a random one (openssl rand -hex 16)", MinAdminToken, c.AdminListen)
	}
	if c.NATSListen != "" && !loopbackListen(c.NATSListen) && !malformed["nats_listen"] {
		// The embedded server's client listener has no authentication: anyone
		// who reaches it can store forged callbacks (no Sign, no allowlist),
		// read every stored payload and delete the streams.
		bad("nats_listen", "%s is not a loopback address: the embedded NATS server's client listener has no "+
			"authentication, so anyone who reaches it could store forged callbacks and read every event; "+
			"listen on 127.0.0.1, or run your own NATS with authentication (%s)", c.NATSListen, EnvName("nats_url"))
	}
	c.validateListeners(bad)
	if !strings.HasPrefix(c.Path, "/") {
		bad("path", "%q must start with /", c.Path)
	} else if msg := pathProblem(c.Path); msg != "" {
		bad("path", "%s", msg)
	}
	if _, err := ParsePrefixes(c.AllowCIDRs); err != nil {
		bad("allow_cidrs", "%v", err)
	}
	if _, err := ParseTrustedProxies(c.TrustedProxies); err != nil {
		bad("trusted_proxies", "%v", err)
	}
	if !strings.EqualFold(c.ProxyHeader, "X-Forwarded-For") && !strings.EqualFold(c.ProxyHeader, "X-Real-IP") {
		bad("proxy_header", "%q must be X-Forwarded-For or X-Real-IP: the header your proxy sets", c.ProxyHeader)
	}
	switch {
	case c.SignWindow <= 0:
		bad("sign_window", "must be positive, e.g. 60s")
	case c.SignWindow < time.Second:
		// RequestTime counts whole seconds: a shorter window would accept
		// only a request signed in the current second, refusing one signed
		// a few milliseconds before the second turned.
		bad("sign_window", "%v must be at least 1s (RequestTime counts whole seconds), e.g. 60s", c.SignWindow)
	case c.SignWindow%time.Second != 0:
		// The check compares whole seconds: the fraction would be dropped
		// without a word, while config check showed it.
		bad("sign_window", "%v is not a whole number of seconds: RequestTime counts whole seconds, so the window would be %v; "+
			"write that, or the seconds meant, e.g. 60s", c.SignWindow, c.SignWindow.Truncate(time.Second))
	case c.SignWindow > MaxSignWindow:
		// The signature does not cover the body, so the window is how
		// long a captured callback is accepted again: a window of hours
		// or days leaves no replay protection. A clock that far off is
		// fixed by synchronising it, not by widening the window.
		bad("sign_window", "%v is longer than %v: a captured callback could be replayed for that long (the signature "+
			"does not cover the body); the window only absorbs clock skew: synchronise the clock (NTP) rather than widen it, "+
			"and keep the window short, e.g. 60s",
			c.SignWindow, MaxSignWindow)
	}
	// A bound keeps the limit from overflowing where it is used (the
	// request limit, the embedded server's max_payload): past NATS's
	// largest message a durable event could not be stored anyway.
	if c.BodyLimit < 1 || c.BodyLimit > MaxBodyLimit {
		bad("body_limit", "%d must be from 1 to %d (64 MiB)", c.BodyLimit, MaxBodyLimit)
	}
	if c.BeforeTimeout <= 0 || c.BeforeTimeout >= imBudget {
		bad("before_timeout", "%v must be positive and below IM's 2s budget", c.BeforeTimeout)
	}
	if c.InlineTimeout <= 0 || c.InlineTimeout >= imBudget {
		bad("inline_timeout", "%v must be positive and below IM's 2s budget", c.InlineTimeout)
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
	// A buffer flushed more often than every millisecond only spins the
	// flush loop; 0 is the way to write every line at once.
	if c.LogBuffer != 0 && (c.LogBuffer < time.Millisecond || c.LogBuffer > 10*time.Second) {
		bad("log_buffer", "%v must be 0 (no buffer) or from 1ms to 10s", c.LogBuffer)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("log_format", "%q must be json or console", c.LogFormat)
	}
	for _, f := range []struct{ key, value string }{{"tls_cert", c.TLSCert}, {"tls_key", c.TLSKey}} {
		if PEMText(f.value) {
			// The file's contents given in place of its path (a
			// Kubernetes secret's key as a variable, $(cat key.pem)): the
			// error reading a file of that name quoted it whole, a private
			// key with it.
			bad(f.key, "%s", PEMTextProblem)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_cert", "%s and %s must be set together", EnvName("tls_cert"), EnvName("tls_key"))
	}
	// The stop's deadline is a multiple of this (one step after another): a
	// bound keeps that sum from overflowing into a deadline already past,
	// which would skip every stop hook.
	if c.ShutdownTimeout <= 0 || c.ShutdownTimeout > time.Hour {
		bad("shutdown_timeout", "%v must be from 1ns to 1h", c.ShutdownTimeout)
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > 5*time.Minute {
		bad("shutdown_delay", "%v must be from 0 to 5m", c.ShutdownDelay)
	}
	if c.StartTimeout <= 0 || c.StartTimeout > time.Hour {
		bad("start_timeout", "%v must be from 1ns to 1h", c.StartTimeout)
	}
	// The listener adds its own seconds to it, and an overflow would be a
	// read deadline already past, or none.
	if c.ReadHeaderTimeout <= 0 || c.ReadHeaderTimeout > 5*time.Minute {
		bad("read_header_timeout", "%v must be from 1ns to 5m", c.ReadHeaderTimeout)
	}
	if c.IdleTimeout <= 0 {
		bad("idle_timeout", "must be positive")
	}
	if c.MaxConns < 16 {
		bad("max_conns", "%d must be at least 16", c.MaxConns)
	}
	if c.StoreDSN != "" {
		if problem := dsnProblem(c.StoreDSN); problem != "" {
			bad("store_dsn", "%s", problem)
		} else if placeholderCredential(c.StoreDSN, passwordSecret) {
			bad("store_dsn", "a password %s", placeholderProblem(redacted))
		}
	}
	c.validateDelivery(bad)
	c.validateForward(bad)
	return errs
}

// PEMText reports whether the value of a setting that names a TLS file
// (tls_cert, tls_key; tracing's OTEL_EXPORTER_OTLP_*CERTIFICATE and
// _CLIENT_KEY) is PEM text rather than a path: it holds a PEM block's
// first line, or it is that text base64-encoded (a Kubernetes secret's
// data copied as it is shown), which starts so. The error reading a file
// of that name would quote it whole, a private key with it; it is never
// shown.
func PEMText(value string) bool {
	return strings.Contains(value, "-----BEGIN ") || strings.HasPrefix(value, pemBase64)
}

// PEMTextProblem is what a message says of a setting that holds PEM text
// (PEMText), after the setting's name.
const PEMTextProblem = "holds PEM text or its base64 (not shown: it may hold a private key), not the path of a file: " +
	"write the PEM text to a file that only the service's user can read, and give that file's path"

// pemBase64 starts a PEM text encoded in base64: "-----BEGIN" encoded.
const pemBase64 = "LS0tLS1CRUdJT"

// dsnProblem says what is wrong with a topic store DSN, "" when nothing
// is. Its texts never quote the DSN, which may hold a password. The driver
// (pgx, as libpq) ends the user name and password at the first '@' before
// the path's '/', so the rest of a password holding an unescaped '@' falls
// in the host, the database name or the query, where the store's first
// connection would fail with an error naming it. Such a DSN is refused at
// start: one with an '@' or a character no host name holds in its host,
// an IPv6 address without brackets (which the driver cuts at its first ':'),
// an '@' or a '/' in its database name, a query parameter without '=' or
// whose name is none, or a query before its first '@' when it has no
// database path. An '@' or a '/' in a query value is the driver's to read,
// as written.
func dsnProblem(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "postgres://")
	if !ok {
		rest, ok = strings.CutPrefix(dsn, "postgresql://")
	}
	if !ok {
		return fmt.Sprintf("must be empty (SQLite under %s) or a postgres:// URL", EnvName("data_dir"))
	}
	// As the driver reads it: the user info ends at the first '@' before a
	// '/', the hosts at the first '/' (the database follows) or '?' (the
	// query follows).
	userinfo := ""
	if at := strings.IndexAny(rest, "@/"); at >= 0 && rest[at] == '@' {
		userinfo, rest = rest[:at], rest[at+1:]
	}
	hosts, database, query, hasPath := rest, "", "", false
	if end := strings.IndexAny(rest, "/?"); end >= 0 {
		hosts, query, hasPath = rest[:end], rest[end+1:], rest[end] == '/'
		if hasPath {
			database, query, _ = strings.Cut(query, "?")
		}
	}
	const hidden = " (the value is not shown: it may hold a password): "
	switch {
	case strings.Contains(hosts, "@"):
		return "has an '@' in its host" + hidden + "percent-escape an '@' in the user name or password as %40"
	case strings.IndexFunc(hosts, notASCIIWordOr("_.-%[]:,")) >= 0: // names, IPv4, [IPv6], ports, commas, escapes
		return "has a character no host name holds in its host" + hidden + "percent-escape '@', '/' and '?' in " +
			"a password as %40, %2F and %3F (a socket directory goes in ?host=)"
	case slices.ContainsFunc(strings.Split(hosts, ","), func(h string) bool {
		return !strings.HasPrefix(h, "[") && strings.Count(h, ":") > 1
	}):
		// The driver ends such a host at its first ':' and takes the rest
		// for the port, which it refuses at the first connection.
		return "has an IPv6 address without brackets in its host" + hidden + "write it in brackets, e.g. " +
			"postgres://user@[::1]:5432/imcallback"
	case strings.ContainsAny(database, "@/"):
		return "has an '@' or a '/' in its database name" + hidden + "a password holding an '@' ends there, and the " +
			"rest falls in the host and database; percent-escape '@' and '/' in the password or the database " +
			"name as %40 and %2F"
	case !hasPath && queryBefore(userinfo):
		return "has a query before its first '@'" + hidden + "with no database path, an '@' in a query value ends " +
			"the user info there; percent-escape '@' in a query value and '?' in a password as %40 and %3F"
	}
	user, password, _ := strings.Cut(userinfo, ":")
	parts := []string{user, password, hosts, database}
	for pair := range strings.SplitSeq(query, "&") {
		key, value, _ := strings.Cut(pair, "=")
		parts = append(parts, key, value)
	}
	if slices.ContainsFunc(parts, notDecodable) {
		return "has a '%' that is no escape (%XX), a %00 or a space within a part" + hidden + "the driver refuses it; " +
			"write a '%' as %25 and a space as %20, in a password too"
	}
	for pair := range strings.SplitSeq(query, "&") {
		key, _, ok := strings.Cut(pair, "=")
		switch {
		case pair == "": // a trailing '&' holds nothing
		case !ok:
			return "has a query parameter without '='" + hidden + "write each as key=value, and percent-escape '@', " +
				"'/', '?' and '&' in a password as %40, %2F, %3F and %26"
		case key == "" || strings.IndexFunc(key, notASCIIWordOr("_.-%")) >= 0:
			// The driver sends an unknown key to the server as a setting,
			// whose error would name it: a password's rest, cut at a '/' or '?'.
			return "has a query parameter whose name is none (letters, digits, '_', '.' and '-')" + hidden +
				"percent-escape '@', '/', '?' and '&' in a password as %40, %2F, %3F and %26"
		}
	}
	return ""
}

// notASCIIWordOr reports, for strings.IndexFunc, a rune that is no ASCII
// letter or digit and not in extra: what a DSN's hosts (extra "_.-%[]:,")
// and its query's parameter names (extra "_.-%") never hold.
func notASCIIWordOr(extra string) func(rune) bool {
	return func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r))
	}
}

// notDecodable reports whether the driver refuses part of a DSN as it
// decodes it (each of the user, the password, the hosts, the database and
// the query's keys and values): a '%' not followed by two hex digits, a
// %00, or a space between its first and last character that is not one.
func notDecodable(part string) bool {
	part = strings.Trim(part, " ")
	for i := 0; i < len(part); i++ {
		switch {
		case part[i] == ' ':
			return true
		case part[i] != '%':
		case i+2 >= len(part) || !isHex(part[i+1]) || !isHex(part[i+2]) || part[i+1:i+3] == "00":
			return true
		default:
			i += 2
		}
	}
	return false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// queryBefore reports whether userinfo, what the driver takes for a DSN's
// user info, holds a query (a '?' and then a key=value): with no database
// path, the first '@' of a query value (?password=p@ss) ends the user info.
func queryBefore(userinfo string) bool {
	_, after, ok := strings.Cut(userinfo, "?")
	return ok && strings.Contains(after, "=")
}

// listenProblem says what is wrong with a listener address, "" when
// nothing is or when it is empty (required or not, as each key says): it
// must be host:port, the host optional (:8080) and the port a number or a
// service name.
func listenProblem(addr string) string {
	if addr == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port, e.g. :8080 or 127.0.0.1:9090", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return fmt.Sprintf("%q: %q is not a port, e.g. :8080 or 127.0.0.1:9090", addr, port)
	}
	return ""
}

// ListenPort reads listen, the address of the listener setting key
// (listen, admin_listen, nats_listen): its host, and its port with a
// service name (127.0.0.1:http-alt, which listenProblem takes) looked up,
// as a URL or a server that takes only a number needs it. Its error names
// the setting's variable.
func ListenPort(key, listen string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", EnvName(key), listen, err)
	}
	port, err = net.LookupPort("tcp", p)
	if err != nil || p == "" {
		return "", 0, fmt.Errorf("%s %q: %q is not a port or a service name", EnvName(key), listen, p)
	}
	return host, port, nil
}

// validateListeners rejects two listener settings that would take the same
// port: listen, admin_listen and, when set, nats_listen.
func (c *Config) validateListeners(bad func(key, format string, args ...any)) {
	listeners := []struct{ key, addr string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}}
	if c.NATSListen != "" {
		listeners = append(listeners, struct{ key, addr string }{"nats_listen", c.NATSListen})
	}
	for i, a := range listeners {
		for _, b := range listeners[i+1:] {
			port, ok := overlap(a.addr, b.addr)
			if !ok {
				continue
			}
			why := ""
			if b.key == "admin_listen" {
				why = "; admin endpoints stay off the public listener"
			}
			if port == "" || a.addr == b.addr {
				bad(b.key, "must differ from %s: both are %q%s", EnvName(a.key), b.addr, why)
				continue
			}
			bad(b.key, "must differ from %s: %q and %q both take port %s%s", EnvName(a.key), b.addr, a.addr, port, why)
		}
	}
}

// overlap reports whether listeners on a and b (host:port) would take the
// same port, and which: same port, and one host a wildcard ("", 0.0.0.0,
// ::) or both the same host. Port 0 (a free port) never overlaps. An
// address that does not parse overlaps only an identical one, with port "".
func overlap(a, b string) (port string, ok bool) {
	if a == "" || b == "" {
		return "", false
	}
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return "", a == b
	}
	na, errA := net.LookupPort("tcp", pa)
	nb, errB := net.LookupPort("tcp", pb)
	if errA != nil || errB != nil {
		return "", a == b
	}
	if na != nb || na == 0 {
		return "", false
	}
	if wildcard(ha) || wildcard(hb) || sameHost(ha, hb) {
		return strconv.Itoa(na), true
	}
	return "", false
}

// wildcard reports whether host listens on every address.
func wildcard(host string) bool {
	a, err := netip.ParseAddr(host)
	return host == "" || err == nil && a.IsUnspecified()
}

// sameHost compares two listener hosts: addresses by value, names without
// case, and localhost as 127.0.0.1 or ::1.
func sameHost(a, b string) bool {
	addrs := func(h string) []netip.Addr {
		if strings.EqualFold(h, "localhost") {
			return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			return []netip.Addr{ip.Unmap().WithZone("")}
		}
		return nil
	}
	aa, ab := addrs(a), addrs(b)
	if aa == nil || ab == nil {
		return strings.EqualFold(a, b)
	}
	for _, x := range aa {
		if slices.Contains(ab, x) {
			return true
		}
	}
	return false
}

// Notes returns what someone checking a valid configuration should still
// know, one sentence each, in a stable order; none of it stops the service:
//
//   - no token is configured (IMCALLBACK_TOKENS), so unsigned callbacks
//     are accepted;
//   - the certificate of IMCALLBACK_TLS_CERT has expired or expires
//     within CertificateWarning (the file is read: a Config whose files
//     are elsewhere has no such note);
//   - the SettingWarnings: a forward destination's timeout that the
//     handler deadline cuts short, a wide IMCALLBACK_SIGN_WINDOW;
//   - each IMCALLBACK_* environment variable that Load ignored because no
//     setting has that name, with the closest real name (see UnknownEnv),
//     and the apps of the file's entries accepted though an
//     IMCALLBACK_SDKAPPID of the environment does not list them (see
//     EnvWarnings);
//   - each setting's variable that Load ignored because it was set empty
//     (see EmptyEnv).
//
// A `config check` command prints them after the configuration, e.g.
//
//	c, err := config.Load(src)
//	if err != nil {
//		return err
//	}
//	fmt.Fprint(stdout, c.YAML())
//	for _, n := range c.Notes() {
//		fmt.Fprintln(stderr, "note:", n)
//	}
//
// and the service can log them at start (log.Warn(n) for each). Notes of
// a Config that Load did not build include no environment warnings.
func (c *Config) Notes() []string {
	var notes []string
	var unsigned []string
	for _, a := range c.Apps {
		if app, _ := c.App(a.SdkAppID); len(app.Tokens) == 0 {
			unsigned = append(unsigned, a.SdkAppID)
		}
	}
	if len(unsigned) > 0 || (len(c.Apps) == 0 && len(c.Tokens) == 0) {
		note := fmt.Sprintf("no token is configured (%s): unsigned callbacks are accepted, "+
			"so anyone who can reach the endpoint can forge them", EnvName("tokens"))
		if len(unsigned) < len(c.Apps) { // some apps have their own
			note += "; apps without a token: " + strings.Join(unsigned, ", ")
		}
		notes = append(notes, note)
	}
	if note := c.certificateNote(time.Now()); note != "" {
		notes = append(notes, note)
	}
	notes = append(notes, c.SettingWarnings()...)
	return append(append(notes, c.EnvWarnings()...), c.EmptyEnv()...)
}

// SettingWarnings are the notes about settings that are valid but
// probably not what the operator meant: a forward destination's timeout
// longer than the deadline that bounds each attempt, a wide
// IMCALLBACK_SIGN_WINDOW, an IMCALLBACK_NATS_LISTEN without the embedded
// server it belongs to, durable delivery's settings with inline delivery,
// the settings that only another one, not set, puts to use
// (dependentsIgnored), a callback token, the admin token or a secret key
// in quote marks (quotedTokens),
// and an IMCALLBACK_ADMIN_TOKEN the console cannot send. The service logs them at start, as warnings.
func (c *Config) SettingWarnings() []string {
	var notes []string
	// An after-callback's attempt runs under the after-handler's deadline,
	// so a longer destination timeout that the operator set never applies.
	// The default timeout is never noted, whatever the deadline: with
	// inline delivery it is always the longer, and env-only forwarding has
	// no way to set it; the deadline then bounds each attempt, as documented.
	deadline, deadlineKey := c.HandlerTimeout, "handler_timeout"
	if c.Delivery == DeliveryInline {
		deadline, deadlineKey = c.InlineTimeout, "inline_timeout"
	}
	for _, f := range c.Forward {
		if !f.timeoutDefaulted && f.Timeout > deadline {
			notes = append(notes, fmt.Sprintf("forward destination %q: its timeout %v (for after-callbacks) is longer than %s %v, "+
				"which bounds each attempt: an attempt is cut off at %v", f.Name, f.Timeout, EnvName(deadlineKey), deadline, deadline))
		}
	}
	if c.SignWindow > wideSignWindow {
		notes = append(notes, fmt.Sprintf("%s %v is wide: a captured callback is accepted again for that long "+
			"(the window is meant to absorb clock skew; the default is %v)", EnvName("sign_window"), c.SignWindow, Default().SignWindow))
	}
	// The listener belongs to the embedded server, which runs only for
	// durable delivery without a cluster of the operator's own: otherwise
	// nothing listens there, and the nats CLI finds nothing to connect to.
	if c.NATSListen != "" && (c.NATSURL != "" || c.Delivery == DeliveryInline) {
		why := EnvName("nats_url") + " is set"
		if c.Delivery == DeliveryInline {
			why = EnvName("delivery") + " is inline"
		}
		notes = append(notes, fmt.Sprintf("%s %s is ignored: no embedded NATS server runs, since %s",
			EnvName("nats_listen"), c.NATSListen, why))
	}
	if c.Delivery == DeliveryInline {
		if keys := c.durableOnlyChanged(); len(keys) > 0 {
			names := make([]string, len(keys))
			for i, k := range keys {
				names[i] = EnvName(k)
			}
			// Names only: a NATS URL may hold a password.
			notes = append(notes, fmt.Sprintf("%s: ignored, since %s is inline: they set durable delivery (its stream and workers) alone",
				strings.Join(names, ", "), EnvName("delivery")))
		}
	}
	notes = append(notes, c.dependentsIgnored()...)
	notes = append(notes, c.quotedTokens()...)
	if i, r, ok := outsidePrintableASCII(c.AdminToken); ok {
		// Never the token itself: only where the character is and what it is.
		notes = append(notes, fmt.Sprintf("%s holds %U at character %d, outside printable ASCII: the console cannot use it "+
			"(a browser does not send such a character in a header), only the CLI and other HTTP clients can",
			EnvName("admin_token"), r, i))
	}
	return notes
}

// quotedTokens are the notes about callback tokens that begin or end
// with a quote mark (" or '), and about an admin token or an app's secret
// key that does. A shell, systemd's EnvironmentFile and a compose
// env_file drop the quotes around a value, but docker's --env-file, an
// item of a compose file's environment list and a Kubernetes ConfigMap or
// Secret made from an env file (kubectl's --from-env-file, kustomize)
// keep them, so IMCALLBACK_TOKENS="abc" there makes the quotes part of the
// token, and every callback IM signs with abc is then refused as badly
// signed; the console given abc is refused, and IM refuses every REST API
// call signed with a key in quotes. IM's console does not say which
// characters a token may hold, so such a token is noted, not refused.
// Only the token's number is named, never the token.
func (c *Config) quotedTokens() []string {
	const keep = "docker's --env-file, an item of a compose file's environment list and a Kubernetes ConfigMap or Secret " +
		"made --from-env-file keep the quotes around a value, "
	quoted := func(t string) bool { return t != "" && (quoteMark(t[0]) || quoteMark(t[len(t)-1])) }
	var notes []string
	note := func(name string, tokens []string) {
		for i, t := range tokens {
			if quoted(t) {
				notes = append(notes, fmt.Sprintf("%s: token #%d begins or ends with a quote mark, which is part of the token as written: "+keep+
					"so every callback signed with the token without them would be refused; write the token without quotes there", name, i+1))
			}
		}
	}
	note(EnvName("tokens"), c.Tokens)
	for _, a := range c.Apps {
		note(AppEnvName(a.SdkAppID, "tokens"), a.Tokens)
	}
	if quoted(c.AdminToken) {
		notes = append(notes, fmt.Sprintf("%s begins or ends with a quote mark, which is part of the token as written: "+keep+
			"so the console and every client given the token without them would be refused; write the token without quotes there",
			EnvName("admin_token")))
	}
	for _, a := range c.Apps {
		if quoted(a.SecretKey) {
			notes = append(notes, fmt.Sprintf("%s begins or ends with a quote mark, which is part of the key as written: "+keep+
				"so IM would refuse every REST API call signed with it (the address lists' refresh, a handler's calls); "+
				"write the key without quotes there", AppEnvName(a.SdkAppID, "secret_key")))
		}
	}
	return notes
}

// quoteMark reports whether b is a double or a single quote mark.
func quoteMark(b byte) bool { return b == '"' || b == '\'' }

// durableOnlyChanged are the keys of the settings of durable delivery
// alone (its NATS, stream and workers) that differ from their defaults:
// with inline delivery nothing reads them, so one set is most likely
// meant for a service that stores its events.
func (c *Config) durableOnlyChanged() []string {
	d := Default()
	var keys []string
	for _, s := range []struct {
		key     string
		changed bool
	}{
		{"nats_url", c.NATSURL != d.NATSURL},
		{"stream", c.Stream != d.Stream},
		{"stream_replicas", c.StreamReplicas != d.StreamReplicas},
		{"subject_prefix", c.SubjectPrefix != d.SubjectPrefix},
		{"retention", c.Retention != d.Retention},
		{"dedup_window", c.DedupWindow != d.DedupWindow},
		{"workers", c.Workers != d.Workers},
		{"handler_timeout", c.HandlerTimeout != d.HandlerTimeout},
		{"backoff", !slices.Equal(c.Backoff, d.Backoff)},
		{"max_deliveries", c.MaxDeliveries != d.MaxDeliveries},
	} {
		if s.changed {
			keys = append(keys, s.key)
		}
	}
	return keys
}

// dependentsIgnored are the notes about the settings that only another
// one, not set, puts to use: an app's admin_identifier and api_base
// without its secret_key (they set the REST API client, which only the
// key builds), its iplist_nettypes without iplist, IMCALLBACK_TOKENS
// when every app has tokens of its own, IMCALLBACK_IPLIST_REFRESH
// with no app on iplist, and IMCALLBACK_PROXY_HEADER without
// IMCALLBACK_TRUSTED_PROXIES. A setting at its default is not noted.
// Names only: an api_base may hold a credential.
func (c *Config) dependentsIgnored() []string {
	var notes []string
	iplist := false
	for _, a := range c.Apps {
		iplist = iplist || a.IPList
		env := func(key string) string { return AppEnvName(a.SdkAppID, key) }
		var rest []string
		if a.AdminIdentifier != "" && a.AdminIdentifier != DefaultAdminIdentifier {
			rest = append(rest, "admin_identifier")
		}
		if a.APIBase != "" && a.APIBase != DefaultAPIBase {
			rest = append(rest, "api_base")
		}
		if a.SecretKey == "" && len(rest) > 0 {
			names := make([]string, len(rest))
			for i, k := range rest {
				names[i] = env(k)
			}
			verbs := "are ignored: they set"
			if len(rest) == 1 {
				verbs = "is ignored: it sets"
			}
			notes = append(notes, fmt.Sprintf("app %s: its %s (%s) %s the app's REST API client, which only its secret_key (%s) enables",
				a.SdkAppID, strings.Join(rest, ", "), strings.Join(names, ", "), verbs, env("secret_key")))
		}
		if !a.IPList && len(a.IPListNetTypes) > 0 && !slices.Equal(a.IPListNetTypes, DefaultIPListNetTypes) {
			notes = append(notes, fmt.Sprintf("app %s: its iplist_nettypes (%s) is ignored: it chooses the address lists iplist (%s) fetches, which is off",
				a.SdkAppID, env("iplist_nettypes"), env("iplist")))
		}
	}
	// A request is verified with its own app's tokens only, so global
	// tokens beside apps that all have their own verify nothing.
	if len(c.Tokens) > 0 && len(c.Apps) > 0 && len(c.AppsSharingGlobalTokens()) == 0 {
		notes = append(notes, fmt.Sprintf("%s (tokens) is ignored: every app has tokens of its own (%s or its apps entry's tokens), "+
			"and a request is verified with its app's tokens only", EnvName("tokens"), AppEnvName("<SDKAPPID>", "tokens")))
	}
	if !iplist && c.IPListRefresh != 0 && c.IPListRefresh != Default().IPListRefresh {
		notes = append(notes, fmt.Sprintf("%s (iplist_refresh) is ignored: it is how often the address lists of the apps with iplist are fetched, "+
			"and no app has iplist", EnvName("iplist_refresh")))
	}
	// The header is read from a trusted proxy alone: without one, an
	// operator who named the header their proxy sets has every request's
	// source taken as the proxy's own address.
	if len(c.TrustedProxies) == 0 && c.ProxyHeader != "" && !strings.EqualFold(c.ProxyHeader, Default().ProxyHeader) {
		notes = append(notes, fmt.Sprintf("%s (proxy_header) is ignored: it names the forwarding header believed from a trusted proxy, "+
			"and %s is empty, so every request's source is its TCP peer (a proxy in front would be taken for the source "+
			"of every callback it passes on)", EnvName("proxy_header"), EnvName("trusted_proxies")))
	}
	return notes
}

// outsidePrintableASCII finds the first character of s outside U+0020 to
// U+007E, with its position (from 1, in characters), reporting whether
// there is one.
func outsidePrintableASCII(s string) (pos int, r rune, ok bool) {
	for _, r := range s {
		pos++
		if r < 0x20 || r > 0x7e {
			return pos, r, true
		}
	}
	return 0, 0, false
}

// MinAdminToken is the fewest characters IMCALLBACK_ADMIN_TOKEN may have
// when the admin listener is not on loopback.
const MinAdminToken = 16

// wideSignWindow is the sign window past which Notes warns: the window
// bounds how long a captured request can be replayed.
const wideSignWindow = 5 * time.Minute

// EnvWarnings are the IMCALLBACK_* variables Load ignored: those that are
// no setting (with the closest real name; a declared section's fields are
// settings) and per-app ones of an app that is not accepted; and the apps
// of the file's apps entries that an IMCALLBACK_SDKAPPID of the
// environment does not list, which are accepted all the same (the
// accepted apps are the union of both). The service logs them at start.
func (c *Config) EnvWarnings() []string {
	return append(slices.Clone(c.unknownEnv), c.appEnvNotes...)
}

// EmptyEnv are the notes about the variables of settings that Load found
// set but empty (or whitespace alone), sorted: such a variable counts as
// unset, so the file's value or the default applies. A templated env file
// or compose's ${VAR} of an unset VAR writes one; the note says it was
// seen, in case a value was meant. It covers the core settings, the
// per-app ones of accepted apps and the declared sections' fields; the
// start logs the notes at info level.
func (c *Config) EmptyEnv() []string {
	notes := slices.Clone(c.emptyEnv)
	slices.Sort(notes)
	return slices.Compact(notes)
}

// minStreamWindow is the least max age and duplicate window JetStream
// takes for a stream.
const minStreamWindow = 100 * time.Millisecond

// AckWaitMargin is what the work consumer's ack wait adds to
// HandlerTimeout: room for the acknowledgement to arrive once the handler's
// deadline has passed.
const AckWaitMargin = 5 * time.Second

func (c *Config) validateDelivery(bad func(key, format string, args ...any)) {
	if c.Delivery != DeliveryDurable && c.Delivery != DeliveryInline {
		bad("delivery", "%q must be durable or inline", c.Delivery)
	}
	if c.NATSURL != "" {
		for _, msg := range natsURLProblems(c.NATSURL) {
			bad("nats_url", "%s", msg)
		}
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("stream_replicas", "%d must be from 1 to 5 (JetStream's limit)", c.StreamReplicas)
	} else if c.StreamReplicas > 1 && c.NATSURL == "" && c.Delivery == DeliveryDurable {
		bad("stream_replicas", "%d needs a NATS cluster: the embedded server is a single node; set %s to the cluster, or keep 1",
			c.StreamReplicas, EnvName("nats_url"))
	}
	if msg := streamProblem(c.Stream); msg != "" {
		bad("stream", "%s", msg)
	}
	if msg := subjectPrefixProblem(c.SubjectPrefix); msg != "" {
		bad("subject_prefix", "%s", msg)
	}
	// JetStream refuses a stream whose max age or duplicate window is
	// under 100ms: checked here, the variable is named at load and by
	// config check, rather than the start failing (or, with a NATS
	// cluster, the service staying unready) on the server's refusal.
	if c.Retention < minStreamWindow {
		bad("retention", "%v must be at least %v (JetStream's least max age), e.g. 168h", c.Retention, minStreamWindow)
	}
	if c.DedupWindow < minStreamWindow || c.DedupWindow > c.Retention {
		bad("dedup_window", "%v must be from %v (JetStream's least duplicate window) to the retention", c.DedupWindow, minStreamWindow)
	}
	// An event whose termination is lost after its dead letter was stored
	// is delivered again when the ack wait has passed, and dead-lettered
	// again: only a duplicate window longer than the ack wait keeps that
	// second copy out of the dead-letter stream.
	if ackWait := c.HandlerTimeout + AckWaitMargin; c.Delivery == DeliveryDurable && c.HandlerTimeout > 0 && c.HandlerTimeout <= time.Hour &&
		c.DedupWindow >= minStreamWindow && c.DedupWindow <= ackWait {
		bad("dedup_window", "%v is not longer than the ack wait, %s + %v (%v): an event whose termination is lost is "+
			"delivered again after it, and its dead letter would be stored twice; raise the window, or lower %[2]s",
			c.DedupWindow, EnvName("handler_timeout"), AckWaitMargin, ackWait)
	}
	// The signature does not cover the body, so a captured callback is
	// accepted again, signature and all, until its RequestTime leaves the
	// sign window; with durable delivery the stream's duplicate window is
	// what keeps such a repeat of an after-callback from being processed
	// again. A sign window longer than it accepts a replay the stream no
	// longer recognises: stored and processed a second time (a topic
	// renamed back, say). Only once both windows are valid.
	if c.Delivery == DeliveryDurable && c.DedupWindow >= minStreamWindow && c.DedupWindow <= c.Retention &&
		c.SignWindow >= time.Second && c.SignWindow%time.Second == 0 && c.SignWindow <= MaxSignWindow &&
		c.SignWindow > c.DedupWindow {
		bad("sign_window", "%v is longer than %s %v: a captured after-callback is accepted again, signature and all, for the "+
			"sign window (the signature does not cover the body), but recognised as a repeat only within the duplicate window, "+
			"so a replay between %[3]v and %[1]v after it arrived would be stored and processed again; keep the sign window short "+
			"(synchronise the clock instead, e.g. 60s) or raise %[2]s to at least %[1]v",
			c.SignWindow, EnvName("dedup_window"), c.DedupWindow)
	}
	if c.Workers < 1 || c.Workers > 1024 {
		bad("workers", "%d must be between 1 and 1024", c.Workers)
	}
	// The consumer's ack wait and the overrun timer add seconds to it: a
	// bound keeps them from overflowing into a wait already over.
	if c.HandlerTimeout <= 0 || c.HandlerTimeout > time.Hour {
		bad("handler_timeout", "%v must be from 1ns to 1h", c.HandlerTimeout)
	}
	if len(c.Backoff) == 0 {
		bad("backoff", "needs at least one delay, e.g. 1s,5s,30s,2m,10m")
	}
	for _, d := range c.Backoff {
		if d <= 0 {
			bad("backoff", "delay %v must be positive", d)
		}
	}
	if c.MaxDeliveries < 1 {
		bad("max_deliveries", "%d must be at least 1", c.MaxDeliveries)
	}
	// JetStream drops an event at the retention age, processed or not: an
	// event whose handler keeps failing must reach its last attempt, and
	// its dead letter, before that. (Only once the settings it is made of
	// are valid, and only where there is a stream.)
	if c.Delivery == DeliveryDurable && c.Retention >= minStreamWindow && c.MaxDeliveries >= 1 &&
		c.HandlerTimeout > 0 && len(c.Backoff) > 0 && !slices.ContainsFunc(c.Backoff, func(d time.Duration) bool { return d <= 0 }) {
		backoff, stretched := c.Backoff, ""
		if len(c.Forward) > 0 {
			// A destination's Retry-After stretches a delay up to the
			// longest of the backoff (delivery's retryDelay).
			backoff, stretched = []time.Duration{slices.Max(c.Backoff)}, ", each the longest, as a forward destination's Retry-After may ask,"
		}
		if schedule := retrySchedule(backoff, c.MaxDeliveries, c.HandlerTimeout); schedule >= c.Retention {
			bad("retention", "%v is not longer than the retry schedule of an event whose handler keeps failing, %s "+
				"(the %s delays"+stretched+" before the last of %s %d attempts, and the attempts' %s %v each): such an event "+
				"would be dropped before it is dead-lettered; raise the retention, or shorten the backoff or the deliveries",
				c.Retention, scheduleText(schedule), EnvName("backoff"), EnvName("max_deliveries"), c.MaxDeliveries,
				EnvName("handler_timeout"), c.HandlerTimeout)
		}
	}
}

// maxSchedule stands for a retry schedule too long for a time.Duration.
const maxSchedule = time.Duration(math.MaxInt64)

// retrySchedule is how long an event whose handler keeps failing may take
// from its first delivery to its dead letter, waits for a free worker
// aside: the backoff delays after each of its attempts but the last
// (indexed by the attempt, the last delay repeating) and maxDeliveries
// attempts of up to handlerTimeout each; maxSchedule when that does not
// fit a Duration.
func retrySchedule(backoff []time.Duration, maxDeliveries int, handlerTimeout time.Duration) time.Duration {
	total := time.Duration(0)
	add := func(d time.Duration, times int) {
		if times <= 0 || total == maxSchedule {
			return
		}
		if d > (maxSchedule-total)/time.Duration(times) {
			total = maxSchedule
			return
		}
		total += d * time.Duration(times)
	}
	delays := maxDeliveries - 1
	for i, d := range backoff[:len(backoff)-1] {
		if i < delays {
			add(d, 1)
		}
	}
	add(backoff[len(backoff)-1], delays-(len(backoff)-1))
	add(handlerTimeout, maxDeliveries)
	return total
}

// scheduleText writes a retry schedule for a message.
func scheduleText(d time.Duration) string {
	if d == maxSchedule {
		return "longer than 292 years"
	}
	return d.String()
}

// ParsePrefixes parses CIDRs; a bare address is taken as a single-host
// prefix. A /0 written with an address other than the unspecified one
// (10.0.0.0/0, a typo for /8) is an error: it would admit every address.
// So is any network broader than /8 (IPv4) or /16 (IPv6) written with
// bits past its length (99.0.0.0/1 is 0.0.0.0/1, half of every address);
// a narrower one is masked (192.0.2.9/24 is 192.0.2.0/24).
// An IPv4-mapped IPv6 entry (::ffff:198.51.100.0/120) is taken as
// the IPv4 prefix it names, since sources are compared unmapped; a mapped
// prefix shorter than /96 names no IPv4 address and is an error. An IPv6
// zone (fe80::1%eth0) is an error: netip would drop it, and it would
// swallow a prefix length written after it (fe80::%eth0/10 is one address).
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("%q has an IPv6 zone (%%%s): a zone cannot be matched; write the address or network without it",
					s, a.Zone())
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		n, err := checkPrefix(s, p)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// CheckPrefix is ParsePrefixes for a prefix already parsed (a library
// user's netip.Prefix): p normalized (NormalizePrefix), or the error
// ParsePrefixes gives for it written out. An invalid p is an error.
func CheckPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("%v is not a valid prefix", p)
	}
	return checkPrefix(p.String(), p)
}

// checkPrefix is the rule of ParsePrefixes for p, written s: p normalized,
// or why it is refused.
func checkPrefix(s string, p netip.Prefix) (netip.Prefix, error) {
	if p.Addr().Is4In6() && p.Bits() < 96 {
		return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix needs at least /96 to name IPv4 addresses", s)
	}
	n := NormalizePrefix(p)
	if n.Bits() == 0 && !p.Addr().Unmap().IsUnspecified() {
		// A prefix keeps only its first bits: 10.0.0.0/0, a typo for /8,
		// would admit every address without a word.
		return netip.Prefix{}, fmt.Errorf("%q is /0, every address, written with an address: write %s if every address is meant, or the prefix length meant",
			s, n)
	}
	if wide(n) && n.Addr() != p.Addr().Unmap() {
		// The same typo one digit short: 99.0.0.0/1, meant as /8,
		// keeps one bit and admits half of every address.
		return netip.Prefix{}, fmt.Errorf("%q keeps only its first %d bits, so it is %s, a large part of the internet: write %s if that is meant, or the prefix length meant",
			s, n.Bits(), n, n)
	}
	return n, nil
}

// The broadest trusted proxy networks, as for the networks of a Tencent
// address list (allowlist): a broader one holds a large part of the
// internet. IPv6 networks inside fc00::/7 (unique local) or fe80::/10
// (link-local) are private, whatever their width.
const (
	minProxyBits4 = 8
	minProxyBits6 = 16
)

// wide reports whether p is broader than /8 (IPv4) or /16 (IPv6): a
// network that holds a large part of the internet.
func wide(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return p.Bits() < minProxyBits4
	}
	return p.Bits() < minProxyBits6
}

var privateWide6 = []netip.Prefix{netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10")}

// ParseTrustedProxies parses TrustedProxies as ParsePrefixes does and
// refuses a network broader than /8 (IPv4) or /16 (IPv6, outside
// fc00::/7 and fe80::/10), such as 0.0.0.0/0 or ::/0: a forwarding header
// is believed from every peer inside, so any client there could write
// its own source address into it and pass the allowlist. A proxy's
// network is narrower (10.0.0.0/8, a load balancer's /20).
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out, err := ParsePrefixes(list)
	if err != nil {
		return nil, err
	}
	for i, p := range out {
		if err := checkTrustedProxy(list[i], p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CheckTrustedProxy is ParseTrustedProxies for a network already parsed (a
// library user's netip.Prefix): p normalized, or the error
// ParseTrustedProxies gives for it written out.
func CheckTrustedProxy(p netip.Prefix) (netip.Prefix, error) {
	n, err := CheckPrefix(p)
	if err != nil {
		return netip.Prefix{}, err
	}
	if err := checkTrustedProxy(p.String(), n); err != nil {
		return netip.Prefix{}, err
	}
	return n, nil
}

// checkTrustedProxy refuses the normalized trusted proxy network p, written
// s, when it is broader than /8 (IPv4) or /16 (IPv6, outside fc00::/7 and
// fe80::/10).
func checkTrustedProxy(s string, p netip.Prefix) error {
	least, family, example := minProxyBits6, "IPv6", "2001:db8::/32, or fd00::/8 for unique local addresses"
	if p.Addr().Is4() {
		least, family, example = minProxyBits4, "IPv4", "10.0.0.0/8"
	}
	if p.Bits() >= least || slices.ContainsFunc(privateWide6, func(w netip.Prefix) bool { return w.Bits() <= p.Bits() && w.Contains(p.Addr()) }) {
		return nil
	}
	what := fmt.Sprintf("%q is broader than /%d", s, least)
	if p.Bits() == 0 {
		what = fmt.Sprintf("%q is every %s address", s, family)
	}
	return fmt.Errorf("%s: a forwarding header would be believed from any client on the internet, "+
		"which could then write its own source address into it and pass the allowlist; list your proxies' "+
		"addresses or their network, at most /%d for %s (e.g. %s), "+
		"or leave it empty when no proxy is in front", what, least, family, example)
}

// NormalizePrefix masks p and turns an IPv4-mapped IPv6 prefix of at least
// /96 into the IPv4 prefix it names, the form a source address is compared
// with once unmapped.
func NormalizePrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// CheckFiles reads the files the serving process needs (the TLS
// certificate and key), so that `config check` and the start say what is
// wrong before anything runs. Validate does not: the other commands load
// the configuration on machines without those files.
func (c *Config) CheckFiles() error {
	if c.TLSCert == "" || c.TLSKey == "" {
		return nil
	}
	if _, err := LoadKeyPair(c.TLSCert, c.TLSKey); err != nil {
		return &FieldError{Key: "tls_cert", Msg: fmt.Sprintf("the certificate and key (%s) cannot be used: %v", EnvName("tls_key"), err)}
	}
	return nil
}

// EnvName is the environment variable that sets key.
func EnvName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Redacted returns a copy that is safe to print or log: tokens, passwords
// in the store DSN and credentials in the NATS URLs are replaced.
func (c Config) Redacted() Config {
	r := c
	r.Tokens = make([]string, len(c.Tokens))
	for i := range c.Tokens {
		r.Tokens[i] = redacted
	}
	r.Apps = make([]AppConfig, len(c.Apps))
	for i, a := range c.Apps {
		a.Tokens = slices.Clone(a.Tokens)
		for j := range a.Tokens {
			a.Tokens[j] = redacted
		}
		if a.SecretKey != "" {
			a.SecretKey = redacted
		}
		r.Apps[i] = a
	}
	if c.AdminToken != "" {
		r.AdminToken = redacted
	}
	r.Forward = slices.Clone(c.Forward)
	for i := range r.Forward {
		r.Forward[i].Secret = redactSecrets(r.Forward[i].Secret)
		r.Forward[i].URL = RedactURL(r.Forward[i].URL)
	}
	r.ForwardSecret = redactSecrets(c.ForwardSecret)
	r.StoreDSN = Redact(c.StoreDSN, false)
	r.NATSURL = Redact(c.NATSURL, true)
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

// The values of Delivery. The stock binary wires delivery.Module for
// DeliveryDurable and leaves it out for DeliveryInline; no package reads
// the setting otherwise, but the dispatcher warns at start when the
// wiring disagrees with it.
const (
	DeliveryDurable = "durable"
	DeliveryInline  = "inline"
)

// pathProblem says why path, which starts with '/', cannot be the callback
// route, "" when it can. The route is matched literally (echo reads ':' and
// '*' as a parameter and a wildcard), so a query, whitespace or control
// characters made a route that no callback matches, and ':' or '*' one
// that matches other paths too. A percent-escape is matched as written
// only when it is not net/http's own encoding: net/http then keeps the
// request's path as it came (URL.RawPath), which echo routes on (/im%2Fcb,
// /%e5%9b%9e in lower case). Escaped as net/http escapes (/im%20cb,
// /%E5%9B%9E), the path is routed decoded ("/im cb", "/回"), which a route
// written escaped never matches.
func pathProblem(path string) string {
	if r, ok := pathRune(path); ok {
		return fmt.Sprintf("%q holds %q: the path IM calls is a literal URL path, e.g. /im/callback; "+
			"no whitespace, control characters, '?', '#', ':' or '*'", path, r)
	}
	if !strings.Contains(path, "%") {
		return ""
	}
	u, err := url.ParseRequestURI(path) // as net/http reads a request's path: a leading "//" is no host
	if err != nil {
		return fmt.Sprintf("%q holds a '%%' that starts no escape (%%XX): a path cannot hold a literal '%%'", path)
	}
	if u.RawPath != "" {
		return "" // not net/http's encoding: routed as written
	}
	msg := fmt.Sprintf("%q is percent-escaped as net/http escapes, so its requests are routed on the decoded path "+
		"and a route written escaped never matches; ", path)
	if dec := u.Path; utf8.ValidString(dec) && !strings.Contains(dec, "%") {
		if _, refused := pathRune(dec); !refused {
			return msg + fmt.Sprintf("write it unescaped: %q", dec)
		}
	}
	return msg + "write the characters themselves (letters of any script work as they are), with no " +
		"whitespace, control characters, '?', '#', ':' or '*'"
}

// pathRune is the first rune of path that a callback path cannot hold, and
// whether there is one.
func pathRune(path string) (rune, bool) {
	i := strings.IndexFunc(path, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("?#:*", r)
	})
	if i < 0 {
		return 0, false
	}
	r, _ := utf8.DecodeRuneInString(path[i:])
	return r, true
}
