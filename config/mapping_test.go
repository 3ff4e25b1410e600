package config_test

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// TestValueWrittenAsAMappingSaysSo: a setting or a section's field that
// holds no keys (a text, a list of texts, a number), written in the file
// as a mapping (listen: {a: 1}) or as a list holding one, was reported as
// an unknown key "listen.a; did you mean listen?", naming as the fix the
// very key the file wrote, or, for a list's item, by the decoder's own
// two-paragraph text about types. The error now says what is wrong with
// the value, under the setting's name, and nothing else.
func TestValueWrittenAsAMappingSaysSo(t *testing.T) {
	tests := []struct {
		name, yaml string
		section    bool
		want       string
	}{
		{"core text", "listen: {a: 1}\n", false, "IMCALLBACK_LISTEN (listen): map[a:1] is a map, not a single value"},
		{"core list", "allow_cidrs: {a: 1}\n", false, "IMCALLBACK_ALLOW_CIDRS (allow_cidrs): map[a:1] is a map, not a list"},
		{"core list item", "allow_cidrs: [{a: 1}]\n", false, "IMCALLBACK_ALLOW_CIDRS (allow_cidrs): item #1: map[a:1] is a map, not a single value"},
		{"core number", "workers: {a: 1}\n", false, "IMCALLBACK_WORKERS (workers): map[a:1] is not a whole number"},
		{"section list", "words:\n  list: {a: 1}\n", true, "IMCALLBACK_WORDS_LIST (words.list): map[a:1] is a map, not a list"},
		{"section list item", "words:\n  list: [spam, {a: 1}]\n", true, "IMCALLBACK_WORDS_LIST (words.list): item #2: map[a:1] is a map, not a single value"},
		{"section list item list", "words:\n  list: [[a]]\n", true, "IMCALLBACK_WORDS_LIST (words.list): item #1: [a] is a list, not a single value"},
		{"section number", "words:\n  code: {a: 1}\n", true, "IMCALLBACK_WORDS_CODE (words.code): map[a:1] is not a whole number"},
		{"section duration", "words:\n  pause: {a: 1}\n", true, "IMCALLBACK_WORDS_PAUSE (words.pause): map[a:1] is not a duration"},
		{"section struct's number", "t:\n  inner: {size: {a: 1}}\n", true, "IMCALLBACK_T_INNER (t.inner): inner.size: map[a:1] is not a whole number"},
		{"section map's struct's duration", "t:\n  by_app: {x: {wait: {a: 1}}}\n", true, "IMCALLBACK_T_BY_APP (t.by_app): by_app.x.wait: map[a:1] is not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{File: yamlFile(t, tt.yaml), Environ: env("IMCALLBACK_SDKAPPID=1400000000")}
			var err error
			switch {
			case tt.section && strings.HasPrefix(tt.yaml, "t:"):
				_, err = config.LoadSection(src, "t", timingSection{})
			case tt.section:
				_, err = config.LoadSection(src, "words", wordsDefaults)
			default:
				_, err = config.LoadWith(src)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if msg := err.Error(); strings.Contains(msg, "unknown key") || strings.Contains(msg, "decoding failed") ||
				strings.Contains(msg, "expected type") {
				t.Fatalf("error %v: want only what is wrong with the value", err)
			}
		})
	}
}
