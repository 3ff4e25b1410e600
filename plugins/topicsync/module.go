package topicsync

import (
	"context"
	"errors"
	"fmt"
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
		where := config.EnvName("data_dir") + "=" + cfg.DataDir
		if cfg.StoreDSN != "" {
			where = config.EnvName("store_dsn") // its value may hold a password
		}
		return nil, fmt.Errorf("%w (check %s)", err, where)
	}
	if err := adoptOrWarn(ctx, store, cfg.SdkAppIDs, log.Named("topic")); err != nil {
		return nil, errors.Join(err, store.Close())
	}
	lc.Append(fx.StopHook(store.Close))
	return traced(store, in.Tracer), nil
}

// adoptOrWarn hands the topics stored before topics were kept per app to the service's app when
// it serves one and no topic has an app yet (AdoptUnkeyed: the first start after the upgrade);
// otherwise it cannot tell whose they are, and says so.
func adoptOrWarn(ctx context.Context, store Store, apps []string, log *zap.Logger) error {
	if len(apps) == 1 {
		n, err := AdoptUnkeyed(ctx, store, apps[0])
		if err != nil {
			return err
		}
		if n > 0 {
			log.Info("the topics stored before topics were kept per app are now the configured app's",
				zap.Int64("topics", n), zap.String("sdk_app_id", apps[0]))
			return nil
		}
	}
	unkeyed := ""
	left, err := store.List(ctx, ListFilter{SdkAppID: &unkeyed, IncludeDeleted: true, Limit: 1})
	if err != nil {
		return err
	}
	if len(left) > 0 {
		log.Warn("topics stored before topics were kept per app have no app, and callbacks no longer change them; "+
			"the service cannot tell whose they are (it serves several apps, or has stored topics with apps since): "+
			"give them to their app (README, Upgrading to per-app topics)",
			zap.Strings("sdk_app_ids", apps))
	}
	return nil
}
