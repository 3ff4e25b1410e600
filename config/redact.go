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
		p := splitURL(one)
		switch {
		case p.hasPW:
			add(p.pw, url.PathUnescape)
		case p.hasUser && tokenUser:
			add(p.user, url.PathUnescape)
		}
		for _, kv := range strings.Split(p.query, "&") {
			if key, v, _ := strings.Cut(kv, "="); secretQueryKey(key) {
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

// secretQueryKey reports whether a query parameter holds a password. The
// key is read as pgx reads it: from its first character that is not a
// space to the next space, then percent-decoded, so pass%77ord and
// " password" name the password as password does.
func secretQueryKey(key string) bool {
	key, _, _ = strings.Cut(strings.TrimLeft(key, " "), " ")
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	return key == "password" || key == "sslpassword"
}

// urlParts are the pieces of one URL that redaction works on.
type urlParts struct {
	prefix         string // the scheme and "://", or ""
	user, pw       string
	hasUser, hasPW bool
	rest           string // the host and path
	query          string
	hasQuery       bool
}

// splitURL splits one URL for redaction. When it parses with an '@' in
// its authority (before the first '/', '?' or '#'), the userinfo ends at
// that '@', as its drivers read it, so an '@' in a query password stays in
// the query. Otherwise (a '/', '?' or '#' left unescaped in the password or
// token, which a parser may take for the path) the userinfo reaches to the
// last '@' that does not follow a password query key, so the secret is
// redacted whole, with at worst some text after it.
func splitURL(one string) urlParts {
	var p urlParts
	rest := one
	if i := strings.Index(one, "://"); i >= 0 {
		p.prefix, rest = one[:i+3], one[i+3:]
	}
	authority := rest
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		authority = rest[:end]
	}
	if _, err := url.Parse(one); err != nil || !strings.Contains(authority, "@") {
		authority = lenientAuthority(rest)
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		p.hasUser = true
		p.user, p.pw, p.hasPW = strings.Cut(authority[:at], ":")
		rest = rest[at+1:]
	}
	p.rest, p.query, p.hasQuery = strings.Cut(rest, "?")
	return p
}

// lenientAuthority is rest up to its last '@' that no password query key
// comes before ("?password=", "&sslpassword=" …); without such an '@' it is
// rest up to the first password query key (rest whole when there is none),
// which holds no '@': an '@' in a query password (?password=p@ss) ends no
// userinfo, and the password stays in the query, where it is redacted.
func lenientAuthority(rest string) string {
	cut := len(rest)
	for i := range len(rest) {
		if rest[i] != '?' && rest[i] != '&' {
			continue
		}
		if key, _, ok := strings.Cut(rest[i+1:], "="); ok && !strings.ContainsAny(key, "?&") && secretQueryKey(key) {
			cut = i
			break
		}
	}
	at := strings.LastIndex(rest[:cut], "@")
	if at < 0 {
		return rest[:cut]
	}
	return rest[:at+1]
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

// redactOne redacts one URL as Redact says.
func redactOne(one string, tokenUser bool) string {
	p := splitURL(one)
	var b strings.Builder
	b.WriteString(p.prefix)
	switch {
	case p.hasPW:
		b.WriteString(p.user + ":" + redacted + "@")
	case p.hasUser && tokenUser && p.user != "":
		b.WriteString(redacted + "@")
	case p.hasUser:
		b.WriteString(p.user + "@")
	}
	b.WriteString(p.rest)
	if p.hasQuery {
		kvs := strings.Split(p.query, "&")
		for i, kv := range kvs {
			if key, _, _ := strings.Cut(kv, "="); secretQueryKey(key) {
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

// redactSecrets replaces each of a forward destination's secrets
// (separated by spaces) with one redacted, so config check shows how many
// sign the requests (two while a secret is rotated) and none of them.
func redactSecrets(value string) string {
	n := len(strings.Fields(value))
	switch {
	case n == 0 && value == "":
		return ""
	case n <= 1:
		return redacted
	}
	return strings.TrimSuffix(strings.Repeat(redacted+" ", n), " ")
}
