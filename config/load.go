package config

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

const envPrefix = "IMCALLBACK_"

// Source says where Load reads from. The zero value reads the environment only.
type Source struct {
	// File is an optional YAML file read before the environment.
	File string
	// Environ replaces os.Environ, for tests.
	Environ func() []string
	// Dev fills in a development SdkAppid (DevSdkAppID) when none is
	// configured, so `make run` starts without setup.
	Dev bool
}

// DevSdkAppID is the SdkAppid accepted in development mode when none is set.
const DevSdkAppID = "1400000000"

// Load builds the configuration from defaults, then Source.File, then the
// environment, and validates it.
func Load(src Source) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Default(), "koanf"), nil); err != nil {
		return nil, fmt.Errorf("config: defaults: %w", err)
	}
	if src.File != "" {
		f := koanf.New(".")
		if err := f.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config: read %s: %w", src.File, err)
		}
		if err := checkKeys(f.Keys(), src.File); err != nil {
			return nil, err
		}
		if err := k.Merge(f); err != nil {
			return nil, fmt.Errorf("config: %s: %w", src.File, err)
		}
	}
	known := knownKeys()
	environ := src.Environ
	if environ == nil {
		environ = os.Environ
	}
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: environ,
		TransformFunc: func(name, value string) (string, any) {
			key := strings.ToLower(strings.TrimPrefix(name, envPrefix))
			kind, ok := known[key]
			if !ok {
				return "", nil // not ours (e.g. IMCALLBACK_TEST_*): ignored
			}
			if kind == reflect.Slice {
				return key, splitList(value)
			}
			return key, strings.TrimSpace(value)
		},
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	if src.Dev && len(k.Strings("sdkappid")) == 0 {
		if err := k.Set("sdkappid", []string{DevSdkAppID}); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: invalid:\n%w", err)
	}
	return &c, nil
}

// splitList reads a comma-separated list, dropping blanks.
func splitList(v string) []string {
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// knownKeys maps each configuration key to the kind of its field.
func knownKeys() map[string]reflect.Kind {
	t := reflect.TypeFor[Config]()
	keys := make(map[string]reflect.Kind, t.NumField())
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" && tag != "-" {
			keys[tag] = t.Field(i).Type.Kind()
		}
	}
	return keys
}

// checkKeys rejects keys in a file that no field reads: a typo would
// otherwise be silently ignored.
func checkKeys(keys []string, file string) error {
	known := knownKeys()
	var unknown []string
	for _, k := range keys {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("config: %s: unknown key(s) %s", file, strings.Join(unknown, ", "))
}
