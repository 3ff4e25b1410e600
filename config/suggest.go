package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// testEnvPrefix starts the variables that tests and CI read (e.g.
// IMCALLBACK_TEST_POSTGRES_DSN); they are not settings and not typos.
const testEnvPrefix = envPrefix + "TEST_"

// clientEnv are the IMCALLBACK_* variables that the command-line tools
// (package cli) read as clients of a running service, not settings of the
// service: IMCALLBACK_ADMIN_URL, the admin API when --admin is not given.
// They sit in the same environment as the settings (a shell profile, an
// env file), so UnknownEnv does not report them, and it offers them as the
// closest name of a misspelling (IMCALLBACK_ADMIN_URI: did you mean
// IMCALLBACK_ADMIN_URL?). They are matched exactly, as os.Getenv reads
// them (the tools refuse IMCALLBACK_ADMIN_URL in another case set alone,
// as they print no notes). cli's TestClientVariablesAreNotNoted checks
// that every IMCALLBACK_* variable the tools read is a setting or listed
// here.
var clientEnv = []string{envPrefix + "ADMIN_URL"}

// othersEnv reports whether name is an IMCALLBACK_* variable that is no
// setting, and that UnknownEnv leaves out all the same because others read
// it from the same environment: the tests' and CI's IMCALLBACK_TEST_*, and
// the command-line tools' own (IMCALLBACK_ADMIN_URL).
func othersEnv(name string) bool {
	return strings.HasPrefix(strings.ToUpper(name), testEnvPrefix) || slices.Contains(clientEnv, name)
}

// UnknownEnv returns a warning for each IMCALLBACK_* variable in environ
// (NAME=value entries, as os.Environ returns them) that is not a setting,
// sorted by name, with the closest real name when one is close:
//
//	IMCALLBACK_TOKEN is not a setting; did you mean IMCALLBACK_TOKENS?
//
// Such a variable is ignored, so it is no error: the service still starts.
// IMCALLBACK_TEST_* variables (tests and CI) and the command-line tools'
// own variables (clientEnv, e.g. IMCALLBACK_ADMIN_URL) are not reported.
// Load keeps the warnings for its environment in Config.Notes.
func UnknownEnv(environ []string, sections ...SectionInfo) []string {
	return unknownEnv(environ, false, sections)
}

// UnknownServiceEnv is UnknownEnv for an environment made for the service
// alone (imtest.Start's): an IMCALLBACK_TEST_* or command-line variable no
// section declares is reported too, as there it can only be a mistake (a
// test's IMCALLBACK_TEST_POSTGRES_DSN passed on, for a store the service
// would not use).
func UnknownServiceEnv(environ []string, sections ...SectionInfo) []string {
	return unknownEnv(environ, true, sections)
}

// unknownEnv is UnknownEnv, or UnknownServiceEnv with serviceOnly.
func unknownEnv(environ []string, serviceOnly bool, sections []SectionInfo) []string {
	known := knownKeys()
	for _, sec := range sections {
		for _, f := range sec.Fields {
			known[sec.Key+"_"+f] = reflect.String
		}
	}
	// Suggestions may name a client variable too; only the settings are
	// known to Load, so they are added to the candidates alone.
	candidates := maps.Clone(known)
	for _, name := range clientEnv {
		candidates[strings.ToLower(strings.TrimPrefix(name, envPrefix))] = reflect.String
	}
	names := slices.Sorted(maps.Keys(candidates))
	seen := map[string]bool{}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		others := othersEnv(name)
		if !strings.HasPrefix(name, envPrefix) || others && !serviceOnly || seen[name] {
			continue
		}
		seen[name] = true
		key := strings.ToLower(strings.TrimPrefix(name, envPrefix))
		if _, ok := known[key]; ok {
			continue
		}
		if others {
			out = append(out, name+" is not a setting: the service never reads it "+
				"(IMCALLBACK_TEST_* are the tests' own variables, IMCALLBACK_ADMIN_URL the command line's)")
			continue
		}
		if key == "config" || key == "config_file" {
			// Every setting has its variable, but the file itself is named
			// on the command line only.
			out = append(out, fmt.Sprintf("%s is not a setting; a configuration file is given with --config", name))
			continue
		}
		if id, field, isApp, ok := cutAppEnv(name); isApp {
			if ok && isNumber(id) {
				fields := slices.Sorted(maps.Keys(appKeys()))
				switch s := closest(field, fields); {
				case slices.Contains(fields, field):
				case s != "":
					out = append(out, fmt.Sprintf("%s is not a setting; did you mean %s?", name, AppEnvName(id, s)))
				default:
					out = append(out, fmt.Sprintf("%s is not a setting", name))
				}
				continue
			}
		}
		if s := appShaped(name, known); s != "" {
			out = append(out, fmt.Sprintf("%s is not a setting; did you mean %s?", name, s))
			continue
		}
		if s := closest(key, names); s != "" {
			if instead, fileOnly := fileOnlyKeys[s]; fileOnly {
				// Its own variable is refused (fileOnlyEnv): name the ones
				// that set it instead.
				out = append(out, fmt.Sprintf("%s is not a setting; did you mean %s? (%s is read from the configuration file only)", name, instead, s))
			} else {
				out = append(out, fmt.Sprintf("%s is not a setting; did you mean %s?", name, EnvName(s)))
			}
		} else {
			out = append(out, fmt.Sprintf("%s is not a setting", name))
		}
	}
	slices.Sort(out)
	return out
}

// appShaped returns the per-app variable that name most likely meant, ""
// when it looks like none: a name made of an app's key and a decimal id in
// another order or with another word (IMCALLBACK_APPS_1400000000_TOKENS,
// IMCALLBACK_1400000000_TOKENS, IMCALLBACK_APP_TOKENS_1400000000) is that
// app's variable; a per-app name without the id (IMCALLBACK_APP_TOKENS,
// IMCALLBACK_APP__TOKENS, IMCALLBACK_APP_x_TOKENS) is the variable with
// <SDKAPPID> in its place, and the setting for every app when there is one.
// Only an exact app key counts, so no other setting is taken for one.
func appShaped(name string, known map[string]reflect.Kind) string {
	appKey := func(key string) bool { _, ok := appKeys()[key]; return ok }
	var id string
	var words []string
	for _, w := range strings.Split(strings.TrimPrefix(strings.ToUpper(name), envPrefix), "_") {
		switch {
		case w == "":
		case isNumber(w) && id == "":
			id = w
		default:
			words = append(words, strings.ToLower(w))
		}
	}
	if id != "" {
		if len(words) > 0 && (words[0] == "app" || words[0] == "apps") {
			words = words[1:]
		}
		if key := strings.Join(words, "_"); appKey(key) {
			return AppEnvName(id, key)
		}
		return ""
	}
	if len(words) < 2 || words[0] != "app" && words[0] != "apps" {
		return ""
	}
	// The key may follow a word in the id's place (APP_x_TOKENS).
	for _, rest := range [][]string{words[1:], words[2:]} {
		key := strings.Join(rest, "_")
		if !appKey(key) {
			continue
		}
		s := AppEnvName("<SDKAPPID>", key) + ", with the app's decimal SDKAppID in place of <SDKAPPID>"
		if _, global := known[key]; global {
			s += ", or " + EnvName(key) + " for every app"
		}
		return s
	}
	return ""
}

// closest returns the candidate nearest to word by edit distance, ignoring
// case and taking '-', '.' and ' ' as '_', or "" when none is within
// max(2, len(word)/3) edits. Ties go to the first candidate.
func closest(word string, candidates []string) string {
	word = strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(strings.ToLower(word))
	limit := max(2, len(word)/3)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the number of single-byte insertions, deletions,
// substitutions and swaps of neighbours that turn a into b (optimal string
// alignment distance).
func editDistance(a, b string) int {
	// prev2, prev and cur are rows i-2, i-1 and i of the distance matrix.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
