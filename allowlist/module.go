package allowlist

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/imrest"
	"github.com/imcallback/imcallback/middleware"
)

// Module provides the *Set of the configured apps as the ip_allow
// middleware's SourceChecker, starts it (the first fetch of every Tencent
// list) and stops it with the app, and adds its checks: "iplist", which
// decides readiness, and "iplist_apps" and "iplist_refresh", which do not
// (Set.Check, Set.AppsCheck and Set.RefreshCheck).
var Module = fx.Module("allowlist",
	fx.Provide(
		newFromConfig,
		func(s *Set) middleware.SourceChecker { return s },
		admin.AsCheck(func(s *Set) admin.Check { return s.Check() }),
		admin.AsCheck(func(s *Set) admin.Check { return s.AppsCheck() }),
		admin.AsCheck(func(s *Set) admin.Check { return s.RefreshCheck() }),
	),
)

// OptionsFromConfig are the Options of the configuration: the global
// networks, every app's own, and for the apps with iplist their REST
// client from clients (nil: no clients, for Describe).
func OptionsFromConfig(cfg *config.Config, clients *imrest.Clients) (Options, error) {
	global, err := config.ParsePrefixes(cfg.AllowCIDRs)
	if err != nil {
		return Options{}, err
	}
	o := Options{Global: global, Dir: cfg.DataDir, Refresh: cfg.IPListRefresh}
	for _, a := range cfg.Apps {
		cidrs, err := config.ParsePrefixes(a.AllowCIDRs)
		if err != nil {
			return Options{}, fmt.Errorf("allowlist: app %s: %w", a.SdkAppID, err)
		}
		app := App{ID: a.SdkAppID, CIDRs: cidrs, IPList: a.IPList, NetTypes: a.IPListNetTypes}
		if a.IPList && clients != nil {
			c, err := clients.For(a.SdkAppID)
			if err != nil {
				return Options{}, err
			}
			app.Client = c
		}
		o.Apps = append(o.Apps, app)
	}
	return o, nil
}

func newFromConfig(lc fx.Lifecycle, cfg *config.Config, clients *imrest.Clients, log *zap.Logger, reg prometheus.Registerer) (*Set, error) {
	o, err := OptionsFromConfig(cfg, clients)
	if err != nil {
		return nil, err
	}
	s, err := New(o, log.Named("allowlist"), reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return s.Start(ctx) },
		OnStop:  func(ctx context.Context) error { return s.Stop(ctx) },
	})
	return s, nil
}
