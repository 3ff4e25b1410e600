package delivery

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/tracing"
)

// Module is durable delivery: it provides the *Service (started and
// stopped with the app) as the dispatcher's AfterSink, its "jetstream"
// readiness check, and its workers. Wire it for durable after-callbacks;
// leave it out and the dispatcher runs them inline. The stock binary picks
// it from IMCALLBACK_DELIVERY; nothing else reads that setting.
//
// Lifecycle order (fx stops hooks in the reverse of their append order):
// the Service's hook is appended when the sink is built, which is before
// the dispatcher, and so before the public listener (which takes the
// dispatcher) and before the topic store's close if the store was opened
// first. The workers' hook is appended by an invoke, after the dispatcher
// and its handlers' stores. At stop the workers finish (and the public
// listener drains: their relative order follows the module order and either
// is safe), then the connection is drained and the embedded server stopped
// last: no request is answered after the stream went away, and no handler
// runs after its store closed.
var Module = fx.Module("delivery",
	fx.Provide(provide, admin.AsRoutes(apiRoutes)),
	fx.Invoke(runWorkers),
)

// moduleIn are the dependencies of provide.
type moduleIn struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Config     *config.Config
	Log        *zap.Logger
	Registerer prometheus.Registerer
	Tracer     *tracing.Tracer `optional:"true"`
}

// moduleOut are the values provide adds to the app.
type moduleOut struct {
	fx.Out
	Service *Service
	Sink    dispatcher.AfterSink
	Check   admin.Check `group:"readiness"`
}

// provide builds the Service and registers its start and stop.
func provide(in moduleIn) (moduleOut, error) {
	opts := FromConfig(in.Config)
	opts.Tracer = in.Tracer
	svc, err := New(opts, in.Log.Named("delivery"), in.Registerer)
	if err != nil {
		return moduleOut{}, err
	}
	in.Lifecycle.Append(fx.Hook{OnStart: svc.Start, OnStop: svc.Stop})
	return moduleOut{Service: svc, Sink: svc, Check: svc.ReadinessCheck()}, nil
}

// runWorkers starts the workers on the dispatcher after everything else
// started and stops them before anything else stops.
func runWorkers(lc fx.Lifecycle, svc *Service, d *dispatcher.Dispatcher) {
	svc.setCommands(d.AfterCommands())
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return svc.StartWorkers(d) },
		OnStop:  svc.StopWorkers,
	})
}
