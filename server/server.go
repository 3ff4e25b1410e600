// Package server runs imcallback's two HTTP listeners as fx lifecycle hooks:
// the public one, which serves only the callback endpoint, and the admin
// one (health, readiness, metrics and plugins' read APIs), which stays off
// the public address.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// Module provides and starts the public and admin listeners.
var Module = fx.Module("server",
	fx.Provide(newPublic, newAdmin, newDrain, admin.AsCheck((*Drain).check)),
	fx.Invoke(func(*Public, *Admin) {}),
)

// Listener is an HTTP server started and stopped by the fx lifecycle.
type Listener struct {
	name   string
	echo   *echo.Echo
	server *http.Server
	log    *zap.Logger

	limit *connLimit // the bound of open connections
	stop  chan struct{}
	// running counts the listener's own goroutines (the server's Serve
	// and the connections' reaper): the stop returns once they ended.
	running sync.WaitGroup
	// settle, when set, waits at stop, after the drain and within the same
	// bound, for the work the requests left running.
	settle func(ctx context.Context) error
	// stopping, when set, runs as the stop begins, before the drain: the
	// admin listener's ends the requests that would otherwise wait out the
	// drain's bound (profiles, replays, a plugin's), the public one's makes
	// /readyz fail.
	stopping func()
	// fault, when set, is told that the listener stopped serving while
	// nobody stopped it (Drain.Fail).
	fault func(error)
	// listening, when set, runs once the listener listens: the public
	// one's makes /readyz pass (Drain.publicListening).
	listening func()

	mu   sync.Mutex
	addr net.Addr
}

// Echo returns the listener's echo instance, e.g. to serve it in memory in tests.
func (l *Listener) Echo() *echo.Echo { return l.echo }

// Addr is the bound address once started, nil before.
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// Public is the callback listener.
type Public struct {
	Listener
	certs *certificates // with TLS: the certificate served, reloaded when renewed
}

// Admin is the admin listener.
type Admin struct{ Listener }

// publicIn are the dependencies of newPublic.
type publicIn struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Config     *config.Config
	Log        *zap.Logger
	Metrics    *metrics.Callbacks
	Chain      middleware.Chain
	Dispatcher *dispatcher.Dispatcher
	Drain      *Drain
	// Registry takes the metrics of TLS when it is on: the certificate's
	// expiry and the failed handshakes.
	Registry prometheus.Registerer
	// Sources is the per-app source allowlist (package allowlist), when
	// one is wired: the listener refuses, as they connect, the peers that
	// no app accepts.
	Sources middleware.SourceChecker `optional:"true"`
	// History is not used here: depending on it builds it first, so its
	// start hook, which takes the first sample (the baseline of every
	// window of GET /v1/series), runs before this listener serves a
	// callback. Built later (only the admin listener reads it), it
	// sampled after, and the first callbacks were in no window.
	History *metrics.History `optional:"true"`
	// Admin is not used here either: depending on it builds the admin
	// listener first, so its hook starts before this one and, fx stopping
	// hooks in the reverse order, stops after this one has drained:
	// /readyz (failing from the stop signal) and /metrics answer while the
	// public side drains.
	Admin *Admin
}

// newPublic builds the public listener: the middleware chain and one POST
// route for the callback path. Its TLS is on when a certificate is configured.
func newPublic(in publicIn) (*Public, error) {
	if strings.ContainsAny(in.Config.Path, ":*") {
		// Echo's router reads them as a parameter and a wildcard: the
		// callback would be served on paths nobody configured.
		return nil, fmt.Errorf("server: %s %q holds ':' or '*', which the router reads as a pattern "+
			"(it would serve the callback on other paths too); choose a path without them",
			config.EnvName("path"), in.Config.Path)
	}
	trusted, err := config.ParseTrustedProxies(in.Config.TrustedProxies)
	if err != nil {
		return nil, err
	}
	e := newEcho()
	e.IPExtractor = middleware.NewIPExtractor(trusted, in.Config.ProxyHeader)
	e.HTTPErrorHandler = closeUnreadBody(middleware.ErrorHandler(in.Log, in.Metrics), in.Config.ReadHeaderTimeout)
	// The request state the chain shares comes first, then the chain.
	e.Use(middleware.RequestState)
	e.Use(in.Chain.Server...)
	// Echo wraps route middleware around the handler again on every request;
	// composing the route chain once here saves those closures per request.
	handler := echo.HandlerFunc(in.Dispatcher.Serve)
	for i := len(in.Chain.Route) - 1; i >= 0; i-- {
		handler = in.Chain.Route[i](handler)
	}
	e.POST(in.Config.Path, handler)
	// Every other method, OPTIONS included (echo answers it itself with
	// 204), gets methodNotAllowed.
	e.RouteNotFound(in.Config.Path, methodNotAllowed)

	// A handler still running past its deadline (its callback answered)
	// is waited for too: the stores it uses close after this hook. The
	// stop makes /readyz fail before the listener stops accepting, also
	// when nobody called Drain.Stopping (fx's own Run stops the app
	// without it): the admin listener answers /readyz until this one has
	// drained.
	p := &Public{Listener: Listener{name: "public", echo: e, log: in.Log, settle: in.Dispatcher.Wait,
		stopping: in.Drain.Stopping, fault: in.Drain.Fail, listening: in.Drain.publicListening}}
	p.server = newHTTPServer(in.Config, e, in.Log)
	refusals := newRefusalLog(in.Log)
	// net/http logs each failed TLS handshake: the refusal log takes them.
	httpLog := &netHTTPLog{log: in.Log.Named("http"), refusals: refusals}
	p.server.ErrorLog = log.New(httpLog, "", 0)
	in.Drain.closeConnections(p.server)
	var tlsConf *tls.Config
	maxConns := connBound(in.Config.MaxConns, openFileLimit(), in.Log)
	limit := newConnLimit(maxConns, in.Config.TLSCert == "", in.Config.ReadHeaderTimeout, func(pe *protocol.Error, remote net.Addr) {
		in.Metrics.Rejections.WithLabelValues(pe.Reason, metrics.OtherApp).Inc() // refused before a request was read
		refusals.note(pe, remote)
	})
	allow, err := config.ParsePrefixes(in.Config.AllowCIDRs)
	if err != nil {
		return nil, err
	}
	limit.admit = middleware.NewPeerCheck(allow, in.Sources, trusted)
	p.server.ConnState = limit.connState
	p.limit = limit
	if in.Config.TLSCert != "" {
		certs, err := newCertificates(in.Registry, in.Log, in.Config.TLSCert, in.Config.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("server: %s/%s: %w",
				config.EnvName("tls_cert"), config.EnvName("tls_key"), err)
		}
		if httpLog.handshakes, err = newHandshakeErrors(in.Registry); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		tlsConf = &tls.Config{GetCertificate: certs.getCertificate, MinVersion: tls.VersionTLS12}
		p.certs = certs
		in.Lifecycle.Append(certs.hook())
	}
	in.Lifecycle.Append(p.hook(in.Config.Listen, tlsConf, in.Config.ShutdownTimeout,
		zap.String("path", in.Config.Path), zap.Bool("tls", tlsConf != nil), zap.Int("max_conns", maxConns)))
	return p, nil
}

// methodNotAllowed answers a method other than POST on the callback path:
// 405, with Allow naming POST, the one method the path accepts. The
// router's own 405 named every method registered on the path.
func methodNotAllowed(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAllow, http.MethodPost)
	return echo.ErrMethodNotAllowed
}

func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	return e
}

// fdReserve are the open files kept for everything but public connections:
// the stores, the stream's files, the admin listener.
const fdReserve = 1024

// connBound is the connection limit that fits the open-file limit: a
// configured bound above it would let connections exhaust the process's
// file handles, which also breaks the stores.
func connBound(configured int, fileLimit uint64, log *zap.Logger) int {
	if fileLimit == 0 || uint64(configured)+fdReserve <= fileLimit {
		return configured
	}
	bound := 16
	if fileLimit > fdReserve+16 {
		bound = int(fileLimit - fdReserve)
	}
	log.Warn("IMCALLBACK_MAX_CONNS is above what the open-file limit allows; lowered",
		zap.Int("configured", configured), zap.Uint64("open_file_limit", fileLimit), zap.Int("max_conns", bound))
	return bound
}

// newHTTPServer sets the timeouts that keep a slow client from holding a
// connection forever (keep-alive stays on) and routes net/http's own
// messages, such as TLS handshake errors, to the logger.
func newHTTPServer(cfg *config.Config, h http.Handler, log *zap.Logger) *http.Server {
	errorLog, err := zap.NewStdLogAt(log.Named("http"), zap.WarnLevel)
	if err != nil {
		errorLog = nil // the level is valid; keep net/http's default if zap ever says otherwise
	}
	return &http.Server{
		ErrorLog:          errorLog,
		Handler:           closeUnsureFraming(markHandling(h)),
		ConnContext:       withConn,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadHeaderTimeout + 30*time.Second,
		WriteTimeout:      cfg.ReadHeaderTimeout + 30*time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// net/http answers "OPTIONS *" itself, 200 with no body, past the
		// middleware chain: unlogged, uncounted, and no envelope.
		DisableGeneralOptionsHandler: true,
	}
}

// headerLimit is the most a request's line and headers may come to, the
// blank line that ends them included: one byte more is answered 431
// (43101 header_too_large), as the README's table of rejections says. The
// next request of a keep-alive connection may have up to 4 KiB more: the
// bytes of it net/http reads to see it begin (up to its 4 KiB buffer) come
// before its limit applies.
const headerLimit = 64 << 10

// maxHeaderBytes is http.Server.MaxHeaderBytes for headerLimit: net/http
// reads 4096 bytes beyond MaxHeaderBytes before it gives up, so 64 KiB
// there served headers of up to 68 KiB.
const maxHeaderBytes = headerLimit - 4096

// closeUnsureFraming answers with Connection: close a request whose body
// a proxy in front may have framed otherwise than net/http did, so that
// the bytes after it are never served as a request of their own, which
// would be a request smuggled past the proxy (RFC 9112, sections 6.1 and
// 6.3: the connection must close after such a request). Two kinds leave
// the handler no trace of the framing net/http did not take:
//   - a chunked request: net/http frames it by its chunks and drops a
//     Content-Length sent with them, so every chunked request's
//     connection closes (IM sends a Content-Length);
//   - an HTTP/1.0 request: net/http drops its Transfer-Encoding and
//     frames it by its Content-Length, so every HTTP/1.0 request's
//     connection closes too, keep-alive or not (IM speaks HTTP/1.1).
func closeUnsureFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 || !r.ProtoAtLeast(1, 1) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// serve serves ln until the stop. Should Serve return before it (an
// accept error net/http does not retry, such as ENOMEM), the listener
// answers nothing more while the process runs on: that is logged and
// reported to fault, which stops the service.
func (l *Listener) serve(ln net.Listener) {
	err := l.server.Serve(ln)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return
	}
	l.log.Error("listener stopped serving; the service stops", zap.String("listener", l.name), zap.Error(err))
	if l.fault != nil {
		l.fault(fmt.Errorf("server: the %s listener stopped serving: %w", l.name, err))
	}
}

// waitRunning waits until the listener's own goroutines (Serve and the
// reaper) ended, or ctx does, and reports whether they ended.
func (l *Listener) waitRunning(ctx context.Context) bool { return wait(ctx, &l.running) }

// waitServed waits until the goroutines net/http served the connections
// on ended, or ctx does. Only once Serve returned: it reports a new
// connection to served before it starts its goroutine.
func (l *Listener) waitServed(ctx context.Context) { wait(ctx, &l.limit.served) }

// wait waits until wg's count is zero, or ctx ends, and reports whether
// the count reached zero.
func wait(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// ListenError is the error of what (a listener) that could not listen on
// address, set by the configuration's key: it names the setting, and says
// what to do when another process listens there.
func ListenError(what, address, key string, err error) error {
	hint := "check the address"
	if errors.Is(err, syscall.EADDRINUSE) {
		hint = "another process listens there: stop it or choose another address"
	}
	return fmt.Errorf("%s cannot listen on %s (%s): %w; %s", what, address, config.EnvName(key), err, hint)
}

// hook binds the address at start (so a taken port fails the start), serves
// in the background and drains in-flight requests at stop, bounded by
// shutdownTimeout.
func (l *Listener) hook(address string, tlsConf *tls.Config, shutdownTimeout time.Duration, fields ...zap.Field) fx.Hook {
	return fx.Hook{
		OnStart: func(ctx context.Context) error {
			var lc net.ListenConfig
			ln, err := lc.Listen(ctx, "tcp", address)
			if err != nil {
				key := "listen"
				if l.name == "admin" {
					key = "admin_listen"
				}
				return fmt.Errorf("server: %w", ListenError("the "+l.name+" listener", address, key, err))
			}
			l.stop = make(chan struct{})
			ln = l.limit.wrap(ln)
			l.running.Go(func() { l.limit.run(l.stop) })
			if tlsConf != nil {
				ln = tls.NewListener(ln, tlsConf)
			}
			l.mu.Lock()
			l.addr = ln.Addr()
			l.mu.Unlock()
			l.log.Info("listening", append([]zap.Field{zap.String("listener", l.name),
				zap.String("addr", ln.Addr().String())}, fields...)...)
			l.running.Go(func() { l.serve(ln) })
			if l.listening != nil {
				l.listening()
			}
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			l.log.Info("draining", zap.String("listener", l.name), zap.Duration("shutdown_timeout", shutdownTimeout))
			close(l.stop)
			if l.stopping != nil {
				l.stopping()
			}
			ctx, cancel := context.WithTimeout(stopCtx, shutdownTimeout)
			defer cancel()
			err := l.server.Shutdown(ctx)
			// The listener is closed: the refusals of sources outside the
			// allowlist, which the server does not know, end too.
			l.limit.stopRefusing()
			// The stop returns once the listener's own goroutines ended
			// too, so that nothing of it runs after the stop (a
			// goroutine-leak check right after it, as imtest's doc
			// suggests, could see them still ending). Serve returns once
			// the listener is closed, which the drain did first; the fx
			// stop's own deadline (stopCtx, not the drain's) bounds the
			// wait all the same.
			ended := l.waitRunning(stopCtx)
			if err != nil {
				// net/http takes a new connection for idle only 5 s after
				// it was accepted: with a shorter bound, one that sent no
				// whole header yet (a client that connected just before,
				// a slow or silent one) failed the drain, although every
				// request had been answered; so did a request whose body
				// was still arriving, not acted on, and one refused
				// before its body was read, whose rest net/http reads
				// after the answer. Closing those loses nothing.
				serving := l.limit.serving()
				l.server.Close()
				if serving > 0 {
					// Not waited for: their handlers may never return.
					return fmt.Errorf("server: %s listener drain: requests still in flight: %d: %w", l.name, serving, err)
				}
				l.log.Info("closed the connections that had sent no whole request by the end of the drain",
					zap.String("listener", l.name))
			}
			// The goroutines net/http served the connections on end once
			// they see their connection closed (the drain closes an idle
			// one beneath its goroutine, which ends when it next runs).
			// Counted from Serve only, so waited for once it returned.
			if ended {
				l.waitServed(stopCtx)
			}
			if l.settle != nil {
				if err := l.settle(ctx); err != nil {
					return fmt.Errorf("server: %s listener drain: %w", l.name, err)
				}
			}
			l.log.Info("stopped", zap.String("listener", l.name))
			return nil
		},
	}
}
