package config

import (
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
)

// retyped is a value of a text setting, in the file, that YAML reads as a
// number or a boolean and that the decoder writes back as other text than
// the file shows: tokens: [0123] is the number 83, and the token "83".
type retyped struct {
	list   string // "apps" or "forward" for a field of an entry, "" for a setting
	entry  int    // the entry's index in list
	key    string // the setting's key, or the entry's field's
	item   int    // the list item's number, from 1; 0 for a single value
	text   string // as written
	yaml   any    // as YAML reads it
	kind   string // "number" or "boolean"
	hidden bool   // a secret: neither is shown
}

// retypedValues finds the retyped values of the text settings (string and
// []string fields) of a configuration file, and of the apps and forward
// entries' text fields. A quoted value, a block scalar, a value tagged !!str
// and a number that the decoder writes back as written (123456, -7, 1.5)
// are text as written. A file that does not parse has none: the load says
// what is wrong with it.
func retypedValues(data []byte) []retyped {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil
	}
	var found []retyped
	entries := map[string]reflect.Type{"apps": reflect.TypeFor[AppConfig](), "forward": reflect.TypeFor[ForwardConfig]()}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i].Value, resolveAlias(root.Content[i+1])
		if entry, ok := entries[key]; ok {
			if value.Kind != yaml.SequenceNode {
				continue
			}
			for j, e := range value.Content {
				if e = resolveAlias(e); e.Kind != yaml.MappingNode {
					continue
				}
				for k := 0; k+1 < len(e.Content); k += 2 {
					if f, ok := fieldByTag(entry, e.Content[k].Value); ok {
						for _, r := range retypedText(f.Type, e.Content[k+1]) {
							r.list, r.entry, r.key, r.hidden = key, j, f.Tag.Get("koanf"), f.Tag.Get("secret") == "true"
							found = append(found, r)
						}
					}
				}
			}
			continue
		}
		if f, ok := fieldByTag(reflect.TypeFor[Config](), key); ok {
			for _, r := range retypedText(f.Type, value) {
				r.key, r.hidden = key, secret(key)
				found = append(found, r)
			}
		}
	}
	return found
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

// retypedText checks the value n of a field of type typ: a string, or each
// item of a []string (a single value is a list of one, its item 0).
func retypedText(typ reflect.Type, n *yaml.Node) []retyped {
	switch {
	case typ.Kind() == reflect.String:
		if r, ok := retypedScalar(n); ok {
			return []retyped{r}
		}
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.String:
		if n.Kind != yaml.SequenceNode {
			return retypedText(typ.Elem(), n)
		}
		var found []retyped
		for i, item := range n.Content {
			if r, ok := retypedScalar(resolveAlias(item)); ok {
				r.item = i + 1
				found = append(found, r)
			}
		}
		return found
	}
	return nil
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

// retypedProblems are the FieldErrors of the retyped values of the file
// whose settings c decoded, and the keys they name; the apps entries of the
// file are c.Apps' first.
func (c *Config) retypedProblems(found []retyped) (errs []error, keys []string) {
	for _, r := range found {
		what := "the value"
		if r.item > 0 {
			what = fmt.Sprintf("item #%d", r.item)
		}
		msg := fmt.Sprintf("%s is read by YAML as a %s, so the service would use other text than the file shows; quote it",
			what, r.kind)
		if !r.hidden {
			msg = fmt.Sprintf("%q is read by YAML as the %s %v, not as the text it shows; quote it: %q", r.text, r.kind, r.yaml, r.text)
			if r.item > 0 {
				msg = what + " " + msg
			}
		}
		key := r.key
		switch {
		case r.list == "apps" && r.key != "sdkappid" && r.entry < len(c.Apps) && isNumber(c.Apps[r.entry].SdkAppID):
			key = "app_" + c.Apps[r.entry].SdkAppID + "_" + r.key
		case r.list != "":
			key, msg = r.list, fmt.Sprintf("%s[%d]: %s: %s", r.list, r.entry, r.key, msg)
		}
		errs = append(errs, &FieldError{Key: key, Msg: msg})
		if key != "apps" && key != "forward" {
			keys = append(keys, key)
		}
	}
	return errs, keys
}
