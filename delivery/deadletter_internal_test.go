package delivery

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestDeadLetterErrorIsCutAtACharacter: a handler's error longer than the
// dead letter keeps is cut before a character, never inside one, so the
// stored text stays UTF-8 wherever the cut falls.
func TestDeadLetterErrorIsCutAtACharacter(t *testing.T) {
	o := &Options{Stream: "IMCALLBACK", SubjectPrefix: "imcallback"}
	md := &jetstream.MsgMetadata{Stream: "IMCALLBACK", Sequence: jetstream.SequencePair{Stream: 7}, NumDelivered: 3, Timestamp: time.Unix(1_800_000_000, 0)}
	for shift := range 4 { // the cut at each byte of a 3-byte character
		text := strings.Repeat("a", maxErrorHeader-shift) + strings.Repeat("话", 1000)
		dl := deadLetterMsg(o, "imcallback.x", nats.Header{}, nil, md, errors.New(text))
		got := dl.Header.Get(HeaderDeadError)
		if !utf8.ValidString(got) {
			t.Errorf("shift %d: the dead letter's error is not UTF-8: …%q", shift, got[len(got)-12:])
		}
		if !strings.HasSuffix(got, "…") || len(got) > maxErrorHeader+len("…") || len(got) < maxErrorHeader-3 {
			t.Errorf("shift %d: the error is %d bytes, want about %d and cut with …", shift, len(got), maxErrorHeader)
		}
	}
	// Bytes that are no UTF-8 at all (an error quoting a binary body) are
	// cut where they are, not searched back to the start.
	dl := deadLetterMsg(o, "imcallback.x", nats.Header{}, nil, md, errors.New(strings.Repeat("\x80", 3*maxErrorHeader)))
	if got := dl.Header.Get(HeaderDeadError); len(got) < maxErrorHeader {
		t.Errorf("an error of continuation bytes was kept as %d bytes, want about %d", len(got), maxErrorHeader)
	}
}
