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
//	fx.New(imcallback.Module, delivery.Module, fx.Provide(dispatcher.AsCommand(NewMyHandler))).Run()
//
// cli.Main does this wiring, IMCALLBACK_DELIVERY included, and adds the
// stock command line.
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
