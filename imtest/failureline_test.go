package imtest_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
)

// lineTB records, for each failure Start reports, whether fxtest's code
// was on the stack that reported it: fxtest marks none of its functions
// as a helper, so go test would show the failure at fxtest's own line
// (app.go:45) instead of the test's call of Start.
type lineTB struct {
	testing.TB
	mu       sync.Mutex
	failures []string
	inFxtest []bool
}

func (l *lineTB) Helper()                   {}
func (l *lineTB) Log(...any)                {}
func (l *lineTB) Cleanup(func())            {} // nothing started
func (l *lineTB) FailNow()                  { runtime.Goexit() }
func (l *lineTB) Fatal(a ...any)            { l.record(fmt.Sprint(a...)); runtime.Goexit() }
func (l *lineTB) Errorf(f string, a ...any) { l.record(fmt.Sprintf(f, a...)) }
func (l *lineTB) Fatalf(f string, a ...any) {
	l.record(fmt.Sprintf(f, a...))
	runtime.Goexit()
}

func (l *lineTB) record(msg string) {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	fxtest := false
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "go.uber.org/fx/fxtest.") {
			fxtest = true
		}
		if !more {
			break
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, msg)
	l.inFxtest = append(l.inFxtest, fxtest)
}

// TestStartFailsAtTheCallersLine: a service that did not build or did not
// start failed the test from inside fxtest, so go test showed the failure
// at go.uber.org/fx/fxtest's app.go:45 or app.go:61, a file of the module
// cache, instead of the line of the test that called Start. Start now
// reports both itself, at its caller's line, with the same message.
func TestStartFailsAtTheCallersLine(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	mod := fx.Module("mod", config.Section("mod", buildSection{}),
		fx.Provide(dispatcher.AsCommand(func(buildSection) dispatcher.Command {
			return dispatcher.After("X.CallbackAfterBuild", func(context.Context, *dispatcher.Event[struct{}]) error { return nil })
		})))
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"does not build", []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_MOD_CODE=abc"},
			`imtest: the service does not build: config: invalid:` + "\n" + `IMCALLBACK_MOD_CODE (mod.code): "abc" is not a whole number`},
		{"does not start", []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_LISTEN=" + taken.Addr().String()},
			"application didn't start cleanly: server: the public listener cannot listen on " + taken.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &lineTB{TB: t}
			done := make(chan *imtest.Service, 1)
			go func() {
				var s *imtest.Service
				defer func() { done <- s }()
				s = imtest.Start(tb, tt.env, mod)
			}()
			if s := <-done; s != nil {
				t.Fatal("Start succeeded")
			}
			if len(tb.failures) != 1 || !strings.HasPrefix(tb.failures[0], tt.want) {
				t.Fatalf("failures %q, want one starting %q", tb.failures, tt.want)
			}
			if tb.inFxtest[0] {
				t.Fatalf("failure %q reported from within fxtest: go test shows it at fxtest's line, not the test's", tb.failures[0])
			}
		})
	}
}

// TestStartRefusesASectionNoConstructorTakes: `serve` reads and validates
// every section the modules declare before it builds the service, but a
// section no constructor took yet (declared first, its handlers to come)
// was never read by Start, so a test passed with a value serve refuses
// (IMCALLBACK_MOD_CODE=abc). Start now refuses it as serve does.
func TestStartRefusesASectionNoConstructorTakes(t *testing.T) {
	tb := &startTB{TB: t}
	defer tb.cleanup()
	mod := fx.Module("mod", config.Section("mod", buildSection{}))
	if s := tb.start([]string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_MOD_CODE=abc"}, mod); s != nil {
		t.Fatal("Start succeeded with IMCALLBACK_MOD_CODE=abc")
	}
	_, failures := tb.snapshot()
	want := `IMCALLBACK_MOD_CODE (mod.code): "abc" is not a whole number`
	if len(failures) != 1 || !strings.HasPrefix(failures[0], "imtest: ") || !strings.Contains(failures[0], want) {
		t.Fatalf("Start's failures %q, want one saying %q", failures, want)
	}
}
