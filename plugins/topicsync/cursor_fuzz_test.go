package topicsync_test

import (
	"encoding/base64"
	"testing"

	"github.com/imcallback/imcallback/plugins/topicsync"
)

// FuzzDecodeCursor: a cursor of any text is refused or names a position
// that encodes to a cursor of the same position, never a panic.
func FuzzDecodeCursor(f *testing.F) {
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		raw("a|1732615201123456|1400000001|@TGS#_g@TOPIC#_a|b"), raw("1732615201123456|@TGS#_g@TOPIC#_a"),
		raw("a|1732615201123456||x"), raw("a|-62135596800000000|1|x"), raw("+1|x"), raw("a|1|x|\x00"),
		raw("a|253402300800000000|1|x"), "not base64!", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		p, err := topicsync.DecodeCursor(cursor)
		if err != nil || p == nil {
			return
		}
		again, err := topicsync.DecodeCursor(topicsync.EncodeCursor(p))
		if err != nil || again == nil || !again.CreatedAt.Equal(p.CreatedAt) || again.SdkAppID != p.SdkAppID || again.TopicID != p.TopicID {
			t.Fatalf("cursor %q read as %+v, which encodes to a cursor read as %+v (%v)", cursor, p, again, err)
		}
	})
}
