// Package lenient gives a JSON body that did not decode into a payload
// type a second chance: the scalars that mean a value of their field's
// type (a quoted number, 1.0 for 1, …) rewritten into that type
// (docs/protocol.md §5.1). The dispatcher decodes payloads with it, and
// commands/message the content of message elements.
package lenient

import (
	"bytes"
	"encoding"
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/imcallback/imcallback/protocol"
)

// Body is the second chance of a body that did not decode into t:
// it returns the body with every scalar that does not fit its field's
// type, but means the same value, rewritten into the type the field wants,
// and whether it changed anything. IM documents integers but some of its
// samples quote them ("EventTime":"1670574414123", docs/protocol.md §5.1);
// protocol.FlexInt covers the fields known to arrive quoted, and this
// covers the other numeric fields of the typed payloads (MsgSeq,
// MsgRandom, Random, OnlineOnlyFlag, UnreadMsgNum, Seq, counts …), so
// that one quoted number does not make a whole callback undecodable:
//
//   - a numeric string, or "" (0), where an integer or float is wanted;
//   - a number with an integral value written as a float (1.0, 1e3) where
//     an integer is wanted;
//   - 0/1 (number or string) and "true"/"false" where a bool is wanted.
//
// Anything else is left as it is, so a genuinely wrong value (a word where
// a number is wanted, a number where a string is wanted, a negative MsgSeq,
// a MsgRandom above 32 bits) still fails. Fields whose type decodes
// itself (json.Unmarshaler, or encoding.TextUnmarshaler, which takes a
// JSON string only), and fields tagged ",string" (which want their value
// quoted), are not touched. Only the failure path pays for this: a
// body that decodes is never rewritten, and Event.Raw always holds the
// body as received.
func Body(t reflect.Type, body []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // more after the value: not one JSON document, as the decoder said
	}
	var w lenientWalk
	out, changed := w.value(t, v)
	if !changed || w.ambiguous {
		return nil, false
	}
	return out, true
}

// decodesItself reports whether the decoders hand a value of type t to
// t's own method: UnmarshalJSON, or UnmarshalText, which the decoders call
// for a JSON string and refuse any other value for (an enum of an integer
// kind takes "1", not 1).
func decodesItself(t reflect.Type) bool {
	for _, u := range []reflect.Type{reflect.TypeFor[json.Unmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler]()} {
		if t.Implements(u) || reflect.PointerTo(t).Implements(u) {
			return true
		}
	}
	return false
}

// lenientWalk fits a body to a payload type. It works on the body's
// text: an object or array it changes nothing in keeps its bytes, so a
// value the payload keeps raw (a message element's MsgContent) stays as
// received, not re-encoded (keys sorted, '<' escaped).
type lenientWalk struct {
	// ambiguous is set when an object has two keys for one field that
	// differ only in case ("MsgSeq" and "msgseq"): the decoder keeps the
	// last in the body, and which one that is depends on an order the
	// second chance should not have to reproduce, so such a body gets no
	// second chance. So does a key given twice for a struct or map field:
	// the decoder merges the two objects, where the rewritten body keeps
	// the last alone.
	ambiguous bool
}

// member is one key of an object with its value, as in the body.
type member struct {
	key   string
	value json.RawMessage
}

// members are the members of the object raw in their order; false when raw
// is no object.
func members(raw json.RawMessage) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, member{key: key, value: v})
	}
	return out, true
}

// items are the elements of the array raw; false when raw is no array.
func items(raw json.RawMessage) ([]json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, false
	}
	var out []json.RawMessage
	for dec.More() {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// writeObject is the object of ms, each key written once, with the value
// of its last member (the one the decoder keeps).
func writeObject(ms []member) json.RawMessage {
	last := map[string]int{}
	for i, m := range ms {
		last[m.key] = i
	}
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for i, m := range ms {
		if last[m.key] != i {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		key, _ := json.Marshal(m.key) // a string always encodes
		b.Write(key)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeArray is the array of vs.
func writeArray(vs []json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(v)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// value returns raw fitted to t where it can be, and whether it changed.
func (w *lenientWalk) value(t reflect.Type, raw json.RawMessage) (json.RawMessage, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if decodesItself(t) {
		return raw, false
	}
	switch t.Kind() {
	case reflect.Struct:
		ms, ok := members(raw)
		if !ok || !w.object(t, ms) {
			return raw, false
		}
		return writeObject(ms), true
	case reflect.Slice, reflect.Array:
		list, ok := items(raw)
		if !ok || t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return raw, false
		}
		changed := false
		for i, item := range list {
			var c bool
			if list[i], c = w.value(t.Elem(), item); c {
				changed = true
			}
		}
		if !changed {
			return raw, false
		}
		return writeArray(list), true
	case reflect.Map:
		ms, ok := members(raw)
		if !ok {
			return raw, false
		}
		changed := false
		for i := range ms {
			var c bool
			if ms[i].value, c = w.value(t.Elem(), ms[i].value); c {
				changed = true
			}
		}
		if !changed {
			return raw, false
		}
		return writeObject(ms), true
	case reflect.String, reflect.Interface:
		return raw, false // only numbers and bools are fitted (scalar): not decoded
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw, false
	}
	fitted, changed := scalar(t, v)
	if !changed {
		return raw, false
	}
	out, err := json.Marshal(fitted)
	if err != nil {
		return raw, false
	}
	return out, true
}

// scalar returns v fitted to the number or bool type t where it can be,
// and whether it changed.
func scalar(t reflect.Type, v any) (any, bool) {
	if v == nil {
		return v, false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return lenientInt(t, v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return lenientUint(t, v)
	case reflect.Float32, reflect.Float64:
		if s, ok := v.(string); ok {
			if text, ok := floatText(s, t.Bits()); ok {
				return json.Number(text), true
			}
		}
	case reflect.Bool:
		switch x := v.(type) {
		case json.Number:
			switch x {
			case "0":
				return false, true
			case "1":
				return true, true
			}
		case string:
			switch strings.TrimSpace(x) {
			case "0", "false":
				return false, true
			case "1", "true":
				return true, true
			}
		}
	}
	return v, false
}

// object fits the members of an object to the fields of the struct t:
// each key's value to the field the decoder fills from it (see fields and
// fieldOf); of a key given twice, every value, for the decoder keeps the
// last (writeObject writes that one alone); of one given twice for a
// field the decoder merges (see merges), none: no second chance.
func (w *lenientWalk) object(t reflect.Type, ms []member) bool {
	fs := fields(t)
	keys := make([]string, len(fs)) // the key of each field, "" for none
	taken := make([]bool, len(fs))
	changed := false
	for i := range ms {
		fi := fieldOf(fs, ms[i].key)
		if fi < 0 {
			continue
		}
		if taken[fi] && (keys[fi] != ms[i].key || merges(fs[fi].typ)) {
			w.ambiguous = true
			return false
		}
		keys[fi], taken[fi] = ms[i].key, true
		if fs[fi].quoted {
			continue // its number or bool comes quoted, as it wants
		}
		var c bool
		if ms[i].value, c = w.value(fs[fi].typ, ms[i].value); c {
			changed = true
		}
	}
	return changed
}

// merges reports whether the decoders merge two values of a key given
// twice for a field of type t, rather than keep the last: a struct or a
// map, or a pointer to one, takes the members of both objects.
func merges(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct || t.Kind() == reflect.Map
}

// field is a field of a struct as the decoder fills it from an object.
type field struct {
	name   string       // its key: the tag's name, else the Go name
	typ    reflect.Type // its type
	quoted bool         // the ",string" option applies (see quoted)
	index  []int        // its index sequence in the struct, for the order
	tagged bool         // its name comes from its tag
}

// fields are the fields of the struct t that the decoder fills, in the
// order of their index sequences, chosen as encoding/json (and
// goccy/go-json, which follows it) chooses them: the exported fields and
// those of embedded structs without a tag name, where a name hides the
// same name deeper down, and two of one name at one depth hide each other
// unless exactly one of them is tagged.
func fields(t reflect.Type) []field {
	type level struct {
		typ   reflect.Type
		index []int
	}
	var all []field
	named := map[string]bool{} // the names of a shallower depth, which hide deeper ones
	visited := map[reflect.Type]bool{}
	next := []level{{typ: t}}
	nextCount := map[reflect.Type]int{} // how often each struct of the next depth is embedded
	for len(next) > 0 {
		current, count := next, nextCount
		next, nextCount = nil, map[reflect.Type]int{}
		var found []field // this depth's fields
		for _, l := range current {
			if visited[l.typ] {
				continue
			}
			visited[l.typ] = true
			for i := 0; i < l.typ.NumField(); i++ {
				sf := l.typ.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(slices.Clip(l.index), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{name: name, typ: sf.Type, quoted: quoted(sf.Type, opts), index: index, tagged: name != ""}
					if f.name == "" {
						f.name = sf.Name
					}
					found = append(found, f)
					if count[l.typ] > 1 {
						// The struct is embedded twice at the depth above:
						// its fields hide each other.
						found = append(found, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, level{typ: ft, index: index})
				}
			}
		}
		// The fields of this depth that no shallower field hides, and that
		// hide no other of their name here.
		byName := map[string][]field{}
		for _, f := range found {
			if !named[f.name] {
				byName[f.name] = append(byName[f.name], f)
			}
		}
		for name, same := range byName {
			named[name] = true
			if f, ok := dominant(same); ok {
				all = append(all, f)
			}
		}
	}
	slices.SortFunc(all, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return all
}

// dominant is the one of same, fields of one name at one depth, that the
// decoder fills: the only one, or the only tagged one; none when several
// remain.
func dominant(same []field) (field, bool) {
	if len(same) == 1 {
		return same[0], true
	}
	var tagged []field
	for _, f := range same {
		if f.tagged {
			tagged = append(tagged, f)
		}
	}
	if len(tagged) == 1 {
		return tagged[0], true
	}
	return field{}, false
}

// fieldOf is the index in fs of the field the decoder fills from key: the
// one of that name, else the first whose name equals it without regard to
// case; -1 for none.
func fieldOf(fs []field, key string) int {
	folded := -1
	for i, f := range fs {
		if f.name == key {
			return i
		}
		if folded < 0 && strings.EqualFold(f.name, key) {
			folded = i
		}
	}
	return folded
}

// quoted reports whether a field of type t with the tag options opts
// wants its value as a JSON string (the ",string" option, which the
// decoder applies to a bool, number or string, or a pointer to one):
// "5" is its right form, so the second chance must not unquote it.
func quoted(t reflect.Type, opts string) bool {
	if !slices.Contains(strings.Split(opts, ","), "string") {
		return false
	}
	if t.Name() == "" && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

// integerText returns the decimal integer v stands for: a numeric string
// (possibly quoted float text with an integral value), "" as 0, or a
// number written as a float with an integral value. The value is read
// from the text exactly: a float64 would round 12345678901234567.0 to
// 12345678901234568, and 1.0000000000000000001 to 1.
func integerText(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return "0", true
		}
	case json.Number:
		s = string(x)
	default:
		return "", false
	}
	return protocol.ExactInteger(s)
}

// floatText returns the JSON number a quoted float of bits bits stands
// for: s trimmed, "" as 0, or a decimal number ([+-]digits[.digits]
// [e[+-]digits], the grammar protocol.ExactInteger reads) within the
// field's range, written as the shortest JSON number that decodes to the
// same float. A text strconv reads but JSON does not ("+1.5", "5.") must
// not go into the rewritten body as it is: the body would not encode, and
// every other field's second chance would be lost with it. Anything else
// (NaN, Inf, hexadecimal, out of range) means no value of the field.
func floatText(s string, bits int) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "0", true
	}
	if !isDecimal(s) {
		return "", false
	}
	f, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return "", false // out of the field's range
	}
	return strconv.FormatFloat(f, 'g', -1, bits), true
}

// isDecimal reports whether s is [+-]digits[.digits][e[+-]digits].
func isDecimal(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if hasExp {
		exp = strings.TrimPrefix(strings.TrimPrefix(exp, "+"), "-")
		if exp == "" || !digitsOnly(exp) {
			return false
		}
	}
	return intPart != "" && digitsOnly(intPart) && digitsOnly(frac)
}

// digitsOnly reports whether s holds decimal digits only ("" does).
func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lenientInt fits v to the signed integer type t.
func lenientInt(t reflect.Type, v any) (any, bool) {
	return lenientInteger(v, func(s string) bool {
		n, err := strconv.ParseInt(s, 10, 64)
		return err == nil && !reflect.Zero(t).OverflowInt(n)
	})
}

// lenientUint fits v to the unsigned integer type t.
func lenientUint(t reflect.Type, v any) (any, bool) {
	return lenientInteger(v, func(s string) bool {
		n, err := strconv.ParseUint(s, 10, 64)
		return err == nil && !reflect.Zero(t).OverflowUint(n)
	})
}

// lenientInteger is v as the decimal integer it stands for, when fits
// accepts that integer for the field, and whether that changed v.
func lenientInteger(v any, fits func(decimal string) bool) (any, bool) {
	s, ok := integerText(v)
	if !ok || !fits(s) {
		return v, false
	}
	if num, isNum := v.(json.Number); isNum && string(num) == s {
		return v, false
	}
	return json.Number(s), true
}
