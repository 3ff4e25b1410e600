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
// userinfo without a password. With tokenUser the value is NATS's
// comma-separated list of URLs; otherwise it is one URL, whose password may
// hold a comma. Escaped and unescaped spellings are both returned.
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
	for _, one := range urlList(value, tokenUser) {
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

// urlList is value's URLs: NATS's comma-separated list with tokenUser, else
// value whole.
func urlList(value string, tokenUser bool) []string {
	if tokenUser {
		return strings.Split(value, ",")
	}
	return []string{value}
}

// Redact returns value with the parts Secrets finds replaced in place: the
// userinfo's password (with tokenUser, a userinfo without one) and the
// password and sslpassword query values. Nothing else changes, even text
// that equals a secret (a password that is also the port).
func Redact(value string, tokenUser bool) string {
	list := urlList(value, tokenUser)
	for i, one := range list {
		list[i] = redactOne(one, tokenUser)
	}
	return strings.Join(list, ",")
}

// redactOne redacts one URL as Redact says; the userinfo ends at the last
// '@' before the path, as in Secrets.
func redactOne(one string, tokenUser bool) string {
	var b strings.Builder
	rest := one
	if i := strings.Index(one, "://"); i >= 0 {
		b.WriteString(one[:i+3])
		rest = one[i+3:]
	}
	authority := rest
	if slash := strings.IndexByte(rest, '/'); slash >= 0 {
		authority = rest[:slash]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, _, hasPW := strings.Cut(authority[:at], ":")
		switch {
		case hasPW:
			b.WriteString(user + ":" + redacted + "@")
		case tokenUser && at > 0:
			b.WriteString(redacted + "@")
		default:
			b.WriteString(authority[:at+1])
		}
		rest = rest[at+1:]
	}
	base, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(base)
	if hasQuery {
		kvs := strings.Split(query, "&")
		for i, kv := range kvs {
			if key, _, _ := strings.Cut(kv, "="); key == "password" || key == "sslpassword" {
				kvs[i] = key + "=" + redacted
			}
		}
		b.WriteString("?" + strings.Join(kvs, "&"))
	}
	return b.String()
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
