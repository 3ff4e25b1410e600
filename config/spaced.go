package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// spacedMsg ends the message about a value with whitespace around it.
const spacedMsg = "has whitespace before or after it (in the file, check the quotes or the block scalar)"

// checkSpaced reports under its key each string setting, and each item of
// a list setting, of the core settings and of the apps and forward
// entries, that has whitespace before or after it, and returns the keys it
// reported that name one setting, so that other problems of those values
// are not said twice. The keys apps and forward are not returned: every
// entry shares them, so another problem of an entry's value is said too.
//
// Such a value comes from the file: a variable is trimmed when it is read,
// and YAML itself drops the whitespace around a plain value, so it was
// kept by quotes or a block scalar (the line break at its end), often put
// there by a template. It would fail later and elsewhere, or never: a
// listener that does not bind, a data directory or a TLS file named with a
// trailing space, a glob that never matches, a secret that never verifies.
// It is refused rather than trimmed: trimming would make the service use
// another value than the file shows, and a secret compared elsewhere (by
// IM, by a destination) would then silently differ from the file's. A
// secret's value is never shown.
func (c *Config) checkSpaced(bad func(key, format string, args ...any)) map[string]bool {
	reported := map[string]bool{}
	spacedStrings(reflect.ValueOf(c).Elem(), func(f reflect.StructField, item int, s string) {
		key := f.Tag.Get("koanf")
		if key == "sdkappid" && item > c.listedIDs() {
			return // an id of the file's apps entries: said as theirs below
		}
		if (key == "tls_cert" || key == "tls_key") && PEMText(s) {
			return // PEM text in place of a path (a block scalar ends in a line break): said, unquoted, by problems
		}
		bad(key, "%s", describeSpaced(item, s, secret(key)))
		reported[key] = true
	})
	for i, a := range c.Apps {
		spacedStrings(reflect.ValueOf(a), func(f reflect.StructField, item int, s string) {
			field, hidden := f.Tag.Get("koanf"), secretTagged(f)
			if field == "sdkappid" {
				// The entries Load added for the ids of sdkappid are no
				// entries of the file: their ids are said under sdkappid.
				if i < len(c.Apps)-c.appsFromIDs {
					bad("apps", "apps[%d].sdkappid: %s", i, describeSpaced(item, s, hidden))
				}
				return
			}
			key := "app_" + a.SdkAppID + "_" + field
			bad(key, "%s", describeSpaced(item, s, hidden))
			reported[key] = true
		})
	}
	for i, d := range c.Forward {
		label, setting := c.forwardEntry(i)
		spacedStrings(reflect.ValueOf(d), func(f reflect.StructField, item int, s string) {
			field, hidden := f.Tag.Get("koanf"), secretTagged(f)
			key := setting(field)
			bad(key, "%s: %s: %s", label, field, describeSpaced(item, s, hidden))
			if key != "forward" {
				reported[key] = true
			}
		})
	}
	return reported
}

// spacedStrings calls found for each string field of the struct v that
// has a koanf tag, and each item of such a []string field, with
// whitespace before or after it: the field, the item's number (0 for a
// string field) and the value. A field tagged spaces:"separate" is left
// out: its reader splits it at whitespace or trims its items (the secrets
// of a rotation, the NATS URLs), so the whitespace around it, a block
// scalar's final line break say, changes nothing.
func spacedStrings(v reflect.Value, found func(f reflect.StructField, item int, s string)) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if tag := f.Tag.Get("koanf"); tag == "" || tag == "-" || f.Tag.Get("spaces") == "separate" {
			continue
		}
		switch x := v.Field(i).Interface().(type) {
		case string:
			if strings.TrimSpace(x) != x {
				found(f, 0, x)
			}
		case []string:
			for j, s := range x {
				if strings.TrimSpace(s) != s {
					found(f, j+1, s)
				}
			}
		}
	}
}

// describeSpaced is the message about a value (item 0) or a list's item
// with whitespace around it, quoted unless hidden.
func describeSpaced(item int, s string, hidden bool) string {
	switch {
	case item > 0 && hidden:
		return fmt.Sprintf("item #%d %s", item, spacedMsg)
	case item > 0:
		return fmt.Sprintf("item #%d %q %s", item, s, spacedMsg)
	case hidden:
		return "the value " + spacedMsg
	}
	return strconv.Quote(s) + " " + spacedMsg
}
