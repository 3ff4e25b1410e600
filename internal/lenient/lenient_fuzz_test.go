package lenient_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/imcallback/imcallback/internal/lenient"
)

// fuzzInner is a nested part of fuzzPayload, with a number or bool of
// each kind the second chance fits.
type fuzzInner struct {
	N int8
	U uint16
	F float32
	B bool
}

// fuzzPayload is a payload with a field of each kind the second chance
// walks or leaves alone: numbers, bools, strings, a ",string" field, a
// pointer, an embedded struct hidden in part, nested structs, slices, a
// map, raw values, an interface and a type that decodes itself.
type fuzzPayload struct {
	base
	ID        string `json:"ID"`
	Seq       uint32
	EventTime int64
	Ratio     float64
	Flag      bool
	Quoted    int `json:",string"`
	Name      string
	Ptr       *int32
	Inner     fuzzInner
	List      []fuzzInner
	Nums      []int16
	Counts    map[string]uint8
	Raw       json.RawMessage
	Any       any
	Platform  platform
}

// FuzzBody: the second chance never panics; the body it returns is one
// JSON document that needs no further second chance; and a body that
// already decodes keeps its meaning (the rewritten body decodes to the
// same payload).
func FuzzBody(f *testing.F) {
	f.Add([]byte(`{"Seq":"7","EventTime":"1670574414123","Ratio":"+1.5","Flag":"1","Quoted":"5"}`))
	f.Add([]byte(`{"ID":"42","Count":"7","Ptr":"3","Inner":{"N":"-3","U":2.0,"F":"2.5","B":0}}`))
	f.Add([]byte(`{"List":[{"N":"1"},{"U":"1e3"}],"Nums":["1",2,"-3"],"Counts":{"a":"1","b":2}}`))
	f.Add([]byte(`{"Raw":{ "Seq" : "1" },"Any":"2","Platform":"ios","Seq":""}`))
	f.Add([]byte(`{"Seq":"1","seq":"7"}`))
	f.Add([]byte(`{"Seq":"x","Seq":"7"}`))
	f.Add([]byte(`{"EventTime":-0,"Name":"n"}`))
	f.Add([]byte(`{"Inner":{"N":1},"Inner":{"U":2},"EventTime":-0}`))
	f.Add([]byte(`{"Seq":"7"} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		typ := reflect.TypeFor[fuzzPayload]()
		out, ok := lenient.Body(typ, body)
		if !ok {
			if out != nil {
				t.Fatalf("no second chance, but a body: %s", out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("the second chance of %s is no JSON: %s", body, out)
		}
		if again, ok := lenient.Body(typ, out); ok {
			t.Fatalf("the second chance of %s, %s, changed again: %s", body, out, again)
		}
		var before fuzzPayload
		if json.Unmarshal(body, &before) != nil {
			return
		}
		var after fuzzPayload
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("%s decodes, its second chance %s does not: %v", body, out, err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("%s decodes to %+v, its second chance %s to %+v", body, before, out, after)
		}
	})
}
