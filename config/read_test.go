package config_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// TestEveryLoadOfAReadSourceReadsTheSameFile: a Source read once
// (Source.Read) is loaded, core settings and sections alike, from the
// bytes read then, however the file changed since: serve loads the
// configuration to check it and the service loads it again, and a file
// that can be read once only (--config <(…)) was empty the second time.
// A file that could not be read fails each load, naming it.
func TestEveryLoadOfAReadSourceReadsTheSameFile(t *testing.T) {
	path := yamlFile(t, "sdkappid: [\"1400000001\"]\ntokens: [filetoken]\nwords:\n  code: 120002\n")
	src := config.Source{File: path, Environ: env()}.Read()
	if err := os.WriteFile(path, nil, 0o600); err != nil { // as a pipe is, read again
		t.Fatal(err)
	}
	for i := range 2 {
		cfg, err := config.LoadWith(src, config.SectionInfo{Key: "words"})
		if err != nil {
			t.Fatalf("load #%d: %v", i+1, err)
		}
		if !slices.Equal(cfg.Tokens, []string{"filetoken"}) {
			t.Errorf("load #%d read %d tokens, want the file's one", i+1, len(cfg.Tokens))
		}
		w, err := config.LoadSection(src, "words", wordsDefaults)
		if err != nil || w.Code != 120002 {
			t.Errorf("section load #%d: code %d, %v; want the file's 120002", i+1, w.Code, err)
		}
	}
	// Another file than the one read is read itself.
	other := src
	other.File = yamlFile(t, "sdkappid: [\"1400000002\"]\n")
	if cfg, err := config.Load(other); err != nil || !slices.Equal(cfg.SdkAppIDs, []string{"1400000002"}) {
		t.Errorf("another file: %v, %v; want its own app", cfg, err)
	}
	missing := config.Source{File: t.TempDir() + "/none.yaml", Environ: env()}.Read()
	if _, err := config.Load(missing); err == nil || !strings.Contains(err.Error(), "config: read "+missing.File) {
		t.Errorf("a file that could not be read: %v, want the read's error naming it", err)
	}
}
