package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// retyped is a value of a text setting, in the file, that YAML reads as a
// number or a boolean and that the decoder writes back as other text than
// the file shows: tokens: [0123] is the number 83, and the token "83"; or
// a value of a whole-number setting that YAML reads as octal where a
// variable reads it as decimal (workers: 010 is 8, IMCALLBACK_WORKERS=010 10).
type retyped struct {
	list   string // "apps" or "forward" for a field of an entry, "" for a setting
	entry  int    // the entry's index in list
	key    string // the setting's key, or the entry's field's
	item   int    // the list item's number, from 1; 0 for a single value
	text   string // as written
	yaml   any    // as YAML reads it
	kind   string // "number" or "boolean"; "octal" for a whole number (retypedNumber)
	hidden bool   // a secret: neither is shown
	// decimal is a whole number's value as a variable reads its text,
	// for kind "octal" (010: YAML's 8, decimal 10).
	decimal int64
	// within is the value's path from key when it is within a section's
	// struct, map or list of them (limits.max_joins, rules[1].name), ""
	// for the key's own value.
	within string
}

// retypedValues finds the retyped values of the text settings (string and
// []string fields) and the whole-number ones (retypedNumber) of a
// configuration file, and of the apps and forward entries' such fields. A quoted value, a block scalar, a value tagged !!str
// and a number that the decoder writes back as written (123456, -7, 1.5)
// are text as written. A file that does not parse has none: the load says
// what is wrong with it.
func retypedValues(data []byte) []retyped {
	root := fileRoot(data)
	if root == nil {
		return nil
	}
	var found []retyped
	entries := map[string]reflect.Type{"apps": reflect.TypeFor[AppConfig](), "forward": reflect.TypeFor[ForwardConfig]()}
	pairs := mappingPairs(root)
	for i := 0; i+1 < len(pairs); i += 2 {
		key, value := pairs[i].Value, resolveAlias(pairs[i+1])
		entry, ok := entries[key]
		if !ok {
			found = append(found, retypedFields(pairs[i:i+2], reflect.TypeFor[Config](), func(f reflect.StructField) bool {
				return secret(f.Tag.Get("koanf"))
			})...)
			continue
		}
		items := value.Content
		switch value.Kind {
		case yaml.MappingNode:
			// One entry written without its dash, which decodes as that
			// entry (a mapping keyed otherwise is refused as such).
			items = []*yaml.Node{value}
		case yaml.SequenceNode:
		default:
			continue
		}
		for j, e := range items {
			if e = resolveAlias(e); e.Kind != yaml.MappingNode {
				continue
			}
			for _, r := range retypedFields(mappingPairs(e), entry, secretTagged) {
				r.list, r.entry = key, j
				found = append(found, r)
			}
		}
	}
	return found
}

// retypedSection finds the retyped values of the text fields of the
// section key, of type t, in a configuration file.
func retypedSection(data []byte, key string, t reflect.Type) []retyped {
	root := fileRoot(data)
	if root == nil || t.Kind() != reflect.Struct {
		return nil
	}
	top := mappingPairs(root)
	for i := 0; i+1 < len(top); i += 2 {
		v := resolveAlias(top[i+1])
		if top[i].Value != key || v.Kind != yaml.MappingNode {
			continue
		}
		pairs := mappingPairs(v)
		found := retypedFields(pairs, t, secretTagged)
		for j := 0; j+1 < len(pairs); j += 2 {
			f, ok := fieldByTag(t, pairs[j].Value)
			if !ok || !holdsValues(f.Type) && !(isList(f.Type) && holdsValues(f.Type.Elem())) {
				continue
			}
			name := f.Tag.Get("koanf")
			for _, r := range retypedWithin(f.Type, pairs[j+1], name, secretTagged(f)) {
				r.key = name
				found = append(found, r)
			}
		}
		return found
	}
	return nil
}

// retypedWithin finds the retyped values within n, the file's value of
// type t at path (a section's struct or map field, or a list of them):
// those of the text and whole-number fields of its structs (by their
// keys), of its maps' values and of its lists' entries, each with its
// path (limits.max_joins, rules[1].name); hidden, or within a field
// tagged secret:"true", a value is a secret.
func retypedWithin(t reflect.Type, n *yaml.Node, path string, hidden bool) []retyped {
	n = resolveAlias(n)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var found []retyped
	switch {
	case holdsValues(t) && n.Kind == yaml.MappingNode:
		pairs := mappingPairs(n)
		for i := 0; i+1 < len(pairs); i += 2 {
			k := pairs[i].Value
			if t.Kind() == reflect.Map {
				found = append(found, retypedWithin(t.Elem(), pairs[i+1], path+"."+k, hidden)...)
			} else if f, ok := fieldByTag(t, k); ok {
				found = append(found, retypedWithin(f.Type, pairs[i+1], path+"."+k, hidden || secretTagged(f))...)
			}
		}
	case isList(t) && holdsValues(t.Elem()) && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			found = append(found, retypedWithin(t.Elem(), item, fmt.Sprintf("%s[%d]", path, i), hidden)...)
		}
	default:
		for _, r := range retypedText(t, n) {
			r.within, r.hidden = path, hidden
			found = append(found, r)
		}
	}
	return found
}

// isList reports whether t is a list (a slice or an array) of other than
// bytes.
func isList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8 || t.Kind() == reflect.Array
}

// fileRoot is the top-level mapping of a configuration file, nil when it
// has none.
func fileRoot(data []byte) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	if root := resolveAlias(doc.Content[0]); root.Kind == yaml.MappingNode {
		return root
	}
	return nil
}

// mappingPairs are the key and value pairs (key, value, …) that the
// mapping n holds as YAML decodes it, its merge keys (<<: *defaults, or a
// list of them) resolved: a merged mapping's pairs stand in its merge
// key's place, but for the keys the mapping has of its own, and those an
// earlier merged mapping has, whose values replace theirs. A merged
// mapping's own merge keys are resolved alike, and a mapping merged twice
// adds nothing the second time.
func mappingPairs(n *yaml.Node) []*yaml.Node {
	var pairs []*yaml.Node
	taken := map[string]bool{}
	merged := map[*yaml.Node]bool{}
	var add func(m *yaml.Node)
	add = func(m *yaml.Node) {
		if merged[m] {
			return
		}
		merged[m] = true
		own := make([]bool, len(m.Content)) // the keys whose values m sets
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k := m.Content[i]; !isMergeKey(k) && !taken[k.Value] {
				taken[k.Value] = true
				own[i] = true
			}
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			switch {
			case isMergeKey(m.Content[i]):
				v := resolveAlias(m.Content[i+1])
				from := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					from = v.Content
				}
				for _, f := range from {
					if f = resolveAlias(f); f.Kind == yaml.MappingNode {
						add(f)
					}
				}
			case own[i]:
				pairs = append(pairs, m.Content[i], m.Content[i+1])
			}
		}
	}
	add(resolveAlias(n))
	return pairs
}

// isMergeKey reports whether the key k of a mapping is YAML's merge key
// (<<, unquoted).
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// retypedFields checks the pairs of a mapping (key, value, …, as
// mappingPairs gives them) that name a field of the struct t; hidden says
// which fields are secrets.
func retypedFields(pairs []*yaml.Node, t reflect.Type, hidden func(reflect.StructField) bool) []retyped {
	var found []retyped
	for i := 0; i+1 < len(pairs); i += 2 {
		f, ok := fieldByTag(t, pairs[i].Value)
		if !ok {
			continue
		}
		for _, r := range retypedText(f.Type, resolveAlias(pairs[i+1])) {
			r.key, r.hidden = f.Tag.Get("koanf"), hidden(f)
			found = append(found, r)
		}
	}
	return found
}

// documents counts the YAML documents of data that hold something (an
// empty document, or one of comments only, is none); the loader reads the
// first alone. A file that does not parse counts 0: the load says why.
func documents(data []byte) int {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return n
		}
		if len(doc.Content) > 0 && doc.Content[0].ShortTag() != "!!null" {
			n++
		}
	}
}

// fieldByTag is the field of the struct t whose koanf tag is key.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("koanf") == key && key != "" && key != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// resolveAlias is the node an alias (*name) stands for, n itself otherwise.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// retypedText checks the value n of a field of type typ: a string or a
// whole number (not a duration), or each item of a list of them (a single
// value is a list of one, its item 0).
func retypedText(typ reflect.Type, n *yaml.Node) []retyped {
	elem := typ
	if typ.Kind() == reflect.Slice {
		elem = typ.Elem()
	}
	var check func(*yaml.Node) (retyped, bool)
	switch {
	case elem.Kind() == reflect.String:
		check = retypedScalar
	case isInteger(elem.Kind()) && elem != reflect.TypeFor[time.Duration]():
		check = retypedNumber
	default:
		return nil
	}
	if typ.Kind() != reflect.Slice || n.Kind != yaml.SequenceNode {
		if r, ok := check(n); ok {
			return []retyped{r}
		}
		return nil
	}
	var found []retyped
	for i, item := range n.Content {
		if r, ok := check(resolveAlias(item)); ok {
			r.item = i + 1
			found = append(found, r)
		}
	}
	return found
}

// retypedNumber reports whether n is a plain whole number with a leading
// zero (010) that YAML reads as octal (8) while a variable, and the same
// text quoted, read it as decimal (10): the file would set another number
// than it shows. A number the two read alike (05) is no such value, nor
// is one written with an explicit base (0x10, 0o10), which no variable
// takes.
func retypedNumber(n *yaml.Node) (retyped, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return retyped{}, false
	}
	var octal int64
	if n.Decode(&octal) != nil {
		return retyped{}, false
	}
	var decimal int64
	if setWholeNumber(reflect.ValueOf(&decimal).Elem(), n.Value) != "" || decimal == octal {
		return retyped{}, false
	}
	return retyped{text: n.Value, yaml: octal, kind: "octal", decimal: decimal}, true
}

// retypedScalar reports whether n is a scalar that YAML reads as a number
// or a boolean which the decoder writes back as other text than n's.
func retypedScalar(n *yaml.Node) (retyped, bool) {
	if n.Kind != yaml.ScalarNode {
		return retyped{}, false
	}
	kind := ""
	switch n.ShortTag() {
	case "!!int", "!!float":
		kind = "number"
	case "!!bool":
		kind = "boolean"
	default:
		return retyped{}, false
	}
	var v any
	if n.Decode(&v) != nil {
		return retyped{}, false
	}
	var seen string
	if decodeValue(v, &seen) != nil || seen == n.Value {
		return retyped{}, false
	}
	return retyped{text: n.Value, yaml: v, kind: kind}, true
}

// message says what is wrong with r, quoting it unless it is a secret
// (a secret whole number written with a leading zero too), after its
// path when it is within a section's field (limits.max_joins: …).
func (r retyped) message() string {
	if r.within != "" {
		inner := r
		inner.within = ""
		return r.within + ": " + inner.message()
	}
	what := "the value"
	if r.item > 0 {
		what = fmt.Sprintf("item #%d", r.item)
	}
	if r.kind == "octal" && r.hidden {
		// A secret whole number (a section's field tagged secret:"true"):
		// neither the text nor either reading of it is shown.
		return what + " is read by YAML as an octal number, not as the decimal one it shows: write it without the leading zero"
	}
	if r.kind == "octal" {
		msg := fmt.Sprintf("%s is read by YAML as the octal number %v, not as %d: write it without the leading zero "+
			"(or %[2]v, if that is meant)", r.text, r.yaml, r.decimal)
		if r.item > 0 {
			msg = what + " " + msg
		}
		return msg
	}
	if r.hidden {
		return fmt.Sprintf("%s is read by YAML as a %s, so the service would use other text than the file shows; quote it",
			what, r.kind)
	}
	msg := fmt.Sprintf("%q is read by YAML as the %s %v, not as the text it shows; quote it: %q", r.text, r.kind, r.yaml, r.text)
	if r.item > 0 {
		msg = what + " " + msg
	}
	return msg
}

// retypedProblems are the FieldErrors of the retyped values of the file
// whose settings c decoded, and the keys they name; the apps entries of the
// file are c.Apps' first. A value whose variable vars set is not used, so
// not refused.
func (c *Config) retypedProblems(found []retyped, vars []string) (errs []error, keys []string) {
	for _, r := range found {
		key, msg := r.key, r.message()
		switch {
		case r.list == "apps" && r.key != "sdkappid" && r.entry < len(c.Apps) && isNumber(c.Apps[r.entry].SdkAppID):
			key = "app_" + c.Apps[r.entry].SdkAppID + "_" + r.key
		case r.list != "":
			key, msg = r.list, fmt.Sprintf("%s[%d].%s: %s", r.list, r.entry, r.key, msg)
		}
		if envSets(vars, key) {
			continue
		}
		errs = append(errs, &FieldError{Key: key, Msg: msg})
		if key != "apps" && key != "forward" {
			keys = append(keys, key)
		}
	}
	return errs, keys
}

// envSets reports whether vars set the variable of the setting key (a
// core setting's, an app's app_<SDKAPPID>_<key> or a section's
// <section>.<field>) to a value that replaces the file's (a blank one
// counts as unset). The variable's name is matched as Load reads it: in
// any case after IMCALLBACK_ (EnvSetting), so IMCALLBACK_workers
// replaces the file's workers as IMCALLBACK_WORKERS does.
func envSets(vars []string, key string) bool {
	want := strings.ToLower(strings.ReplaceAll(key, ".", "_"))
	for _, kv := range vars {
		n, v, _ := strings.Cut(kv, "=")
		if setting, ok := EnvSetting(n); ok && setting == want && !blank(v) {
			return true
		}
	}
	return false
}
