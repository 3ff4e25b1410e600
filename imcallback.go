// Package imcallback is a framework and ready-to-run service for Tencent
// Cloud IM (Chat) third-party callbacks.
//
// Module wires the whole callback service with uber fx: configuration,
// logging, metrics, the middleware chain, the dispatcher and the two HTTP
// listeners. A program adds its commands and middleware as fx options, and
// delivery.Module for durable delivery of after-callbacks (the default of
// IMCALLBACK_DELIVERY; without it they run inline, unstored, and the start
// warns):
//
//	mine := []fx.Option{delivery.Module, fx.Provide(dispatcher.AsCommand(NewMyHandler))}
//	fx.New(imcallback.Timeouts(config.Source{}, mine...), logging.FxLogger, imcallback.Module, fx.Options(mine...)).Run()
//
// Timeouts bounds the start and the stop as the configuration says, not by
// fx's 15 s defaults; logging.FxLogger puts fx's own events in the
// service's log at debug level, where fx would print a line per
// constructor and hook to stderr, and a failed start or stop at error
// level (Run prints nothing of its own). cli.Main does this wiring, IMCALLBACK_DELIVERY
// included, and adds the stock command line.
package imcallback

import (
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/allowlist"
	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/console"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imrest"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/server"
	"github.com/imcallback/imcallback/tracing"
)

// Module is the callback service: config, logger, metrics, middleware,
// dispatcher (with the catalogue's reply rules), the public and admin listeners,
// the source allowlist per app (kept current from Tencent for apps with
// iplist) and the apps' REST clients (*imrest.Clients).
var Module = fx.Module("imcallback",
	config.Module,
	catalogue.Module,
	logging.Module,
	metrics.Module,
	middleware.Module,
	dispatcher.Module,
	server.Module,
	allowlist.Module,
	console.Module,
	forward.Module,
	tracing.Module,
	fx.Provide(newRESTClients),
)

// Timeouts bounds the start and the stop of an app of Module as `serve`
// bounds them, by IMCALLBACK_START_TIMEOUT and Config.StopTimeout (four
// IMCALLBACK_SHUTDOWN_TIMEOUT plus 15 s), rather than by fx's 15 s
// defaults: those ignore IMCALLBACK_START_TIMEOUT, and cut short a stop
// that drains within IMCALLBACK_SHUTDOWN_TIMEOUT, leaving the stream and
// the stores unclosed. src is the Source the app reads (the zero Source:
// the environment); modules are the program's own, read only for the
// configuration sections they declare (config.Section), whose keys the
// file may hold. fx takes these options at the top level of fx.New only,
// as the package's doc shows. fx's Run applies them; a program that calls
// the app's Start and Stop itself (to call server.Drain's Begin between
// the signal and the stop) gives them contexts of app.StartTimeout() and
// app.StopTimeout(), for the timeouts bound nothing else. Modules that do not build, or a
// configuration that does not load, keep fx's defaults: the service's own
// start fails, saying why.
//
// Timeouts reads src's File once (config.Source.Read), and the app loads
// what it read (config.Reuse) when the Source supplied to it names the
// same file, rather than reading the file a second time: a file that can
// be read once only (a pipe, as --config <(envsubst < c.yaml) or
// /dev/stdin gives) would be empty then, and the service would run
// without the file's tokens and allowlist.
func Timeouts(src config.Source, modules ...fx.Option) fx.Option {
	src = src.Read()
	reuse := config.Reuse(src)
	sections, err := config.DeclaredSections(modules...)
	if err != nil {
		return reuse
	}
	cfg, err := config.LoadWith(src, sections...)
	if err != nil {
		return reuse
	}
	return fx.Options(reuse, fx.StartTimeout(cfg.StartTimeout), fx.StopTimeout(cfg.StopTimeout()))
}

// newRESTClients are the Tencent REST API clients of the apps configured
// with a secret key, for handlers (and the allowlist's GetIPList). The stop
// closes the connections they keep alive, after everything built on them
// (the allowlist's refresh, the handlers) has stopped: each would otherwise
// hold a socket and two goroutines past the stop, until IM or the idle
// timeout closed it.
func newRESTClients(lc fx.Lifecycle, cfg *config.Config) (*imrest.Clients, error) {
	var configs []imrest.Config
	for _, a := range cfg.Apps {
		if a.SecretKey == "" {
			continue
		}
		configs = append(configs, imrest.Config{SdkAppID: a.SdkAppID, SecretKey: imrest.Secret(a.SecretKey),
			AdminIdentifier: a.AdminIdentifier, BaseURL: a.APIBase})
	}
	clients, err := imrest.NewClients(configs...)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(clients.CloseIdleConnections))
	return clients, nil
}
