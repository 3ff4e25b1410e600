package lenient_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/internal/lenient"
)

// quotedCount is a payload whose Count arrives quoted by design: its tag
// has the ",string" option, so "5" is its right form and 5 a wrong one.
type quotedCount struct {
	Count   int  `json:"Count,string"`
	Flag    bool `json:",string"`
	Seq     uint32
	Ratio   float64 `json:"Ratio,string"`
	Pointer *int64  `json:"Pointer,string"`
}

// TestBodyLeavesQuotedFieldsQuoted: a field whose tag says ",string"
// wants its number or bool quoted; the second chance, fitting another
// field (a quoted Seq), unquoted it as well, and the rewritten body failed
// on that field instead, so the callback stayed undecodable.
func TestBodyLeavesQuotedFieldsQuoted(t *testing.T) {
	body := []byte(`{"Count":"5","Flag":"true","Seq":"7","Ratio":"1.5","Pointer":"9"}`)
	var direct quotedCount
	if err := json.Unmarshal(body, &direct); err == nil {
		t.Fatal("the body decoded without a second chance: the test needs one field to fit")
	}
	rewritten, ok := lenient.Body(reflect.TypeFor[quotedCount](), body)
	if !ok {
		t.Fatal("no second chance for a quoted Seq")
	}
	var got quotedCount
	if err := json.Unmarshal(rewritten, &got); err != nil {
		t.Fatalf("the rewritten body %s does not decode: %v", rewritten, err)
	}
	nine := int64(9)
	want := quotedCount{Count: 5, Flag: true, Seq: 7, Ratio: 1.5, Pointer: &nine}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}

// location is a payload with floats, as message.LocationElem has, and an
// integer whose quoted form needs the second chance too.
type location struct {
	Latitude  float64
	Longitude float64
	Accuracy  float32
	Index     int64
}

// TestBodyFitsQuotedFloatsOfEveryDecimalForm: a quoted float that
// strconv reads but that is no JSON number ("+31.2", "5.") was put into
// the rewritten body as it was, so the body did not encode and the
// second chance was lost for every field, the quoted integers beside it
// included. It is now written as the number it means; what means no
// finite number of the field's type (NaN, Inf, hexadecimal, a float32
// out of range) is left as it is and still fails.
func TestBodyFitsQuotedFloatsOfEveryDecimalForm(t *testing.T) {
	tests := []struct {
		latitude string
		want     float64
	}{
		{`"31.2"`, 31.2},
		{`"+31.2"`, 31.2},
		{`" -31.25 "`, -31.25},
		{`"5."`, 5},
		{`"1E2"`, 100},
		{`"-0.5e-1"`, -0.05},
		{`""`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.latitude, func(t *testing.T) {
			body := []byte(`{"Latitude":` + tt.latitude + `,"Longitude":"+121.5","Accuracy":"2.5","Index":"7"}`)
			rewritten, ok := lenient.Body(reflect.TypeFor[location](), body)
			if !ok {
				t.Fatalf("no second chance for %s", body)
			}
			var got location
			if err := json.Unmarshal(rewritten, &got); err != nil {
				t.Fatalf("the rewritten body %s does not decode: %v", rewritten, err)
			}
			if want := (location{Latitude: tt.want, Longitude: 121.5, Accuracy: 2.5, Index: 7}); got != want {
				t.Fatalf("decoded %+v, want %+v", got, want)
			}
		})
	}
	for _, bad := range []string{`"NaN"`, `"Inf"`, `"-Infinity"`, `"0x1p-2"`, `".5"`, `"1e400"`, `"1_0"`} {
		t.Run(bad, func(t *testing.T) {
			body := []byte(`{"Latitude":` + bad + `,"Index":"7"}`)
			rewritten, ok := lenient.Body(reflect.TypeFor[location](), body)
			if !ok {
				t.Fatalf("no second chance for the quoted Index beside %s", bad)
			}
			var got location
			if err := json.Unmarshal(rewritten, &got); err == nil {
				t.Fatalf("%s decoded to %+v: it means no finite number", bad, got)
			}
		})
	}
	// Out of float32's range, a value is left as it is for a float32 field.
	rewritten, ok := lenient.Body(reflect.TypeFor[location](), []byte(`{"Accuracy":"1e39","Index":"7"}`))
	var got location
	if !ok || json.Unmarshal(rewritten, &got) == nil {
		t.Fatalf("1e39 fitted a float32: %s", rewritten)
	}
}

// base is an embedded part of a payload type of a user's own, whose ID
// the embedding type hides with its own of another type.
type base struct {
	ID    int64 `json:"ID"`
	Count int64 `json:"Count"`
}

// shadowing hides base.ID: the decoder puts "ID" into shadowing.ID.
type shadowing struct {
	base
	ID string `json:"ID"`
}

// twoSpellings has two fields whose names differ only in case: a key in
// neither spelling ("id") goes to the first, as the decoder takes it.
type twoSpellings struct {
	ID    string `json:"ID"`
	Id    int64  `json:"Id"`
	Count int64  `json:"Count"`
}

// TestBodyFitsTheFieldTheDecoderFills: the second chance fitted a value
// to every field whose name matched its key, also a field the decoder
// does not fill from it (one of an embedded struct that a field of the
// embedding one hides, the second of two names differing in case), so
// the ID the decoder wants as a string became a number and the
// rewritten body failed on it: the quoted Count was never read.
func TestBodyFitsTheFieldTheDecoderFills(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		body string
		want any
	}{
		{"a field of an embedded struct, hidden", reflect.TypeFor[shadowing](), `{"ID":"42","Count":"7"}`,
			&shadowing{base: base{Count: 7}, ID: "42"}},
		{"the second of two spellings", reflect.TypeFor[twoSpellings](), `{"id":"42","Count":"7"}`,
			&twoSpellings{ID: "42", Count: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rewritten, ok := lenient.Body(tt.typ, []byte(tt.body))
			if !ok {
				t.Fatal("no second chance for a quoted Count")
			}
			got := reflect.New(tt.typ).Interface()
			if err := json.Unmarshal(rewritten, got); err != nil {
				t.Fatalf("the rewritten body %s does not decode: %v", rewritten, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

// element is a message element: its content kept raw.
type element struct {
	MsgType    string
	MsgContent json.RawMessage
}

// withRaw is a payload with raw values beside a number that needs the
// second chance.
type withRaw struct {
	Seq     uint32
	MsgBody []element
	Extra   json.RawMessage
}

// TestBodyKeepsRawValuesAsReceived: a field that keeps its value raw
// (MsgContent, docs/protocol.md §5.1: "kept as received") held, after a
// second chance for a quoted number beside it, the value re-encoded: its
// keys sorted, its spaces gone, '<', '>' and '&' escaped (\u003c) and its
// escapes written out, bytes IM never sent.
func TestBodyKeepsRawValuesAsReceived(t *testing.T) {
	content := `{ "Text" : "a<b && c>d \u00e9", "A":[1, 2.50] }`
	extra := `[ "x" , {"z":1,"y":"\/"} ]`
	body := []byte(`{"Seq":"7", "MsgBody":[ {"MsgType":"TIMTextElem","MsgContent":` + content + `} ], "Extra":` + extra + `}`)
	rewritten, ok := lenient.Body(reflect.TypeFor[withRaw](), body)
	if !ok {
		t.Fatal("no second chance for a quoted Seq")
	}
	var got withRaw
	if err := json.Unmarshal(rewritten, &got); err != nil {
		t.Fatalf("the rewritten body %s does not decode: %v", rewritten, err)
	}
	if got.Seq != 7 || len(got.MsgBody) != 1 || got.MsgBody[0].MsgType != "TIMTextElem" {
		t.Fatalf("decoded %+v", got)
	}
	if string(got.MsgBody[0].MsgContent) != content {
		t.Errorf("MsgContent is %s, want it as received: %s", got.MsgBody[0].MsgContent, content)
	}
	if string(got.Extra) != extra {
		t.Errorf("Extra is %s, want it as received: %s", got.Extra, extra)
	}
}

// withObjects is a payload with a struct and a map field, which the
// decoder fills from every object of a key given twice.
type withObjects struct {
	Seq    uint32
	Inner  struct{ N, U int }
	Ptr    *struct{ N, U int }
	Counts map[string]int
}

// TestBodyDuplicateKeys: of a key given twice the decoder keeps the last;
// so does the second chance, whatever the first held. Two spellings of one
// field get none (the decoder's choice depends on their order), nor does
// a key given twice for a struct or map field: the decoder merges the two
// objects, and the second chance, keeping the last alone, lost the first
// one's members ({"N":1} of Inner below).
func TestBodyDuplicateKeys(t *testing.T) {
	for _, body := range []string{
		`{"Inner":{"N":1},"Inner":{"U":2},"Seq":"7"}`,
		`{"Ptr":{"N":1},"Ptr":{"U":2},"Seq":"7"}`,
		`{"Counts":{"a":1},"Counts":{"b":2},"Seq":"7"}`,
	} {
		if rewritten, ok := lenient.Body(reflect.TypeFor[withObjects](), []byte(body)); ok {
			t.Errorf("%s, whose objects the decoder merges, got a second chance: %s", body, rewritten)
		}
	}
	rewritten, ok := lenient.Body(reflect.TypeFor[withRaw](), []byte(`{"Seq":"x","Seq":"7"}`))
	var got withRaw
	if !ok || json.Unmarshal(rewritten, &got) != nil || got.Seq != 7 {
		t.Fatalf("rewritten %s (%v) decodes to %+v, want Seq 7", rewritten, ok, got)
	}
	if rewritten, ok := lenient.Body(reflect.TypeFor[withRaw](), []byte(`{"Seq":"1","seq":"7"}`)); ok {
		t.Fatalf("two spellings of Seq got a second chance: %s", rewritten)
	}
}

// platform is a number that decodes itself from its text: a JSON string
// ("1", "ios"), never a JSON number, as encoding/json and goccy/go-json
// decode an encoding.TextUnmarshaler.
type platform int

// UnmarshalText reads a platform's number or name.
func (p *platform) UnmarshalText(b []byte) error {
	if string(b) == "ios" {
		*p = 2
		return nil
	}
	n, err := strconv.Atoi(string(b))
	*p = platform(n)
	return err
}

// withText is a payload with a field whose type decodes itself from text.
type withText struct {
	Platform  platform
	Platforms []platform
	Seq       uint32
}

// TestBodyLeavesTextUnmarshalersAlone: a field whose type decodes itself
// from a JSON string (encoding.TextUnmarshaler, of an integer kind, such
// as an enum's) refuses a JSON number. The second chance, fitting another
// field (a quoted Seq), rewrote its "1" into 1, and the rewritten body
// failed on that field instead, so the callback stayed undecodable.
func TestBodyLeavesTextUnmarshalersAlone(t *testing.T) {
	body := []byte(`{"Platform":"1","Platforms":["2","ios"],"Seq":"7"}`)
	rewritten, ok := lenient.Body(reflect.TypeFor[withText](), body)
	if !ok {
		t.Fatal("no second chance for a quoted Seq")
	}
	for name, unmarshal := range map[string]func([]byte, any) error{"encoding/json": json.Unmarshal, "goccy/go-json": gojson.Unmarshal} {
		var got withText
		if err := unmarshal(rewritten, &got); err != nil {
			t.Fatalf("%s: the rewritten body %s does not decode: %v", name, rewritten, err)
		}
		if want := (withText{Platform: 1, Platforms: []platform{2, 2}, Seq: 7}); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, want)
		}
	}
}
