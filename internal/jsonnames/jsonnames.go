// Package jsonnames finds a name an object of a JSON text gives twice:
// Go's decoder keeps the last value of a repeated name, another reader the
// first, so an answer that repeats one says two things. The gateway reads
// a destination's answer with it, and imsend an endpoint's as IM would.
package jsonnames

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
)

// Repeated is the first name an object of the JSON value body gives
// twice, at any depth (after unescaping, as decoding compares them). With
// fold, names that differ only in case are the same name, as decoding
// into a struct compares them. body must be valid JSON.
func Repeated(body []byte, fold bool) (string, bool) {
	type frame struct {
		seen    map[string]bool // nil: an array
		wantKey bool
	}
	var stack []frame
	d := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", false
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			if name, ok := tok.(string); ok {
				key := name
				if fold {
					key = foldName(name)
				}
				if stack[n-1].seen[key] {
					return name, true
				}
				stack[n-1].seen[key] = true
				stack[n-1].wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{seen: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the object holding it wants its next name.
		if n := len(stack); n > 0 && stack[n-1].seen != nil {
			stack[n-1].wantKey = true
		}
		if len(stack) == 0 {
			return "", false
		}
	}
}

// foldName is name folded as encoding/json folds the names it matches to
// a struct's fields: two names fold alike when they are equal under
// Unicode simple case folding.
func foldName(name string) string {
	var b strings.Builder
	for _, r := range name {
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				r = next
				break
			}
			r = next
		}
		b.WriteRune(r)
	}
	return b.String()
}
