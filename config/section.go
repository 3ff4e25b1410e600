package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
	"go.uber.org/dig"
	"go.uber.org/fx"
	yamlv3 "gopkg.in/yaml.v3"

	"github.com/imcallback/imcallback/internal/fxresult"
)

// Validator is a section's own check, run at start once defaults, the
// file and the environment are read.
type Validator interface {
	Validate() error
}

// SectionGroup is the fx value group the declared sections are collected in.
const SectionGroup = `group:"config_sections"`

// SectionInfo describes a declared section; config.Module and `config
// check` read the group of them.
type SectionInfo struct {
	// Key is the section's YAML key and the middle of its variables'
	// names: IMCALLBACK_<KEY>_<FIELD>.
	Key string
	// Fields are the section's keys.
	Fields []string
	// Load reads and validates the section from src, and renders it as
	// YAML under its key, fields tagged `secret:"true"` redacted.
	Load func(src Source) (yaml string, err error)
}

// Section declares a module's own configuration section: the fields of T
// (named by their koanf tags) are read from the same YAML file under key,
// then from IMCALLBACK_<KEY>_<FIELD> variables, over the values of def
// (read as the core settings' are: one set empty counts as unset, a list
// with an empty item is an error; a field of a map or struct type, or a
// list of them, is read from the file alone, and a variable that sets it,
// or one of its keys, is an error), and T's Validate runs at start; every
// problem is reported with the core settings' in one error. It provides T
// to the app, and `config check` shows it, fields tagged `secret:"true"`
// redacted:
//
//	type Settings struct {
//		Words    []string `koanf:"words"`
//		DenyCode int      `koanf:"deny_code"`
//	}
//	func (s Settings) Validate() error { … }
//
//	var Module = fx.Module("moderation",
//		config.Section("moderation", Settings{DenyCode: 120001}),
//		fx.Provide(dispatcher.AsCommand(NewFilter)), // takes Settings, returns a dispatcher.Command
//	)
//
// A constructor given to fx.Provide alone is in no group: a command (or a
// middleware) must go through dispatcher.AsCommand (middleware.AsMiddleware)
// to run.
//
// A key may not be one of the core settings', nor another section's, and
// def must be a struct value whose tagged fields are exported: a pointer
// (which a Validate with a pointer receiver leads to), or a tagged field
// that is not exported, or an exported field without a koanf tag (which
// nothing would set; koanf:"-" keeps one out on purpose), an embedded
// struct among them (a section does not flatten one: tag it with its key,
// koanf:",squash" included), or two fields tagged with one key (in a
// struct within a field too), fails the
// start, saying so. The key is lower-case
// letters and digits, and each tag lower-case letters, digits and _
// (deny_code): a variable's name is read in lower case after the prefix,
// so one in upper case (DenyCode) or with another character (a dash)
// would be set by no variable, and fails the start too, saying what to
// write.
func Section[T Validator](key string, def T) fx.Option {
	if err := checkSectionKey(key); err != nil {
		return fx.Error(err)
	}
	if err := checkSectionType(key, def); err != nil {
		return fx.Error(err) // the fields below are read by reflection from a struct
	}
	info := SectionInfo{Key: key, Fields: slices.Sorted(maps.Keys(sectionFields(reflect.TypeOf(def)))), Load: func(src Source) (string, error) {
		v, err := LoadSection(src, key, def)
		if err != nil {
			return "", err
		}
		return renderSection(key, v), nil
	}}
	return fx.Options(
		fx.Provide(func(in sourceIn) (T, error) {
			v, err := LoadSection(reusing(in.Source, in.Reads), key, def)
			if err != nil {
				return v, fmt.Errorf("config: invalid:\n%w", err)
			}
			return v, nil
		}),
		fx.Supply(fx.Annotated{Group: "config_sections", Target: info}),
	)
}

// LoadSection reads the section key into a copy of def, as Section does,
// and validates it. Its problems are *FieldError and *UnknownKeyError
// values, joined, and an error naming the file when the section's key
// holds a list or a single value instead of a mapping of its keys.
func LoadSection[T Validator](src Source, key string, def T) (T, error) {
	if err := checkSectionKey(key); err != nil {
		return def, err
	}
	if err := checkSectionType(key, def); err != nil {
		return def, err
	}
	fields := sectionFields(reflect.TypeOf(def))
	k := koanf.New(".")
	if err := k.Load(structs.Provider(def, "koanf"), nil); err != nil {
		return def, fmt.Errorf("config: %s defaults: %w", key, err)
	}
	var problems []error
	environ := src.Environ
	if environ == nil {
		environ = os.Environ
	}
	if src.File != "" {
		f, data, err := readFile(src, []SectionInfo{{Key: key, Fields: slices.Sorted(maps.Keys(fields))}})
		if err != nil {
			return def, err
		}
		sub := f.Cut(key)
		names := slices.Sorted(maps.Keys(fields))
		if raw := f.Get(key); raw != nil {
			if _, isMap := raw.(map[string]any); !isMap {
				// Cut finds no keys under it: the section would
				// silently be its defaults. The value is not quoted,
				// as it may be a secret meant for a field.
				what := "single value"
				if reflect.ValueOf(raw).Kind() == reflect.Slice {
					what = "list"
				}
				problems = append(problems, fmt.Errorf("%s: %s is a %s, not a mapping of its keys (%s)",
					src.File, key, what, strings.Join(names, ", ")))
			}
		}
		for _, name := range sub.Keys() {
			if inSecretField(reflect.TypeOf(def), name) {
				// A secret written as a map makes it a key: the decode
				// error says the value is a map, without it.
				continue
			}
			if !sectionKey(reflect.TypeOf(def), name) {
				problems = append(problems, newUnknownKey(src.File, key, name, sub.Get(name), closest(name, names)))
				continue
			}
			// A list is a value of its own (the file's keys stop there):
			// the keys of its entries are checked within it.
			if t, ok := typeAt(reflect.TypeOf(def), name); ok {
				problems = append(problems, unknownWithin(src.File, key+"."+name, t, sub.Get(name))...)
			}
		}
		if err := k.Merge(sub); err != nil {
			return def, fmt.Errorf("config: %s: %w", src.File, err)
		}
		vars := environ()
		for _, r := range retypedSection(data, key, reflect.TypeOf(def)) {
			// Its value decodes, as other text than the file shows,
			// unless its variable replaces it.
			if !envSets(vars, key+"."+r.key) {
				problems = append(problems, &FieldError{Key: key + "." + r.key, Msg: r.message()})
			}
		}
	}
	// Load notes the section's variables that are set empty.
	prefix := envPrefix + strings.ToUpper(key) + "_"
	vars := environ()
	envFields := maps.Clone(fields)
	for _, fe := range fileOnlySectionEnv(vars, prefix, key, reflect.TypeOf(def)) {
		problems = append(problems, fe)
	}
	for field := range fileOnlySectionFields(reflect.TypeOf(def)) {
		delete(envFields, field) // refused above when set
	}
	read, err := loadEnv(k, prefix, key+".", envFields, vars)
	if err != nil {
		return def, fmt.Errorf("config: environment: %w", err)
	}
	for _, fe := range read.problems {
		problems = append(problems, fe)
	}
	// A deep copy of what is decoded: decoded into, def's own maps would
	// take the file's entries, and a load's lists and maps would be the
	// defaults' (see copyDecoded).
	out := copyDecoded(def)
	v := reflect.ValueOf(&out).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("koanf")
		if name == "" || name == "-" {
			continue
		}
		// A value holding a secret of a struct field is never quoted either.
		hidden := secretTagged(v.Type().Field(i)) || holdsSecret(v.Type().Field(i).Type, nil)
		msgs := decodeField(k, name, v.Field(i), hidden)
		if len(msgs) == 0 {
			if msg := listWrittenAsOne(k.Get(name), v.Field(i).Type(), hidden, EnvName(key+"."+name)); msg != "" {
				msgs = []string{msg}
			} else if holdsPlaceholder(v.Field(i), secretTagged(v.Type().Field(i))) {
				msgs = []string{"a secret " + placeholderProblem(redacted)}
			}
		}
		for _, msg := range msgs {
			problems = append(problems, &FieldError{Key: key + "." + name, Msg: msg})
		}
	}
	if len(problems) == 0 {
		if err := out.Validate(); err != nil {
			problems = append(problems, &FieldError{Key: key, Msg: err.Error()})
		}
	}
	return out, errors.Join(problems...)
}

// copyDecoded is a copy of def, a section's defaults, for LoadSection to
// decode into: the fields it decodes (those with a koanf tag other than
// "-") deep copies (deepCopy), the others def's own values as they are:
// the program's to share (a client, a counter), and perhaps pointing back
// at themselves, which a deep copy would follow without end.
func copyDecoded[T any](def T) T {
	out := def
	v := reflect.ValueOf(&out).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if name := f.Tag.Get("koanf"); f.IsExported() && name != "" && name != "-" {
			v.Field(i).Set(deepCopy(v.Field(i)))
		}
	}
	return out
}

// deepCopy returns a copy of v that shares no map, list or pointed-to
// value with it, for LoadSection to decode a section into: the decode
// writes a file's entries into the maps it finds, so decoded into the
// defaults given to Section it changed them for every later load in the
// process (the next test's service, with entries of a file it never
// read), raced with a load running at once (parallel tests), and gave
// each load the defaults' own maps and lists, which a module changing
// its section's changed for all. Unexported fields of a struct are
// copied as they are: the decode sets exported fields only.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepCopy(v.Elem()))
		return c
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(deepCopy(v.Elem()))
		return c
	case reflect.Array, reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		if v.Kind() == reflect.Array {
			for i := range v.Len() {
				c.Index(i).Set(deepCopy(v.Index(i)))
			}
			return c
		}
		for i := range v.NumField() {
			// The decode leaves a field tagged koanf:"-" alone, as
			// copyDecoded does.
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("koanf") != "-" {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	}
	return v
}

// holdsPlaceholder reports whether v, a section's field, holds the
// placeholder renderSection writes in place of a secret (redacted) as a
// secret: a text of a field tagged secret:"true" (secret), an item or a
// value of one, or such a field of a struct it holds. Copied back from
// config check, the module would use the placeholder as its secret.
func holdsPlaceholder(v reflect.Value, secret bool) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && holdsPlaceholder(v.Elem(), secret)
	case reflect.String:
		return secret && v.String() == redacted
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if holdsPlaceholder(v.Index(i), secret) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if holdsPlaceholder(it.Value(), secret) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && holdsPlaceholder(v.Field(i), secret || secretTagged(f)) {
				return true
			}
		}
	}
	return false
}

// listWrittenAsOne says what is wrong with raw, the value of a section's
// list field of type typ, when the file writes it as one text holding a
// comma, "" otherwise: decoded, it is a list of that one item, while the
// field's variable (name) is split at its commas, so the same text would
// mean one item in the file and several in the environment. A variable's
// value is already split when it gets here; a list the file writes as a
// YAML list is taken as it is, commas in its items too. The value is
// quoted unless hidden.
func listWrittenAsOne(raw any, typ reflect.Type, hidden bool, name string) string {
	s, ok := raw.(string)
	if !ok || typ.Kind() != reflect.Slice || typ.Elem().Kind() == reflect.Uint8 || !strings.Contains(s, ",") {
		return ""
	}
	shown := strconv.Quote(s)
	if hidden {
		shown = "the value"
	}
	return fmt.Sprintf("%s is one value holding a comma: the file reads it as one item, where %s is split at its commas; "+
		"write the items as a YAML list ([a, b]), or a list of one ([\"a, b\"]) if one is meant", shown, name)
}

// sectionFields maps a section's keys to the kinds of their fields.
func sectionFields(t reflect.Type) map[string]reflect.Kind {
	fields := map[string]reflect.Kind{}
	if t.Kind() != reflect.Struct {
		return fields
	}
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" && tag != "-" {
			fields[tag] = t.Field(i).Type.Kind()
		}
	}
	return fields
}

// fileOnlySectionFields are the fields of a section's struct t that the
// file alone sets, each with what it is: a map or a struct (one that does
// not read itself from text, as netip.Prefix does), which the file writes
// as a mapping of their own keys and a variable cannot hold, or a list of
// them ("list of entries"), which the file writes as a list of mappings.
func fileOnlySectionFields(t reflect.Type) map[string]string {
	out := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" || tag == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Map:
			out[tag] = "map"
		case ft.Kind() == reflect.Struct && !readsText(ft):
			out[tag] = "struct"
		case isList(ft) && holdsValues(ft.Elem()):
			out[tag] = "list of entries"
		}
	}
	return out
}

// fileOnlySectionEnv refuses the variables of vars, under the section's
// prefix (IMCALLBACK_<KEY>_, its field's name in any case), that set a
// field of fileOnlySectionFields, or one of its keys
// (IMCALLBACK_WORDS_LIMITS_MAX for the struct field limits), which no
// other field's name is: the decoder would refuse the text with a message
// of its own, or the variable would be ignored. One error per field names
// the variables, never their values; one set empty is unset.
func fileOnlySectionEnv(vars []string, prefix, key string, t reflect.Type) []*FieldError {
	fileOnly := fileOnlySectionFields(t)
	if len(fileOnly) == 0 {
		return nil
	}
	fields := sectionFields(t)
	names := map[string][]string{}
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		field, ok := envKey(name, prefix)
		if !ok || blank(value) {
			continue
		}
		for f := range fileOnly {
			if _, other := fields[field]; field == f || strings.HasPrefix(field, f+"_") && !other {
				if !slices.Contains(names[f], name) {
					names[f] = append(names[f], name)
				}
			}
		}
	}
	var errs []*FieldError
	for _, f := range slices.Sorted(maps.Keys(names)) {
		set := names[f]
		slices.Sort(set)
		written := fmt.Sprintf("a mapping of its keys (%s: {%s: {…}})", key, f)
		if fileOnly[f] == "list of entries" {
			written = fmt.Sprintf("a list of mappings (%s: {%s: [{…}]})", key, f)
		}
		errs = append(errs, &FieldError{Key: key + "." + f, Msg: fmt.Sprintf("is read from the configuration file only, "+
			"but %s sets it: a %s field is written in the file as %s, which no variable holds",
			strings.Join(set, " and "), fileOnly[f], written)})
	}
	return errs
}

// inSecretField reports whether name, a dotted key the file holds under a
// section of struct type t, is within a field tagged secret:"true", the
// section's own or one of its struct fields' (upstream.token.x), those of
// a map's values too (by_app.<key>.token.x): a secret written as a map
// makes it a key.
func inSecretField(t reflect.Type, name string) bool {
	head, rest, nested := strings.Cut(name, ".")
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !nested {
		return false
	}
	switch t.Kind() {
	case reflect.Struct:
		f, ok := fieldByTag(t, head)
		return ok && (secretTagged(f) || inSecretField(f.Type, rest))
	case reflect.Map: // head is the map's key, rest within its value
		return inSecretField(t.Elem(), rest)
	}
	return false
}

// typeAt is the type of the value at name, a dotted key the file holds
// under a section of struct type t that sectionKey takes (a map's key
// counts as one part); ok is false when the path goes through a field
// tagged secret:"true", whose value is never looked into.
func typeAt(t reflect.Type, name string) (_ reflect.Type, ok bool) {
	for part := range strings.SplitSeq(name, ".") {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, found := fieldByTag(t, part)
			if !found || secretTagged(f) {
				return nil, false
			}
			t = f.Type
		case reflect.Map:
			t = t.Elem()
		default:
			return nil, false
		}
	}
	return t, true
}

// unknownWithin returns an *UnknownKeyError for each key that the file's
// value raw, of type t at where (mod.rules), holds in a struct that none
// of its fields reads (mod.rules[0].maxlen), looking into lists, maps and
// structs, but not into the fields tagged secret:"true". The file's keys
// stop at a list, so the section's own check (sectionKey) does not reach
// its entries, and a misspelt key of one would leave it without its value
// and without a word.
func unknownWithin(file, where string, t reflect.Type, raw any) []error {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var errs []error
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		items, _ := raw.([]any)
		for i, item := range items {
			errs = append(errs, unknownWithin(file, fmt.Sprintf("%s[%d]", where, i), t.Elem(), item)...)
		}
	case reflect.Map:
		m, _ := raw.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			errs = append(errs, unknownWithin(file, where+"."+k, t.Elem(), m[k])...)
		}
	case reflect.Struct:
		m, _ := raw.(map[string]any)
		if readsText(t) {
			return nil // read from text: the decoder says what is wrong with a mapping
		}
		names := slices.Sorted(maps.Keys(sectionFields(t)))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch f, ok := fieldByTag(t, k); {
			case !ok:
				errs = append(errs, newUnknownKey(file, where, k, m[k], closest(k, names)))
			case !secretTagged(f):
				errs = append(errs, unknownWithin(file, where+"."+k, f.Type, m[k])...)
			}
		}
	}
	return errs
}

// renderSection is v as YAML under key, fields tagged secret:"true"
// redacted, those of its struct fields too.
func renderSection(key string, v any) string {
	rv := reflect.ValueOf(v)
	fields := map[string]any{}
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		name := f.Tag.Get("koanf")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = renderField(f, rv.Field(i))
	}
	out, err := yamlv3.Marshal(map[string]any{key: fields})
	if err != nil {
		return fmt.Sprintf("# cannot render %s: %v\n", key, err)
	}
	return string(out)
}

// renderField is the value of a section's field f as renderSection
// writes it: redacted when f is tagged secret:"true" and set, else as
// renderValue writes it.
func renderField(f reflect.StructField, v reflect.Value) any {
	if secretTagged(f) && !v.IsZero() {
		return redacted
	}
	return renderValue(v)
}

// renderValue is a value of a section's field as renderSection writes it,
// in the form the file writes it, so that it reads back as it was: a
// struct (or a pointer to one) that does not write itself as text (as
// netip.Prefix does) as a mapping of its fields by their keys (their
// koanf tags, as the decoder reads them), each rendered by renderField; a
// list, an array or a map of values alike, but redacted whole when its
// values hold a field tagged secret:"true" and it has any; a duration as
// Go writes one (1m30s).
func renderValue(v reflect.Value) any {
	switch {
	case !v.IsValid():
		return nil
	case v.Type() == reflect.TypeFor[time.Duration]():
		return time.Duration(v.Int()).String()
	case v.Type().Implements(textMarshaler) || v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
		return v.Interface() // written as text, or as YAML writes bytes
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return renderValue(v.Elem())
	case reflect.Struct:
		if reflect.PointerTo(v.Type()).Implements(textMarshaler) {
			return v.Interface()
		}
		fields := map[string]any{}
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			name := sf.Tag.Get("koanf")
			if name == "-" || !sf.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(sf.Name) // as the decoder matches an untagged field
			}
			fields[name] = renderField(sf, v.Field(i))
		}
		return fields
	case reflect.Slice, reflect.Array:
		if holdsSecret(v.Type(), nil) && v.Len() > 0 {
			return redacted
		}
		items := make([]any, v.Len())
		for i := range items {
			items[i] = renderValue(v.Index(i))
		}
		return items
	case reflect.Map:
		if holdsSecret(v.Type(), nil) && v.Len() > 0 {
			return redacted
		}
		m := make(map[any]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			m[it.Key().Interface()] = renderValue(it.Value())
		}
		return m
	}
	return v.Interface()
}

// textMarshaler is the type of a value that writes itself as text
// (netip.Prefix, time.Time), as YAML writes it.
var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// holdsSecret reports whether a value of type t holds a field tagged
// secret:"true": t is a struct with one, or a pointer, map, list or array
// of such values. seen stops a type that refers to itself.
func holdsSecret(t reflect.Type, seen map[reflect.Type]bool) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return false
	}
	if seen == nil {
		seen = map[reflect.Type]bool{}
	}
	seen[t] = true
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("koanf") != "-" && (secretTagged(f) || holdsSecret(f.Type, seen)) {
			return true
		}
	}
	return false
}

// sectionKey reports whether name, a key the file holds under a section
// of struct type t, is one of its fields' (their koanf tags), or a key
// within a field of a map type, or one of a struct type's own fields:
// the file writes those as mappings, which koanf flattens to
// "field.key".
func sectionKey(t reflect.Type, name string) bool {
	head, rest, nested := strings.Cut(name, ".")
	f, ok := fieldByTag(t, head)
	if !ok || !nested {
		return ok
	}
	return keyWithin(f.Type, rest)
}

// keyWithin reports whether rest, a dotted key the file holds within a
// field of type t, is one t has: within a map, any key, and within its
// value what a struct or a map of them has (by_app.<key>.max_len); within
// a struct, one of its fields.
func keyWithin(t reflect.Type, rest string) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map:
		_, within, deeper := strings.Cut(rest, ".")
		elem := t.Elem()
		if elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		if !deeper || elem.Kind() != reflect.Struct && elem.Kind() != reflect.Map {
			return true // a value of another type that is a mapping: the decoder says so
		}
		return keyWithin(elem, within)
	case reflect.Struct:
		return sectionKey(t, rest)
	case reflect.Slice, reflect.Array:
		// A list of single values written as a mapping: the decoder
		// says so (is a map, not a list), naming the field.
		return singleValue(t.Elem())
	}
	// A single value written as a mapping: the decoder says so, naming
	// the field, where an unknown key "field.x" would suggest the field
	// the file already names.
	return singleValue(t)
}

// checkSectionType refuses a section whose default is no struct value:
// a pointer, above all, which a Validate with a pointer receiver leads
// to, and whose fields reflection does not reach. It refuses a field
// tagged koanf but unexported too, which reflection cannot set or read,
// an embedded struct without a key (no tag, or ",squash"; unexported,
// when it has tagged fields), whose fields nothing sets, and two fields
// of one key, which one value sets both of, in a struct within a field
// too (nestedKeysTwice).
func checkSectionType(key string, def any) error {
	t := reflect.TypeOf(def)
	if t == nil || t.Kind() != reflect.Struct {
		return fmt.Errorf("config: section %q: its default is a %T, not a struct: pass a struct value, "+
			"config.Section(%q, T{…}), whose Validate has a value receiver", key, def, key)
	}
	keys := map[string]string{} // each tag's field
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("koanf")
		if f.Anonymous && (!tagged && f.IsExported() || strings.HasPrefix(tag, ",")) {
			// Not flattened into the section: the decoder reads its
			// fields under no key, the file's keys and the variables
			// name none of them.
			how := "without a koanf tag"
			if tagged {
				how = fmt.Sprintf("with koanf:%q", tag)
			}
			return fmt.Errorf("config: section %q: field %s is embedded %s, so neither the file nor a variable sets its fields "+
				"(a section does not flatten an embedded struct into its own keys): tag it koanf:%q, written in the file as a "+
				"mapping of its keys, or declare its fields in the section's struct", key, f.Name, how, snakeCase(f.Name))
		}
		if f.Anonymous && !tagged && !f.IsExported() && holdsTagged(f.Type) {
			// Its fields, tagged as a section's are, set by nothing: the
			// decoder neither flattens it nor sets an unexported field.
			return fmt.Errorf("config: section %q: field %s is embedded without a koanf tag and not exported, so neither "+
				"the file nor a variable sets its fields (a section does not flatten an embedded struct into its own keys): "+
				"declare its fields in the section's struct, or embed an exported type tagged with its key", key, f.Name)
		}
		if !tagged && f.IsExported() && !f.Anonymous {
			// koanf reads tagged fields only: nothing would set it.
			return fmt.Errorf("config: section %q: field %s has no koanf tag, so neither the file nor a variable sets it: "+
				"tag it koanf:%q, or koanf:\"-\" to keep it out of the configuration", key, f.Name, snakeCase(f.Name))
		}
		if tag == "" || tag == "-" {
			continue
		}
		if !f.IsExported() {
			first, size := utf8.DecodeRuneInString(f.Name)
			return fmt.Errorf("config: section %q: field %s is tagged koanf:%q but not exported, so it cannot be set: "+
				"export it (%c%s), or drop the tag", key, f.Name, tag, unicode.ToUpper(first), f.Name[size:])
		}
		if !plainName(tag, true) {
			// Its variable, read in lower case, would never match it.
			return fmt.Errorf("config: section %q: field %s is tagged koanf:%q, which its variable cannot name "+
				"(a section's keys are lower-case letters, digits and _): tag it koanf:%q", key, f.Name, tag, snakeCase(tag))
		}
		if other, dup := keys[tag]; dup {
			// One value would set both, and nothing the second alone.
			return fmt.Errorf("config: section %q: fields %s and %s are both tagged koanf:%q, so one value sets both "+
				"and nothing sets either alone: give each its own key", key, other, f.Name, tag)
		}
		keys[tag] = f.Name
		if err := nestedKeysTwice(key, tag, f.Type, map[reflect.Type]bool{}); err != nil {
			return err
		}
	}
	return nil
}

// nestedKeysTwice refuses, as checkSectionType does the section's own
// fields, two fields tagged with one key in a struct within a section's
// field (the field's own type, or its items' or values'): one value of the
// file set both, and nothing either alone. where is the field's key from
// the section's (limits, limits.burst).
func nestedKeysTwice(section, where string, t reflect.Type, seen map[reflect.Type]bool) error {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	keys := map[string]string{} // each tag's field
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		if other, dup := keys[tag]; dup {
			return fmt.Errorf("config: section %q: fields %s and %s of %s are both tagged koanf:%q, so one value sets both "+
				"and nothing sets either alone: give each its own key", section, other, f.Name, where, tag)
		}
		keys[tag] = f.Name
		if err := nestedKeysTwice(section, where+"."+tag, f.Type, seen); err != nil {
			return err
		}
	}
	return nil
}

// holdsTagged reports whether t (or what it points to) is a struct with
// a field tagged koanf: one meant to be set from the configuration.
func holdsTagged(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		if tag, ok := t.Field(i).Tag.Lookup("koanf"); ok && tag != "-" {
			return true
		}
	}
	return false
}

// plainName reports whether name is lower-case ASCII letters and digits,
// with underscores too when underscore is set: what a variable's name
// names once read in lower case.
func plainName(name string, underscore bool) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !plainRune(r, underscore) {
			return false
		}
	}
	return true
}

func plainRune(r rune, underscore bool) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || underscore && r == '_'
}

// snakeCase is tag as a section's key: DenyCode deny_code, max-limit
// max_limit.
func snakeCase(tag string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range tag {
		switch {
		case unicode.IsUpper(r):
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
		case plainRune(r, true):
			b.WriteRune(r)
			prevLower = r != '_'
		default:
			if b.Len() > 0 && prevLower {
				b.WriteByte('_')
			}
			prevLower = false
		}
	}
	return strings.Trim(b.String(), "_")
}

// checkSectionKey refuses a section key whose variables would read a core
// setting's: a section "nats" would take IMCALLBACK_NATS_URL as its field
// url, "admin" IMCALLBACK_ADMIN_TOKEN, "app" the per-app variables.
func checkSectionKey(key string) error {
	if !plainName(key, false) {
		// A variable's name is read in lower case after the prefix, and
		// the section's keys are matched as written: a key in upper case,
		// or with a character a shell variable's name cannot hold, would
		// be set by no variable.
		word := strings.Map(func(r rune) rune {
			if r = unicode.ToLower(r); plainRune(r, false) {
				return r
			}
			return -1
		}, key)
		if word == "" {
			return fmt.Errorf("config: section key %q must be a plain word of lower-case letters and digits", key)
		}
		return fmt.Errorf("config: section key %q must be a plain word of lower-case letters and digits, "+
			"as its variables IMCALLBACK_%s_<FIELD> are read: write %q", key, strings.ToUpper(key), word)
	}
	if key == "app" || key == "apps" {
		return fmt.Errorf("config: section key %q is taken by the per-app settings", key)
	}
	for core := range knownKeys() {
		if core == key || strings.HasPrefix(core, key+"_") {
			return fmt.Errorf("config: section key %q would read the core setting %s", key, EnvName(core))
		}
	}
	return nil
}

// DeclaredSections lists the configuration sections (Section) that modules
// declare. It builds an app of the modules alone and starts nothing: the
// listing runs first (fx runs the invokes of modules before the root's, in
// order) and ends the build, so none of the modules' own invokes, which
// need the rest of the service, runs. An error of the build before the
// listing is returned as dig's root cause, but for a type provided twice,
// which is named, with the likely cause, and a nil module, on which fx
// would panic.
func DeclaredSections(modules ...fx.Option) ([]SectionInfo, error) {
	if err := fxresult.NilOption("config: DeclaredSections", modules); err != nil {
		return nil, err // fx would panic on it
	}
	var infos []SectionInfo
	app := fx.New(fx.NopLogger,
		fx.Module("sections", fx.Invoke(fx.Annotate(func(s []SectionInfo) error {
			infos = s
			return errSectionsListed
		}, fx.ParamTags(SectionGroup)))),
		fx.Options(modules...))
	if err := app.Err(); !errors.Is(err, errSectionsListed) {
		if what, twice := fxresult.ProvidedTwice(err); twice {
			if why, outside := fxresult.OutsideGroup(what); outside {
				return nil, errors.New(why)
			}
			// dig's root cause names the first provider alone, not the type.
			if strings.Contains(what, `/config".Section[`) {
				return nil, fmt.Errorf("%s: two config.Section declarations provide this type (one section declared twice, "+
					"by a module wired twice say, or two sections of one struct type): give each section a struct type of "+
					"its own, declared once", what)
			}
			return nil, fmt.Errorf("%s: a module is wired twice (passed twice, or included by two modules): pass each module once", what)
		}
		return nil, dig.RootCause(err)
	}
	return infos, nil
}

// errSectionsListed ends the build of the app DeclaredSections lists.
var errSectionsListed = errors.New("config: the sections are listed")
