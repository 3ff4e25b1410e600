package middleware

import (
	"fmt"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/fxresult"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/tracing"
)

// Module provides the built-in middleware into the group and the sorted
// Chain built from everything in it.
var Module = fx.Module("middleware",
	fx.Provide(
		NewRecent,
		AsMiddleware(NewRecover),
		AsMiddleware(NewRequestID),
		AsMiddleware(newTracingFromFx),
		AsMiddleware(NewAccessLog),
		AsMiddleware(NewBodyLimit),
		AsMiddleware(newIPAllowFromFx),
		AsMiddleware(NewAppID),
		AsMiddleware(NewSignature),
		newChainFromGroup,
	),
)

// chainIn collects the middleware group.
type chainIn struct {
	fx.In
	List []Ordered `group:"middleware"`
	// Ungrouped is an Ordered provided without AsMiddleware, which the
	// group does not collect: read only to warn about it. The zero
	// value when there is none.
	Ungrouped Ordered `optional:"true"`
	// Raw, Pointers and InCommands are middleware provided by hand
	// (fx.ResultTags) into a group that does not collect them: fx keys a
	// group by its name and its values' type, so each would silently
	// never run. Read only to refuse them.
	Raw        []echo.MiddlewareFunc `group:"middleware"`
	Pointers   []*Ordered            `group:"middleware"`
	InCommands []Ordered             `group:"commands"`
}

// misgrouped is the error of the first middleware in chainIn provided into
// a group that does not collect it, nil when there is none.
func misgrouped(in chainIn) error {
	const fix = "the middleware group collects middleware.Ordered values only, so it would never run; " +
		"register it with fx.Provide(middleware.AsMiddleware(constructor)), the constructor returning middleware.Ordered{Name, Order, Func}"
	switch {
	case len(in.Raw) > 0:
		name, _, ok := fxresult.Describe(in.Raw[0])
		if !ok {
			name = "nil"
		}
		name = name[strings.LastIndex(name, "/")+1:] // without its import path: main.audit.func1
		return fmt.Errorf("middleware: an echo.MiddlewareFunc (%s) is in the middleware group: %s", name, fix)
	case len(in.Pointers) > 0:
		name := "nil"
		if p := in.Pointers[0]; p != nil {
			name = p.Name
		}
		return fmt.Errorf("middleware: middleware %s is in the middleware group as a *middleware.Ordered: %s", name, fix)
	case len(in.InCommands) > 0:
		return fmt.Errorf("middleware: middleware %s is in the commands group (dispatcher.CommandGroup), which collects commands: %s",
			in.InCommands[0].Name, fix)
	}
	return nil
}

// newChainFromGroup sorts the middleware group into the Chain.
func newChainFromGroup(in chainIn, log *zap.Logger) (Chain, error) {
	if err := misgrouped(in); err != nil {
		return Chain{}, err
	}
	ch, err := NewChain(in.List)
	if err != nil {
		return ch, err
	}
	log.Debug("middleware chain", zap.Strings("order", ch.Names))
	if u := in.Ungrouped; (u.Name != "" || u.Func != nil) && !slices.Contains(ch.Names, u.Name) {
		// Unless added to the group by hand under its name, it never runs.
		log.Warn("a middleware is provided outside its group, without middleware.AsMiddleware: it never runs; "+
			"register it with fx.Provide(middleware.AsMiddleware(constructor))",
			zap.String("middleware", u.Name), zap.Int("order", u.Order))
	}
	return ch, nil
}

// NewRecover turns a panic into a 500 envelope and logs it with its stack.
// A chain that returned nil without answering (a middleware of the user's
// that neither called next nor answered) is answered 500 internal too, and
// logged, since no access line may have been written for it.
func NewRecover(log *zap.Logger) Ordered {
	recoverMW := middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic recovered", zap.Error(err), zap.ByteString("stack", stack),
				zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
			return fmt.Errorf("%w: panic: %w", protocol.ErrInternal, err)
		},
	})
	return Ordered{Name: "recover", Order: OrderRecover, Scope: ScopeEveryRequest, Func: func(next echo.HandlerFunc) echo.HandlerFunc {
		h := recoverMW(next)
		return func(c echo.Context) error {
			err := answered(c, h(c))
			if err == errNoAnswer {
				log.Error("a middleware returned without answering the request", zap.Error(err),
					zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
			}
			return err
		}
	}}
}

// tracingIn is the optional Tracer of the app (tracing.Module).
type tracingIn struct {
	fx.In
	Tracer *tracing.Tracer `optional:"true"`
}

func newTracingFromFx(in tracingIn) Ordered { return NewTracing(in.Tracer) }

// NewRequestID gives every request an X-Request-Id.
func NewRequestID() Ordered {
	return Ordered{Name: "request_id", Order: OrderRequestID, Scope: ScopeEveryRequest, Func: RequestIDWithConfig(DefaultRequestIDConfig)}
}

// NewAccessLog logs one line per request.
func NewAccessLog(log *zap.Logger, recent *Recent) Ordered {
	return Ordered{Name: "access_log", Order: OrderAccessLog, Scope: ScopeEveryRequest,
		Func: AccessLogWithConfig(AccessLogConfig{Logger: log.Named("access"), Recent: recent})}
}

// NewBodyLimit rejects bodies over the configured size with 413 (echo's
// BodyLimit: checked on Content-Length and again while reading).
func NewBodyLimit(cfg *config.Config) Ordered {
	return Ordered{Name: "body_limit", Order: OrderBodyLimit, Scope: ScopeCallbackRoute,
		Func: middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: fmt.Sprintf("%dB", cfg.BodyLimit)})}
}

// NewIPAllow rejects sources outside cfg's allowlist (IMCALLBACK_ALLOW_CIDRS);
// sources, when not nil, decide instead, per app (package allowlist's Set).
// It fails on a malformed network.
func NewIPAllow(cfg *config.Config, sources SourceChecker) (Ordered, error) {
	allow, err := config.ParsePrefixes(cfg.AllowCIDRs)
	if err != nil {
		return Ordered{}, err
	}
	return Ordered{Name: "ip_allow", Order: OrderIPAllow, Scope: ScopeCallbackRoute,
		Func: IPAllowWithConfig(IPAllowConfig{Allow: allow, Sources: sources})}, nil
}

// ipAllowIn are the dependencies of newIPAllowFromFx: a SourceChecker, when
// one is provided, decides per app.
type ipAllowIn struct {
	fx.In
	Config  *config.Config
	Sources SourceChecker `optional:"true"`
}

func newIPAllowFromFx(in ipAllowIn) (Ordered, error) { return NewIPAllow(in.Config, in.Sources) }

// NewAppID rejects SdkAppids other than the configured ones.
func NewAppID(cfg *config.Config) Ordered {
	return Ordered{Name: "app_id", Order: OrderAppID, Scope: ScopeCallbackRoute, Func: AppIDWithConfig(AppIDConfig{Allowed: cfg.SdkAppIDs})}
}

// NewSignature checks Sign and RequestTime against the tokens of the
// request's app (its own, else the global ones). It warns loudly about apps
// without any token, and when several apps share the global tokens.
func NewSignature(cfg *config.Config, log *zap.Logger) Ordered {
	appTokens := make(map[string][]string, len(cfg.Apps))
	var unsigned []string
	for _, a := range cfg.Apps {
		app, _ := cfg.App(a.SdkAppID)
		appTokens[a.SdkAppID] = app.Tokens
		if len(app.Tokens) == 0 {
			unsigned = append(unsigned, a.SdkAppID)
		}
	}
	if len(unsigned) > 0 {
		log.Warn("NO CALLBACK TOKEN CONFIGURED: requests are not authenticated and anyone who can reach "+
			"the endpoint can forge callbacks; set IMCALLBACK_TOKENS (or IMCALLBACK_APP_<SDKAPPID>_TOKENS) "+
			"to the token of IM's callback authentication", zap.Strings("apps", unsigned))
	}
	if shared := cfg.AppsSharingGlobalTokens(); len(shared) > 1 {
		log.Warn("several apps are verified with the same global IMCALLBACK_TOKENS: in Tencent IM every app has "+
			"its own callback token, so a token leaked from one app would open the others; "+
			"set IMCALLBACK_APP_<SDKAPPID>_TOKENS per app", zap.Strings("apps", shared))
	}
	return Ordered{Name: "signature", Order: OrderSignature, Scope: ScopeCallbackRoute, Func: SignatureWithConfig(SignatureConfig{
		Tokens: cfg.Tokens, AppTokens: appTokens, Window: cfg.SignWindow, Now: DefaultSignatureConfig.Now,
	})}
}
