package server

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// TestREADMENamesTheAnswersNetHTTPWrites: the README's sentence on the
// answers net/http writes itself, which the public listener rewrites into
// the FAIL envelope, names the code of each of them. It once left out
// 41701 and 50501.
func TestREADMENamesTheAnswersNetHTTPWrites(t *testing.T) {
	text := strings.Join(strings.Fields(readme(t)), " ")
	_, sentence, ok := strings.Cut(text, "The answers net/http writes itself (")
	if !ok {
		t.Fatal("README.md has no sentence starting: The answers net/http writes itself (")
	}
	sentence, _, _ = strings.Cut(sentence, ")")
	named := map[string]bool{}
	for _, code := range strings.Split(sentence, ",") {
		named[strings.TrimSpace(code)] = true
	}
	written := map[string]bool{}
	for status := 400; status < 600; status++ {
		if http.StatusText(status) == "" {
			continue
		}
		pe := protocolErrorFor(status)
		code := strconv.Itoa(pe.Code)
		if !named[code] && !written[code] {
			t.Errorf("README.md's answers net/http writes itself (%s) leave out %s %s, its answer to a %d", sentence, code, pe.Reason, status)
		}
		written[code] = true
	}
	for code := range named {
		if !written[code] {
			t.Errorf("README.md's answers net/http writes itself (%s) name %s, which is none of them", sentence, code)
		}
	}
}

// TestREADMEStatesTheReadAndWriteTimeouts: the README's row of
// IMCALLBACK_READ_HEADER_TIMEOUT states the read and write timeouts the
// listeners derive from it, which bound a request whose body arrives
// slowly and an answer a client reads slowly. It once gave the header's
// bound alone, and "the listener's write timeout" was nowhere stated.
func TestREADMEStatesTheReadAndWriteTimeouts(t *testing.T) {
	// The row is one line of the table: cut it before its spaces are
	// folded, which would join it to the rest of the README.
	_, row, ok := strings.Cut(readme(t), "| `IMCALLBACK_READ_HEADER_TIMEOUT` / `IMCALLBACK_IDLE_TIMEOUT` |")
	if !ok {
		t.Fatal("README.md has no row of IMCALLBACK_READ_HEADER_TIMEOUT / IMCALLBACK_IDLE_TIMEOUT")
	}
	row, _, _ = strings.Cut(row, "\n")
	row = strings.Join(strings.Fields(row), " ")
	cfg := config.Default()
	s := newHTTPServer(&cfg, http.NotFoundHandler(), zap.NewNop())
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		want    string
	}{
		{"read", s.ReadTimeout, "a whole request, its body included, has this + %s to arrive"},
		{"write", s.WriteTimeout, "its answer this + %s from the end of its headers to be written"},
	} {
		more := tt.timeout - s.ReadHeaderTimeout
		if want := fmt.Sprintf(tt.want, strings.TrimSuffix(more.String(), "s")+" s"); !strings.Contains(row, want) {
			t.Errorf("README.md's row of IMCALLBACK_READ_HEADER_TIMEOUT does not say %q (the %s timeout is the header's + %v)",
				want, tt.name, more)
		}
	}
}

// readme is the module's README.md.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsStateWhenIdleConnectionsAreReaped: the README's row of
// IMCALLBACK_MAX_CONNS and docs/reliability.md say from how many open
// connections idle ones are closed after pressureIdle: once more than
// three quarters of the bound are open (nearLimit). They said "from ¾",
// one connection early: with exactly three quarters open none is closed.
func TestDocsStateWhenIdleConnectionsAreReaped(t *testing.T) {
	const max = 16
	l := newConnLimit(max, true, time.Second, nil)
	idle := time.Now().Add(-time.Hour).UnixNano()
	reaped := func(open int) int {
		l.conns = map[*limitedConn]struct{}{}
		for range open {
			c := &limitedConn{l: l}
			c.idleSince.Store(idle)
			l.conns[c] = struct{}{}
		}
		l.open.Store(int64(open))
		return len(l.stale(time.Now()))
	}
	if n := reaped(max * 3 / 4); n != 0 {
		t.Fatalf("with exactly three quarters of %d open, %d idle connections would be closed, want none", max, n)
	}
	if n := reaped(max*3/4 + 1); n != max*3/4+1 {
		t.Fatalf("with one more than three quarters of %d open, %d idle connections would be closed, want all %d", max, n, max*3/4+1)
	}

	_, row, ok := strings.Cut(readme(t), "| `IMCALLBACK_MAX_CONNS` |")
	if !ok {
		t.Fatal("README.md has no row of IMCALLBACK_MAX_CONNS")
	}
	row, _, _ = strings.Cut(row, "\n")
	b, err := os.ReadFile("../docs/reliability.md")
	if err != nil {
		t.Fatal(err)
	}
	_, line, ok := strings.Cut(string(b), "| open connections on the public listener |")
	if !ok {
		t.Fatal("docs/reliability.md has no row of the open connections on the public listener")
	}
	line, _, _ = strings.Cut(line, "\n")
	for _, doc := range []struct{ name, text, want string }{
		{"README.md's row of IMCALLBACK_MAX_CONNS", row, "once more than ¾ of it are open, idle keep-alive connections are closed after 2 s"},
		{"docs/reliability.md's row of the open connections", line, "once more than ¾ of the bound are open, connections idle for 2 s are closed"},
	} {
		if !strings.Contains(doc.text, doc.want) {
			t.Errorf("%s does not say %q", doc.name, doc.want)
		}
		if strings.Contains(doc.text, "from ¾") {
			t.Errorf("%s says idle connections are closed from ¾ of the bound: with exactly ¾ open none is", doc.name)
		}
	}
}

// TestREADMEMemoryCountsTheBodiesInFlight: every open connection of the
// public listener may hold a body of up to IMCALLBACK_BODY_LIMIT, read
// whole, so the README's Memory paragraph, which tells what a replica
// must hold, names their product and what it comes to at the defaults,
// as does docs/deploy.md's, and docs/protocol.md's row of the body size
// does not say the body limit alone keeps memory safe. Both estimated a
// replica at about 90 MiB plus the duplicate table, where 2,000
// connections sending 1 MiB bodies held 2.1 GiB.
func TestREADMEMemoryCountsTheBodiesInFlight(t *testing.T) {
	def := config.Default()
	gib := def.BodyLimit * int64(def.MaxConns) >> 30
	text := strings.Join(strings.Fields(readme(t)), " ")
	_, memory, ok := strings.Cut(text, "**Memory.**")
	if !ok {
		t.Fatal("README.md has no **Memory.** paragraph")
	}
	memory, _, _ = strings.Cut(memory, "## ")
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	_, row, ok := strings.Cut(string(b), "| Maximum body size |")
	if !ok {
		t.Fatal("docs/protocol.md has no row of the maximum body size")
	}
	row, _, _ = strings.Cut(row, "\n")
	if b, err = os.ReadFile("../docs/deploy.md"); err != nil {
		t.Fatal(err)
	}
	_, deploy, ok := strings.Cut(strings.Join(strings.Fields(string(b)), " "), "- **Memory**:")
	if !ok {
		t.Fatal("docs/deploy.md has no **Memory** item")
	}
	deploy, _, _ = strings.Cut(deploy, "- **Disk**")
	const product = "`IMCALLBACK_MAX_CONNS` × `IMCALLBACK_BODY_LIMIT`"
	for _, doc := range []struct{ name, text, want string }{
		{"README.md's Memory", memory, product},
		{"README.md's Memory", memory, fmt.Sprintf("%d GiB at the defaults", gib)},
		{"docs/protocol.md's row of the maximum body size", row, product},
		{"docs/deploy.md's Memory", deploy, product},
		{"docs/deploy.md's Memory", deploy, fmt.Sprintf("%d GiB at the defaults", gib)},
	} {
		if !strings.Contains(doc.text, doc.want) {
			t.Errorf("%s does not say %q", doc.name, doc.want)
		}
	}
}
