package delivery

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
)

// Module provides the dispatcher.AfterSink of IMCALLBACK_DELIVERY: in
// durable mode the *Service (started and stopped with the app), its
// "jetstream" readiness check and its workers; in inline mode a nil sink,
// no check, and nothing started.
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
	fx.Provide(Provide),
	fx.Invoke(RunWorkers),
)

// In are the dependencies of Provide.
type In struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Config     *config.Config
	Log        *zap.Logger
	Registerer prometheus.Registerer
}

// Out are the values Provide adds to the app. Checks is a flattened group
// so that inline mode adds no check at all.
type Out struct {
	fx.Out
	Service *Service
	Sink    dispatcher.AfterSink
	Checks  []admin.Check `group:"readiness,flatten"`
}

// Provide builds the Service in durable mode and registers its start and
// stop; in inline mode every result is nil.
func Provide(in In) (Out, error) {
	if in.Config.Delivery != "durable" {
		return Out{}, nil
	}
	svc, err := New(FromConfig(in.Config), in.Log.Named("delivery"), in.Registerer)
	if err != nil {
		return Out{}, err
	}
	in.Lifecycle.Append(fx.Hook{OnStart: svc.Start, OnStop: svc.Stop})
	return Out{Service: svc, Sink: svc, Checks: []admin.Check{svc.ReadinessCheck()}}, nil
}

// RunWorkers starts the workers on the dispatcher after everything else
// started and stops them before anything else stops. It does nothing in
// inline mode.
func RunWorkers(lc fx.Lifecycle, svc *Service, d *dispatcher.Dispatcher) {
	if svc == nil {
		return
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return svc.StartWorkers(d) },
		OnStop:  svc.StopWorkers,
	})
}
