package catalogue_test

import (
	"go.uber.org/fx"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
)

// rootHasRules reports whether imcallback.Module already provides
// dispatcher.Rules (once catalogue.Module is part of it); providing it a
// second time would fail the start.
func rootHasRules() bool {
	env := func() []string { return []string{"IMCALLBACK_SDKAPPID=1400000000"} }
	return fx.ValidateApp(fx.NopLogger, fx.Supply(config.Source{Environ: env}), imcallback.Module,
		fx.Invoke(func(dispatcher.Rules) {})) == nil
}

// withCatalogue returns opts plus catalogue.Module unless the root module
// includes it already.
func withCatalogue(opts ...fx.Option) []fx.Option {
	if rootHasRules() {
		return opts
	}
	return append(opts, catalogue.Module)
}
