package lenient_test

import (
	"encoding/json"
	"reflect"
	"testing"

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
