package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

const envPrefix = "IMCALLBACK_"

// Source says where Load reads from. The zero value reads the environment only.
type Source struct {
	// File is an optional YAML file read before the environment.
	File string
	// Environ replaces os.Environ, for tests.
	Environ func() []string
	// Dev fills in a development SdkAppid (DevSdkAppID) when no app is
	// configured (no sdkappid, no apps entry), so `make run` starts without setup.
	Dev bool

	// read is File as Read read it, nil before: the loads of this Source
	// read it instead of the file.
	read *readFileResult
}

// readFileResult is what reading a configuration file gave: its path,
// and its bytes or the error.
type readFileResult struct {
	path string
	data []byte
	err  error
}

// Read returns s with its File read now: every load of the returned
// Source (Load, LoadWith, a Section's, config.Module's) reads the bytes
// read here instead of the file, or fails with the error reading it gave,
// as it would reading the file itself. A command that loads the
// configuration more than once (serve checks it, then the service loads
// it) must read it so: a file that can be read once only (a pipe, as a
// shell's --config <(envsubst < c.yaml) or /dev/stdin gives) is empty the
// second time, and one edited meanwhile differs, so the service would run
// on other settings than those checked, without the file's tokens and
// allowlist. Without a File, or with its File read already, s is
// returned as it is.
func (s Source) Read() Source {
	if s.File == "" || s.hasRead() {
		return s
	}
	data, err := os.ReadFile(s.File)
	s.read = &readFileResult{path: s.File, data: data, err: err}
	return s
}

// FileString is the string the file gives key (a setting's key, as the
// file writes it: "admin_listen"), trimmed, read without the rest of the
// configuration, from the bytes Read read when it did: "" when the file
// does not set key to a string, does not read, or there is none. A client
// that needs one setting of a configuration refused for another (health's
// admin listener) reads it so.
func (s Source) FileString(key string) string {
	if s.File == "" {
		return ""
	}
	f, _, err := readFile(s, nil)
	if err != nil {
		return ""
	}
	v, _ := f.Get(key).(string)
	return strings.TrimSpace(v)
}

// hasRead reports whether s holds a read of its File (Read), which its
// loads use instead of the file.
func (s Source) hasRead() bool { return s.read != nil && s.read.path == s.File }

// DevSdkAppID is the SdkAppid accepted in development mode when none is set.
const DevSdkAppID = "1400000000"

// Load builds the configuration from defaults, then Source.File, then the
// environment, and validates it. A file that cannot be read or parsed fails
// at once; otherwise every problem is reported together in one error, one
// line each: keys in the file that no setting reads (*UnknownKeyError),
// values that do not decode and values that do not validate (*FieldError).
// IMCALLBACK_* variables that are not settings are no error: Notes
// returns them, and the error of a configuration that does not load
// names them after its problems, one "note: " line each (EnvWarnings),
// since a misspelt variable is then often the cause. A setting's variable set empty or to whitespace alone
// counts as unset, so the file's value or the default stays (EmptyEnv
// notes it).
func Load(src Source) (*Config, error) { return LoadWith(src) }

// LoadWith is Load for an app whose modules declared configuration
// sections (Section): their keys in the file and their variables are theirs,
// not unknown ones. The sections themselves are read by Section. Two
// sections of one key are an error.
func LoadWith(src Source, sections ...SectionInfo) (*Config, error) {
	declared := make(map[string]bool, len(sections))
	for _, s := range sections {
		if declared[s.Key] {
			// Both would read the same YAML key and variables, each
			// seeing the other's fields as its own or as unknown.
			return nil, fmt.Errorf("config: section %q is declared twice (config.Section in two modules, or one module wired twice): give each its own key", s.Key)
		}
		declared[s.Key] = true
	}
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Default(), "koanf"), nil); err != nil {
		return nil, fmt.Errorf("config: defaults: %w", err)
	}
	var problems []error
	var retyped []retyped
	if src.File != "" {
		f, data, err := readFile(src, sections)
		if err != nil {
			return nil, err
		}
		problems = append(problems, unknownKeys(f, src.File, sections)...)
		problems = append(problems, unknownEntryKeys(f.Get("apps"), src.File, "apps", appEntryKeys())...)
		problems = append(problems, unknownEntryKeys(f.Get("forward"), src.File, "forward", forwardKeys())...)
		if err := k.Merge(f); err != nil {
			return nil, fmt.Errorf("config: %s: %w", src.File, err)
		}
		retyped = retypedValues(data)
		if documents(data) > 1 {
			problems = append(problems, fmt.Errorf("%s holds more than one YAML document (separated by ---): only the first is read; put every setting in one", src.File))
		}
	}
	known := knownKeys()
	for key := range fileOnlyKeys {
		delete(known, key) // fileOnlyEnv refuses their variables
	}
	environ := src.Environ
	if environ == nil {
		environ = os.Environ
	}
	vars := environ()
	read, err := loadEnv(k, envPrefix, "", known, vars)
	if err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	for _, fe := range read.problems {
		problems = append(problems, fe)
	}
	problems = append(problems, fileOnlyEnv(vars)...)
	// The development app stands in for a configuration without apps only:
	// beside the apps of a file it would be one more, accepted unsigned.
	if src.Dev && len(k.Strings("sdkappid")) == 0 && !hasEntries(k.Get("apps")) {
		if err := k.Set("sdkappid", []string{DevSdkAppID}); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	var c Config
	c.emptyEnv = append(append(read.empty, emptyFileOnlyEnv(vars)...), emptySectionEnv(vars, sections)...)
	decodeErrs, failed := c.decode(k)
	for _, fe := range read.problems {
		// The file's value or the default stayed: what validation says
		// about it is noise beside the variable's own problem.
		failed[fe.Key] = true
	}
	problems = append(problems, decodeErrs...)
	// A number or a boolean where the file means text (tokens: [0123])
	// would be used as other text: what validation says about it is noise.
	retypedErrs, retypedKeys := c.retypedProblems(retyped, vars)
	problems = append(problems, retypedErrs...)
	for _, key := range retypedKeys {
		failed[key] = true
	}
	problems = append(problems, c.applyAppEnv(vars)...)
	c.markWrittenTimeouts(k.Get("forward"))
	problems = append(problems, c.applyForwardEnv()...)
	for _, err := range c.problems() {
		// A value that did not decode was replaced by its default: what
		// validation says about that key is noise.
		if fe, ok := err.(*FieldError); !ok || !failed[fe.Key] {
			problems = append(problems, err)
		}
	}
	c.unknownEnv = UnknownEnv(vars, sections...)
	if len(problems) > 0 {
		// The variables Load ignored are often the cause (a misspelt
		// IMCALLBACK_SDKAPPID leaves it required): said after the
		// problems, as config check notes them, since Notes is never
		// reached.
		for _, w := range c.EnvWarnings() {
			problems = append(problems, errors.New("note: "+w))
		}
		return nil, invalidError{errors.Join(problems...)}
	}
	return &c, nil
}

// invalidError is LoadWith's error when it read the settings and some are
// wrong, as against one that kept it from reading them (the file
// unreadable, not YAML).
type invalidError struct{ problems error }

func (e invalidError) Error() string { return "config: invalid:\n" + e.problems.Error() }

func (e invalidError) Unwrap() error { return e.problems }

// LoadAll loads the core settings as LoadWith does, and each of sections
// as its module's constructor would, as `serve` does before it builds the
// service: every problem is in the one error, so a section is validated
// even when no constructor takes its struct. It renders each valid section
// as YAML under its key (fields tagged secret:"true" redacted), for
// `config check`. A file that cannot be read is said once, not once more
// for every section.
func LoadAll(src Source, sections ...SectionInfo) (*Config, []string, error) {
	cfg, err := LoadWith(src, sections...)
	if err != nil && !errors.As(err, new(invalidError)) {
		return nil, nil, err
	}
	problems := []error{err}
	var rendered []string
	for _, info := range sections {
		yaml, err := info.Load(src)
		if err != nil {
			problems = append(problems, invalidError{err})
			continue
		}
		rendered = append(rendered, yaml)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, rendered, err
	}
	return cfg, rendered, nil
}

// hasEntries reports whether raw, the file's value of a list of entries
// (apps), holds one: a list of any, or one entry written without its dash
// (a mapping with keys), which decodes as that entry.
func hasEntries(raw any) bool {
	switch v := raw.(type) {
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return false
}

// SplitList reads a comma-separated list leniently: items trimmed, blanks
// dropped.
//
// Deprecated: the service reads its list settings with ParseList, which
// refuses an empty item; use it to read a list as the service does.
func SplitList(v string) []string {
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ParseList reads a comma-separated list as the service reads its list
// settings (IMCALLBACK_TOKENS=a,b): items trimmed, and a value that is
// empty or whitespace alone is no items. An empty item, of a doubled,
// leading or trailing comma (a,,b or a,b,) or of spaces alone, is an
// error naming its position and never the items, which may be secrets: it
// is what a template leaves of an unset variable (a,${B},c), so a token
// or an address is missing, and dropping it would hide that.
func ParseList(v string) ([]string, error) {
	out := []string{}
	if blank(v) {
		return out, nil
	}
	items := strings.Split(v, ",")
	var empty []string
	for i, s := range items {
		if s = strings.TrimSpace(s); s == "" {
			empty = append(empty, strconv.Itoa(i+1))
			continue
		}
		out = append(out, s)
	}
	switch {
	case len(empty) == 1:
		return nil, fmt.Errorf("item %s of %d is empty (a doubled, leading or trailing comma; "+
			"a template's unset variable leaves one): separate the items with single commas", empty[0], len(items))
	case len(empty) > 1:
		return nil, fmt.Errorf("items %s of %d are empty (doubled, leading or trailing commas; "+
			"a template's unset variable leaves one): separate the items with single commas", strings.Join(empty, ", "), len(items))
	}
	return out, nil
}

// blank reports whether a variable's value counts as unset: empty or
// whitespace alone.
func blank(value string) bool { return strings.TrimSpace(value) == "" }

// emptyNote is the note about a setting's variable that is set but blank.
func emptyNote(name string) string {
	return name + " is set but empty, so it counts as unset: the file's value or the default applies"
}

// knownKeys maps each configuration key to the kind of its field.
func knownKeys() map[string]reflect.Kind {
	t := reflect.TypeFor[Config]()
	keys := make(map[string]reflect.Kind, t.NumField())
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" && tag != "-" {
			keys[tag] = t.Field(i).Type.Kind()
		}
	}
	return keys
}

// UnknownKeyError is a key in a configuration file that no setting reads:
// a typo would otherwise be silently ignored.
type UnknownKeyError struct {
	// File is the configuration file.
	File string
	// Key is the key as the file spells it; a nested one is dotted
	// (nats.url). A key without a value that may be a secret (withheld) is
	// not given: Key is where it is, the entry (forward[0]) or the section
	// (words), "" at the top of the file.
	Key string
	// Suggestion is the closest real key, "" when none is close.
	Suggestion string
	// withheld says the key itself is not shown (withheldKey).
	withheld bool
}

// Error names the file and the key, and the closest real key if any:
// c.yaml: unknown key lisen; did you mean listen? A withheld key is
// named by where it is.
func (e *UnknownKeyError) Error() string {
	if e.withheld {
		where := e.Key
		if where == "" {
			where = "the file"
		}
		return fmt.Sprintf("%s: %s holds a key without a value that no setting reads; it is not shown, as it may be "+
			"a secret written without its key, or without the ':' after its key (in braces: {…, secret_key s3cret}): "+
			"write the key, a ':' and the value", e.File, where)
	}
	if e.Suggestion == "" {
		return fmt.Sprintf("%s: unknown key %s", e.File, e.Key)
	}
	return fmt.Sprintf("%s: unknown key %s; did you mean %s?", e.File, e.Key, e.Suggestion)
}

// unknownKeys returns an *UnknownKeyError for each key in a file, f, that
// no field reads, sorted.
func unknownKeys(f *koanf.Koanf, file string, sections []SectionInfo) []error {
	known := knownKeys()
	names := slices.Sorted(maps.Keys(known))
	var unknown []string
	for _, k := range f.Keys() {
		top, _, _ := strings.Cut(k, ".")
		if _, isSetting := known[top]; isSetting && top != k && secret(top) {
			// A secret written as a map (tokens: {tok1, tok2}) makes the
			// secrets keys: the decode error says the value is a map,
			// without them.
			continue
		}
		if _, isSetting := known[top]; isSetting && top != k && fileOnlyKeys[top] == "" {
			// A setting written as a mapping (listen: {a: 1}): the
			// decode error says the value is a map, where an unknown
			// key listen.a would suggest the very key the file wrote.
			continue
		}
		if _, ok := known[k]; !ok && !slices.ContainsFunc(sections, func(s SectionInfo) bool { return s.Key == top }) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	errs := make([]error, 0, len(unknown))
	for _, k := range unknown {
		errs = append(errs, newUnknownKey(file, "", k, f.Get(k), closest(k, names)))
	}
	return errs
}

// newUnknownKey is the *UnknownKeyError of the key k, whose value is v,
// found in where (an entry, forward[0], or a section, words; "" at the
// top of the file): where and k are joined by a dot in its Key, and the
// suggestion (a real key near k) is given as the file would spell it.
// A key withheldKey says is not shown is named by where alone.
func newUnknownKey(file, where, k string, v any, suggestion string) *UnknownKeyError {
	if withheldKey(k, v, suggestion) {
		return &UnknownKeyError{File: file, Key: where, withheld: true}
	}
	if where != "" {
		k = where + "." + k
		if suggestion != "" {
			suggestion = where + "." + suggestion
		}
	}
	return &UnknownKeyError{File: file, Key: k, Suggestion: suggestion}
}

// withheldKey reports whether an unknown key of the file, k, whose value
// is v, is not shown: a key without a value (null) that holds whitespace,
// or that is no near miss of a real key (suggestion ""). In braces, a
// secret written without its key ({url: …, whsec_…}) reads as such a key,
// and so does one written after its key without the ':' ({…, secret_key
// s3cret}), which is near its key but holds a space; a misspelt key left
// empty (lisen:) is named, with its suggestion.
func withheldKey(k string, v any, suggestion string) bool {
	return v == nil && (suggestion == "" || strings.ContainsFunc(k, unicode.IsSpace))
}

// envRead is what loadEnv says about the variables it read.
type envRead struct {
	// empty are the notes about settings' variables set empty or to
	// whitespace alone, which count as unset and were not loaded.
	empty []string
	// problems are the list values with an empty item (ParseList), which
	// were not loaded either.
	problems []*FieldError
}

// loadEnv loads the variables of vars that start with prefix (after
// IMCALLBACK_ in any case, envKey) and name a key of known (the rest of
// the name, lower case) into k, trimmed, the
// values of list keys split at commas (ParseList). A variable that is empty or
// whitespace alone counts as unset: the file's value or the default
// stays, as when the variable is absent. A templated env file and
// compose's ${VAR} of an unset VAR write such a variable, and taking it as
// a value would silently remove the file's tokens or allowlist. Problems
// are reported under keyPrefix+key. Other variables are ignored here:
// UnknownEnv reports them.
func loadEnv(k *koanf.Koanf, prefix, keyPrefix string, known map[string]reflect.Kind, vars []string) (envRead, error) {
	var read envRead
	setting := func(name string) (string, bool) {
		key, ok := envKey(name, prefix)
		_, isKey := known[key]
		return key, ok && isKey
	}
	twice := setTwice(vars, setting)
	for _, key := range slices.Sorted(maps.Keys(twice)) {
		read.problems = append(read.problems, &FieldError{Key: keyPrefix + key, Msg: setTwiceMsg(twice[key])})
	}
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return vars },
		TransformFunc: func(name, value string) (string, any) {
			key, ok := setting(name)
			kind := known[key]
			switch {
			case !ok || twice[key] != nil: // not a setting, or set twice: reported
				return "", nil
			case blank(value):
				read.empty = append(read.empty, emptyNote(name))
				return "", nil
			case kind == reflect.Slice:
				items, err := ParseList(value)
				if err != nil {
					read.problems = append(read.problems, &FieldError{Key: keyPrefix + key, Msg: err.Error()})
					return "", nil
				}
				return key, items
			}
			return key, strings.TrimSpace(value)
		},
	}), nil)
	return read, err
}

// envKey is the key a variable's name sets under prefix, IMCALLBACK_ or
// a section's IMCALLBACK_<KEY>_, as Load reads a name: IMCALLBACK_ as
// written, the rest in any case (IMCALLBACK_words_code sets the section
// words' code). ok is false for a name outside prefix.
func envKey(name, prefix string) (key string, ok bool) {
	rest, ok := strings.CutPrefix(name, envPrefix)
	if !ok {
		return "", false
	}
	return strings.CutPrefix(strings.ToLower(rest), strings.ToLower(strings.TrimPrefix(prefix, envPrefix)))
}

// EnvSetting is the setting a variable's name sets, as Load reads it:
// IMCALLBACK_<KEY> in any case after IMCALLBACK_ (IMCALLBACK_tokens sets
// tokens), and an app's IMCALLBACK_APP_<SDKAPPID>_<KEY> in any case after
// IMCALLBACK_ too (IMCALLBACK_app_<SDKAPPID>_tokens), as
// app_<SDKAPPID>_<key>. ok is false for a name outside IMCALLBACK_.
func EnvSetting(name string) (key string, ok bool) {
	if id, key, isApp, cut := cutAppEnv(name); isApp {
		return "app_" + id + "_" + key, cut
	}
	rest, ok := strings.CutPrefix(name, envPrefix)
	return strings.ToLower(rest), ok
}

// LookupEnv finds the value the variables vars (os.Environ's form,
// NAME=value) give the setting key, as Load reads it: the variable's name
// in any case after IMCALLBACK_ (IMCALLBACK_tokens for "tokens"; for an
// app's key, "app_<SDKAPPID>_tokens", IMCALLBACK_APP_<SDKAPPID>_TOKENS in
// any case after IMCALLBACK_), its value trimmed, and a value that is empty or
// whitespace alone unset. name is the variable found, "" when none is.
// Two variables that set the key to different values are an error, as
// they stop Load, naming both and neither value. A command that reads a
// setting of the service's environment without loading the whole
// configuration (imcallback send's token) reads it with LookupEnv, so
// that it sees what the service would.
func LookupEnv(vars []string, key string) (name, value string, err error) {
	key = strings.ToLower(key)
	if twice := setTwice(vars, func(n string) (string, bool) {
		k, ok := EnvSetting(n)
		return k, ok && k == key
	}); twice[key] != nil {
		return "", "", &FieldError{Key: key, Msg: setTwiceMsg(twice[key])}
	}
	for _, kv := range vars {
		n, v, _ := strings.Cut(kv, "=")
		if k, ok := EnvSetting(n); ok && k == key && !blank(v) {
			return n, strings.TrimSpace(v), nil
		}
	}
	return "", "", nil
}

// setTwice finds the settings that vars set more than once with different
// values: setting returns the key a variable's name sets, and whether it
// names one. The service reads a name in any case after its prefix as the
// setting's (IMCALLBACK_allow_cidrs is IMCALLBACK_ALLOW_CIDRS), so two
// spellings, or one name given twice (in a Source's Environ: the Go runtime
// keeps a process's first and drops the others), would leave the choice to
// their order in the environment. Values are compared trimmed; a blank one
// counts as unset, and the same value twice is no conflict. It returns, by
// key, the variables' names, sorted and each once.
func setTwice(vars []string, setting func(name string) (key string, ok bool)) map[string][]string {
	values := map[string]string{}
	names := map[string][]string{}
	twice := map[string][]string{}
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		key, ok := setting(name)
		if !ok || blank(value) {
			continue
		}
		value = strings.TrimSpace(value)
		if !slices.Contains(names[key], name) {
			names[key] = append(names[key], name)
		}
		if prev, seen := values[key]; !seen {
			values[key] = value
		} else if prev != value {
			twice[key] = names[key]
		}
	}
	for key := range twice {
		twice[key] = slices.Sorted(slices.Values(names[key]))
	}
	return twice
}

// setTwiceMsg is the problem of a setting set twice by the variables
// names (setTwice), which never shows their values.
func setTwiceMsg(names []string) string {
	as := ""
	if len(names) > 1 {
		as = ", as " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return "set more than once with different values" + as +
		": which one applies would depend on their order in the environment; keep one"
}

// fileOnlyKeys are the settings that are lists of entries, which a YAML
// file holds and a variable cannot, each with the variables to use instead.
var fileOnlyKeys = map[string]string{
	"apps":    "IMCALLBACK_APP_<SDKAPPID>_<KEY>",
	"forward": "IMCALLBACK_FORWARD_URL, _SECRET and _MATCH",
}

// fileOnlyEnv is an error for each variable of vars that names a
// file-only setting, instead of a value that can never decode.
func fileOnlyEnv(vars []string) []error {
	var errs []error
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		key := strings.ToLower(strings.TrimPrefix(name, envPrefix))
		if instead, ok := fileOnlyKeys[key]; ok && strings.HasPrefix(name, envPrefix) && !blank(value) {
			errs = append(errs, &FieldError{Key: key, Msg: "is read from the configuration file only; in the environment use " + instead, variable: true})
		}
	}
	return errs
}

// emptyFileOnlyEnv are the notes about the variables of vars that name a
// file-only setting and are empty: unset, not refused.
func emptyFileOnlyEnv(vars []string) []string {
	var notes []string
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		key := strings.ToLower(strings.TrimPrefix(name, envPrefix))
		if _, ok := fileOnlyKeys[key]; ok && strings.HasPrefix(name, envPrefix) && blank(value) {
			notes = append(notes, emptyNote(name))
		}
	}
	return notes
}

// emptySectionEnv are the notes about the variables of vars that name a
// field of a declared section and are empty: LoadSection reads them as
// unset, as Load reads the core settings'.
func emptySectionEnv(vars []string, sections []SectionInfo) []string {
	var notes []string
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		for _, s := range sections {
			if field, ok := envKey(name, EnvName(s.Key)+"_"); ok && blank(value) && slices.Contains(s.Fields, field) {
				notes = append(notes, emptyNote(name))
			}
		}
	}
	return notes
}

// appEntryKeys are the keys of an apps entry.
func appEntryKeys() map[string]reflect.Kind {
	known := appKeys()
	known["sdkappid"] = reflect.String
	return known
}

// readFile reads src's configuration file once (or takes what Read read
// of it): its settings, and its bytes for the checks that need the YAML as
// written (retypedValues). YAML's error names a key only when it is one
// of the configuration's or of sections' (settingName).
func readFile(src Source, sections []SectionInfo) (*koanf.Koanf, []byte, error) {
	path := src.File
	var data []byte
	var err error
	if src.hasRead() {
		data, err = src.read.data, src.read.err
	} else {
		data, err = os.ReadFile(path)
	}
	if err == nil {
		f := koanf.New(".")
		if err = f.Load(rawbytes.Provider(data), yaml.Parser()); err != nil {
			err = yamlError(err, settingName(sections)) // it may quote a value, a secret's too
		} else if err = markupValues(data); err == nil {
			return f, data, nil
		}
	}
	return nil, nil, fmt.Errorf("config: read %s: %w", path, err)
}

// settingName reports, for yamlError, whether key is the name of a key of
// the configuration: a setting's, an apps or forward entry's, or one of
// sections' keys or fields. Any other key of the file may be a secret.
func settingName(sections []SectionInfo) func(key string) bool {
	names := knownKeys()
	maps.Copy(names, appEntryKeys())
	maps.Copy(names, forwardKeys())
	return func(key string) bool {
		if _, ok := names[key]; ok {
			return true
		}
		return slices.ContainsFunc(sections, func(s SectionInfo) bool { return s.Key == key || slices.Contains(s.Fields, key) })
	}
}

// unknownEntryKeys returns an *UnknownKeyError for each key of an entry of
// the list under list (apps, forward) that no setting reads: a misspelt
// tokens would otherwise leave the app on the global tokens, or on none. A
// mapping in place of the list is one entry written without its dash when
// its keys are an entry's, and an error otherwise.
func unknownEntryKeys(raw any, file, list string, known map[string]reflect.Kind) []error {
	names := slices.Sorted(maps.Keys(known))
	items, ok := raw.([]any)
	if m, isMap := raw.(map[string]any); isMap {
		// One entry written without its dash decodes as that entry, its
		// keys checked as one's; a mapping keyed by something else
		// (apps: {1400000001: …}) would decode as an entry without any of
		// its settings.
		keys := slices.Sorted(maps.Keys(m))
		if len(keys) > 0 && !slices.ContainsFunc(keys, func(k string) bool { _, ok := known[k]; return ok }) {
			// Named by a key with a value: one without is what a value
			// written in braces without its key reads as
			// ({https://hooks…/KEY, whsec_…}), a secret as often as not
			// (withheldKey).
			named := slices.IndexFunc(keys, func(k string) bool { return !withheldKey(k, m[k], "") })
			if named < 0 {
				return []error{fmt.Errorf("%s: %s is a mapping of keys without values, not a list of entries (they are not shown, "+
					"as values written in braces without their keys read so, a secret too): write each entry as a list item "+
					"of keys and values (- %s)", file, list, entryExamples[list])}
			}
			return []error{fmt.Errorf("%s: %s is a mapping with the key %s, not a list of entries: write each entry as a list item (- %s)",
				file, list, keys[named], entryExamples[list])}
		}
		items, ok = []any{m}, true
	}
	if !ok {
		return nil
	}
	var errs []error
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if _, ok := known[k]; !ok {
				errs = append(errs, newUnknownKey(file, fmt.Sprintf("%s[%d]", list, i), k, m[k], closest(k, names)))
			}
		}
	}
	return errs
}
