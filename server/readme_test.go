package server

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestREADMENamesTheAnswersNetHTTPWrites: the README's sentence on the
// answers net/http writes itself, which the public listener rewrites into
// the FAIL envelope, names the code of each of them. It once left out
// 41701 and 50501.
func TestREADMENamesTheAnswersNetHTTPWrites(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(b)), " ")
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
