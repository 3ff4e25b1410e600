package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// markupValues refuses a value that YAML read as markup rather than as the
// value written: an anchor (&name) on an empty value, which is what an
// unquoted value beginning with & reads as (tokens: &S3cret sets no token
// at all), and a tag of the file's own (!name), which an unquoted value
// beginning with ! reads as (admin_token: !S3cret sets none). Its errors
// name the line, never the anchor's or the tag's name: that is the value,
// a secret as often as not. A file that does not parse has none: the load
// says what is wrong with it.
func markupValues(data []byte) error {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var problems []error
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch {
		case n.Kind == yaml.ScalarNode && n.Anchor != "" && n.Tag == "!!null" && n.Value == "":
			problems = append(problems, fmt.Errorf("line %d: a value that begins with & is read as a YAML anchor, "+
				"and holds nothing here: quote the value (\"&…\")", n.Line))
		case strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") && n.Tag != "!":
			problems = append(problems, fmt.Errorf("line %d: a value that begins with ! is read as a YAML tag, "+
				"which drops it: quote the value (\"!…\")", n.Line))
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return errors.Join(problems...)
}

// yamlQuoted are the parts of YAML's errors that quote the file: an
// anchor's name ('…', the value of an unquoted item beginning with * or &)
// and a value (`…`).
var (
	unknownAnchor = regexp.MustCompile(`unknown anchor '.*' referenced`)
	selfAnchor    = regexp.MustCompile(`anchor '.*' value contains itself`)
	mapKey        = regexp.MustCompile(`invalid map key: .*`)
	quotedValue   = regexp.MustCompile("`[^`]*`")
	duplicateKey  = regexp.MustCompile(`mapping key ("(?:[^"\\]|\\.)*") already defined`)
)

// yamlError is err, an error of YAML's reading of the configuration file,
// without the file's text it quotes: an unquoted token or password that
// begins with * is read as an alias, and YAML's error named it in full
// ("unknown anchor 'S3cret' referenced"), into the start's log. A key
// written twice is named only when named says it is a key of the
// configuration (tokens, a section's field): a list of secrets written in
// braces ({tok1, tok1}) is a mapping whose keys are the secrets, and
// YAML's "mapping key "tok1" already defined" quoted one.
func yamlError(err error, named func(key string) bool) error {
	msg := err.Error()
	msg = duplicateKey.ReplaceAllStringFunc(msg, func(m string) string {
		if key, uerr := strconv.Unquote(duplicateKey.FindStringSubmatch(m)[1]); uerr == nil && named(key) {
			return m
		}
		return "mapping key [redacted] (not shown: no setting has it, and it may be a secret, as the items of " +
			"a list written in braces, {a, b}, are keys) already defined"
	})
	msg = unknownAnchor.ReplaceAllLiteralString(msg, "a value that begins with * is read as a YAML alias, "+
		"and no anchor (&) has its name: quote the value (\"*…\")")
	msg = selfAnchor.ReplaceAllLiteralString(msg, "a YAML anchor's value contains itself: quote a value that begins with & or * (\"&…\")")
	msg = mapKey.ReplaceAllLiteralString(msg, "invalid map key")
	msg = quotedValue.ReplaceAllLiteralString(msg, "`[redacted]`")
	return errors.New(msg)
}
