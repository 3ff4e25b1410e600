// Package lenient gives a JSON body that did not decode into a payload
// type a second chance: the scalars that mean a value of their field's
// type (a quoted number, 1.0 for 1, …) rewritten into that type
// (docs/protocol.md §5.1). The dispatcher decodes payloads with it, and
// commands/message the content of message elements.
package lenient

import (
	"bytes"
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
// itself (json.Unmarshaler), and fields tagged ",string" (which want their
// value quoted), are not touched. Only the failure path pays for this: a
// body that decodes is never rewritten, and Event.Raw always holds the
// body as received.
func Body(t reflect.Type, body []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // more after the value: not one JSON document, as the decoder said
	}
	var w lenientWalk
	v, changed := w.value(t, v)
	if !changed || w.ambiguous {
		return nil, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	return out, true
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// lenientWalk fits a decoded body to a payload type.
type lenientWalk struct {
	// ambiguous is set when an object has two keys for one field that
	// differ only in case ("MsgSeq" and "msgseq"): the decoder keeps the
	// last in the body, and the rewritten body (its keys sorted) could end
	// with the other, so such a body gets no second chance.
	ambiguous bool
}

// value returns v fitted to t where it can be, and whether it changed.
func (w *lenientWalk) value(t reflect.Type, v any) (any, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil || t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return v, false
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return v, false
		}
		return obj, w.object(t, obj)
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok || t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return v, false
		}
		changed := false
		for i, item := range list {
			var c bool
			if list[i], c = w.value(t.Elem(), item); c {
				changed = true
			}
		}
		return list, changed
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return v, false
		}
		changed := false
		for k, item := range obj {
			var c bool
			if obj[k], c = w.value(t.Elem(), item); c {
				changed = true
			}
		}
		return obj, changed
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

// object fits the fields of obj to the struct t, matching keys the way
// the decoder does (without regard to case).
func (w *lenientWalk) object(t reflect.Type, obj map[string]any) bool {
	changed := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if quoted(f.Type, opts) {
			continue // its number or bool comes quoted, as it wants
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !ft.Implements(unmarshalerType) && !reflect.PointerTo(ft).Implements(unmarshalerType) {
				if w.object(ft, obj) {
					changed = true
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		key, matches := "", 0
		for k := range obj {
			if strings.EqualFold(k, name) {
				key = k
				matches++
			}
		}
		if matches == 0 {
			continue
		}
		if matches > 1 {
			w.ambiguous = true
			return false
		}
		var c bool
		if obj[key], c = w.value(f.Type, obj[key]); c {
			changed = true
		}
	}
	return changed
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
