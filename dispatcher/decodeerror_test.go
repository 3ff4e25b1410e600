package dispatcher_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/dispatcher"
)

// quotedAndWrong is a payload of a command the catalogue lacks, as a
// user declares one.
type quotedAndWrong struct {
	Count int    `json:"Count"`
	Name  string `json:"Name"`
}

// TestDecodeErrorNamesTheFieldThatIsWrong: a body with a quoted number,
// which the second chance reads (docs/protocol.md §5.1), and a value no
// chance reads failed with the first decode's error, which named the
// quoted number's field, fine on the second chance, not the one that is
// wrong: the log line of a before-handler's fallback and a dead letter's
// last_error sent the reader to the wrong field. The error names the field
// the second chance still could not read.
func TestDecodeErrorNamesTheFieldThatIsWrong(t *testing.T) {
	for _, tt := range []struct{ name, body, want, notWant string }{
		{"a quoted number beside a wrong value", `{"Count":"5","Name":{"first":"a"}}`, "Name", "Count"},
		{"a wrong value alone", `{"Count":5,"Name":{"first":"a"}}`, "Name", "Count"},
		{"a word for a number", `{"Count":"five","Name":"a"}`, "Count", "Name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dispatcher.NewEvent[quotedAndWrong](&dispatcher.Request{Command: "X.CallbackAfterY", Body: []byte(tt.body)})
			if !errors.Is(err, dispatcher.ErrDecode) {
				t.Fatalf("error %v, want ErrDecode", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "quotedAndWrong."+tt.want) || strings.Contains(msg, "quotedAndWrong."+tt.notWant) {
				t.Fatalf("error %q, want it to name the field %s, not %s", msg, tt.want, tt.notWant)
			}
		})
	}
}
