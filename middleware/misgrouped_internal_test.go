package middleware

import (
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"
	"go.uber.org/zap"
)

func auditFunc(next echo.HandlerFunc) echo.HandlerFunc { return next }

// TestMisgroupedMiddlewareFailsTheStart: a middleware provided by hand into
// the middleware group as an echo.MiddlewareFunc or a *Ordered, or as an
// Ordered into the commands group, was never collected and silently never
// ran; the chain's build now fails, naming it.
func TestMisgroupedMiddlewareFailsTheStart(t *testing.T) {
	audit := Ordered{Name: "audit", Order: OrderSignature + 10, Func: auditFunc}
	tests := []struct {
		name    string
		provide any
		want    string
	}{
		{"echo.MiddlewareFunc in the middleware group",
			fx.Annotate(func() echo.MiddlewareFunc { return auditFunc }, fx.ResultTags(Group)),
			"an echo.MiddlewareFunc (middleware.auditFunc) is in the middleware group"},
		{"*Ordered in the middleware group",
			fx.Annotate(func() *Ordered { return &audit }, fx.ResultTags(Group)),
			"middleware audit is in the middleware group as a *middleware.Ordered"},
		{"Ordered in the commands group",
			fx.Annotate(func() Ordered { return audit }, fx.ResultTags(`group:"commands"`)),
			"middleware audit is in the commands group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := fx.New(fx.NopLogger, fx.Supply(zap.NewNop()), fx.Provide(newChainFromGroup, tc.provide),
				fx.Invoke(func(Chain) {}))
			err := app.Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Run("Ordered in the middleware group", func(t *testing.T) {
		var ch Chain
		app := fx.New(fx.NopLogger, fx.Supply(zap.NewNop()),
			fx.Provide(newChainFromGroup, AsMiddleware(func() Ordered { return audit })), fx.Populate(&ch))
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		if len(ch.Names) != 1 || ch.Names[0] != "audit" {
			t.Fatalf("chain %v, want [audit]", ch.Names)
		}
	})
}
