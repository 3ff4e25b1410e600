package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/server"
)

// servedApp is the service as serve builds it, on loopback ports, with
// opts added as a program's modules are.
type servedApp struct {
	app    *fx.App
	svc    service
	public *server.Public
	admin  *server.Admin
}

func newServedApp(t *testing.T, environ []string, opts ...fx.Option) *servedApp {
	t.Helper()
	for _, kv := range append([]string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS=secret",
		"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0", "IMCALLBACK_DATA_DIR=" + t.TempDir(),
		"IMCALLBACK_LOG_LEVEL=error", "IMCALLBACK_DELIVERY=inline"}, environ...) {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	s := &servedApp{}
	g := &globalFlags{modules: append(opts, fx.Populate(&s.public, &s.admin))}
	cfg, _, err := g.load()
	if err != nil {
		t.Fatal(err)
	}
	s.app, s.svc = newServeApp(g, cfg)
	if err := s.app.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// getURL answers GET url: its status and body, or the error.
func getURL(url string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// lastAppended is an option whose hook is appended after every module's:
// its start is the last to run, its stop the first.
func lastAppended(start, stop func()) fx.Option {
	return fx.Invoke(func(lc fx.Lifecycle) { lc.Append(fx.StartStopHook(start, stop)) })
}

// TestReadyzFailsFromTheStopSignalWithoutADelay: with
// IMCALLBACK_SHUTDOWN_DELAY 0, /readyz answered 200 until the admin
// listener closed, all through the workers' and the public listener's
// drain; it now answers 503 "stopping" from the stop signal on.
func TestReadyzFailsFromTheStopSignalWithoutADelay(t *testing.T) {
	raise := signalSelf(t)
	started, stopBegan, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	s := newServedApp(t, []string{"IMCALLBACK_SHUTDOWN_DELAY=0"},
		lastAppended(func() { close(started) }, func() { close(stopBegan); <-release }))
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), s.app, watchStopSignals(), s.svc) }()
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	<-started
	readyz := "http://" + s.admin.Addr().String() + "/readyz"
	if code, body, err := getURL(readyz); err != nil || code != http.StatusOK {
		t.Fatalf("before the signal: /readyz %d %s %v", code, body, err)
	}
	if err := raise(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopBegan: // the first stop hook runs: nothing has stopped yet
	case <-time.After(30 * time.Second): // a bound only broken code reaches
		t.Fatal("the stop did not begin after SIGTERM")
	}
	code, body, err := getURL(readyz)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, `"shutdown":"stopping`) {
		t.Errorf("during the stop: /readyz %d %s %v, want 503 with the check shutdown stopping", code, body, err)
	}
	close(release)
	released = true
	if err := waitRun(t, done, "SIGTERM"); err != nil {
		t.Errorf("run: %v", err)
	}
}

// drainLog is a log core that tells when the public listener's drain
// begins (its "draining" line).
type drainLog struct {
	once   *sync.Once
	public chan struct{}
}

func (c drainLog) Enabled(zapcore.Level) bool        { return true }
func (c drainLog) With([]zapcore.Field) zapcore.Core { return c }
func (c drainLog) Sync() error                       { return nil }
func (c drainLog) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}

func (c drainLog) Write(e zapcore.Entry, fields []zapcore.Field) error {
	for _, f := range fields {
		if e.Message == "draining" && f.Key == "listener" && f.String == "public" {
			c.once.Do(func() { close(c.public) })
		}
	}
	return nil
}

// TestTheAdminListenerOutlivesThePublicDrain: the public listener drains
// before the admin listener stops, so that /metrics and /readyz answer
// while requests still in flight on the public side finish; the admin
// listener used to stop first.
func TestTheAdminListenerOutlivesThePublicDrain(t *testing.T) {
	started, inFlight, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	drain := drainLog{once: new(sync.Once), public: make(chan struct{})}
	hold := func() middleware.Ordered { // a request to /held stays in flight until released
		return middleware.Ordered{Name: "hold", Order: middleware.OrderRecover + 50, Scope: middleware.ScopeEveryRequest,
			Func: func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error {
					if c.Request().URL.Path != "/held" {
						return next(c)
					}
					close(inFlight)
					<-release
					return c.NoContent(http.StatusNoContent)
				}
			}}
	}
	s := newServedApp(t, nil, fx.Supply(&logging.Tee{Core: drain}), fx.Provide(middleware.AsMiddleware(hold)),
		lastAppended(func() { close(started) }, func() {}))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(ctx, s.app, watchStopSignals(), s.svc) }()
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	<-started
	held := make(chan error, 1)
	go func() {
		code, _, err := getURL("http://" + s.public.Addr().String() + "/held")
		if err == nil && code != http.StatusNoContent {
			err = fmt.Errorf("status %d", code)
		}
		held <- err
	}()
	<-inFlight
	stop() // the stop is asked for
	select {
	case <-drain.public:
	case <-time.After(30 * time.Second): // a bound only broken code reaches
		t.Fatal("the public listener's drain did not begin")
	}
	admin := "http://" + s.admin.Addr().String()
	if code, body, err := getURL(admin + "/metrics"); err != nil || code != http.StatusOK {
		t.Errorf("/metrics while the public listener drains: %d %v %.200s", code, err, body)
	}
	if code, body, err := getURL(admin + "/readyz"); err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "stopping") {
		t.Errorf("/readyz while the public listener drains: %d %v %s, want 503 stopping", code, err, body)
	}
	close(release)
	released = true
	if err := <-held; err != nil {
		t.Errorf("the request in flight at the stop: %v", err)
	}
	if err := waitRun(t, done, "the stop was asked for"); err != nil {
		t.Errorf("run: %v", err)
	}
}

// secondSignalChild, set in the environment of the test binary run again,
// makes TestASecondSignalEndsTheProcessAtOnce play the service: "stop"
// secondSignalService, "build" secondSignalWhileBuilt.
const secondSignalChild = "CLI_TEST_SECOND_SIGNAL_CHILD"

// TestASecondSignalEndsTheProcessAtOnce: a second SIGTERM while the
// graceful stop runs ends the process at once, killed by the signal as
// before, now after a log line that says so, flushed from the log's
// buffer (the process used to die without a word). So does a second one
// while serve still builds the service (the first taken since serve
// began): there is no log yet to say it with.
func TestASecondSignalEndsTheProcessAtOnce(t *testing.T) {
	switch os.Getenv(secondSignalChild) {
	case "stop":
		secondSignalService()
		return
	case "build":
		secondSignalWhileBuilt()
		return
	}
	for _, tc := range []struct {
		child string
		// before is what the service says once it runs, after what it
		// says once it has taken the first signal.
		before, after string
		logged        bool // whether the log says the second signal ended it
	}{
		{child: "stop", before: "started", after: "stopping", logged: true},
		{child: "build", before: "building", after: "signal taken"},
	} {
		t.Run(tc.child, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestASecondSignalEndsTheProcessAtOnce$")
			cmd.Env = append(os.Environ(), secondSignalChild+"="+tc.child, "IMCALLBACK_DATA_DIR="+t.TempDir())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string)
			go func() {
				defer close(lines)
				for sc := bufio.NewScanner(stdout); sc.Scan(); {
					lines <- sc.Text()
				}
			}()
			await := func(want string) {
				t.Helper()
				for {
					select {
					case line, ok := <-lines:
						if !ok {
							_ = cmd.Wait()
							t.Fatalf("the service ended before it said %q; its log:\n%s", want, stderr.String())
						}
						if line == want {
							return
						}
					case <-time.After(30 * time.Second): // a bound only broken code reaches
						_ = cmd.Process.Kill()
						t.Fatalf("the service did not say %q; its log:\n%s", want, stderr.String())
					}
				}
			}
			await(tc.before)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			await(tc.after) // the first signal is taken; the service would never end by itself
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			ended := make(chan struct{})
			go func() {
				defer close(ended)
				for range lines { // the pipe closes when the process ends
				}
			}()
			select {
			case <-ended:
			case <-time.After(30 * time.Second): // a bound only broken code reaches
				_ = cmd.Process.Kill()
				<-ended
				_ = cmd.Wait()
				t.Fatalf("the second SIGTERM did not end the service; its log:\n%s", stderr.String())
			}
			_ = cmd.Wait()
			status, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !(status.Signaled() && status.Signal() == syscall.SIGTERM) && status.ExitStatus() != 128+int(syscall.SIGTERM) {
				t.Errorf("the service ended with %v, want killed by SIGTERM (or exit status 143)", cmd.ProcessState)
			}
			log := stderr.String()
			if tc.logged && (!strings.Contains(log, `"msg":"stop signal: /readyz answers 503`) ||
				!strings.Contains(log, `"msg":"second stop signal: the process ends now`) || !strings.Contains(log, `"signal":"terminated"`)) {
				t.Errorf("the log does not say the second signal ended the process:\n%s", log)
			}
		})
	}
}

// secondSignalService runs an app whose stop hangs, its log buffered for
// an hour, and says on standard output when it started and when it stops.
func secondSignalService() {
	cfg := config.Default()
	cfg.LogBuffer = time.Hour // nothing is written but what a flush writes
	var log *zap.Logger
	app := fx.New(fx.NopLogger,
		fx.Supply(&cfg),
		fx.Provide(func(lc fx.Lifecycle, cfg *config.Config) (*zap.Logger, error) {
			return logging.NewBuffered(lc, cfg, zapcore.Lock(os.Stderr))
		}),
		fx.Populate(&log), // built first, its stop hook (which flushes the buffer) would run last
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error { fmt.Println("started"); return nil },
				OnStop: func(context.Context) error {
					fmt.Println("stopping")
					select {} // a stop that never ends, as a stuck drain
				},
			})
		}))
	err := run(context.Background(), app, watchStopSignals(), service{log: log, flushLog: func() { _ = log.Sync() }})
	fmt.Println("run returned:", err) // not reached: the second signal ends the process
	os.Exit(0)
}

// secondSignalWhileBuilt runs serve with a module whose build never ends,
// and says on standard output when it builds and when the first signal is
// taken.
func secondSignalWhileBuilt() {
	for _, kv := range []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS=secret",
		"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0",
		"IMCALLBACK_DELIVERY=inline"} { // IMCALLBACK_DATA_DIR: the test's, which serve locks
		name, value, _ := strings.Cut(kv, "=")
		_ = os.Setenv(name, value)
	}
	signalTaken = func() { fmt.Println("signal taken") }
	root := newRootCmd(io.Discard, os.Stderr, fx.Invoke(func() {
		fmt.Println("building")
		select {} // a build that never ends, as a dependency that hangs
	}))
	root.SetArgs([]string{"serve"})
	err := root.ExecuteContext(context.Background())
	fmt.Println("serve returned:", err) // not reached: the second signal ends the process
	os.Exit(0)
}

// TestServeGuardsEveryHook: the guard's decoration of fx.Lifecycle reaches
// the hooks of every module (a decoration applies to the module it sits in
// and those below it), each named by the function that appended it, and
// the admin listener's hook comes before the public one's, so that it
// stops after it.
func TestServeGuardsEveryHook(t *testing.T) {
	s := newServedApp(t, nil)
	var callers []string
	for _, h := range s.svc.guard.hooks {
		callers = append(callers, strings.TrimPrefix(h.caller, "github.com/imcallback/imcallback/"))
	}
	admin, public := slices.Index(callers, "server.newAdmin"), slices.Index(callers, "server.newPublic")
	if !slices.Contains(callers, "logging.newBuffered") || admin < 0 || public < admin {
		t.Errorf("the guarded hooks, in the start's order: %q; want the logger's, then the admin listener's before the public one's", callers)
	}
}

// TestSignalExit: a second signal is raised again, to die of it, except
// as PID 1, where the kernel drops it: the process exits 128 + its number
// itself (it exited 2).
func TestSignalExit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sig       os.Signal
		pid       int
		wantRaise bool
		wantCode  int
	}{
		{name: "SIGTERM", sig: syscall.SIGTERM, pid: 4242, wantRaise: true, wantCode: 143},
		{name: "SIGINT", sig: os.Interrupt, pid: 4242, wantRaise: true, wantCode: 130},
		{name: "SIGTERM as PID 1", sig: syscall.SIGTERM, pid: 1, wantCode: 143},
		{name: "SIGHUP as PID 1", sig: syscall.SIGHUP, pid: 1, wantCode: 129},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raise, code := signalExit(tc.sig, tc.pid)
			if raise != tc.wantRaise || code != tc.wantCode {
				t.Errorf("signalExit(%v, %d) = %v, %d; want %v, %d", tc.sig, tc.pid, raise, code, tc.wantRaise, tc.wantCode)
			}
		})
	}
}

// pid1Child, set in the environment of the test binary run again as PID 1
// of a new PID namespace, makes TestASecondSignalAsPID1ExitsWith128PlusN
// end the process as a second SIGTERM does.
const pid1Child = "CLI_TEST_PID1_CHILD"

// TestASecondSignalAsPID1ExitsWith128PlusN: as PID 1 (the image's
// entrypoint, run without an init), the second signal's end exits 143 for
// SIGTERM, as the README says; the signal raised again was dropped by the
// kernel and the process exited 2. It needs root and unshare(1).
func TestASecondSignalAsPID1ExitsWith128PlusN(t *testing.T) {
	if os.Getenv(pid1Child) != "" {
		if os.Getpid() != 1 {
			fmt.Println("not PID 1")
			os.Exit(3)
		}
		endProcess(syscall.SIGTERM)
		return
	}
	unshare, err := exec.LookPath("unshare")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("running the test binary as PID 1 needs root and unshare(1) (util-linux): skipped, TestSignalExit covers the decision")
	}
	cmd := exec.Command(unshare, "-p", "-f", "--mount-proc", os.Args[0], "-test.run=^TestASecondSignalAsPID1ExitsWith128PlusN$")
	cmd.Env = append(os.Environ(), pid1Child+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Skipf("unshare could not run the test binary as PID 1 (%v): skipped, TestSignalExit covers the decision\n%s", err, out)
	}
	if code := exit.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("as PID 1, the second SIGTERM ended the process with %v, want exit status 143\n%s", exit, out)
	}
}

// stuckWriter is a log destination whose writes block from the write
// that contains from on (a pipe nobody reads, a logging driver that
// hangs) until release is closed.
type stuckWriter struct {
	from    string
	mu      sync.Mutex
	stuck   bool
	release chan struct{}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if strings.Contains(string(p), w.from) {
		w.stuck = true
	}
	stuck := w.stuck
	w.mu.Unlock()
	if stuck {
		<-w.release
	}
	return len(p), nil
}

// watchOverABlockedLog starts a stopWatch of the service svc makes with a
// log whose writes block from the first line holding from until the test
// has ended; cleanups release the writes, then end the watch and wait for
// it.
func watchOverABlockedLog(t *testing.T, from string, svc func(log *zap.Logger) service) *stopWatch {
	t.Helper()
	out := &stuckWriter{from: from, release: make(chan struct{})}
	log := logging.NewWithSink(zapcore.InfoLevel, "json", zapcore.AddSync(out))
	w := &stopWatch{sigs: make(chan os.Signal, 1), first: make(chan struct{}), done: make(chan struct{})}
	w.attach(svc(log))
	watched := make(chan struct{})
	go func() { defer close(watched); w.watch() }()
	// Cleanups run last first: the writes are released, then the watch ends.
	t.Cleanup(func() { <-watched })
	t.Cleanup(w.end)
	t.Cleanup(func() { close(out.release) })
	return w
}

// TestASecondSignalEndsTheProcessWhenTheLogBlocks: a second stop signal
// ends the process even when the log's writes block, whether from the
// first signal's line or from the second's: the operator's way out of a
// stop that hangs must not hang on the log that would tell of it.
func TestASecondSignalEndsTheProcessWhenTheLogBlocks(t *testing.T) {
	for _, tc := range []struct{ name, from string }{
		{"from the first signal's line", "stop signal: /readyz"},
		{"from the second signal's line", "second stop signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ended := make(chan os.Signal, 1)
			oldEnd, oldWait := endProcess, lastWordsWait
			endProcess = func(sig os.Signal) { ended <- sig }
			lastWordsWait = 10 * time.Millisecond
			t.Cleanup(func() { endProcess, lastWordsWait = oldEnd, oldWait })

			// The watch ends before endProcess is the real one again: its
			// cleanups run first.
			w := watchOverABlockedLog(t, tc.from, func(log *zap.Logger) service {
				return service{log: log, flushLog: func() { _ = log.Sync() }}
			})
			w.sigs <- syscall.SIGTERM
			w.sigs <- syscall.SIGINT
			select {
			case sig := <-ended:
				if sig != syscall.SIGINT {
					t.Errorf("the process was ended by %v, want the second signal, %v", sig, syscall.SIGINT)
				}
			case <-time.After(30 * time.Second): // a bound only broken code reaches
				t.Fatal("the second signal did not end the process: the watch hangs on the blocked log")
			}
		})
	}
}

// TestTheFirstSignalFailsReadyzWhenTheLogBlocks: the first stop signal
// made /readyz fail only after its log line was written, so with a log
// whose writes block (a pipe whose reader stopped reading) /readyz kept
// answering 200 and the load balancer kept sending to a service that
// answers nothing; it now fails before the line is logged.
func TestTheFirstSignalFailsReadyzWhenTheLogBlocks(t *testing.T) {
	stopping := make(chan struct{})
	var once sync.Once
	w := watchOverABlockedLog(t, "stop signal: /readyz", func(log *zap.Logger) service {
		return service{log: log, stopping: func() { once.Do(func() { close(stopping) }) }}
	})
	w.sigs <- syscall.SIGTERM
	select {
	case <-stopping:
	case <-time.After(30 * time.Second): // a bound only broken code reaches
		t.Fatal("the first signal did not make /readyz fail: it waits on the blocked log")
	}
}
