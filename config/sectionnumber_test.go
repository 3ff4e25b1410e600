package config_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// ratios is a module's section with floating-point fields.
type ratios struct {
	Ratio  float64   `koanf:"ratio"`
	Small  float32   `koanf:"small"`
	Levels []float64 `koanf:"levels"`
	Inner  struct {
		Share float64 `koanf:"share"`
	} `koanf:"inner"`
}

// Validate refuses a ratio outside 0 to 1, as a module would; NaN
// compares false with both bounds, so it would pass.
func (r ratios) Validate() error {
	if r.Ratio < 0 || r.Ratio > 1 {
		return errRatio
	}
	return nil
}

var errRatio = errors.New("ratio must be between 0 and 1")

// TestSectionFloatValues: a section's floating-point field is read as the
// settings' numbers are: a value that is no number is refused saying so,
// not with the decoder's account ("cannot parse value as 'float64':
// strconv.ParseFloat: invalid syntax"); NaN and the infinities, which
// strconv.ParseFloat and YAML's .nan take, are refused too (a Validate's
// range check lets NaN through, as it compares false with every bound);
// so are a number past a float32's range, a boolean, and a hexadecimal
// or underscored text the decoder read as a number.
func TestSectionFloatValues(t *testing.T) {
	bad := []struct{ name, env, yaml, want string }{
		{"a word", "IMCALLBACK_R_RATIO=abc", "", `IMCALLBACK_R_RATIO (r.ratio): "abc" is not a number`},
		{"a boolean", "IMCALLBACK_R_RATIO=true", "", `IMCALLBACK_R_RATIO (r.ratio): "true" is not a number`},
		{"NaN", "IMCALLBACK_R_RATIO=NaN", "", `IMCALLBACK_R_RATIO (r.ratio): "NaN" is not a finite number`},
		{"infinity", "IMCALLBACK_R_RATIO=-Inf", "", `IMCALLBACK_R_RATIO (r.ratio): "-Inf" is not a finite number`},
		{"hexadecimal", "IMCALLBACK_R_RATIO=0x10", "", `IMCALLBACK_R_RATIO (r.ratio): "0x10" is not a number`},
		{"underscores", "IMCALLBACK_R_RATIO=1_0", "", `IMCALLBACK_R_RATIO (r.ratio): "1_0" is not a number`},
		{"past float64", "IMCALLBACK_R_RATIO=1e400", "", `IMCALLBACK_R_RATIO (r.ratio): "1e400" is out of range`},
		{"past float32", "IMCALLBACK_R_SMALL=1e39", "", `IMCALLBACK_R_SMALL (r.small): "1e39" is out of range`},
		{"a list's item", "IMCALLBACK_R_LEVELS=0.5,nan", "", `IMCALLBACK_R_LEVELS (r.levels): item #2: "nan" is not a finite number`},
		{"the file's NaN", "", "r: {ratio: .nan}", `IMCALLBACK_R_RATIO (r.ratio): NaN is not a finite number`},
		{"the file's boolean", "", "r: {ratio: yes}", `IMCALLBACK_R_RATIO (r.ratio): "yes" is not a number`},
		{"a nested NaN", "", "r: {inner: {share: .inf}}", `IMCALLBACK_R_INNER (r.inner): inner.share: +Inf is not a finite number`},
		{"a nested word", "", "r: {inner: {share: half}}", `IMCALLBACK_R_INNER (r.inner): inner.share: "half" is not a number`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadSection(ratioSource(t, tt.env, tt.yaml), "r", ratios{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "cannot parse") {
				t.Fatalf("error %v quotes the decoder", err)
			}
		})
	}

	good := []struct {
		name, env, yaml string
		want            func(ratios) bool
	}{
		{"a fraction", "IMCALLBACK_R_RATIO=0.25", "", func(r ratios) bool { return r.Ratio == 0.25 }},
		{"signed, with an exponent", "IMCALLBACK_R_SMALL=-2.5e-3", "", func(r ratios) bool { return r.Small == float32(-2.5e-3) }},
		{"a whole number", "IMCALLBACK_R_RATIO=1", "", func(r ratios) bool { return r.Ratio == 1 }},
		{"a leading point", "IMCALLBACK_R_RATIO=.5", "", func(r ratios) bool { return r.Ratio == 0.5 }},
		{"a list", "IMCALLBACK_R_LEVELS=0.5, 1e2", "", func(r ratios) bool { return len(r.Levels) == 2 && r.Levels[0] == 0.5 && r.Levels[1] == 100 }},
		{"the file's number", "", "r: {ratio: 0.75, inner: {share: 2}}", func(r ratios) bool { return r.Ratio == 0.75 && r.Inner.Share == 2 }},
		{"the file's text", "", `r: {ratio: "0.5", inner: {share: "1.5"}}`, func(r ratios) bool { return r.Ratio == 0.5 && r.Inner.Share == 1.5 }},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.LoadSection(ratioSource(t, tt.env, tt.yaml), "r", ratios{})
			if err != nil || !tt.want(got) || math.IsNaN(got.Ratio) {
				t.Fatalf("section %+v, %v", got, err)
			}
		})
	}
}

// ratioSource is a source of one variable (none when variable is "") and
// of a file holding yaml (none when yaml is "").
func ratioSource(t *testing.T, variable, yaml string) config.Source {
	src := config.Source{Environ: env()}
	if variable != "" {
		src.Environ = env(variable)
	}
	if yaml != "" {
		src.File = yamlFile(t, yaml+"\n")
	}
	return src
}
