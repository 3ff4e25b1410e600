package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/v2"
)

// decode fills c from k one setting at a time, as koanf's Unmarshal would,
// so that one bad value does not hide the others. A value that does not
// decode is reported as a *FieldError naming it and replaced by its
// default; failed holds the keys of those values.
//
// A duration must have a unit: YAML reads `sign_window: 30` as the number
// 30, which mapstructure would take as 30 ns.
func (c *Config) decode(k *koanf.Koanf) (errs []error, failed map[string]bool) {
	failed = map[string]bool{}
	v := reflect.ValueOf(c).Elem()
	def := reflect.ValueOf(Default())
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("koanf")
		if key == "" || key == "-" {
			continue
		}
		field := v.Field(i)
		msgs := decodeField(k, key, field, secret(key))
		if len(msgs) == 0 {
			continue
		}
		field.Set(def.Field(i))
		failed[key] = true
		for _, m := range msgs {
			errs = append(errs, &FieldError{Key: key, Msg: m})
		}
	}
	return errs, failed
}

// decodeField decodes the value of key into field and says, one message
// each, what is wrong with it; with hidden (a secret) the messages never
// show the value.
func decodeField(k *koanf.Koanf, key string, field reflect.Value, hidden bool) []string {
	display := func(v any) string {
		if hidden {
			return "the value"
		}
		return show(key, v)
	}
	raw := k.Get(key)
	typ := field.Type()
	duration := reflect.TypeFor[time.Duration]()
	durationMsg := func(v any) string { return checkDuration(v, display(v)) }
	switch {
	case typ == duration:
		if msg := durationMsg(raw); msg != "" {
			return []string{msg}
		}
	case typ.Kind() == reflect.Slice && typ.Elem() == duration:
		if msgs := eachItem(raw, durationMsg); len(msgs) > 0 {
			return msgs
		}
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
		if msgs := entryProblems(raw, key, typ.Elem()); len(msgs) > 0 {
			return msgs
		}
	case typ.Kind() == reflect.Bool && raw != nil && !isBoolean(raw):
		return []string{display(raw) + " is not true or false"}
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Bool && raw != nil:
		// Each item as a single boolean: the decoder would take any
		// number but 0 as true, and an empty text as false.
		if msgs := eachItem(raw, func(item any) string {
			if isBoolean(item) {
				return ""
			}
			return display(item) + " is not true or false"
		}); len(msgs) > 0 {
			return msgs
		}
	case typ.Kind() == reflect.Slice && isInteger(typ.Elem().Kind()) && typ.Elem().Kind() != reflect.Uint8 && raw != nil:
		// Each item as a single whole number: the decoder would read
		// "010" as octal 8 and "0x10" as hex, where the setting's own
		// whole numbers are decimal.
		return setItems(field, raw, display, setWholeNumber)
	case isInteger(typ.Kind()) && raw != nil:
		// The decoder is weakly typed: it would truncate 1.5 to 1, take
		// true as 1 and read "010" as octal 8 and "0x10" as hex.
		if msg := setWholeNumber(field, raw); msg != "" {
			return []string{display(raw) + " " + msg}
		}
		return nil
	case typ.Kind() == reflect.Slice && isFloat(typ.Elem().Kind()) && raw != nil:
		return setItems(field, raw, display, setNumber)
	case isFloat(typ.Kind()) && raw != nil:
		// A module section's number: the decoder would take NaN and the
		// infinities, "1_0" as 10, and quote strconv's error for the rest.
		if msg := setNumber(field, raw); msg != "" {
			return []string{display(raw) + " " + msg}
		}
		return nil
	case holdsValues(typ):
		// A module section's struct or map field: its values are read as
		// the settings' are, not by the decoder's own rules.
		if msgs := nestedProblems(typ, raw, key, hidden); len(msgs) > 0 {
			return msgs
		}
	}
	err := k.UnmarshalWithConf(key, field.Addr().Interface(), koanf.UnmarshalConf{Tag: "koanf"})
	if err == nil {
		switch {
		case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
			setEntryNumbers(raw, field)
		case holdsValues(typ):
			setNumbersWithin(field, raw)
		}
		return nil
	}
	shown := display(raw)
	switch kind := reflect.ValueOf(raw).Kind(); {
	case typ.Kind() == reflect.String && (kind == reflect.Slice || kind == reflect.Map):
		return []string{fmt.Sprintf("%s is a %s, not a single value", shown, kindName(kind))}
	case typ.Kind() == reflect.Slice && kind == reflect.Map:
		return []string{fmt.Sprintf("%s is a map, not a list (in the environment: comma-separated)", shown)}
	case typ.Kind() == reflect.Slice && kind == reflect.Slice && singleValue(typ.Elem()):
		// An item written as a mapping or a list: the decoder's own
		// message is two paragraphs about Go types.
		if msgs := eachItem(raw, func(item any) string {
			if k := reflect.ValueOf(item).Kind(); k == reflect.Map || k == reflect.Slice {
				return fmt.Sprintf("%s is a %s, not a single value", display(item), kindName(k))
			}
			return ""
		}); len(msgs) > 0 {
			return msgs
		}
	}
	switch typ.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return []string{shown + " is not a whole number"}
	}
	if hidden {
		if raw == redacted {
			// config check's rendering of a list or a map whose entries
			// hold a secret, copied back.
			return []string{`is "` + redacted + `", the placeholder config check and /v1/config show in place of a value holding a secret: write the value itself`}
		}
		return []string{"cannot read the value"} // the decoder's message may quote it
	}
	return []string{fmt.Sprintf("cannot read %s: %v", shown, err)}
}

// checkDuration says what is wrong with v as a duration, "" when nothing
// is; shown is v as a message shows it.
func checkDuration(v any, shown string) string {
	if _, err := readDuration(v, shown); err != nil {
		return err.Error()
	}
	return ""
}

// readDuration reads v as a setting's duration; its error says what is
// wrong with it, shown being v as the message shows it, and wraps
// ErrDurationRange for one written right but too long.
func readDuration(v any, shown string) (time.Duration, error) {
	if msg := durationProblem(v, shown); msg != "" {
		return 0, errors.New(msg)
	}
	var d time.Duration
	if decodeValue(v, &d) != nil {
		if s, ok := v.(string); ok && durationSyntax.MatchString(s) {
			// Written right, but past what a duration holds.
			hours := int64(math.MaxInt64 / time.Hour)
			return 0, fmt.Errorf("%s is %w: from -%dh to %dh (about 292 years)", shown, ErrDurationRange, hours, hours)
		}
		return 0, errors.New(shown + " is not a duration (e.g. 60s)")
	}
	return d, nil
}

// ErrDurationRange is what the error of ParseDuration wraps for a
// duration written right but past what a time.Duration holds (about 292
// years).
var ErrDurationRange = errors.New("out of range")

// ParseDuration reads s as a setting's duration is read: as Go writes one
// (500ms, 90s, 1h30m), with d for a day of 24 hours (7d, 1d12h, 1.5d); a
// number without a unit is refused, except 0. The error quotes s, and
// wraps ErrDurationRange for one too long. For a duration given elsewhere
// than in the configuration (the admin API's since, the CLI's --since).
func ParseDuration(s string) (time.Duration, error) {
	return readDuration(s, strconv.Quote(s))
}

// kindName names a YAML collection in a message.
func kindName(k reflect.Kind) string {
	if k == reflect.Map {
		return "map"
	}
	return "list"
}

// singleValue reports whether a value of type typ is written in the file
// as a single value (a text, a number, a boolean, a duration), not as a
// mapping or a list: one written as either is an error the decoder
// reports (decodeField), not keys of its own.
func singleValue(typ reflect.Type) bool {
	switch typ.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// eachItem applies check to each item of a list, or to a single value
// (which decodes as a list of one), and returns its messages, prefixed
// with the item's number in a list.
func eachItem(raw any, check func(item any) string) []string {
	var msgs []string
	rv := reflect.ValueOf(raw)
	if raw == nil || rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		if msg := check(raw); msg != "" {
			msgs = append(msgs, msg)
		}
		return msgs
	}
	for i := range rv.Len() {
		if msg := check(rv.Index(i).Interface()); msg != "" {
			msgs = append(msgs, fmt.Sprintf("item #%d: %s", i+1, msg))
		}
	}
	return msgs
}

// decodeValue decodes one value as koanf would decode a setting.
func decodeValue(v, ptr any) error {
	k := koanf.New(".")
	if err := k.Set("v", v); err != nil {
		return err
	}
	return k.UnmarshalWithConf("v", ptr, koanf.UnmarshalConf{Tag: "koanf"})
}

// durationProblem says what is wrong with v as a duration before it is
// decoded, "" when nothing is or when only decoding can tell. A number
// without a unit (30, "30") is wrong unless it is 0; so is a value that is
// neither a number nor text. shown is v as a message shows it.
func durationProblem(v any, shown string) string {
	if v == nil || reflect.TypeOf(v) == reflect.TypeFor[time.Duration]() {
		return ""
	}
	rv := reflect.ValueOf(v)
	var n string
	switch rv.Kind() {
	case reflect.String:
		s := strings.TrimSpace(rv.String())
		if !plainNumber(s) {
			return ""
		}
		n = s
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n = strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n = strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		n = strconv.FormatFloat(rv.Float(), 'f', -1, 64)
	default:
		return shown + " is not a duration (e.g. 60s)"
	}
	if f, err := strconv.ParseFloat(n, 64); err == nil && f == 0 {
		return "" // 0 needs no unit, as in time.ParseDuration
	}
	return fmt.Sprintf("%s needs a unit, e.g. %ss", n, n)
}

// durationSyntax is time.ParseDuration's syntax with days (d), as the
// decoder reads a duration: a value that has it and does not parse is out
// of range.
var durationSyntax = regexp.MustCompile(`^[-+]?((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h|d))+$`)

// plainNumber reports whether s is a decimal number such as 30, -1 or 1.5.
func plainNumber(s string) bool {
	s = strings.TrimLeft(s, "+-")
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r != '.':
			return false
		}
	}
	return digits > 0 && strings.Count(s, ".") <= 1
}

// show renders a value for a message: text quoted, other values as Go
// prints them, secrets (tokens, passwords in URLs) not at all.
func show(key string, v any) string {
	if secret(key) {
		return "the value"
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// secret reports whether the value of key may hold a secret that Redacted
// hides: tokens, or a credential in a URL (a forward destination's may
// hold one in its path too, which RedactURL hides).
func secret(key string) bool {
	// apps holds tokens and secret keys: never quote what a decoder saw there.
	return key == "tokens" || key == "store_dsn" || key == "nats_url" || key == "admin_token" || key == "apps" ||
		key == "forward" || key == "forward_secret" || key == "forward_url"
}

// secretTagged reports whether the field f is tagged secret:"true": its
// value is never shown.
func secretTagged(f reflect.StructField) bool { return f.Tag.Get("secret") == "true" }

// entryExamples are how an entry of each list of entries begins, for the
// message about an entry that is not a map of keys.
var entryExamples = map[string]string{"apps": `sdkappid: "1400000001"`, "forward": "url: https://…"}

// entryProblems says, one message each, what is wrong with the values of
// each entry of the list of entries under key (apps, forward): an entry
// that is not a map of keys, and each key's value that does not decode,
// prefixed with the entry's key in the file, as an unknown key of one is
// named (from 0): "apps[1].iplist: …". A
// value is quoted unless its field is tagged secret:"true". Durations
// need a unit ("timeout: 5" is an error) and whole numbers must be whole
// (entryNumber). One entry written without its dash (a mapping in place of
// the list), which decodes as that entry, is checked as one.
func entryProblems(raw any, key string, entry reflect.Type) []string {
	items, ok := raw.([]any)
	if m, isMap := raw.(map[string]any); isMap {
		// A mapping keyed otherwise (apps: {1400000001: …}) holds none of
		// an entry's keys, so nothing here: unknownEntryKeys refuses it.
		items, ok = []any{m}, true
	}
	if !ok {
		return nil // not a list: the decoder's error says so
	}
	var msgs []string
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			// The entry itself may be a secret written in the wrong place.
			msgs = append(msgs, fmt.Sprintf("%s[%d] is not a map of keys (e.g. %s)", key, i, entryExamples[key]))
			continue
		}
		for j := range entry.NumField() {
			f := entry.Field(j)
			name := f.Tag.Get("koanf")
			v, set := m[name]
			if !set || name == "" {
				continue
			}
			shown := show(name, v)
			if secretTagged(f) {
				shown = "the value"
			}
			if holdsValues(f.Type) {
				if nested := nestedProblems(f.Type, v, fmt.Sprintf("%s[%d].%s", key, i, name), secretTagged(f)); len(nested) > 0 {
					msgs = append(msgs, nested...)
					continue
				}
			}
			for _, msg := range entryFieldProblems(f.Type, v, shown) {
				msgs = append(msgs, fmt.Sprintf("%s[%d].%s: %s", key, i, name, msg))
			}
		}
	}
	return msgs
}

// entryFieldProblems says what is wrong with v as a value of an entry's
// field of type typ; shown is v as a message shows it.
func entryFieldProblems(typ reflect.Type, v any, shown string) []string {
	if typ == reflect.TypeFor[time.Duration]() {
		if msg := checkDuration(v, shown); msg != "" {
			return []string{msg}
		}
		return nil
	}
	if v != nil && (isInteger(typ.Kind()) || typ.Kind() == reflect.Slice && isInteger(typ.Elem().Kind())) {
		return entryNumber(typ, v)
	}
	if typ.Kind() == reflect.Bool && v != nil && !isBoolean(v) {
		return []string{shown + " is not true or false"}
	}
	if err := decodeValue(v, reflect.New(typ).Interface()); err == nil {
		return nil
	}
	switch kind := reflect.ValueOf(v).Kind(); {
	case typ.Kind() == reflect.String && (kind == reflect.Slice || kind == reflect.Map):
		return []string{fmt.Sprintf("%s is a %s, not a single value", shown, kindName(kind))}
	case typ.Kind() == reflect.Slice && kind == reflect.Map:
		return []string{shown + " is a map, not a list"}
	case typ.Kind() == reflect.Bool:
		return []string{shown + " is not true or false"}
	}
	return []string{"cannot read " + shown}
}

// isBoolean reports whether v is a boolean as a variable writes one: a
// YAML boolean, or text or a number that strconv.ParseBool takes (true,
// F, 1, 0). The decoder is weakly typed: it would take any number but 0
// as true, and an empty string as false.
func isBoolean(v any) bool {
	switch v.(type) {
	case bool:
		return true
	case string, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		_, err := strconv.ParseBool(fmt.Sprint(v))
		return err == nil
	}
	return false
}

// isInteger reports whether k is a signed or unsigned integer kind.
func isInteger(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// setWholeNumber sets the integer field to v and says what is wrong with
// v when it cannot, "" when it did: v must be a whole number that fits the
// field: an integer, a float without a fraction (YAML reads 1e6 as one),
// or decimal digits with an optional sign. Anything else (a fraction, a
// boolean, "1MB", "0x10") "is not a whole number"; a whole number past the
// field's bounds "is too large" or "is too small", with the bound it
// passed: the one on its side, since the setting's own check (at least 16
// connections, say) takes a far narrower range than the Go type's.
func setWholeNumber(field reflect.Value, v any) string {
	const notWhole = "is not a whole number"
	var n big.Int
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n.SetInt64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n.SetUint64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
			return notWhole
		}
		big.NewFloat(f).Int(&n)
	case reflect.String:
		s := strings.TrimSpace(rv.String())
		if !plainNumber(s) || strings.Contains(s, ".") || strings.Count(s, "+")+strings.Count(s, "-") > 1 {
			return notWhole
		}
		if _, ok := n.SetString(strings.TrimPrefix(s, "+"), 10); !ok {
			return notWhole
		}
	default:
		return notWhole
	}
	bits := field.Type().Bits()
	switch field.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Sign() < 0 {
			return "is too small: at least 0"
		}
		if !n.IsUint64() || field.OverflowUint(n.Uint64()) {
			return fmt.Sprintf("is too large: at most %d", uint64(math.MaxUint64)>>(64-bits))
		}
		field.SetUint(n.Uint64())
	default:
		if !n.IsInt64() || field.OverflowInt(n.Int64()) {
			if n.Sign() < 0 {
				return fmt.Sprintf("is too small: at least %d", int64(-1)<<(bits-1))
			}
			return fmt.Sprintf("is too large: at most %d", int64(math.MaxInt64)>>(64-bits))
		}
		field.SetInt(n.Int64())
	}
	return ""
}

// isFloat reports whether k is a floating-point kind.
func isFloat(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }

// decimalNumber matches a number as a setting's value writes it: an
// optional sign, decimal digits with at most one point, and an optional
// exponent (0.25, -1, .5, 2.5e-3).
var decimalNumber = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// setNumber sets the floating-point field (a module section's: the core
// settings have none) to v and says what is wrong with v when it cannot,
// "" when it did: v must be a finite number that fits the field, an
// integer or a float (as YAML reads one) or a decimal text (decimalNumber).
// Anything else (a boolean, a word, "0x10", "1_0", which the decoder reads
// as 10) "is not a number"; NaN and the infinities, which strconv and
// YAML's .nan read, "is not a finite number" (a Validate's range check
// would let NaN through: it compares false with every bound); a number
// past the field's bounds "is out of range", with the bounds.
func setNumber(field reflect.Value, v any) string {
	const notNumber, notFinite = "is not a number", "is not a finite number"
	var f float64
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f = float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f = float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		f = rv.Float()
	case reflect.String:
		s := strings.TrimSpace(rv.String())
		n, err := strconv.ParseFloat(s, 64)
		switch {
		case err == nil && (math.IsNaN(n) || math.IsInf(n, 0)): // "NaN", "Inf", "infinity"
			return notFinite
		case !decimalNumber.MatchString(s):
			return notNumber
		case err != nil: // a decimal number past float64's range
			return outOfRange(field)
		}
		f = n
	default:
		return notNumber
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return notFinite
	}
	if field.OverflowFloat(f) {
		return outOfRange(field)
	}
	field.SetFloat(f)
	return ""
}

// outOfRange is setNumber's message of a number past the bounds of the
// floating-point field.
func outOfRange(field reflect.Value) string {
	largest := math.MaxFloat64
	if field.Kind() == reflect.Float32 {
		largest = math.MaxFloat32
	}
	return fmt.Sprintf("is out of range: from %g to %g", -largest, largest)
}

// setItems sets the list field of numbers to the items of raw (a single
// value is a list of one), each read by set (setWholeNumber, setNumber),
// and says, one message each, what is wrong with the items that are not
// numbers that fit (then the field is left as it was); display shows an
// item in a message.
func setItems(field reflect.Value, raw any, display func(any) string, set func(reflect.Value, any) string) []string {
	items := []any{raw}
	if rv := reflect.ValueOf(raw); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		items = make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
	}
	out := reflect.MakeSlice(field.Type(), len(items), len(items))
	var msgs []string
	for i, item := range items {
		if msg := set(out.Index(i), item); msg != "" {
			msgs = append(msgs, fmt.Sprintf("item #%d: %s %s", i+1, display(item), msg))
		}
	}
	if len(msgs) == 0 {
		field.Set(out)
	}
	return msgs
}

// setEntryNumbers sets again, as setWholeNumber reads them, the
// whole-number fields and lists of them (apps: iplist_nettypes) of the
// entries field decoded from raw, the file's list of entries (one written
// without its dash is an entry): the decoder read a text one ("010") as
// octal or hex, where the variable and entryNumber's check read it in
// decimal. entryProblems has refused the values that are no such numbers.
func setEntryNumbers(raw any, field reflect.Value) {
	items, ok := raw.([]any)
	if m, isMap := raw.(map[string]any); isMap {
		items, ok = []any{m}, true
	}
	if !ok || len(items) != field.Len() {
		return
	}
	entry := field.Type().Elem()
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		for j := range entry.NumField() {
			f := entry.Field(j)
			v, set := m[f.Tag.Get("koanf")]
			if !set || v == nil || f.Tag.Get("koanf") == "" || f.Type == reflect.TypeFor[time.Duration]() {
				continue
			}
			switch dst := field.Index(i).Field(j); {
			case holdsValues(f.Type):
				setNumbersWithin(dst, v)
			case isInteger(f.Type.Kind()):
				setWholeNumber(dst, v)
			case f.Type.Kind() == reflect.Slice && isInteger(f.Type.Elem().Kind()) && f.Type.Elem().Kind() != reflect.Uint8:
				setItems(dst, v, func(v any) string { return fmt.Sprint(v) }, setWholeNumber)
			}
		}
	}
}

// entryNumber checks a whole-number field of an entry, or a list of them
// (apps: iplist_nettypes), as setWholeNumber does, so "iplist_nettypes:
// [5.5]" is an error rather than nettype 5.
func entryNumber(typ reflect.Type, v any) []string {
	values := []any{v}
	if list, ok := v.([]any); ok && typ.Kind() == reflect.Slice {
		values = list
	}
	if typ.Kind() == reflect.Slice {
		typ = typ.Elem()
	}
	var msgs []string
	for _, one := range values {
		if msg := setWholeNumber(reflect.New(typ).Elem(), one); msg != "" {
			msgs = append(msgs, fmt.Sprintf("%v %s", one, msg))
		}
	}
	return msgs
}

// holdsValues reports whether typ, the type of a module section's field
// (or of a field of an entry of its list), is a struct (or a pointer to
// one) that does not read itself from text, or a map: values within it
// the decoder would read by its own rules, which nestedProblems checks
// as the settings' are read.
func holdsValues(typ reflect.Type) bool {
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	return typ.Kind() == reflect.Map ||
		typ.Kind() == reflect.Struct && !readsText(typ)
}

// readsText reports whether a value of type typ reads itself from text
// (encoding.TextUnmarshaler, as netip.Prefix does): the file writes it as
// one text, not as a mapping of its fields.
func readsText(typ reflect.Type) bool {
	return reflect.PointerTo(typ).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// nestedProblems says, one message each, what is wrong with the values
// within raw, the file's value of type typ at where (inner, or
// steps[0].limit), each named by its path from there (inner.wait):
// within structs (by their fields' keys), maps and lists, a duration
// needs a unit (wait: 30 would be 30ns), a whole number must be whole and
// fit (size: 1.5 would be 1), and a boolean must be one (on: 5 would be
// true), as the settings' values are read (checkDuration, setWholeNumber,
// isBoolean). A value is quoted unless hidden, or within a field tagged
// secret:"true".
func nestedProblems(typ reflect.Type, raw any, where string, hidden bool) []string {
	if raw == nil {
		return nil
	}
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	shown := "the value"
	if !hidden {
		shown = show("", raw)
	}
	var msgs []string
	switch {
	case typ == reflect.TypeFor[time.Duration]():
		if msg := checkDuration(raw, shown); msg != "" {
			msgs = append(msgs, where+": "+msg)
		}
	case isInteger(typ.Kind()):
		if msg := setWholeNumber(reflect.New(typ).Elem(), raw); msg != "" {
			msgs = append(msgs, where+": "+shown+" "+msg)
		}
	case isFloat(typ.Kind()):
		if msg := setNumber(reflect.New(typ).Elem(), raw); msg != "" {
			msgs = append(msgs, where+": "+shown+" "+msg)
		}
	case typ.Kind() == reflect.Bool:
		if !isBoolean(raw) {
			msgs = append(msgs, where+": "+shown+" is not true or false")
		}
	case isList(typ):
		if items, ok := raw.([]any); ok {
			for i, item := range items {
				msgs = append(msgs, nestedProblems(typ.Elem(), item, fmt.Sprintf("%s[%d]", where, i), hidden)...)
			}
		}
	case typ.Kind() == reflect.Map:
		m, _ := raw.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			msgs = append(msgs, nestedProblems(typ.Elem(), m[k], where+"."+k, hidden)...)
		}
	case holdsValues(typ):
		m, _ := raw.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if f, ok := fieldByTag(typ, k); ok {
				msgs = append(msgs, nestedProblems(f.Type, m[k], where+"."+k, hidden || secretTagged(f))...)
			}
		}
	}
	return msgs
}

// setNumbersWithin sets again, as setWholeNumber reads them, the whole
// numbers within v, decoded from raw (a struct's fields by their keys, a
// map's values, a list's items): the decoder read a text one ("010") as
// octal or hex, where a variable's is read in decimal. nestedProblems
// has refused the values that are no such numbers.
func setNumbersWithin(v reflect.Value, raw any) {
	if raw == nil {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch {
	case isInteger(v.Kind()):
		setWholeNumber(v, raw)
	case isFloat(v.Kind()):
		setNumber(v, raw)
	case isList(v.Type()):
		if items, ok := raw.([]any); ok && len(items) == v.Len() {
			for i, item := range items {
				setNumbersWithin(v.Index(i), item)
			}
		}
	case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String:
		m, _ := raw.(map[string]any)
		for k, item := range m {
			key := reflect.ValueOf(k).Convert(v.Type().Key())
			if cur := v.MapIndex(key); cur.IsValid() {
				// A map's value cannot be set in place: set a copy, then store it.
				cp := reflect.New(cur.Type()).Elem()
				cp.Set(cur)
				setNumbersWithin(cp, item)
				v.SetMapIndex(key, cp)
			}
		}
	case holdsValues(v.Type()):
		m, _ := raw.(map[string]any)
		for i := range v.NumField() {
			if tag := v.Type().Field(i).Tag.Get("koanf"); tag != "" && tag != "-" && v.Field(i).CanSet() {
				setNumbersWithin(v.Field(i), m[tag])
			}
		}
	}
}
