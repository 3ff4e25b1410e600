package catalogue_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// generic decodes b into maps, slices and leaves.
func generic(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

// covers reports every place where got (the typed payload, re-marshalled
// and decoded generically) lacks a key of want (the sample) or holds
// another value. Numbers and numeric strings compare by value, so a
// tolerated "EventTime":"123" matches the re-marshalled 123.
func covers(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, got)}
		}
		var problems []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.%s: not captured by the typed payload", path, k))
				continue
			}
			problems = append(problems, covers(w[k], gv, path+"."+k)...)
		}
		return problems
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d elements, got %v", path, len(w), got)}
		}
		var problems []string
		for i := range w {
			problems = append(problems, covers(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return problems
	case nil:
		return nil
	}
	if !sameLeaf(want, got) {
		return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
	}
	return nil
}

func sameLeaf(want, got any) bool {
	if reflect.DeepEqual(want, got) {
		return true
	}
	num := func(v any) (float64, bool) {
		switch x := v.(type) {
		case float64:
			return x, true
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			return f, err == nil
		}
		return 0, false
	}
	w, ok1 := num(want)
	g, ok2 := num(got)
	return ok1 && ok2 && w == g
}

// remarshal encodes v and decodes it generically.
func remarshal(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return generic(t, b)
}

func TestCoversFlagsDropsAndChangedValues(t *testing.T) {
	tests := []struct {
		name      string
		want, got string
		problems  int
	}{
		{"equal", `{"a":1,"b":[{"c":"x"}]}`, `{"a":1,"b":[{"c":"x"}],"extra":2}`, 0},
		{"number as string", `{"EventTime":"1670574414123"}`, `{"EventTime":1670574414123}`, 0},
		{"dropped key", `{"a":1,"b":2}`, `{"a":1}`, 1},
		{"dropped nested key", `{"b":[{"c":"x","d":1}]}`, `{"b":[{"c":"x"}]}`, 1},
		{"changed value", `{"a":"x"}`, `{"a":"y"}`, 1},
		{"shorter array", `{"a":[1,2]}`, `{"a":[1]}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := covers(generic(t, []byte(tt.want)), generic(t, []byte(tt.got)), "$"); len(got) != tt.problems {
				t.Errorf("problems %q, want %d", got, tt.problems)
			}
		})
	}
}
