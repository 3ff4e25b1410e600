package delivery

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/filelock"
)

// ErrStoreInUse reports that another process runs an embedded server on
// the same store directory.
var ErrStoreInUse = errors.New("delivery: the embedded JetStream store is in use by another process")

// ErrNoEventLog is returned by ConnectTool for a data directory that holds
// no embedded JetStream store: the tool creates none.
var ErrNoEventLog = errors.New("delivery: no event log")

// embeddedOptions configure an embedded nats-server.
type embeddedOptions struct {
	// StoreDir is the data directory; JetStream keeps its files in StoreDir/jetstream.
	StoreDir string
	// Listen is the client listener, e.g. 127.0.0.1:4222 (port 0 picks a
	// free one); empty accepts in-process connections only.
	Listen string
	// MaxPayload is the largest message in bytes; 0 keeps NATS's default.
	MaxPayload int32
	// MaxPending is the most output the server buffers for a client before
	// it closes the connection as a slow consumer; 0 keeps NATS's default
	// (64 MB). See maxPendingFor.
	MaxPending int64
}

// natsMaxPending is nats-server's default max_pending: 64 MB.
const natsMaxPending = 64 << 20

// maxPendingFor is the embedded server's max_pending for o: room for a
// whole fetch (a message of up to max_payload for each worker) on top of
// NATS's default. A fetch delivers one message per free
// worker at once; under the default a backlog of large events (a raised
// IMCALLBACK_BODY_LIMIT: 64 workers of 3 MB bodies already) overran it,
// and the server closed the service's connection as a slow consumer: the
// appends under way answered 503, the acknowledgements of events just
// processed lost (they ran again), and the same at every fetch after. It
// is a bound, not an allocation: the buffer holds what was delivered.
func maxPendingFor(o Options) int64 {
	payload := int64(o.MaxPayload)
	if payload <= 0 {
		payload = 1 << 20 // NATS's default max_payload
	}
	return natsMaxPending + int64(max(o.Workers, 1))*(payload+headerAllowance)
}

// embedded is a nats-server with JetStream on file storage, run inside
// the process. It holds a lock on its store directory while it runs.
type embedded struct {
	srv  *server.Server
	lock *filelock.Lock
}

// embeddedReadyTimeout bounds the server's start, JetStream recovery
// included, when the caller's context has no deadline of its own (a var:
// tests shorten it).
var embeddedReadyTimeout = 60 * time.Second

// embeddedWriteDeadline is the embedded server's write_deadline, how long
// it waits for a client to take its output before closing the connection
// as a slow consumer; 0 keeps NATS's default (10 s). A var: a test whose
// client reads nothing on purpose raises it.
var embeddedWriteDeadline time.Duration

// startEmbedded starts an embedded server, waiting for it as long as ctx
// allows (see waitReady). It fails with ErrStoreInUse when another process
// runs one on the same directory.
func startEmbedded(ctx context.Context, opts embeddedOptions, log *zap.Logger) (*embedded, error) {
	if opts.StoreDir == "" {
		return nil, fmt.Errorf("delivery: embedded server: no store directory (%s)", config.EnvName("data_dir"))
	}
	if err := os.MkdirAll(opts.StoreDir, 0o750); err != nil {
		return nil, storeDirError(opts.StoreDir, err)
	}
	lockPath := filepath.Join(opts.StoreDir, "jetstream.lock")
	lock, err := filelock.Try(lockPath)
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("%w (lock %s)", ErrStoreInUse, lockPath)
	}
	if err != nil {
		return nil, storeDirError(opts.StoreDir, fmt.Errorf("lock %s: %w", lockPath, err))
	}
	sopts := &server.Options{
		ServerName: "imcallback-embedded",
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		DontListen: opts.Listen == "",
		MaxPayload: opts.MaxPayload,
		MaxPending: opts.MaxPending,
		// Zero is NATS's default.
		WriteDeadline: embeddedWriteDeadline,
	}
	if opts.Listen != "" {
		host, port, err := splitListen(opts.Listen)
		if err != nil {
			lock.Release()
			return nil, err
		}
		sopts.Host, sopts.Port = host, port
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		lock.Release()
		return nil, storeDirError(opts.StoreDir, err)
	}
	slog := serverLog{log: log.Named("nats"), fatal: make(chan string, 1)}
	srv.SetLoggerV2(slog, false, false, false)
	srv.Start()
	if err := waitReady(ctx, srv, slog.fatal); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		lock.Release()
		if opts.Listen != "" && strings.HasPrefix(err.Error(), listenFatal) {
			// A taken or unusable client port: fixed in
			// IMCALLBACK_NATS_LISTEN, not in the data directory.
			return nil, fmt.Errorf("delivery: embedded server: %s %q: %w", config.EnvName("nats_listen"), opts.Listen, err)
		}
		return nil, storeDirError(opts.StoreDir, err)
	}
	return &embedded{srv: srv, lock: lock}, nil
}

// listenFatal begins the fatal message of the embedded server that cannot
// listen on its client port (nats-server's "Error listening on port: …").
const listenFatal = "Error listening on port"

// storeDirError is err of an embedded server that did not start on its
// store directory dir, naming dir and the setting that chooses it
// (IMCALLBACK_DATA_DIR): a directory that cannot be created, locked or
// written is fixed there.
func storeDirError(dir string, err error) error {
	return fmt.Errorf("delivery: embedded server on %s %s: %w", config.EnvName("data_dir"), dir, err)
}

// waitReady waits until srv accepts connections with JetStream on, or
// reports the fatal error it logged (a taken port, an unusable store). It
// waits until ctx ends: the service's start passes IMCALLBACK_START_TIMEOUT's
// deadline, which an operator raises for the recovery of a large store (a
// fixed minute failed such a start whatever the setting said), and a
// shorter one ends the wait as soon. Without a deadline it waits
// embeddedReadyTimeout.
func waitReady(ctx context.Context, srv *server.Server, fatal <-chan string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, embeddedReadyTimeout)
		defer cancel()
	}
	start := time.Now()
	for {
		select {
		case msg := <-fatal:
			return errors.New(msg)
		default:
		}
		if srv.ReadyForConnections(100 * time.Millisecond) {
			if !srv.JetStreamEnabled() {
				return errors.New("JetStream did not start (see the nats log lines)")
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("not ready after %v (JetStream recovers its store first; %s bounds the start): %w",
				time.Since(start).Round(time.Millisecond), config.EnvName("start_timeout"), err)
		}
	}
}

// splitListen reads host:port, the port a number or a service name (as
// config check and the other listeners take it); port 0 asks for a free
// port.
func splitListen(listen string) (string, int, error) {
	host, port, err := listenPort(listen)
	if err != nil {
		return "", 0, err
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// listenPort reads the IMCALLBACK_NATS_LISTEN address listen: its host,
// and its port with a service name (127.0.0.1:http-alt) looked up.
func listenPort(listen string) (string, int, error) {
	host, port, err := config.ListenPort("nats_listen", listen)
	if err != nil {
		return "", 0, fmt.Errorf("delivery: %w", err)
	}
	return host, port, nil
}

// ClientURL is the nats:// URL of the client listener, "" without one.
func (e *embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// Shutdown stops the server, waits for it and releases the store lock.
func (e *embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.lock.Release()
}

// streamDir is where the embedded server keeps the files of stream name:
// <StoreDir>/jetstream/<account>/streams/<name>, the account the global one
// the in-process connection uses.
func (e *embedded) streamDir(name string) string {
	return filepath.Join(e.srv.JetStreamConfig().StoreDir, e.srv.GlobalAccount().Name, "streams", name)
}

// unloadedStreams is nil unless one of the streams names, which the
// embedded server just started does not know, has its files in the
// server's store: the server did not load it at its start (a message
// block or its metafile the service's user cannot read, a restored backup
// or a command run as root with other ownership: the server logs "Error
// recreating stream" and goes on without it). Set up again, it began
// empty over the directory, and the service came up ready with the event
// log, pending events and dead letters included, gone; the error refuses
// that, saying what to fix. A directory without its metafile is no stream
// (the server removes the metafile first when it deletes one, and skips
// such a directory at its start): it is left to be set up.
func (e *embedded) unloadedStreams(ctx context.Context, js jetstream.JetStream, names ...string) error {
	for _, name := range names {
		_, err := js.Stream(ctx, name)
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			continue // loaded, or a lookup that failed: the setup reports that
		}
		dir := e.streamDir(name)
		if _, err := os.Lstat(filepath.Join(dir, "meta.inf")); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		store := e.srv.JetStreamConfig().StoreDir
		fix := fmt.Sprintf("give the service's user access to %s", store)
		if uid, gid := os.Geteuid(), os.Getegid(); uid >= 0 {
			fix = fmt.Sprintf("give the store back to the service's user (uid %d, gid %d), e.g. chown -R %d:%d %s", uid, gid, uid, gid, store)
		}
		return fmt.Errorf("delivery: stream %s has its files in %s, but the embedded NATS server did not load them at its "+
			"start (its log above says why: \"Error recreating stream\", \"Error reading metafile\", \"checksums do not "+
			"match\"); most likely files there the service's user cannot read (their ownership or permissions: a restored "+
			"backup, a command run as root), else a damaged metafile (meta.inf, meta.sum). It is not set up again, which "+
			"would start it empty, without the events stored there (pending events and dead letters included): %s "+
			"(the store under %s), or restore the directory from a backup, and start again",
			name, dir, fix, config.EnvName("data_dir"))
	}
	return nil
}

// Conn is a JetStream connection: to a NATS cluster, or in-process to an
// embedded server it owns.
type Conn struct {
	// NC is the NATS connection.
	NC *nats.Conn
	// JS is the JetStream API on NC.
	JS jetstream.JetStream

	embedded *embedded
	closed   chan struct{}
	log      *zap.Logger // the logger it was opened with, for NewEvents
	// attemptErr is the error of the last failed attempt to connect
	// that a handler was told of, nil once connected.
	attemptErr atomic.Pointer[error]
	// lastErr is nats.go's LastError as notConnectedError last read it,
	// nil once connected: the cause of a failed attempt no handler is told
	// of (a refusal of the first connection, a server that sent no INFO in
	// time), for downError, which cannot read it.
	lastErr atomic.Pointer[error]
	// down is true from a disconnection until the connection is up again
	// (and before the first connection), as nats.go's handlers tell it.
	// nats.go holds the connection's lock through each attempt to
	// (re)connect, up to its connect timeout against a server that takes
	// the TCP connection and answers nothing, so that any call on the
	// connection meanwhile, a publish too, waits for the attempt to end:
	// an append reads this instead, and is refused at once.
	down atomic.Bool
}

// Connect opens the connection Options describe: to Options.URL, or to a
// new embedded server on Options.StoreDir.
func Connect(ctx context.Context, o Options, log *zap.Logger) (*Conn, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.URL != "" {
		// An unreachable cluster is not fatal: the client keeps trying, and
		// the service reports not ready until it connects.
		return dial(ctx, o, log, o.URL, nil, false, nats.RetryOnFailedConnect(true))
	}
	emb, err := startEmbedded(ctx, embeddedOptions{StoreDir: o.StoreDir, Listen: o.Listen, MaxPayload: o.MaxPayload,
		MaxPending: maxPendingFor(o)}, log)
	if err != nil {
		return nil, err
	}
	c, err := dial(ctx, o, log, "", emb, true)
	if err != nil {
		emb.Shutdown()
		return nil, err
	}
	if u := emb.ClientURL(); u != "" {
		log.Info("embedded NATS server listening", zap.String("url", u))
	}
	return c, nil
}

// ConnectTool opens the JetStream a command-line tool should read: the
// cluster at Options.URL; else the running service's embedded server when
// Options.Listen is set and answers; else an embedded server of its own,
// which fails with ErrStoreInUse (and a message saying what to do) while
// the service runs on the same directory.
func ConnectTool(ctx context.Context, o Options, log *zap.Logger) (*Conn, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.URL != "" {
		return dial(ctx, o, log, o.URL, nil, true)
	}
	// listenErr is why the service's embedded server did not answer at
	// o.Listen: said when its store then proves to be in use.
	var listenErr error
	if listen := o.Listen; listen != "" {
		u, err := listenURL(listen)
		if err == nil {
			var c *Conn
			if c, err = dial(ctx, o, log, u, nil, true, nats.MaxReconnects(0), nats.Timeout(2*time.Second)); err == nil {
				return c, nil
			}
		}
		listenErr = fmt.Errorf("%s=%s, where this command looked for the service's embedded server, did not answer (%v)",
			config.EnvName("nats_listen"), listen, err)
	}
	o.Listen = "" // a tool's own server never listens
	if _, err := os.Stat(filepath.Join(o.StoreDir, "jetstream")); errors.Is(err, fs.ErrNotExist) {
		// A tool must not leave a new, empty event log behind (a mistyped
		// data directory would look like one without events).
		return nil, fmt.Errorf("%w in %s: nothing was stored in this data directory (%s)", ErrNoEventLog, o.StoreDir, config.EnvName("data_dir"))
	}
	// A tool run as root on the store of a service that runs as another
	// user (the systemd unit's dynamic user) wrote its files there as root
	// (a replay's new message block): the service could not open them at
	// its next start, and its embedded server then set the stream up
	// again, empty, without the events stored (the start now fails on such
	// a stream instead: unloadedStreams).
	dir := filepath.Join(o.StoreDir, "jetstream")
	if uid, gid, other := storeOwner(dir); other {
		return nil, fmt.Errorf("delivery: %s belongs to uid %d, and this command runs as uid %d: the files it would write there "+
			"(a replay's message blocks) would be uid %d's, which the service, running as uid %d, cannot open: its embedded "+
			"server would not load that stream, and the service's next start would fail on it; run the command as the service's user, uid %d (gid %d), "+
			"as the systemd unit's comment shows for its dynamic user",
			dir, uid, os.Geteuid(), os.Geteuid(), uid, uid, gid)
	}
	c, err := Connect(ctx, o, log)
	if errors.Is(err, ErrStoreInUse) && listenErr != nil {
		return nil, fmt.Errorf("%w: %s (the imcallback service is probably running); %v: set it to the service's own %s, "+
			"stop the service, or run both against a NATS cluster with %s", err, o.StoreDir, listenErr,
			config.EnvName("nats_listen"), config.EnvName("nats_url"))
	}
	if errors.Is(err, ErrStoreInUse) {
		return nil, fmt.Errorf("%w: %s (the imcallback service is probably running). Stop the service, "+
			"or set %s on it (e.g. 127.0.0.1:14222: not NATS's 4222, where another server may listen) so that tools connect to its embedded server, "+
			"or run both against a NATS cluster with %s", err, o.StoreDir,
			config.EnvName("nats_listen"), config.EnvName("nats_url"))
	}
	return c, err
}

// listenURL turns a listen address into a URL to dial it locally, with
// the port of a service name looked up (a URL takes only digits).
func listenURL(listen string) (string, error) {
	host, port, err := listenPort(listen)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return (&url.URL{Scheme: "nats", Host: net.JoinHostPort(host, strconv.Itoa(port))}).String(), nil
}

// dial connects to addr (or in-process to emb). With requireJS it fails
// unless JetStream answers now; without, a connection still in progress or
// a JetStream not ready yet is left for the service's supervisor.
func dial(ctx context.Context, o Options, log *zap.Logger, addr string, emb *embedded, requireJS bool, extra ...nats.Option) (*Conn, error) {
	c := &Conn{embedded: emb, closed: make(chan struct{}), log: log}
	c.down.Store(true) // until connected
	// The errors logged since the connection was last up: a server refusing
	// the credentials refuses every attempt, and each server of a list down
	// fails each round of attempts, logged once each until it connects.
	var logged unconnectedErrors
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		// By default nats.go closes the connection for good after the same
		// authorization error twice (a server restarted with credentials
		// not loaded yet, an operator's mistake being fixed): the service
		// would stay unavailable until restarted. It keeps trying instead,
		// and recovers once the server takes its credentials again.
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectWait(o.ReconnectWait),
		// No buffering while disconnected: a publish fails at once, so the
		// request is answered 503 instead of waiting out its deadline.
		nats.ReconnectBufSize(-1),
		nats.DrainTimeout(o.ShutdownTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.down.Store(true)
			if err != nil {
				log.Warn("NATS connection lost; reconnecting", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.down.Store(false)
			logged.reset()
			c.attemptErr.Store(nil)
			c.lastErr.Store(nil)
			log.Info("NATS connection restored", zap.String("url", connectedURL(nc, emb)))
		}),
		// The first connection, made at once or after failed attempts.
		nats.ConnectHandler(func(nc *nats.Conn) {
			c.down.Store(false)
			logged.reset()
			c.attemptErr.Store(nil)
			c.lastErr.Store(nil)
			log.Info("NATS connected", zap.String("url", connectedURL(nc, emb)))
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			fields := []zap.Field{zap.Error(err)}
			if sub != nil {
				fields = append(fields, zap.String("subject", sub.Subject))
			} else if !nc.IsConnected() {
				// A server refusing every reconnect says so at each try: once
				// at warn until the connection is back. A connected one's
				// errors are each logged.
				c.attemptErr.Store(&err)
				logged.log(log, "NATS asynchronous error", err, fields...)
				return
			}
			log.Warn("NATS asynchronous error", fields...)
		}),
		// A failed attempt to connect: the first connect's refusal (a
		// server refusing the credentials or the TLS handshake) reaches
		// this handler only, not the error handler, and the service kept
		// trying without a word of why.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				c.attemptErr.Store(&err)
				logged.log(log, "NATS connection attempt failed", err, zap.Error(err))
			}
		}),
	}
	if emb != nil {
		opts = append(opts, nats.InProcessServer(emb.srv))
	} else {
		opts = append(opts, hungServerOptions(o)...)
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("delivery: connect to NATS: %w", err)
	}
	if nc.IsConnected() {
		// Connected now: not left to the connect handler, which runs
		// later, so that no append is refused meanwhile.
		c.down.Store(false)
	}
	// An append whose acknowledgement never comes (a leader change, a reply
	// lost) must leave the publisher's table after PublishTimeout, or the
	// table fills and every later append stalls.
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(o.PublishTimeout),
		jetstream.WithPublishAsyncMaxPending(MaxPendingAppends))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("delivery: JetStream: %w", err)
	}
	c.NC, c.JS = nc, js
	if !requireJS {
		return c, nil
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		c.NC.Close()
		<-c.closed
		return nil, fmt.Errorf("delivery: JetStream is not available on the NATS server: %w", err)
	}
	return c, nil
}

// pingEvery is how often the connection to an external NATS server pings
// it; two pings without an answer give the server up (nats.go's
// MaxPingsOut), so a server that hangs is left within three of them.
const pingEvery = 5 * time.Second

// hungServerOptions give up the connection to an external server that
// hangs (SIGSTOP, a network that drops every packet): its TCP connection
// stays open, and nothing says it is gone. Under nats.go's defaults the
// service stayed on it until two pings of two minutes went unanswered,
// every callback answered 503 while the other nodes of the cluster served
// the stream; and once the socket's buffers were full, a write blocked
// for a minute holding the connection's lock, so that each callback's
// append waited that minute instead of its PublishTimeout. Now a write the
// server takes nothing of for a PublishTimeout (no append on it could be
// acknowledged in time) drops the connection, and unanswered pings every
// pingEvery do when nothing is written: the client reconnects, to another
// node of a cluster at once, to the same server once it answers again.
func hungServerOptions(o Options) []nats.Option {
	return []nats.Option{
		nats.PingInterval(pingEvery),
		nats.MaxPingsOutstanding(2),
		nats.FlusherTimeout(o.PublishTimeout),
		nats.ReconnectOnFlusherError(),
	}
}

// unconnectedErrors are the errors of a connection logged since it was
// last up, so that each is logged at warn once until it is up again, the
// repeats at debug.
type unconnectedErrors struct {
	mu   sync.Mutex
	seen map[string]bool
}

// maxUnconnectedErrors bounds the errors remembered: past it, new ones
// are logged at debug.
const maxUnconnectedErrors = 64

func (u *unconnectedErrors) log(log *zap.Logger, msg string, err error, fields ...zap.Field) {
	text := err.Error()
	u.mu.Lock()
	again := u.seen[text] || len(u.seen) >= maxUnconnectedErrors
	if !again {
		if u.seen == nil {
			u.seen = map[string]bool{}
		}
		u.seen[text] = true
	}
	u.mu.Unlock()
	if again {
		log.Debug(msg+", again", fields...)
		return
	}
	log.Warn(msg, fields...)
}

func (u *unconnectedErrors) reset() {
	u.mu.Lock()
	u.seen = nil
	u.mu.Unlock()
}

// notConnectedError says that c is not connected (its status st), with
// why its last attempt failed: a server's refusal (the credentials, the
// TLS handshake), else the last failure a handler was told of (a server
// that does not answer). A connection still trying is RECONNECTING
// whatever the cause. It reads nats.go's LastError, which waits for an
// attempt to reconnect under way: on a request's path, use downError.
func (c *Conn) notConnectedError(st nats.Status) error {
	c.noteLastError()
	return c.statusError(st)
}

// noteLastError reads nats.go's LastError for downError. It waits for an
// attempt to reconnect under way (up to the connect timeout against a
// server that answers nothing): the supervisor calls it, not a request.
func (c *Conn) noteLastError() {
	err := c.NC.LastError()
	c.lastErr.Store(&err)
}

// downError is notConnectedError for a connection that is down (c.down),
// said without nats.go's lock, which an attempt to reconnect holds up to
// its connect timeout: /readyz waited that long, past its own deadline.
// Its status is RECONNECTING (the service's connection tries for ever)
// or, once closed, CLOSED; its cause is LastError as last read
// (noteLastError), else the last failure a handler was told of.
func (c *Conn) downError() error {
	st := nats.RECONNECTING
	if c.isClosed() {
		st = nats.CLOSED
	}
	return c.statusError(st)
}

// isClosed reports whether the connection is closed for good (its closed
// handler ran), without nats.go's lock.
func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// statusError is the error of a connection not connected, its status st,
// with the cause notConnectedError names.
func (c *Conn) statusError(st nats.Status) error {
	var err error
	if p := c.lastErr.Load(); p != nil {
		err = *p
	}
	if p := c.attemptErr.Load(); err == nil && p != nil {
		err = *p
	}
	if err != nil {
		return fmt.Errorf("NATS connection is %s: %w", st, err)
	}
	return fmt.Errorf("NATS connection is %s", st)
}

// MaxPendingAppends bounds the appends waiting for their acknowledgement.
const MaxPendingAppends = 4096

// Close waits for the appends still in flight to be acknowledged (their
// callers are answered), drains the connection (pending acks and publishes
// are flushed), then stops the embedded server, each bounded by ctx.
func (c *Conn) Close(ctx context.Context) error {
	select {
	case <-c.JS.PublishAsyncComplete():
	case <-ctx.Done():
	}
	var err error
	derr := c.NC.Drain()
	if errors.Is(derr, nats.ErrConnectionReconnecting) {
		// The server is gone: nothing can be drained to it. Appends not
		// acknowledged by now were answered 503 and are not lost.
		c.NC.Close()
		derr = nil
	}
	if derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		c.NC.Close()
		err = fmt.Errorf("delivery: drain NATS connection: %w", derr)
	}
	select {
	case <-c.closed:
	case <-ctx.Done():
		c.NC.Close()
		<-c.closed
		err = errors.Join(err, fmt.Errorf("delivery: drain NATS connection: %w", ctx.Err()))
	}
	if c.embedded != nil {
		c.embedded.Shutdown()
	}
	return err
}

// serverLog routes the embedded server's log to zap; its notices are
// start-up chatter, kept at debug. A fatal line is also passed on, so that
// a failed start is reported at once.
type serverLog struct {
	log   *zap.Logger
	fatal chan string
}

func (l serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	select {
	case l.fatal <- msg:
	default:
	}
}
func (l serverLog) Errorf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }

// redactURL is the server list u with its credentials replaced, for logs:
// a password, and the token of NATS's nats://token@host form, which
// url.URL.Redacted (and nats.Conn.ConnectedUrlRedacted) print as it is.
func redactURL(u string) string { return config.Redact(u, true) }

// inProcessURL is what the log names as the address of a connection to the
// embedded server, which is made in-process.
const inProcessURL = "in-process (embedded server)"

// connectedURL is the address the log names for nc: the server's URL,
// redacted (redactOneURL), or for the embedded server's in-process
// connection inProcessURL. nats.go reports the embedded server's client
// URL for that one, nats://127.0.0.1:4222 when the server does not listen:
// the address of no listener of the service, and perhaps of another NATS
// server on the host.
func connectedURL(nc *nats.Conn, emb *embedded) string {
	if emb != nil {
		return inProcessURL
	}
	return redactOneURL(nc.ConnectedUrl())
}

// redactOneURL is one server's URL u, as url.URL.String writes it (nats.go's
// ConnectedUrl), with its password, or its user info without one (a
// token), replaced. It is not read as NATS's comma-separated list
// (redactURL): String leaves a ',' of a password or a token unescaped
// (the configuration's %2C comes back as ','), and the part before it
// would show. A URL that does not parse is shown redacted whole.
func redactOneURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return config.RedactURL(u)
	}
	if parsed.User == nil {
		return u
	}
	shown := redacted
	if _, hasPassword := parsed.User.Password(); hasPassword {
		shown = url.User(parsed.User.Username()).String() + ":" + redacted
	}
	parsed.User = nil
	authority := "//"
	if parsed.Scheme != "" {
		authority = parsed.Scheme + "://"
	}
	return authority + shown + "@" + strings.TrimPrefix(parsed.String(), authority)
}

// redacted replaces a credential in a URL the log shows, as config.Redact
// writes it.
const redacted = "[redacted]"

// connectionDown reports whether err is a request refused because the
// connection to NATS is down: while it reconnects it keeps no buffer
// (ReconnectBufSize -1, so that a callback is answered at once), and a
// request fails with nats.go's "outbound buffer limit exceeded", which
// says nothing of the cause.
func connectionDown(err error) bool {
	return errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionClosed)
}

// explainDown wraps err, when the connection to NATS is down, with that
// cause, for the logs: "outbound buffer limit exceeded" alone reads as an
// overload.
func explainDown(err error) error {
	if connectionDown(err) {
		return fmt.Errorf("the connection to NATS is down, reconnecting: %w", err)
	}
	return err
}

// fetchable is nil when a pull consumer's Fetch may be made on nc (nil:
// a test's own JetStream), else the error of a connection that is down.
// nats.go's Fetch subscribes its reply inbox before it sends the pull
// request, whose send is refused at once while the connection is down (no
// reconnect buffer). Before nats.go v1.56.0 it returned that error without
// unsubscribing, so each fetch made then left a subscription on the
// connection for good, subscribed again at every reconnect; it unsubscribes
// now, and a fetch while down is still spared its subscription.
func fetchable(nc *nats.Conn) error {
	if nc == nil {
		return nil
	}
	if st := nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w (%s)", nats.ErrConnectionReconnecting, st)
	}
	return nil
}
