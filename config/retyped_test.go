package config_test

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// TestTextWrittenAsANumberKeepsItsText: YAML reads a plain 0123, 0x1F,
// 1_000, 1e3 or true as a number or a boolean, and the decoder writes it
// back as other text (83, 31, 1000, 1000, 1): a token written so would
// silently differ from the one IM holds, and an SdkAppid with a leading
// zero become another app. Such a value of a text setting is refused,
// naming the key, the secrets unquoted; a number that reads back as
// written (tokens: [123456]) and a quoted one are taken as they are.
func TestTextWrittenAsANumberKeepsItsText(t *testing.T) {
	refused := []struct {
		name, yaml string
		want       []string
		secret     string // must not appear in the error
	}{
		{"octal token", "sdkappid: [\"1\"]\ntokens: [abc, 0123]\n",
			[]string{"IMCALLBACK_TOKENS (tokens): item #2 is read by YAML as a number", "quote it"}, "0123"},
		{"hex admin token", "sdkappid: [\"1\"]\nadmin_token: 0x1F\n",
			[]string{"IMCALLBACK_ADMIN_TOKEN (admin_token): the value is read by YAML as a number"}, "0x1F"},
		{"token with underscores", "sdkappid: [\"1\"]\ntokens: 12_345_678\n",
			[]string{"IMCALLBACK_TOKENS (tokens): the value is read by YAML as a number"}, "12_345_678"},
		{"long numeric token", "sdkappid: [\"1\"]\ntokens: [123456789012345678901234567890]\n",
			[]string{"IMCALLBACK_TOKENS (tokens): item #1 is read by YAML as a number"}, "123456789012345678901234567890"},
		{"boolean token", "sdkappid: [\"1\"]\ntokens: [true]\n",
			[]string{"IMCALLBACK_TOKENS (tokens): item #1 is read by YAML as a boolean"}, ""},
		{"octal sdkappid", "sdkappid: [01400000001]\n",
			[]string{`IMCALLBACK_SDKAPPID (sdkappid): item #1 "01400000001" is read by YAML as the number 201326593`, `quote it: "01400000001"`}, ""},
		{"app secret key", "apps:\n  - sdkappid: \"1\"\n    secret_key: 1e10\n",
			[]string{"IMCALLBACK_APP_1_SECRET_KEY (app_1_secret_key): the value is read by YAML as a number"}, "1e10"},
		{"app token", "apps:\n  - sdkappid: \"1\"\n    tokens: [ok, 0o17]\n",
			[]string{"IMCALLBACK_APP_1_TOKENS (app_1_tokens): item #2 is read by YAML as a number"}, "0o17"},
		{"app identifier", "apps:\n  - sdkappid: \"1\"\n    admin_identifier: 1e3\n",
			[]string{`IMCALLBACK_APP_1_ADMIN_IDENTIFIER (app_1_admin_identifier): "1e3" is read by YAML as the number 1000`}, ""},
		{"forward name", "sdkappid: [\"1\"]\nforward:\n  - name: 0x10\n    url: https://example.com/h\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n    match: [\"*\"]\n",
			[]string{`forward[0].name: "0x10" is read by YAML as the number 16`}, ""},
		{"a merged entry", "defaults: &d\n  secret_key: 0x1F\napps:\n  - <<: *d\n    sdkappid: \"1\"\n",
			[]string{"IMCALLBACK_APP_1_SECRET_KEY (app_1_secret_key): the value is read by YAML as a number"}, "0x1F"},
		{"an app entry written without its dash", "apps:\n  sdkappid: \"1\"\n  secret_key: 0x1F\n",
			[]string{"IMCALLBACK_APP_1_SECRET_KEY (app_1_secret_key): the value is read by YAML as a number"}, "0x1F"},
		{"a forward entry written without its dash", "sdkappid: [\"1\"]\nforward:\n  name: 0x10\n  url: https://example.com/h\n  secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n  match: [\"*\"]\n",
			[]string{`forward[0].name: "0x10" is read by YAML as the number 16`}, ""},
		{"an alias of a number", "sdkappid: [\"1\"]\nadmin_token: &n 0123\ntokens: [ok, *n]\n",
			[]string{"IMCALLBACK_TOKENS (tokens): item #2 is read by YAML as a number"}, "0123"},
		{"apps merged into the file's top", "<<: {apps: [{sdkappid: \"1\", secret_key: 0x1F}]}\n",
			[]string{"IMCALLBACK_APP_1_SECRET_KEY (app_1_secret_key): the value is read by YAML as a number"}, "0x1F"},
		{"forward merged into the file's top", "sdkappid: [\"1\"]\n<<: {forward: [{name: 0x10, url: https://example.com/h, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, match: [\"*\"]}]}\n",
			[]string{`forward[0].name: "0x10" is read by YAML as the number 16`}, ""},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml)
			if err == nil {
				t.Fatal("Load accepted the value")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	accepted := []struct {
		name, yaml string
		tokens     []string
	}{
		{"a number that reads back as written", "sdkappid: [1400000001]\ntokens: [123456, -7]\n", []string{"123456", "-7"}},
		{"quoted", "sdkappid: [\"1\"]\ntokens: [\"0123\", '0x1F', !!str 1_000]\n", []string{"0123", "0x1F", "1_000"}},
		{"a block scalar", "sdkappid: [\"1\"]\ntokens:\n  - >-\n    0123\n", []string{"0123"}},
		// A merged value that the mapping's own key replaces is not read.
		{"a merged value replaced", "<<: {tokens: [0123]}\nsdkappid: [\"1\"]\ntokens: [ok]\n", []string{"ok"}},
		{"an entry's merged value replaced", "tokens: [ok]\napps:\n  - <<: {secret_key: 0x1F}\n    sdkappid: \"1\"\n    secret_key: s3cret\n", []string{"ok"}},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, tt.yaml)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.Tokens, ",") != strings.Join(tt.tokens, ",") {
				t.Errorf("tokens %q, want %q", c.Tokens, tt.tokens)
			}
		})
	}
}

// TestSectionTextWrittenAsANumberKeepsItsText: a module's section is read
// as the core settings are, so its text written as a number YAML reads as
// other text is refused too, a secret field's value not shown.
func TestSectionTextWrittenAsANumberKeepsItsText(t *testing.T) {
	tests := []struct {
		name, yaml, want, secret string
	}{
		{"list item", "words:\n  list: [spam, 0x10]\n", `IMCALLBACK_WORDS_LIST (words.list): item #2 "0x10" is read by YAML as the number 16`, ""},
		{"secret", "words:\n  api_key: 0777\n", "IMCALLBACK_WORDS_API_KEY (words.api_key): the value is read by YAML as a number", "0777"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadSection(config.Source{File: yamlFile(t, tt.yaml), Environ: env()}, "words", wordsDefaults)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	if v, err := config.LoadSection(config.Source{File: yamlFile(t, "words:\n  list: [\"0x10\", 42]\n"), Environ: env()}, "words", wordsDefaults); err != nil ||
		strings.Join(v.List, ",") != "0x10,42" {
		t.Errorf("quoted and plain numbers: %v, %v", v.List, err)
	}
}

// TestTextWrittenAsANumberUnderAVariable: a variable set for the setting
// replaces the file's value, so a number in the file that YAML would read
// as other text is not used, and not refused: the file may hold a
// placeholder that the environment overrides, as it may for any setting.
func TestTextWrittenAsANumberUnderAVariable(t *testing.T) {
	tests := []struct {
		name, yaml string
		environ    []string
		check      func(*config.Config) bool
	}{
		{"a core setting", "sdkappid: [\"1\"]\ntokens: [0123]\n", []string{"IMCALLBACK_TOKENS=abc"},
			func(c *config.Config) bool { return strings.Join(c.Tokens, ",") == "abc" }},
		{"an app's setting", "apps:\n  - sdkappid: \"1\"\n    secret_key: 0x1F\n", []string{"IMCALLBACK_APP_1_SECRET_KEY=s3cret"},
			func(c *config.Config) bool { return len(c.Apps) == 1 && c.Apps[0].SecretKey == "s3cret" }},
		// Load reads a name in any case after IMCALLBACK_, and so it
		// replaces the file's value in any case too.
		{"a core setting's variable in lower case", "sdkappid: [\"1\"]\ntokens: [0123]\n", []string{"IMCALLBACK_tokens=abc"},
			func(c *config.Config) bool { return strings.Join(c.Tokens, ",") == "abc" }},
		{"an app's variable in lower case", "apps:\n  - sdkappid: \"1\"\n    secret_key: 0x1F\n", []string{"IMCALLBACK_app_1_secret_key=s3cret"},
			func(c *config.Config) bool { return len(c.Apps) == 1 && c.Apps[0].SecretKey == "s3cret" }},
		{"a whole number's variable in lower case", "sdkappid: [\"1\"]\nworkers: 010\n", []string{"IMCALLBACK_Workers=10"},
			func(c *config.Config) bool { return c.Workers == 10 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, tt.yaml, tt.environ...)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("the variable's value was not used: %+v", c)
			}
		})
	}
	t.Run("a blank variable leaves the file's value, refused", func(t *testing.T) {
		if _, err := loadYAML(t, "sdkappid: [\"1\"]\ntokens: [0123]\n", "IMCALLBACK_TOKENS= "); err == nil {
			t.Error("Load accepted the file's value")
		}
	})
	t.Run("a section", func(t *testing.T) {
		v, err := config.LoadSection(config.Source{File: yamlFile(t, "words:\n  list: [spam, 0x10]\n"), Environ: env("IMCALLBACK_WORDS_LIST=spam,eggs")}, "words", wordsDefaults)
		if err != nil || strings.Join(v.List, ",") != "spam,eggs" {
			t.Errorf("list %q, error %v; want the variable's", v.List, err)
		}
	})
	t.Run("a section's variable in lower case", func(t *testing.T) {
		v, err := config.LoadSection(config.Source{File: yamlFile(t, "words:\n  list: [spam, 0x10]\n"), Environ: env("IMCALLBACK_words_list=spam,eggs")}, "words", wordsDefaults)
		if err != nil || strings.Join(v.List, ",") != "spam,eggs" {
			t.Errorf("list %q, error %v; want the variable's", v.List, err)
		}
	})
}

// TestFileWithSeveralDocuments: a file of more than one YAML document is
// refused, naming it: only the first would be read, and the settings of the
// others ignored without a word. A document marker before the one document,
// or an empty document after it, is still one document.
func TestFileWithSeveralDocuments(t *testing.T) {
	tests := []struct {
		name, content string
		ok            bool
	}{
		{"one document", "sdkappid: [\"1\"]\n", true},
		{"one document after its marker", "---\nsdkappid: [\"1\"]\n", true},
		{"one document and an empty one", "sdkappid: [\"1\"]\n---\n", true},
		{"one document and a comment", "sdkappid: [\"1\"]\n---\n# nothing here\n", true},
		{"two documents", "sdkappid: [\"1\"]\n---\ntokens: [\"abc\"]\n", false},
		{"three documents", "---\nsdkappid: [\"1\"]\n---\nlisten: \":8081\"\n---\ntokens: [\"abc\"]\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := yamlFile(t, tt.content)
			_, err := config.Load(config.Source{File: file, Environ: env()})
			switch {
			case tt.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tt.ok && (err == nil || !strings.Contains(err.Error(), "holds more than one YAML document")):
				t.Fatalf("accepted, or refused for another reason: %v", err)
			}
		})
	}
}

// TestWholeNumberWithALeadingZero: YAML reads a plain number with a
// leading zero (workers: 010) as octal, 8, where the variable
// (IMCALLBACK_WORKERS=010) and a quoted "010" read it as decimal, 10, so
// the file silently set another number than it shows. Such a value is
// refused, naming the key and both readings; a number without the zero,
// one the two read alike (05) and one a variable replaces are taken.
func TestWholeNumberWithALeadingZero(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		want    string // "" when the value is taken
	}{
		{"setting", "workers: 010", nil,
			`IMCALLBACK_WORKERS (workers): 010 is read by YAML as the octal number 8, not as 10: write it without the leading zero`},
		{"negative", "max_deliveries: -010", nil,
			`IMCALLBACK_MAX_DELIVERIES (max_deliveries): -010 is read by YAML as the octal number -8, not as -10`},
		{"large", "body_limit: 0100000", nil,
			`IMCALLBACK_BODY_LIMIT (body_limit): 0100000 is read by YAML as the octal number 32768, not as 100000`},
		{"an app's list item", "apps:\n  - sdkappid: \"1\"\n    iplist_nettypes: [05, 010]", nil,
			`IMCALLBACK_APP_1_IPLIST_NETTYPES (app_1_iplist_nettypes): item #2 010 is read by YAML as the octal number 8, not as 10`},
		{"replaced by its variable", "workers: 010", []string{"IMCALLBACK_WORKERS=10"}, ""},
		{"no leading zero", "workers: 10\nmax_conns: +100", nil, ""},
		{"read alike", "apps:\n  - sdkappid: \"1\"\n    iplist_nettypes: [05, 06]\nstream_replicas: 01", nil, ""},
		{"a quoted number", "workers: \"010\"", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, "sdkappid: [\"1\"]\n"+tt.yaml+"\n", tt.environ...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Load refused it: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	// A declared section's number too.
	_, err := config.LoadSection(config.Source{File: yamlFile(t, "words:\n  code: 0120001\n"), Environ: env()}, "words", wordsDefaults)
	if want := `IMCALLBACK_WORDS_CODE (words.code): 0120001 is read by YAML as the octal number 40961, not as 120001`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("section: error %v, want %q", err, want)
	}
}

// pinSection is a module's section with a secret whole number.
type pinSection struct {
	PIN int `koanf:"pin" secret:"true"`
}

func (pinSection) Validate() error { return nil }

// TestSecretWholeNumberWithALeadingZeroIsNotQuoted: a whole number of a
// field tagged secret:"true" written with a leading zero is refused as any
// other, but neither the text written nor either reading of it is shown,
// as no other message about a secret's value shows it.
func TestSecretWholeNumberWithALeadingZeroIsNotQuoted(t *testing.T) {
	_, err := config.LoadSection(config.Source{File: yamlFile(t, "pin:\n  pin: 0735\n"), Environ: env()}, "pin", pinSection{})
	want := "IMCALLBACK_PIN_PIN (pin.pin): the value is read by YAML as an octal number, not as the decimal one it shows"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	for _, shown := range []string{"735", "477"} { // as written, and YAML's octal reading
		if strings.Contains(err.Error(), shown) {
			t.Errorf("error %q shows the secret (%s)", err, shown)
		}
	}
}
