package imcallback_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/plugins/topicsync"
	"github.com/imcallback/imcallback/protocol"
)

// documentedConstants are the constants README.md and docs/*.md name in
// a code span beside the value they give it ("4,096 at a time
// (`delivery.ReplayDeadPage`)", "`OrderTracing` (250)"), by the name as
// the docs write it, with the value in the unit the docs write it in.
var documentedConstants = map[string]int64{
	"delivery.ReplayDeadPage":    delivery.ReplayDeadPage,
	"delivery.ReplayListMost":    delivery.ReplayListMost,
	"delivery.CopySearchHeaders": delivery.CopySearchHeaders,
	"delivery.MaxPendingAppends": delivery.MaxPendingAppends,
	"topicsync.RecreateMargin":   int64(topicsync.RecreateMargin / time.Second),
	"topicsync.MaxPageBytes":     topicsync.MaxPageBytes >> 20,
	"topicsync.ReadTimeout":      int64(topicsync.ReadTimeout / time.Second),
	"protocol.MaxDepth":          protocol.MaxDepth,
	"imtest.DefaultTimeout":      int64(imtest.DefaultTimeout / time.Second),
	"middleware.OrderRecover":    middleware.OrderRecover,
	"OrderRequestID":             middleware.OrderRequestID,
	"OrderTracing":               middleware.OrderTracing,
	"OrderAccessLog":             middleware.OrderAccessLog,
	"OrderSignature":             middleware.OrderSignature,
}

var (
	// valueAfter is a value given in parentheses right after a name:
	// "`OrderTracing` (250)", "`imtest.DefaultTimeout` (30 s".
	valueAfter = regexp.MustCompile(`^\s*\((\d[\d,]*)`)
	// numberBefore is a number in the text before a name: "4,096 at a
	// time (", the last one the nearest.
	numberBefore = regexp.MustCompile(`\b\d[\d,]*\b`)
)

// documentedValue is the value the text gives the constant whose code
// span ends at end and starts at start: the number in parentheses right
// after it, else the nearest number in the 80 bytes before it. ok is
// false when there is neither.
func documentedValue(text string, start, end int) (value int64, ok bool) {
	if m := valueAfter.FindStringSubmatch(text[end:]); m != nil {
		v, err := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
		return v, err == nil
	}
	before := text[max(0, start-80):start]
	nums := numberBefore.FindAllString(before, -1)
	if len(nums) == 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(nums[len(nums)-1], ",", ""), 10, 64)
	return v, err == nil
}

// TestDocsGiveTheValuesOfTheConstantsTheyName: where README.md or
// docs/*.md name a constant beside its value ("the newest 20,000 messages
// of the work stream (`delivery.CopySearchHeaders`)", "64 levels
// (`protocol.MaxDepth`)"), the value is the constant's, so a constant
// changed in the code fails here rather than leave the docs stating the
// old bound. Each constant is named somewhere, so a renamed one is
// noticed too.
func TestDocsGiveTheValuesOfTheConstantsTheyName(t *testing.T) {
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, file := range append([]string{"README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(b)), " ") // lines wrap anywhere
		for name, want := range documentedConstants {
			span := "`" + name + "`"
			for off := 0; ; {
				i := strings.Index(text[off:], span)
				if i < 0 {
					break
				}
				start, end := off+i, off+i+len(span)
				off = end
				seen[name]++
				got, ok := documentedValue(text, start, end)
				switch {
				case !ok:
					t.Errorf("%s names %s without its value (%d) beside it: …%s…", file, name, want, text[max(0, start-80):min(len(text), end+20)])
				case got != want:
					t.Errorf("%s gives %s as %d, the code has %d: …%s…", file, name, got, want, text[max(0, start-80):min(len(text), end+20)])
				}
			}
		}
	}
	for name := range documentedConstants {
		if seen[name] == 0 {
			t.Errorf("no document names %s: take it out of documentedConstants, or name it beside its value", name)
		}
	}
}

// TestDocumentedValueReadsTheNearestNumber: the reading of a value beside
// a name takes the parenthesised one after it first, else the nearest
// number before it, and says when there is none.
func TestDocumentedValueReadsTheNearestNumber(t *testing.T) {
	for _, tc := range []struct {
		text   string
		name   string
		want   int64
		wantOK bool
	}{
		{"reads 10 pages, 4,096 at a time (`delivery.ReplayDeadPage`) and so on", "`delivery.ReplayDeadPage`", 4096, true},
		{"at 64 KiB `OrderTracing` (250), next", "`OrderTracing`", 250, true},
		{"give up after `imtest.DefaultTimeout` (30 s; more)", "`imtest.DefaultTimeout`", 30, true},
		{"no number at all (`protocol.MaxDepth`)", "`protocol.MaxDepth`", 0, false},
	} {
		start := strings.Index(tc.text, tc.name)
		got, ok := documentedValue(tc.text, start, start+len(tc.name))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("documentedValue(%q) = %d, %v; want %d, %v", tc.text, got, ok, tc.want, tc.wantOK)
		}
	}
}
