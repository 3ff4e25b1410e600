package config

import (
	"net/url"
	"slices"
	"strings"
)

// redacted replaces a secret in printed configuration.
const redacted = "[redacted]"

// userSecret is which part of a URL's user info is secret.
type userSecret int

const (
	// passwordSecret: the password, after the user info's first ':'.
	passwordSecret userSecret = iota
	// tokenSecret: the password, or a user info without one (NATS's
	// nats://token@host).
	tokenSecret
	// wholeSecret: the whole user info, user included, for a URL where no
	// user belongs, whose user may be a key (http://KEY@host, or
	// http://KEY:@host with an empty password).
	wholeSecret
)

// secretOf is the userSecret Redact and Secrets read with tokenUser.
func secretOf(tokenUser bool) userSecret {
	if tokenUser {
		return tokenSecret
	}
	return passwordSecret
}

// placeholderProblem says what is wrong with a secret that is the
// placeholder printed configuration shows in its place, as one copied
// from config check or /v1/config sets it: no one else holds it, so it
// would sign or check nothing. It is "" for any other value.
func placeholderProblem(secret string) string {
	if secret != redacted {
		return ""
	}
	return `is "` + redacted + `", the placeholder config check and /v1/config show in place of a secret: set the secret itself`
}

// placeholderCredential reports whether a credential of one URL (its
// password, a password or sslpassword query value, and with tokenSecret a
// user info without a password) is the placeholder printed configuration
// shows in its place, as written or percent-escaped: Redact writes it
// there, so a URL copied from config check or /v1/config holds it, and
// the driver would send it as the password.
func placeholderCredential(one string, user userSecret) bool {
	for _, s := range secretSpans(one, user) {
		raw, unescape := one[s.start:s.end], url.PathUnescape
		if s.query {
			unescape = url.QueryUnescape
		}
		if u, err := unescape(raw); raw == redacted || err == nil && u == redacted {
			return true
		}
	}
	return false
}

// Secrets returns the secret parts of a URL-style setting, even when it
// does not parse: userinfo passwords, password and sslpassword query
// values (their keys in any case), and — with tokenUser, for NATS's
// nats://token@host form — a userinfo without a password. With tokenUser
// the value is NATS's comma-separated list of URLs; otherwise it is one URL,
// whose password may hold a comma. The userinfo reaches to the last '@' (as
// Redact reads it); the password a URL parser reads, cut at the first '@'
// after which a '/' or '?' comes, is returned too when it differs. Escaped
// and unescaped spellings are both returned.
func Secrets(value string, tokenUser bool) []string {
	var out []string
	add := func(s string, unescape func(string) (string, error)) {
		if s == "" || slices.Contains(out, s) {
			return
		}
		out = append(out, s)
		if u, err := unescape(s); err == nil && u != s && u != "" {
			out = append(out, u)
		}
	}
	for _, one := range urlList(value, tokenUser) {
		for _, s := range secretSpans(one, secretOf(tokenUser)) {
			if s.query {
				add(one[s.start:s.end], url.QueryUnescape)
			} else {
				add(one[s.start:s.end], url.PathUnescape)
			}
		}
		add(parsedPassword(one, tokenUser), url.PathUnescape)
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
// " password" name the password as password does; and in any case, so
// PASSWORD, which an operator may have meant as the password, is redacted
// too.
func secretQueryKey(key string) bool {
	key, _, _ = strings.Cut(strings.TrimLeft(key, " "), " ")
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	return strings.EqualFold(key, "password") || strings.EqualFold(key, "sslpassword")
}

// secretSpan is where a secret lies in one URL: one[start:end].
type secretSpan struct {
	start, end int
	query      bool // a query value, else (part of) the userinfo
}

// secretSpans finds the secrets of one URL, in order and not overlapping.
//
// A query value is secret when its key is a password's (secretQueryKey):
// it runs from the '=' after "?key" or "&key" to the next '&'. The userinfo
// runs from the scheme's "://" to the last '@' that is in no such value, so
// an '@' in a query password (?password=p@ss) ends no userinfo, while one
// left unescaped in the userinfo's password (user:p@ss/word@host) does not
// end it early, whatever else ('/', '?', '#', ':') the password holds: no
// part of the password the operator may have meant is shown, at the cost
// of hiding the host when a query value other than a password holds an
// '@' (?application_name=a@b). The userinfo's secret is its password,
// after its first ':', or, with tokenSecret and no ':', the whole userinfo;
// with wholeSecret, the whole userinfo in any case.
func secretSpans(one string, user userSecret) []secretSpan {
	rest := 0
	if i := strings.Index(one, "://"); i >= 0 {
		rest = i + 3
	}
	var spans []secretSpan
	for i := rest; i < len(one); i++ {
		if one[i] != '?' && one[i] != '&' {
			continue
		}
		key, _, ok := strings.Cut(one[i+1:], "=")
		if !ok || strings.ContainsAny(key, "?&") || !secretQueryKey(key) {
			continue
		}
		start, end := i+1+len(key)+1, len(one)
		if j := strings.IndexByte(one[start:], '&'); j >= 0 {
			end = start + j
		}
		spans = append(spans, secretSpan{start: start, end: end, query: true})
	}
	if at := userinfoEnd(one, rest, spans); at >= 0 {
		switch name, _, hasPW := strings.Cut(one[rest:at], ":"); {
		case user == wholeSecret && at > rest:
			spans = append(spans, secretSpan{start: rest, end: at})
		case hasPW:
			spans = append(spans, secretSpan{start: rest + len(name) + 1, end: at})
		case user == tokenSecret && at > rest:
			spans = append(spans, secretSpan{start: rest, end: at})
		}
	}
	slices.SortStableFunc(spans, func(a, b secretSpan) int { return a.start - b.start })
	var out []secretSpan
	for _, s := range spans {
		if n := len(out); n > 0 && s.start < out[n-1].end {
			out[n-1].end = max(out[n-1].end, s.end)
			continue
		}
		out = append(out, s)
	}
	return out
}

// userinfoEnd is the index in one of the '@' that ends the userinfo
// starting at rest: the last '@' after rest in none of the query values
// spans holds; -1 when there is none.
func userinfoEnd(one string, rest int, spans []secretSpan) int {
	for at := strings.LastIndex(one, "@"); at >= rest; at = strings.LastIndex(one[:at], "@") {
		if !slices.ContainsFunc(spans, func(s secretSpan) bool { return s.start <= at && at < s.end }) {
			return at
		}
	}
	return -1
}

// parsedPassword is the userinfo's secret (as secretSpans says) the way a
// URL parser reads it, cut at the last '@' before the first '/', '?' or
// '#'; "" when that reading finds none.
func parsedPassword(one string, tokenUser bool) string {
	if i := strings.Index(one, "://"); i >= 0 {
		one = one[i+3:]
	}
	if end := strings.IndexAny(one, "/?#"); end >= 0 {
		one = one[:end]
	}
	at := strings.LastIndex(one, "@")
	if at < 0 {
		return ""
	}
	user, pw, hasPW := strings.Cut(one[:at], ":")
	switch {
	case hasPW:
		return pw
	case tokenUser:
		return user
	}
	return ""
}

// Redact returns value with the parts Secrets finds (as secretSpans reads
// them) replaced in place: the userinfo's password (with tokenUser, a
// userinfo without one) and the password and sslpassword query values.
// Nothing else changes, even text that equals a secret (a password that is
// also the port).
func Redact(value string, tokenUser bool) string {
	list := urlList(value, tokenUser)
	for i, one := range list {
		list[i] = redactOne(one, secretOf(tokenUser))
	}
	return strings.Join(list, ",")
}

// RedactUserinfo returns raw, one URL where no user belongs (the admin
// API's, a callback endpoint's), with its whole user info replaced: a user
// alone, or one before an empty password (http://KEY:@host), may be a key,
// which url.URL.Redacted and Redact show. The password and sslpassword
// query values are replaced as Redact replaces them. raw is not read as
// NATS's comma-separated list: a ',' in the user info cuts nothing.
func RedactUserinfo(raw string) string { return redactOne(raw, wholeSecret) }

// redactOne is one URL with the parts secretSpans finds in it replaced:
// Redact's work on each URL of its list. Called directly, it redacts a
// single URL whose user info may be a token alone (tokenSecret) without
// reading it as a comma-separated list, so a ',' in its password cuts
// nothing.
func redactOne(one string, user userSecret) string {
	var b strings.Builder
	last := 0
	for _, s := range secretSpans(one, user) {
		b.WriteString(one[last:s.start] + redacted)
		last = s.end
	}
	b.WriteString(one[last:])
	return b.String()
}

// RedactQuery returns raw with what follows its first '?' or '#' (a query
// or a fragment, where a URL copied whole carries a token or a UserSig)
// replaced by [redacted]; raw as it is when nothing follows. Redact a
// password first (Redact): cut at a '?' or '#' inside it, the password's
// start would still show.
func RedactQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 && i < len(raw)-1 {
		return raw[:i+1] + redacted
	}
	return raw
}

// RedactURL shows a destination URL without what may be a credential:
// the user info, the path (webhook URLs often carry their key there) and
// the query are replaced; the scheme, host and port stay, and the
// destination's name tells destinations on one host apart. A URL that does
// not parse is shown as redacted entirely, and so is the host of one with
// an '@' after it (atAfterHost), which may be part of the user info.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return redacted
	}
	if atAfterHost(raw) {
		// Perhaps a user info with an unescaped '/', '?' or '#', which
		// ends the authority early: the "host" would be the key.
		return u.Scheme + "://" + redacted
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

// atAfterHost reports whether raw has an '@' after the end of its
// authority as a URL parser reads it (the first '/', '?' or '#' after
// "://"): in the path, query or fragment, or ending a user info that holds
// one of those three unescaped, which cut it short, so that the parsed
// host is part of the user info.
func atAfterHost(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	return end >= 0 && strings.Contains(rest[end:], "@")
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
