package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxStreamName is JetStream's longest stream or consumer name in bytes
// (nats-server's JSMaxNameLen).
const maxStreamName = 255

// DeadStreamSuffix makes the dead-letter stream's name from Stream
// (delivery's Options.DeadStream).
const DeadStreamSuffix = "_DEAD"

// nameProblem says what is wrong with a JetStream stream or consumer name,
// "" when nothing is: the rules of nats-server (isValidAssetName, the
// stream and consumer config checks) and of nats.go's jetstream package,
// which refuse them only when the service starts. A name is a subject
// token of the JetStream API ($JS.API.STREAM.CREATE.<name>) and a
// directory of the file store, so it holds no whitespace, no control
// character, no '.', '*' or '>', no '/' or '\', and at most 255 bytes.
func nameProblem(name string) string {
	switch {
	case name == "":
		return "required: a JetStream stream name, e.g. IMCALLBACK"
	case !utf8.ValidString(name):
		return fmt.Sprintf("%q is not valid UTF-8", name)
	case len(name) > maxStreamName:
		return fmt.Sprintf("is %d bytes long: JetStream allows at most %d", len(name), maxStreamName)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(".*>/\\", r) {
			return fmt.Sprintf("%q holds %q: a JetStream name may not hold whitespace, control characters, "+
				"'.', '*', '>', '/' or '\\'", name, r)
		}
	}
	return ""
}

// streamProblem says what is wrong with Stream, whose dead-letter stream
// Stream+"_DEAD" must be a valid name too, "" when nothing is.
func streamProblem(stream string) string {
	if msg := nameProblem(stream); msg != "" {
		return msg
	}
	if dead := stream + DeadStreamSuffix; len(dead) > maxStreamName {
		return fmt.Sprintf("is %d bytes long: the dead-letter stream, the name followed by %s, would be %d, over JetStream's %d; use at most %d",
			len(stream), DeadStreamSuffix, len(dead), maxStreamName, maxStreamName-len(DeadStreamSuffix))
	}
	return ""
}

// subjectPrefixProblem says what is wrong with SubjectPrefix, "" when
// nothing is. It is one or more subject tokens joined by single dots
// (imcallback, acme.im): no empty token (a leading, trailing or double
// '.'), no wildcard ('*', '>'), no whitespace or control character (NATS
// splits its protocol lines at them), and no first token that names one
// of NATS's own subject spaces ($JS, $SYS, $KV …, reservedSubjectTokens):
// the server refuses a stream that takes the JetStream or system API's,
// and the others belong to its key-value, object and MQTT streams. Any
// other '$' is NATS's to refuse or not, as before the check: a deployment
// whose prefix is $imcb keeps starting. The service adds
// .<SdkAppid>.<CallbackCommand>, _dead and _probe to it.
func subjectPrefixProblem(prefix string) string {
	const shape = "a subject prefix is one or more tokens joined by single dots, e.g. imcallback or acme.im"
	switch {
	case prefix == "":
		return "required: " + shape
	case !utf8.ValidString(prefix):
		return fmt.Sprintf("%q is not valid UTF-8", prefix)
	}
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" {
			return fmt.Sprintf("%q has an empty token (a leading, trailing or double '.'): %s", prefix, shape)
		}
	}
	for _, r := range prefix {
		switch {
		case r == '*' || r == '>':
			return fmt.Sprintf("%q holds the wildcard %q: the prefix must be a literal subject", prefix, r)
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return fmt.Sprintf("%q holds %q: a subject may not hold whitespace or control characters", prefix, r)
		}
	}
	first, _, _ := strings.Cut(prefix, ".")
	if slices.Contains(reservedSubjectTokens, first) {
		return fmt.Sprintf("%q starts with %s: NATS keeps those subjects for its own APIs ($JS, $SYS, $KV …)", prefix, first)
	}
	return ""
}

// reservedSubjectTokens are the first tokens of the subjects NATS keeps
// for itself: the JetStream API and its advisories ($JS, $JSC), the system
// account ($SYS), key-value and object stores ($KV, $O), JetStream's Raft
// groups ($NRG) and MQTT's streams ($MQTT).
var reservedSubjectTokens = []string{"$JS", "$JSC", "$SYS", "$KV", "$O", "$NRG", "$MQTT"}

// natsURLProblems says what is wrong with each entry of a NATSURL that is
// set: nats.go's Connect takes a comma-separated list of servers, and each
// must be a nats:// or tls:// URL with a host, or a host:port without a
// scheme, which nats.go reads as nats:// (tls:// with TLS on); another
// scheme nats.go would read its own way, or fail at the start. An empty
// entry (a trailing comma) is skipped, as nats.go skips it, unless every
// entry is empty. Entries are quoted redacted (Redact): a URL may hold a
// password or a token, and a URL that does not parse is not quoted by
// url.Parse's error, which would show them.
func natsURLProblems(value string) []string {
	list := strings.Split(value, ",")
	if strings.TrimSpace(strings.ReplaceAll(value, ",", "")) == "" {
		return []string{"names no server: give the servers' URLs separated by commas (e.g. nats://n1:4222,nats://n2:4222), " +
			"or leave the whole setting empty for the embedded server"}
	}
	var out []string
	for i, one := range list {
		where := ""
		if len(list) > 1 {
			where = fmt.Sprintf("entry %d of %d: ", i+1, len(list))
		}
		one = strings.TrimSpace(one) // as nats.go reads the list
		if one == "" {
			continue // nats.go skips it too: nats://n1:4222, (a trailing comma) connects to n1
		}
		if msg := natsURLProblem(one, cutCredential(one, list[i+1:])); msg != "" {
			out = append(out, where+msg)
		}
	}
	return out
}

// cutCredential reports whether the entry one of a NATSURL may be the
// start of a user, password or token that a ',' cut, as nats.go cuts the
// list at every comma (nats://u:pass,word@n1): it holds no '@', and a
// later entry without a scheme holds one, where the credential's rest and
// its '@' fell. Redact finds no credential in such an entry, so it is
// never quoted.
func cutCredential(one string, later []string) bool {
	if strings.Contains(one, "@") {
		return false
	}
	return slices.ContainsFunc(later, func(e string) bool { return !strings.Contains(e, "://") && strings.Contains(e, "@") })
}

// natsURLProblem says what is wrong with one trimmed entry of NATSURL, ""
// when nothing is. The entry is quoted redacted (Redact); with hidden
// (cutCredential) it is not quoted at all.
func natsURLProblem(one string, hidden bool) string {
	shown, why := strconv.Quote(Redact(one, true)), ""
	if hidden {
		shown, why = "it", " (not shown: a later entry holds a user, password or token, which a ',' in it would have cut here; "+
			"escape a ',' in them as %2C)"
	}
	if placeholderCredential(one, tokenSecret) {
		// What config check prints in place of a credential, copied back.
		return shown + " has a password or token that " + placeholderProblem(redacted) + why
	}
	parsed := one
	if !strings.Contains(one, "://") {
		// nats.go's parseServerURL: an entry without a scheme is host:port
		// of its connection's scheme (nats://n1:4222,n2:4222).
		parsed = "nats://" + one
	}
	u, err := url.Parse(parsed)
	if err != nil {
		msg := shown + " is not a URL, e.g. nats://n1:4222"
		if strings.Contains(one, "@") {
			msg += "; in a user, password or token escape '/', '?', '#', '@' and '%' (%2F, %3F, %23, %40, %25)"
		}
		return msg + why
	}
	if u.Scheme != "nats" && u.Scheme != "tls" {
		return shown + " must be a nats:// or tls:// URL, e.g. nats://n1:4222" + why
	}
	if u.Hostname() == "" {
		return shown + " has no host, e.g. nats://n1:4222" + why
	}
	// nats.go dials the host as written, and url.Parse reads the last
	// ':' of nats://::1:4222 as the port's: without brackets an IPv6
	// address is too many colons for the dialer, and the start fails.
	if !strings.HasPrefix(u.Host, "[") && strings.Count(u.Host, ":") > 1 {
		return shown + " has an IPv6 address without brackets, e.g. nats://[::1]:4222" + why
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			if hidden {
				return "it has a port not from 1 to 65535" + why
			}
			return fmt.Sprintf("%s: port %s is not from 1 to 65535", shown, p)
		}
	}
	return ""
}
