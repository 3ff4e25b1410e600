package imcallback_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
)

// TestDeliveryCountersCountCopies: in gateway mode an after-callback is
// stored once per forward destination and once for a Go handler, and
// imcallback_delivery_appended_total and _duplicates_total count those
// copies, not callbacks: one callback with a handler and a destination
// counts 2, and its repeat 2 duplicates. Their help and README rows must
// say so, or an operator comparing them with
// imcallback_callbacks_total{outcome="queued"} (one per callback) reads a
// double count, and a retry that stored a copy the first attempt missed
// as a callback answered as a duplicate.
func TestDeliveryCountersCountCopies(t *testing.T) {
	dest := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(dest.Close)
	const command = "Group.CallbackAfterNewMemberJoin"
	s := imtest.Start(t, []string{"IMCALLBACK_FORWARD_URL=" + dest.URL, "IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"IMCALLBACK_FORWARD_MATCH=" + command}, delivery.Module,
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After(command, func(context.Context, *dispatcher.Event[struct{ GroupId string }]) error { return nil })
		})))
	body := []byte(`{"CallbackCommand":"` + command + `","GroupId":"g1","EventTime":1700000000000}`)
	for range 2 {
		if res := s.Send(t, command, body); !res.OK() {
			t.Fatalf("answer %d %s", res.Status, res.Body)
		}
	}
	scrape := s.Metrics(t)
	for _, want := range []string{
		`imcallback_callbacks_total{app="` + imtest.AppID + `",command="` + command + `",outcome="queued"} 2`,
		`imcallback_delivery_appended_total{command="` + command + `"} 2`,
		`imcallback_delivery_duplicates_total{command="` + command + `"} 2`,
	} {
		if !strings.Contains(scrape, want+"\n") {
			t.Fatalf("the scrape lacks %s:\n%s", want, grepLines(scrape, command))
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"imcallback_delivery_appended_total", "imcallback_delivery_duplicates_total"} {
		help := regexp.MustCompile(`(?m)^# HELP ` + name + ` (.*)$`).FindStringSubmatch(scrape)
		if help == nil || !strings.Contains(strings.ToLower(help[1]), "cop") {
			t.Errorf("the help of %s does not say it counts copies (one per destination and Go handler): %q", name, help)
		}
		row := regexp.MustCompile("(?m)^\\| `" + name + "` \\|.*$").FindString(string(readme))
		if !strings.Contains(row, "cop") {
			t.Errorf("README.md's row of %s does not say it counts copies (one per destination and Go handler): %q", name, row)
		}
	}
}

// grepLines are the lines of text that hold s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
