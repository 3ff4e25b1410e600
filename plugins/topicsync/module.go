package topicsync

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
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

// NewStoreFromConfig opens the store chosen by IMCALLBACK_STORE_DSN and
// closes it when the app stops.
func NewStoreFromConfig(lc fx.Lifecycle, cfg *config.Config, log *zap.Logger) (Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	store, err := OpenStore(ctx, cfg.StoreDSN, cfg.DataDir, log.Named("topic"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(store.Close))
	return store, nil
}
