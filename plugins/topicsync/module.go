package topicsync

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/tracing"
)

// Module syncs topics: it opens the configured store at start (closed at
// stop), registers the three topic commands, the read API and a readiness
// check.
var Module = fx.Module("topic",
	fx.Provide(
		NewStoreFromConfig,
		NewHandlers,
		dispatcher.AsCommands((*Handlers).Commands),
		admin.AsRoutes(Routes),
		admin.AsCheck(func(s Store) admin.Check { return admin.Check{Name: "topic_store", Check: s.Ping, Handler: true} }),
	),
)

// openTimeout bounds opening the store and running its migrations at a
// start whose context has no deadline. A start with one (the service's:
// IMCALLBACK_START_TIMEOUT) is bounded by it alone, so that a migration of a
// large table, or the wait for another replica's, may take as long as the
// operator allows the start. A variable for the tests.
var openTimeout = 30 * time.Second

// storeIn are the dependencies of NewStoreFromConfig.
type storeIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *config.Config
	Log       *zap.Logger
	Tracer    *tracing.Tracer `optional:"true"`
}

// NewStoreFromConfig is the store chosen by IMCALLBACK_STORE_DSN, opened
// when the app starts (a store that cannot be opened fails the start) and
// closed when it stops (a close still waiting for connections in use when
// the stop's context ends is abandoned, and the stop fails saying so).
// Opened by the constructor, it would stay open when a later constructor or
// an earlier start hook fails: fx then runs no stop hook of it. Before the
// start and after the stop its calls return ErrClosed. With tracing, each
// write is a span. The error is always nil.
func NewStoreFromConfig(in storeIn) (Store, error) {
	s := &startedStore{}
	log := in.Log.Named("topic")
	in.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return s.open(ctx, in.Config, log) },
		OnStop:  func(ctx context.Context) error { return s.closeWithin(ctx, log) },
	})
	return traced(s, in.Tracer), nil
}

// errNotStarted is a call to the app's store before its start opened it.
var errNotStarted = fmt.Errorf("%w: it is opened when the app starts", ErrClosed)

// startedStore is the Store of NewStoreFromConfig: every call goes to the
// store its start hook opened, and is errNotStarted before.
type startedStore struct {
	opened atomic.Pointer[Store]
}

// open opens the configured store, hands it the topics stored before apps
// were kept when it can (adoptOrWarn), and keeps it; on a failure it closes
// what it opened.
func (s *startedStore) open(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, openTimeout)
		defer cancel()
	}
	store, err := OpenStore(ctx, cfg.StoreDSN, cfg.DataDir, log)
	if err != nil {
		where := config.EnvName("data_dir") + "=" + cfg.DataDir
		if cfg.StoreDSN != "" {
			where = config.EnvName("store_dsn") // its value may hold a password
		}
		return fmt.Errorf("%w (check %s)", err, where)
	}
	if err := adoptOrWarn(ctx, store, cfg.SdkAppIDs, log); err != nil {
		return errors.Join(err, store.Close())
	}
	s.opened.Store(&store)
	return nil
}

// store is the opened store, or errNotStarted.
func (s *startedStore) store() (Store, error) {
	if p := s.opened.Load(); p != nil {
		return *p, nil
	}
	return nil, errNotStarted
}

// Create implements Store.
func (s *startedStore) Create(ctx context.Context, t Topic) error {
	st, err := s.store()
	if err != nil {
		return err
	}
	return st.Create(ctx, t)
}

// Destroy implements Store.
func (s *startedStore) Destroy(ctx context.Context, appID, groupID string, topicIDs []string, at time.Time) error {
	st, err := s.store()
	if err != nil {
		return err
	}
	return st.Destroy(ctx, appID, groupID, topicIDs, at)
}

// ApplyInfoChange implements Store.
func (s *startedStore) ApplyInfoChange(ctx context.Context, c InfoChange) error {
	st, err := s.store()
	if err != nil {
		return err
	}
	return st.ApplyInfoChange(ctx, c)
}

// Get implements Store.
func (s *startedStore) Get(ctx context.Context, appID, topicID string) (Topic, error) {
	st, err := s.store()
	if err != nil {
		return Topic{}, err
	}
	return st.Get(ctx, appID, topicID)
}

// List implements Store.
func (s *startedStore) List(ctx context.Context, f ListFilter) ([]Topic, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	return st.List(ctx, f)
}

// Ping implements Store.
func (s *startedStore) Ping(ctx context.Context) error {
	st, err := s.store()
	if err != nil {
		return err
	}
	return st.Ping(ctx)
}

// Close implements Store: it closes the opened store; before the start
// there is nothing to close.
func (s *startedStore) Close() error {
	st, err := s.store()
	if err != nil {
		return nil
	}
	return st.Close()
}

// closeWithin closes the store, returning when ctx ends if the close has
// not by then: closing waits for every borrowed connection to come back,
// and a query stuck on a lock, with a context that never ends, held the
// stop (and the stop hooks after it) for as long as the query ran. An
// abandoned close goes on in the background and ends once the connections
// come back or the process exits.
func (s *startedStore) closeWithin(ctx context.Context, log *zap.Logger) error {
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	done := func(err error) error {
		if err == nil {
			// The stop's last step: the line says the store is closed,
			// as its start said it was opened.
			log.Info("topic store closed")
		}
		return err
	}
	select {
	case err := <-closed:
		return done(err)
	case <-ctx.Done():
		select {
		case err := <-closed:
			return done(err)
		default:
		}
		log.Warn("the stop ran out while the topic store waited for connections still in use; close abandoned",
			zap.Error(ctx.Err()))
		return fmt.Errorf("topic: close abandoned, connections still in use: %w", ctx.Err())
	}
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
