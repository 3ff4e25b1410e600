package middleware_test

import (
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/middleware"
)

// annotatedDep is a named dependency a middleware's constructor takes.
type annotatedDep struct{}

func newAnnotatedMiddleware(annotatedDep) middleware.Ordered {
	return middleware.Ordered{Name: "annotated", Order: 9999,
		Func: func(next echo.HandlerFunc) echo.HandlerFunc { return next }}
}

// buildMiddleware builds an app providing the named dependency and
// provide, and returns the middleware group and the build error.
func buildMiddleware(provide any) (list []middleware.Ordered, err error) {
	app := fx.New(fx.NopLogger,
		fx.Provide(fx.Annotate(func() annotatedDep { return annotatedDep{} }, fx.ResultTags(`name:"dep"`))),
		fx.Provide(provide),
		fx.Invoke(fx.Annotate(func(l []middleware.Ordered) { list = l }, fx.ParamTags(middleware.Group))))
	return list, app.Err()
}

// TestAsMiddlewareAnnotatedConstructorIsRefusedWithTheRecipe: a
// constructor already annotated with fx.Annotate, which fx cannot annotate
// again, given to AsMiddleware fails the build saying so and how to write
// it, where it said the middleware itself was given instead of its
// constructor; the recipe the error gives does add the middleware.
func TestAsMiddlewareAnnotatedConstructorIsRefusedWithTheRecipe(t *testing.T) {
	_, err := buildMiddleware(middleware.AsMiddleware(fx.Annotate(newAnnotatedMiddleware, fx.ParamTags(`name:"dep"`))))
	if err == nil {
		t.Fatal("the build succeeded")
	}
	for _, want := range []string{"middleware: AsMiddleware(fx.Annotate(…))", "already annotated", "fx.ResultTags(middleware.Group)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one containing %q", err, want)
		}
	}
	list, err := buildMiddleware(fx.Annotate(newAnnotatedMiddleware, fx.ParamTags(`name:"dep"`), fx.ResultTags(middleware.Group)))
	if err != nil || len(list) != 1 || list[0].Name != "annotated" {
		t.Fatalf("the recipe of the error: middleware %v, error %v", list, err)
	}
}
