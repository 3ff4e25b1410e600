package config

import (
	"net/url"
	"strings"
)

// redacted replaces a secret in printed configuration.
const redacted = "[redacted]"

// Secrets returns the secret parts of a URL-style setting, even when it
// does not parse: userinfo passwords, password and sslpassword query
// values, and — with tokenUser, for NATS's nats://token@host form — a
// userinfo without a password. A comma-separated list of URLs is searched
// whole. Escaped and unescaped spellings are both returned.
func Secrets(value string, tokenUser bool) []string {
	var out []string
	add := func(s string, unescape func(string) (string, error)) {
		if s == "" {
			return
		}
		out = append(out, s)
		if u, err := unescape(s); err == nil && u != s && u != "" {
			out = append(out, u)
		}
	}
	for _, one := range strings.Split(value, ",") {
		rest := one
		if _, after, ok := strings.Cut(rest, "://"); ok {
			rest = after
		}
		// The userinfo ends at the last '@' before the path: a password may
		// hold an unescaped '?' (which no parser takes for the query then).
		authority := rest
		if slash := strings.IndexByte(rest, '/'); slash >= 0 {
			authority = rest[:slash]
		}
		afterUser := rest
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			user, pw, hasPW := strings.Cut(authority[:at], ":")
			switch {
			case hasPW:
				add(pw, url.PathUnescape)
			case tokenUser:
				add(user, url.PathUnescape)
			}
			afterUser = rest[at+1:]
		}
		_, query, _ := strings.Cut(afterUser, "?")
		for _, kv := range strings.Split(query, "&") {
			key, v, _ := strings.Cut(kv, "=")
			if key == "password" || key == "sslpassword" {
				add(v, url.QueryUnescape)
			}
		}
	}
	return out
}

// Redact returns value with every secret Secrets finds replaced.
func Redact(value string, tokenUser bool) string {
	for _, s := range Secrets(value, tokenUser) {
		value = strings.ReplaceAll(value, s, redacted)
	}
	return value
}

// RedactURL shows a destination URL without what may be a credential:
// the user info, the path (webhook URLs often carry their key there) and
// the query are replaced; the scheme, host and port stay, and the
// destination's name tells destinations on one host apart. A URL that does
// not parse is shown as redacted entirely.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return redacted
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(redacted + "@")
	}
	b.WriteString(u.Host)
	if u.Path == "/" {
		b.WriteString("/")
	} else if u.Path != "" {
		b.WriteString("/" + redacted)
	}
	if u.RawQuery != "" {
		b.WriteString("?" + redacted)
	}
	return b.String()
}
