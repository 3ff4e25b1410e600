package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ForwardConfig is one destination of gateway mode: the callbacks whose
// CallbackCommand matches are POSTed to URL, signed as the Standard
// Webhooks specification says. An entry of the YAML `forward:` list, or
// the IMCALLBACK_FORWARD_URL, _SECRET and _MATCH variables for one
// destination named DefaultForwardName.
type ForwardConfig struct {
	// Name identifies the destination in metrics, logs, the API and the console.
	Name string `koanf:"name" yaml:"name"`
	// Match are globs on CallbackCommand (path.Match syntax: "Group.*").
	Match []string `koanf:"match" yaml:"match"`
	// Apps limit the destination to these SdkAppids; empty, every app.
	Apps []string `koanf:"apps" yaml:"apps,omitempty"`
	// URL is where callbacks are POSTed (http or https).
	URL string `koanf:"url" yaml:"url" secret:"true"`
	// Secret signs the requests: "whsec_" followed by base64. Several,
	// separated by spaces, sign each request with each, in order: the
	// webhook-signature header holds one signature per secret, and a
	// receiver that knows any one of them accepts it (secret rotation).
	// Never logged.
	Secret string `koanf:"secret" yaml:"secret" secret:"true" spaces:"separate"`
	// Timeout bounds one attempt of an after-callback (default 5s);
	// before-callbacks get the before deadline.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`

	// timeoutDefaulted says Timeout is the default, not set by the operator.
	timeoutDefaulted bool
	// timeoutWritten says the file writes the timeout (not null): a 0
	// written is refused, not taken for the default.
	timeoutWritten bool
	// fromEnv says the IMCALLBACK_FORWARD_* variables set the destination.
	fromEnv bool
}

// Setting is how a problem of the destination's field (its koanf key:
// "match") names where it was set: the variable for the destination of
// IMCALLBACK_FORWARD_URL (IMCALLBACK_FORWARD_MATCH), else the
// destination's name and the key ("hooks: match").
func (f ForwardConfig) Setting(field string) string {
	if f.fromEnv {
		return EnvName("forward_" + field)
	}
	return f.Name + ": " + field
}

// Forwarding defaults.
const (
	DefaultForwardName    = "default"
	DefaultForwardTimeout = 5 * time.Second
)

// forwardKeys maps the keys of a forward entry to the kinds of their fields.
func forwardKeys() map[string]reflect.Kind {
	t := reflect.TypeFor[ForwardConfig]()
	keys := map[string]reflect.Kind{}
	for i := range t.NumField() {
		keys[t.Field(i).Tag.Get("koanf")] = t.Field(i).Type.Kind()
	}
	return keys
}

// SecretKeys are the HMAC keys of the destination, one per secret of
// Secret (separated by spaces), in order: each without its "whsec_"
// prefix, base64-decoded. A problem names the secret by its position
// ("#2") when there are several, and never quotes it.
func (f ForwardConfig) SecretKeys() ([][]byte, error) {
	secrets := strings.Fields(f.Secret)
	if len(secrets) <= 1 {
		// The one secret without the spaces around it, as each of several.
		key, err := secretKey(strings.TrimSpace(f.Secret))
		if err != nil {
			return nil, err
		}
		return [][]byte{key}, nil
	}
	for i, s := range secrets {
		if msg := placeholderProblem(s); msg != "" {
			return nil, fmt.Errorf("#%d %s", i+1, msg)
		}
		if !strings.HasPrefix(s, "whsec_") {
			// Several secrets each carry the prefix, so a value split by
			// mistake (a space or line break inside one) is refused, and
			// said so, before its pieces are decoded.
			return nil, fmt.Errorf("#%d does not begin with whsec_ (several secrets are separated by spaces, each whsec_ followed by base64)", i+1)
		}
	}
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return nil, fmt.Errorf("#%d %w", i+1, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// SecretKey is the HMAC key of the destination's first secret (SecretKeys
// has them all).
func (f ForwardConfig) SecretKey() ([]byte, error) {
	keys, err := f.SecretKeys()
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

// secretKey is the HMAC key of one secret: without its "whsec_" prefix,
// base64-decoded, at least 16 bytes.
func secretKey(secret string) ([]byte, error) {
	if msg := placeholderProblem(secret); msg != "" {
		return nil, errors.New(msg)
	}
	s := strings.TrimPrefix(secret, "whsec_")
	if s == "" {
		return nil, errors.New("required: whsec_ followed by base64")
	}
	if strings.Contains(s, ",") {
		// Secrets listed as the other list variables list their values
		// (IMCALLBACK_SDKAPPID, IMCALLBACK_FORWARD_MATCH): "not base64"
		// would send the operator to check secrets that each are.
		return nil, errors.New("has a comma, which no base64 has: several secrets are separated by spaces, not commas")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("is not base64 after whsec_")
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("decodes to %d bytes; use at least 16 (24 to 64 is usual)", len(key))
	}
	return key, nil
}

// Matches reports whether the destination takes command for app ("" is any app).
func (f ForwardConfig) Matches(command, app string) bool {
	if app != "" && len(f.Apps) > 0 && !containsString(f.Apps, app) {
		return false
	}
	for _, g := range f.Match {
		if ok, _ := path.Match(g, command); ok {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// markWrittenTimeouts marks the destinations of Forward whose entry in
// the file, raw, writes a timeout, so that applyForwardEnv gives the
// default only to those that leave it out (or null). raw's entries are
// Forward's, one for one; one written without its dash is an entry.
func (c *Config) markWrittenTimeouts(raw any) {
	items, ok := raw.([]any)
	if m, isMap := raw.(map[string]any); isMap {
		items, ok = []any{m}, true
	}
	if !ok || len(items) != len(c.Forward) {
		return
	}
	for i, item := range items {
		if m, ok := item.(map[string]any); ok && m["timeout"] != nil {
			c.Forward[i].timeoutWritten = true
		}
	}
}

// applyForwardEnv turns the one-destination variables into an entry of
// Forward named DefaultForwardName, and fills in the defaults. The secret
// or the globs without the URL are a problem: they configure no
// destination, and the service would start without forwarding, answering
// every callback meant for it as an unknown command.
func (c *Config) applyForwardEnv() []error {
	var problems []error
	withoutURL := func(key string) {
		problems = append(problems, &FieldError{Key: key, Msg: fmt.Sprintf(
			"set without %s, so it configures no destination: set the URL too, or remove it", EnvName("forward_url"))})
	}
	if c.ForwardURL == "" && c.ForwardSecret != "" {
		withoutURL("forward_secret")
	}
	if c.ForwardURL == "" && len(c.ForwardMatch) > 0 {
		withoutURL("forward_match")
	}
	if c.ForwardURL != "" {
		match := c.ForwardMatch
		if len(match) == 0 {
			match = []string{"*"}
		}
		c.Forward = append(c.Forward, ForwardConfig{Name: DefaultForwardName, URL: c.ForwardURL, Secret: c.ForwardSecret, Match: match, fromEnv: true})
	}
	c.ForwardURL, c.ForwardSecret, c.ForwardMatch = "", "", nil
	for i := range c.Forward {
		if c.Forward[i].Timeout == 0 && !c.Forward[i].timeoutWritten {
			c.Forward[i].Timeout = DefaultForwardTimeout
			c.Forward[i].timeoutDefaulted = true
		}
	}
	return problems
}

// forwardName is what a destination's name may hold: it becomes a metric
// label and a NATS header value.
var forwardName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ForwardURLProblem says what is wrong with raw as a forward destination's
// URL, quoting it redacted (RedactURL), or is "" when nothing is. The
// configuration checks each destination with it, and forward.New each one
// a program builds itself.
func ForwardURLProblem(raw string) string {
	if stripped := withoutPlaceholder(raw); stripped != raw {
		// config check and /v1/config show the user info, path and query
		// as [redacted] (RedactURL): copied back, the requests would go
		// to that path, with that user or query.
		return fmt.Sprintf("url %q holds %q, the placeholder config check and /v1/config show in place of its user info, "+
			"path and query, which may hold a key: set the URL itself", RedactURL(stripped), redacted)
	}
	switch u, err := url.Parse(raw); {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "":
		return fmt.Sprintf("url %q must be an http:// or https:// URL with a host", RedactURL(raw))
	case strings.ContainsFunc(raw, spaceOrControl):
		// url.Parse takes a space (or another blank) into the path: the
		// requests would go to "/hook%20https://…", which the destination
		// does not serve, a 404 retried for the whole backoff.
		return fmt.Sprintf("url %q has whitespace or a control character in it: a space of a path is written %%20, "+
			"and a destination has one URL (give each its own entry of forward:)", RedactURL(raw))
	case atAfterHost(raw):
		// A user info holding '/', '?' or '#' unescaped ends early: the
		// requests would go to its text as a host, shown in every log
		// line and dial error. An '@' meant for the path or query is %40.
		return fmt.Sprintf("url %q has an '@' after its host: escape a '/', '?' or '#' of the user info "+
			"(%%2F, %%3F, %%23), and an '@' of the path or query as %%40", RedactURL(raw))
	case u.User != nil && u.Scheme != "https":
		// Go sends it as a Basic Authorization header, in the clear over http.
		return fmt.Sprintf("url %q carries a user and password over http: use https, or a key in the path", RedactURL(raw))
	case u.Fragment != "":
		return fmt.Sprintf("url %q has a fragment, which is never sent", RedactURL(raw))
	case !validPort(u.Port()):
		// url.Parse takes any digits; the dial would fail on every attempt.
		return fmt.Sprintf("url %q has port %s, not one from 1 to 65535", RedactURL(raw), u.Port())
	}
	return ""
}

// placeholderEscaped is the placeholder percent-escaped, as a URL's path
// may write it; matched in any case.
var placeholderEscaped = regexp.MustCompile(`(?i)%5Bredacted%5D`)

// withoutPlaceholder is raw with each placeholder (redacted, as written or
// percent-escaped) replaced by "x", or raw itself when it holds none.
func withoutPlaceholder(raw string) string {
	return placeholderEscaped.ReplaceAllLiteralString(strings.ReplaceAll(raw, redacted, "x"), "x")
}

// ForwardMatchProblem says what is wrong with a destination's Match, or is
// "" when nothing is: no glob at all (the destination would take no
// callback, and say nothing), or the first entry that is not a glob. The
// configuration checks each destination with it, and forward.New each one
// a program builds itself.
func ForwardMatchProblem(match []string) string {
	if len(match) == 0 {
		return "match is required: globs on CallbackCommand, e.g. [\"Group.*\"]"
	}
	for _, g := range match {
		if _, err := path.Match(g, ""); err != nil || strings.TrimSpace(g) == "" {
			return fmt.Sprintf("match %q is not a glob (e.g. Group.* or C2C.CallbackAfterSendMsg)", g)
		}
	}
	return ""
}

// validateForward checks each destination; problems name the entry.
func (c *Config) validateForward(bad func(key, format string, args ...any)) {
	seen := map[string]int{} // a name's first entry
	for i, f := range c.Forward {
		key, setting := c.forwardEntry(i)
		first, taken := seen[f.Name]
		switch {
		case !forwardName.MatchString(f.Name):
			bad("forward", "%s: name %q must be 1 to 64 letters, digits, '-' or '_'", key, f.Name)
		case taken && f.fromEnv:
			// The variables' destination comes after the file's: the
			// file has no entry of its index, and its name is fixed.
			bad("forward_url", "%s: the destination of %s is named %s, as the file's forward[%d] is: rename that entry, "+
				"or set that destination in the file alone", key, EnvName("forward_url"), DefaultForwardName, first)
		case taken:
			bad("forward", "%s: name %q is used twice", key, f.Name)
		}
		if !taken {
			seen[f.Name] = i
		}
		if problem := ForwardMatchProblem(f.Match); problem != "" {
			bad(setting("match"), "%s: %s", key, problem)
		}
		for _, id := range f.Apps {
			if !containsString(c.SdkAppIDs, id) {
				bad("forward", "%s: app %q is not one of the configured apps (IMCALLBACK_SDKAPPID, or an apps entry)", key, id)
			}
		}
		// Whitespace around the URL is said by checkSpaced: its other
		// problems are said here, whitespace inside it included.
		if problem := ForwardURLProblem(strings.TrimSpace(f.URL)); problem != "" {
			bad(setting("url"), "%s: %s", key, problem)
		}
		if _, err := f.SecretKeys(); err != nil {
			bad(setting("secret"), "%s: secret %v", key, err)
		}
		if f.Timeout <= 0 {
			bad("forward", "%s: timeout must be positive, e.g. 5s", key)
		}
	}
}

// forwardEntry is how problems of the destination Forward[i] name it:
// label is "forward[i] (name)" ("forward[i]" without a name), and setting
// the key a problem of one of its fields is reported under: forward for an
// entry of the file, the variable that set the field for the destination
// of IMCALLBACK_FORWARD_URL (IMCALLBACK_FORWARD is refused).
func (c *Config) forwardEntry(i int) (label string, setting func(field string) string) {
	label = fmt.Sprintf("forward[%d]", i)
	if name := c.Forward[i].Name; name != "" {
		label = fmt.Sprintf("forward[%d] (%s)", i, name)
	}
	return label, func(field string) string {
		if c.Forward[i].fromEnv {
			return "forward_" + field
		}
		return "forward"
	}
}

// validPort reports whether a URL's port is absent (the scheme's) or a
// TCP port, 1 to 65535.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// ForwardAnswerMargin is the part of a before-callback's deadline
// (before_timeout) that gateway mode keeps for checking a destination's
// answer and sending it to IM: the destination has the rest. The start
// refuses a before_timeout no longer than this when a destination takes a
// before-command (forward.Check).
const ForwardAnswerMargin = 50 * time.Millisecond
