package topicsync

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/tracing"
)

// Module syncs topics: it opens the configured store (closed at stop),
// registers the three topic commands, the read API and a readiness check.
var Module = fx.Module("topic",
	fx.Provide(
		NewStoreFromConfig,
		NewHandlers,
		dispatcher.AsCommands((*Handlers).Commands),
		admin.AsRoutes(Routes),
		admin.AsCheck(func(s Store) admin.Check { return admin.Check{Name: "topic_store", Check: s.Ping, Handler: true} }),
	),
)

// openTimeout bounds opening the store and running its migrations at start.
const openTimeout = 30 * time.Second

// storeIn are the dependencies of NewStoreFromConfig.
type storeIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *config.Config
	Log       *zap.Logger
	Tracer    *tracing.Tracer `optional:"true"`
}

// NewStoreFromConfig opens the store chosen by IMCALLBACK_STORE_DSN and
// closes it when the app stops. With tracing, each write is a span.
func NewStoreFromConfig(in storeIn) (Store, error) {
	lc, cfg, log := in.Lifecycle, in.Config, in.Log
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	store, err := OpenStore(ctx, cfg.StoreDSN, cfg.DataDir, log.Named("topic"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(store.Close))
	return traced(store, in.Tracer), nil
}
