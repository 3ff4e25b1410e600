package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AppConfig is one IM app's own settings: an entry of the YAML `apps:`
// list, or IMCALLBACK_APP_<SDKAPPID>_<KEY> variables for an app listed in
// IMCALLBACK_SDKAPPID.
type AppConfig struct {
	// SdkAppID is the app's SDKAppID.
	SdkAppID string `koanf:"sdkappid" yaml:"sdkappid"`
	// Tokens verify this app's callbacks; several during rotation. Empty,
	// the global IMCALLBACK_TOKENS apply.
	Tokens []string `koanf:"tokens" yaml:"tokens" secret:"true"`
	// AllowCIDRs are added to the global IMCALLBACK_ALLOW_CIDRS for this app.
	AllowCIDRs []string `koanf:"allow_cidrs" yaml:"allow_cidrs"`
	// SecretKey is the app's key for Tencent's REST API; it enables the
	// REST client. Never logged or shown.
	SecretKey string `koanf:"secret_key" yaml:"secret_key" secret:"true"`
	// IPList restricts the app's sources to Tencent's published callback
	// addresses (GetIPList); it needs SecretKey.
	IPList bool `koanf:"iplist" yaml:"iplist"`
	// IPListNetTypes are the GetIPList nettypes fetched (default 5 and 6:
	// callback egress in and outside the Chinese mainland).
	IPListNetTypes []int `koanf:"iplist_nettypes" yaml:"iplist_nettypes"`
	// AdminIdentifier is the administrator account the REST client signs as.
	AdminIdentifier string `koanf:"admin_identifier" yaml:"admin_identifier"`
	// APIBase is the REST API's base URL of the app's region.
	APIBase string `koanf:"api_base" yaml:"api_base" secret:"true"`
}

// App defaults.
const (
	DefaultAdminIdentifier = "administrator"
	DefaultAPIBase         = "https://console.tim.qq.com"
)

// DefaultIPListNetTypes are the GetIPList nettypes of callback egress
// addresses, in and outside the Chinese mainland.
var DefaultIPListNetTypes = []int{5, 6}

// appEnvPrefix starts the per-app variables: IMCALLBACK_APP_<SDKAPPID>_<KEY>.
const appEnvPrefix = envPrefix + "APP_"

// cutAppEnv reads a per-app variable's name as Load reads it:
// IMCALLBACK_ as written, APP_ and the key in any case, as every other
// variable's name after IMCALLBACK_ (IMCALLBACK_app_1400000001_tokens is
// IMCALLBACK_APP_1400000001_TOKENS). It returns the name's id and its key
// in lower case; isApp is false for a name that does not start with
// IMCALLBACK_ and APP_, and cut false for one without a '_' after the id.
func cutAppEnv(name string) (id, key string, isApp, cut bool) {
	rest, ok := strings.CutPrefix(name, envPrefix)
	if !ok || len(rest) < len("APP_") || !strings.EqualFold(rest[:len("APP_")], "APP_") {
		return "", "", false, false
	}
	id, key, cut = strings.Cut(rest[len("APP_"):], "_")
	return id, strings.ToLower(key), true, cut
}

// appKeys maps the per-app keys to the kinds of their fields.
func appKeys() map[string]reflect.Kind {
	t := reflect.TypeFor[AppConfig]()
	keys := map[string]reflect.Kind{}
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" && tag != "sdkappid" {
			keys[tag] = t.Field(i).Type.Kind()
		}
	}
	return keys
}

// AppEnvName is the environment variable of an app's key, e.g.
// IMCALLBACK_APP_1400000000_TOKENS for ("1400000000", "tokens").
func AppEnvName(id, key string) string { return appEnvPrefix + id + "_" + strings.ToUpper(key) }

// applyAppEnv merges the apps of the YAML list with IMCALLBACK_SDKAPPID
// and the IMCALLBACK_APP_<SDKAPPID>_<KEY> variables: every listed app has
// an entry, every entry's app is accepted (the accepted apps are the
// union: IMCALLBACK_SDKAPPID does not replace the file's entries, and a
// warning names the entries' apps it does not list), and a variable
// overrides the file; one set empty or to whitespace alone counts as
// unset, as a core setting's does. It returns the problems of values that
// do not decode.
func (c *Config) applyAppEnv(vars []string) []error {
	c.noteUnlistedApps(vars)
	index := map[string]int{}
	for i, a := range c.Apps {
		index[a.SdkAppID] = i
		if a.SdkAppID != "" && !slices.Contains(c.SdkAppIDs, a.SdkAppID) {
			c.SdkAppIDs = append(c.SdkAppIDs, a.SdkAppID)
			c.idsFromApps++
		}
	}
	for _, id := range c.SdkAppIDs {
		if _, ok := index[id]; !ok {
			index[id] = len(c.Apps)
			c.Apps = append(c.Apps, AppConfig{SdkAppID: id})
			c.appsFromIDs++
		}
	}
	var errs []error
	keys := appKeys()
	// A variable's app and key, as the loop below reads them.
	appSetting := func(name string) (string, bool) {
		id, key, ok, cut := cutAppEnv(name)
		_, isKey := keys[key]
		_, listed := index[id]
		return "app_" + id + "_" + key, ok && cut && isKey && listed
	}
	twice := setTwice(vars, appSetting)
	for _, key := range slices.Sorted(maps.Keys(twice)) {
		errs = append(errs, &FieldError{Key: key, Msg: setTwiceMsg(twice[key])})
	}
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		id, key, isApp, ok := cutAppEnv(name)
		if !isApp {
			continue
		}
		i, listed := index[id]
		if _, isKey := keys[key]; ok && isKey && !listed && isNumber(id) {
			// A setting for an app that is not accepted: a mistyped id would
			// leave the intended app without its tokens or its allowlist, so
			// it is said at start (a leftover of a removed app is harmless).
			// An id that is no number is no app's: UnknownEnv says so.
			c.appEnvNotes = append(c.appEnvNotes, fmt.Sprintf("%s is ignored: app %s is not in IMCALLBACK_SDKAPPID (%s) "+
				"nor in apps; is the id mistyped?", name, id, strings.Join(c.SdkAppIDs, ", ")))
			continue
		}
		if !ok || !listed {
			continue // an unknown key: reported by UnknownEnv
		}
		if setting, _ := appSetting(name); twice[setting] != nil {
			continue // reported above
		}
		if blank(value) {
			// Unset, as a core setting's: an empty TOKENS would put the
			// app on the global tokens, or on none.
			c.emptyEnv = append(c.emptyEnv, emptyNote(name))
			continue
		}
		a := &c.Apps[i]
		value = strings.TrimSpace(value)
		var list []string
		if keys[key] == reflect.Slice {
			var err error
			if list, err = ParseList(value); err != nil {
				errs = append(errs, &FieldError{Key: "app_" + id + "_" + key, Msg: err.Error()})
				continue
			}
		}
		switch key {
		case "tokens":
			a.Tokens = list
		case "allow_cidrs":
			a.AllowCIDRs = list
		case "secret_key":
			a.SecretKey = value
		case "admin_identifier":
			a.AdminIdentifier = value
		case "api_base":
			a.APIBase = value
		case "iplist":
			b, err := strconv.ParseBool(value)
			if err != nil {
				errs = append(errs, &FieldError{Key: "app_" + id + "_iplist", Msg: fmt.Sprintf("%q is not true or false", value)})
				continue
			}
			a.IPList = b
		case "iplist_nettypes":
			a.IPListNetTypes = nil
			for _, s := range list {
				var n int
				if msg := setWholeNumber(reflect.ValueOf(&n).Elem(), s); msg != "" {
					errs = append(errs, &FieldError{Key: "app_" + id + "_iplist_nettypes", Msg: fmt.Sprintf("%q %s", s, msg)})
					continue
				}
				a.IPListNetTypes = append(a.IPListNetTypes, n)
			}
		}
	}
	for i := range c.Apps {
		a := &c.Apps[i]
		if a.AdminIdentifier == "" {
			a.AdminIdentifier = DefaultAdminIdentifier
		}
		if a.APIBase == "" {
			a.APIBase = DefaultAPIBase
		}
		if len(a.IPListNetTypes) == 0 {
			a.IPListNetTypes = slices.Clone(DefaultIPListNetTypes)
		}
	}
	return errs
}

// noteUnlistedApps adds to appEnvNotes, when IMCALLBACK_SDKAPPID is set
// in vars (it then replaces the file's sdkappid), the apps of the file's
// entries that it does not list: they are accepted all the same, since
// the accepted apps are the union, while an operator who set the variable
// to narrow them may think them refused.
func (c *Config) noteUnlistedApps(vars []string) {
	name, _, err := LookupEnv(vars, "sdkappid")
	if name == "" || err != nil {
		return // unset: the file's sdkappid, if any; set twice: refused
	}
	var extra []string
	for _, a := range c.Apps {
		if a.SdkAppID != "" && !slices.Contains(c.SdkAppIDs, a.SdkAppID) && !slices.Contains(extra, a.SdkAppID) {
			extra = append(extra, a.SdkAppID)
		}
	}
	if len(extra) == 0 {
		return
	}
	what, them := "app "+extra[0]+" is", "it"
	if len(extra) > 1 {
		what, them = "apps "+strings.Join(extra, ", ")+" are", "them"
	}
	c.appEnvNotes = append(c.appEnvNotes, fmt.Sprintf("%s accepted though %s (%s) does not list %s: "+
		"the accepted apps are those of %s and of the file's apps entries together; "+
		"to stop accepting an app, remove its apps entry", what, name, strings.Join(c.SdkAppIDs, ", "), them, name))
}

// listedIDs is how many of SdkAppIDs, from its start, its setting lists:
// Load adds the ids of the file's apps entries after them.
func (c *Config) listedIDs() int { return max(len(c.SdkAppIDs)-c.idsFromApps, 0) }

// validateApps checks every app entry. A problem of an entry's sdkappid
// is said under the entry's key in the file (apps[1].sdkappid); the
// entries Load added for the ids of IMCALLBACK_SDKAPPID have theirs said
// under that setting.
func (c *Config) validateApps(bad func(key, format string, args ...any)) {
	seen := map[string]bool{}
	for i, a := range c.Apps {
		key := func(k string) string { return "app_" + a.SdkAppID + "_" + k }
		entry := fmt.Sprintf("apps[%d]", i)
		fromIDs := i >= len(c.Apps)-c.appsFromIDs
		switch {
		case a.SdkAppID == "":
			bad("apps", "%s: an entry has no sdkappid", entry)
			continue
		case strings.TrimSpace(a.SdkAppID) != a.SdkAppID:
			continue // said by checkSpaced
		case !isNumber(a.SdkAppID):
			if !fromIDs {
				bad("apps", "%s.sdkappid: %s", entry, notDecimalID(a.SdkAppID))
			}
			continue
		case leadingZero(a.SdkAppID) != "":
			if !fromIDs {
				bad("apps", "%s.sdkappid: %q %s", entry, a.SdkAppID, leadingZero(a.SdkAppID))
			}
			continue
		case !fitsUint64(a.SdkAppID):
			// As IMCALLBACK_SDKAPPID's: the app's REST client would
			// refuse it at start, naming no setting.
			if !fromIDs {
				bad("apps", "%s.sdkappid: %q is not a decimal SDKAppID", entry, a.SdkAppID)
			}
			continue
		case seen[a.SdkAppID]:
			bad("apps", "%s.sdkappid: %s is listed twice", entry, a.SdkAppID)
		}
		seen[a.SdkAppID] = true
		if _, err := ParsePrefixes(a.AllowCIDRs); err != nil {
			bad(key("allow_cidrs"), "%v", err)
		}
		checkTokens(key("tokens"), a.Tokens, bad)
		if msg := placeholderProblem(a.SecretKey); msg != "" {
			bad(key("secret_key"), "%s", msg)
		} else if a.IPList && a.SecretKey == "" {
			bad(key("secret_key"), "is required by %s=true: the service fetches Tencent's list with the app's REST API key", AppEnvName(a.SdkAppID, "iplist"))
		} else if a.SecretKey != "" && a.SdkAppID == "0" {
			// The REST client (imrest.New) refuses it when it is built at start.
			bad(key("secret_key"), "app 0 can have no REST API key: Tencent's SDKAppIDs are positive, and the REST client is refused for 0")
		}
		shown := redactAPIBase(a.APIBase)
		switch u, err := url.Parse(a.APIBase); {
		case strings.ContainsFunc(a.APIBase, spaceOrControl):
			// url.Parse takes a space in the path; the REST client would
			// send a request line Tencent does not answer.
			bad(key("api_base"), "%q must have no whitespace or control characters (a space in a path is written %%20), e.g. %s",
				shown, DefaultAPIBase)
		case err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))):
			bad(key("api_base"), "%q must be an https:// URL (http:// only on loopback), e.g. %s", shown, DefaultAPIBase)
		case u.User != nil || strings.ContainsAny(a.APIBase, "?#"):
			// The REST client refuses them when it is built at start
			// (imrest.Config.BaseURL): it adds the query it signs.
			bad(key("api_base"), "%q must have no user, password, query or fragment: the API path and its signed query are added to it, e.g. %s",
				shown, DefaultAPIBase)
		case slices.Contains(strings.Split(u.Path, "/"), "v4"):
			// The REST client calls api_base + "/v4/…": a base copied
			// from Tencent's documentation with its /v4 (or a whole API
			// URL) called /v4/v4/…, a path Tencent does not serve.
			bad(key("api_base"), "%q holds the API's path (/v4), which the REST client adds itself (v4/openim/sendmsg …): "+
				"give the endpoint alone, e.g. %s", shown, DefaultAPIBase)
		}
		if !utf8.ValidString(a.AdminIdentifier) {
			// The REST client refuses it when it is built at start: no
			// UserSig signed for it verifies.
			bad(key("admin_identifier"), "%q must be UTF-8 text: it is the account ID (UserID) of the app administrator the REST API is called as, e.g. %s",
				a.AdminIdentifier, DefaultAdminIdentifier)
		} else if strings.ContainsFunc(a.AdminIdentifier, spaceOrControl) {
			// It is signed into the UserSig and sent in every request's
			// query: such an identifier is no account Tencent has.
			bad(key("admin_identifier"), "%q must have no whitespace or control characters: it is the account ID (UserID) "+
				"of the app administrator the REST API is called as, e.g. %s", a.AdminIdentifier, DefaultAdminIdentifier)
		}
		for _, n := range a.IPListNetTypes {
			if err := CheckIPListNetType(n); err != nil {
				bad(key("iplist_nettypes"), "%v", err)
			}
		}
	}
	if err := CheckIPListRefresh(c.IPListRefresh); err != nil {
		bad("iplist_refresh", "%v", err)
	}
}

// MinIPListRefresh is the shortest IMCALLBACK_IPLIST_REFRESH: a minute.
// Every refresh is one GetIPList call per nettype of every iplist app,
// and Tencent changes the list far less often.
const MinIPListRefresh = time.Minute

// MaxIPListRefresh is the longest IMCALLBACK_IPLIST_REFRESH: a week. The
// wait between fetches is spread by ±10 %, and a list fetched less often
// than weekly is no longer the list IM calls from.
const MaxIPListRefresh = 7 * 24 * time.Hour

// CheckIPListRefresh is the rule of IMCALLBACK_IPLIST_REFRESH, for a
// library user's allowlist.Options.Refresh too: from MinIPListRefresh to
// MaxIPListRefresh.
func CheckIPListRefresh(d time.Duration) error {
	if d < MinIPListRefresh || d > MaxIPListRefresh {
		return fmt.Errorf("%v must be from 1m to %v", d, MaxIPListRefresh)
	}
	return nil
}

// CheckIPListNetType is the rule of one of an app's iplist_nettypes, for
// a library user's allowlist.App.NetTypes too: a positive GetIPList
// nettype. Nettype 0 is every server address of IM (its SDK access points
// too), not the addresses callbacks come from.
func CheckIPListNetType(n int) error {
	if n < 1 {
		return fmt.Errorf("%d must be a positive nettype, e.g. 5 or 6", n)
	}
	return nil
}

// redactAPIBase is an api_base as a message quotes it: its whole user
// info redacted, since no user belongs there and one may be a key
// (https://KEY:@host, its password empty), and so are its query and its
// fragment, where a REST URL copied whole carries its UserSig, a
// credential (?sdkappid=…&usersig=…), as imrest's own message hides them.
// The user info is redacted first, so that a '?' or '#' in a password
// does not cut it short; it is one URL, not NATS's list, so a ',' in a
// password cuts it short neither.
func redactAPIBase(raw string) string {
	return RedactQuery(RedactUserinfo(raw))
}

// checkTokens reports under key each token that is empty (it would accept
// a signature anyone can compute), over 128 bytes (UTF-8: a character
// outside ASCII counts two to four), with control characters in it
// (controlChar) or invisible ones (formatChar), with a comma, or with
// whitespace inside it: "old new" is two tokens written as one, the
// variable's comma or the file's list forgotten, and would never match the
// one IM signs with. Whitespace around one is refused as around every value
// of the file (checkSpaced), and said there alone. The token itself is
// never shown.
func checkTokens(key string, tokens []string, bad func(key, format string, args ...any)) {
	for i, t := range tokens {
		if t == "" || len(t) > 128 {
			bad(key, "token #%d must be 1 to 128 bytes", i+1)
		} else if msg := placeholderProblem(t); msg != "" {
			bad(key, "token #%d %s", i+1, msg)
		} else if msg := controlChar(t); msg != "" {
			bad(key, "token #%d %s", i+1, msg)
		} else if msg := formatChar(t); msg != "" {
			bad(key, "token #%d %s", i+1, msg)
		} else if strings.Contains(t, ",") {
			// The variable splits at commas, so no token has one: in the
			// file it is a list written as one string.
			bad(key, "token #%d contains a comma: list several tokens as a YAML list ([a, b]), not as one string", i+1)
		} else if strings.ContainsFunc(t, unicode.IsSpace) {
			bad(key, "token #%d has whitespace inside it: separate several tokens with commas in the variable, "+
				"or write them as a YAML list ([a, b]) in the file", i+1)
		}
	}
}

// spaceOrControl reports whether r is whitespace (a no-break space too)
// or a control character.
func spaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// controlChar says what is wrong with a secret that has a control
// character in it (a tab, a line break of a block scalar), "" when nothing
// is: such a token would never match the one IM signs with, and an admin
// token could not be sent in a header. The value itself is never shown.
func controlChar(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return "contains a control character (a tab or a line break)"
	}
	return ""
}

// formatChar says what is wrong with a callback token that has an
// invisible formatting character in it (Unicode's Cf: the byte-order mark
// a file saved by an editor begins with, a zero-width space or a direction
// mark pasted along), "" when nothing is: the token IM signs with has
// none, so every callback would be refused as badly signed with nothing to
// show why. The value itself is never shown; the character's code point is.
func formatChar(s string) string {
	if i := strings.IndexFunc(s, isFormat); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Sprintf("contains an invisible character, U+%04X (a byte-order mark, a zero-width or a direction mark, "+
			"pasted along or saved by an editor): the token IM signs with has none", r)
	}
	return ""
}

// isFormat reports whether r is an invisible formatting character
// (Unicode's category Cf).
func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }

// notDecimalID says why id, which does not fit a uint64, is no SDKAppID.
// Digits alone are quoted: a number too large. A value with anything else
// is not shown, only where its first other character is: an SDKAppID
// variable or entry holding a token or a key (two values swapped) would
// otherwise put the secret in the error and the log of a start.
func notDecimalID(id string) string {
	if isNumber(id) {
		return fmt.Sprintf("%q is not a decimal SDKAppID: it is past %d", id, uint64(math.MaxUint64))
	}
	at := strings.IndexFunc(id, func(r rune) bool { return r < '0' || r > '9' })
	return fmt.Sprintf("is not a decimal SDKAppID: character %d of %d is no digit "+
		"(the value is not shown: it may be a secret set in the wrong variable)", utf8.RuneCountInString(id[:at])+1, utf8.RuneCountInString(id))
}

// leadingZero says what is wrong with a decimal SDKAppID written with a
// leading zero, "" when it has none. IM sends the SdkAppid without one and
// apps are matched as text, so such an app would refuse every callback as
// a foreign app.
func leadingZero(id string) string {
	trimmed := strings.TrimLeft(id, "0")
	if trimmed == id || id == "0" {
		return ""
	}
	if trimmed == "" {
		trimmed = "0"
	}
	return "has a leading zero, which IM never sends: write " + trimmed
}

// IsSdkAppID reports whether s is written as IM writes an SdkAppid, and as
// the configuration takes one: decimal digits without a leading zero, at
// most 2^64-1.
func IsSdkAppID(s string) bool { return isNumber(s) && leadingZero(s) == "" && fitsUint64(s) }

// fitsUint64 reports whether the decimal s is at most the largest
// SDKAppID, 2^64-1.
func fitsUint64(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// isNumber reports whether s is a non-empty string of decimal digits.
func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// App returns the settings of app id, its tokens resolved: its own, else
// the global ones. ok is false for an app that is not accepted.
func (c *Config) App(id string) (app AppConfig, ok bool) {
	for _, a := range c.Apps {
		if a.SdkAppID == id {
			if len(a.Tokens) == 0 {
				a.Tokens = c.Tokens
			}
			return a, true
		}
	}
	return AppConfig{}, false
}

// SigningToken is the token a sender signs app id's callbacks with so
// that the service accepts them: the first of the app's own tokens, else
// the first global one; "" when there is none. An id the service does not
// accept is signed with the first global token too, so that the service
// refuses it for its app (40301), not for a missing signature.
func (c *Config) SigningToken(id string) string {
	if app, ok := c.App(id); ok && len(app.Tokens) > 0 {
		return app.Tokens[0]
	}
	if len(c.Tokens) > 0 {
		return c.Tokens[0]
	}
	return ""
}

// AppsSharingGlobalTokens lists the apps verified with the global
// IMCALLBACK_TOKENS because they have none of their own.
func (c *Config) AppsSharingGlobalTokens() []string {
	var ids []string
	for _, a := range c.Apps {
		if len(a.Tokens) == 0 && len(c.Tokens) > 0 {
			ids = append(ids, a.SdkAppID)
		}
	}
	return ids
}

// loopback reports whether host names this machine: a loopback address,
// or localhost in any case, as the resolver reads a name.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// loopbackListen reports whether a listen address binds loopback only
// (127.0.0.1:9090, [::1]:9090, localhost:9090); ":9090" binds every address.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host != "" && loopback(host)
}
