package fxresult

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/fx"
)

type item struct{}

func newItem() (item, error) { return item{}, nil }
func newItems() []item       { return nil }

// TestFirst: a function whose first result is the wanted type passes,
// anything fx reports itself (not a function, a nil one) is left to fx,
// and a function of another result is refused, naming it and that result.
func TestFirst(t *testing.T) {
	want := reflect.TypeFor[item]()
	tests := []struct {
		name    string
		f       any
		wantErr string
	}{
		{"first result", newItem, ""},
		{"not a function", 3, ""},
		{"nil function", (func() item)(nil), ""},
		{"other result", newItems, "fxresult.newItems returns []fxresult.item, not fxresult.item"},
		{"no result", func() {}, "returns nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := First(tc.f, want)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestNotAFunction: a value given where a constructor belongs is refused,
// naming the helper and the value's type and saying how to wrap it;
// functions, nil ones included, and nil are left alone.
func TestNotAFunction(t *testing.T) {
	tests := []struct {
		name    string
		f       any
		wantErr string
	}{
		{"value", item{}, "Helper(fxresult.item): it takes a constructor, a function returning the thing, not the thing itself: wrap it in one, fx.Provide(Helper(func() T { return v }))"},
		{"pointer", &item{}, "Helper(*fxresult.item)"},
		{"function", newItem, ""},
		{"nil function", (func() item)(nil), ""},
		{"nil", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := NotAFunction("Helper", tc.f, "thing", "func() T { return v }")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestNilConstructor: nil and a nil function are refused, naming the
// helper (fx panics on both); a function, or any other value, is left to
// the other checks.
func TestNilConstructor(t *testing.T) {
	tests := []struct {
		name    string
		f       any
		wantErr string
	}{
		{"nil", nil, "Helper(nil): it takes a constructor, fx.Provide(Helper(func() T { return v }))"},
		{"nil function", (func() item)(nil), "Helper(nil func() fxresult.item): the constructor is a nil function"},
		{"function", newItem, ""},
		{"value", item{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := NilConstructor("Helper", tc.f, "func() T { return v }")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// missing is a type nothing provides.
type missing struct{}

func needsMissing(missing) item { return item{} }

// TestMissingType: the error of a type nothing provides names the type
// and the constructor that needs it, or for an annotated one, which dig
// names by fx's stub, its group; any other error is not one.
func TestMissingType(t *testing.T) {
	tests := []struct {
		name string
		opts fx.Option
		want string // "": not a missing type
	}{
		{"a constructor", fx.Options(fx.Provide(needsMissing), fx.Invoke(func(item) {})),
			`missing type: fxresult.missing, needed by "github.com/imcallback/imcallback/internal/fxresult".needsMissing (`},
		{"an annotated constructor in a group", fx.Options(
			fx.Provide(fx.Annotate(needsMissing, fx.ResultTags(`group:"items"`))),
			fx.Invoke(fx.Annotate(func([]item) {}, fx.ParamTags(`group:"items"`)))),
			`missing type: fxresult.missing, needed by a constructor of the value group fxresult.item[group="items"] (`},
		{"a constructor's own error", fx.Options(fx.Provide(func() (item, error) { return item{}, errors.New("own") }), fx.Invoke(func(item) {})), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := MissingType(fx.New(fx.NopLogger, tc.opts).Err())
			if ok != (tc.want != "") || !strings.HasPrefix(got, tc.want) {
				t.Fatalf("MissingType = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

// TestAnnotated: the result of fx.Annotate is refused, naming the helper
// and the annotations to give in it instead; functions, values and nil
// are left to the other checks.
func TestAnnotated(t *testing.T) {
	err := Annotated("Helper", fx.Annotate(newItem, fx.ResultTags(`name:"x"`)), "fx.ResultTags(G)")
	if err == nil || !strings.Contains(err.Error(), "Helper(fx.Annotate(…)): the constructor is already annotated") ||
		!strings.Contains(err.Error(), "fx.Provide(fx.Annotate(constructor, <its annotations>, fx.ResultTags(G)))") {
		t.Fatalf("error %v", err)
	}
	for _, f := range []any{newItem, item{}, nil, (func() item)(nil)} {
		if err := Annotated("Helper", f, "fx.ResultTags(G)"); err != nil {
			t.Errorf("Annotated(%T) = %v, want nil", f, err)
		}
	}
}
