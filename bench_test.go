package imcallback_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/server"
	"github.com/imcallback/imcallback/tracing"
)

// discardWriter is a ResponseWriter that keeps only the status, so the
// benchmarks measure the server side and not a recorder.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// runRequests serves Tencent's AfterCreateTopic sample, signed, b.N times.
func runRequests(b *testing.B, h http.Handler) {
	body := []byte(sampleBody)
	p := protocol.Params{SdkAppid: appID, CallbackCommand: "Group.CallbackAfterCreateTopic",
		ContentType: "json", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}
	p.Sign, p.RequestTime = protocol.SignAt(newToken, time.Now())
	req := httptest.NewRequest(http.MethodPost, "/im/callback?"+p.Encode(), nil)
	req.RemoteAddr = "127.0.0.1:40000"
	reader := bytes.NewReader(body)
	w := &discardWriter{header: make(http.Header, 4)}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		reader.Reset(body)
		req.Body = io.NopCloser(reader)
		req.ContentLength = int64(len(body))
		clear(w.header)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkBareEcho is the baseline: an echo handler that answers the fixed
// OK envelope without verifying, decoding or logging anything.
func BenchmarkBareEcho(b *testing.B) {
	e := echo.New()
	e.POST("/im/callback", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
	})
	runRequests(b, e)
}

// BenchmarkWireBareEcho and BenchmarkWireFullChain serve the same request
// in process, from its HTTP/1.1 bytes to the response bytes: each iteration
// parses the request as net/http does (http.ReadRequest) and writes the
// status line, headers and body, without a socket.
func BenchmarkWireBareEcho(b *testing.B) {
	e := echo.New()
	e.POST("/im/callback", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
	})
	runWire(b, e)
}

func BenchmarkWireFullChain(b *testing.B) {
	_, pub := fullChainApp(b)
	runWire(b, pub.Echo())
}

// BenchmarkWireUnknownCommand is the wrk chain row in process: the whole
// verified chain (request id, access log, allowlist, SdkAppid, signature,
// routing) for a command nobody registered, answered OK without reading
// the body.
func BenchmarkWireUnknownCommand(b *testing.B) {
	_, pub := fullChainApp(b)
	runWireCommand(b, pub.Echo(), "Bench.CallbackUnknown")
}

// wireWriter buffers a response and writes it out as HTTP/1.1.
type wireWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *wireWriter) Header() http.Header         { return w.header }
func (w *wireWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *wireWriter) WriteHeader(status int)      { w.status = status }

func runWire(b *testing.B, h http.Handler) { runWireCommand(b, h, "Group.CallbackAfterCreateTopic") }

// runWireCommand is runWire with the URL's CallbackCommand set to cmd.
func runWireCommand(b *testing.B, h http.Handler, cmd string) {
	body := []byte(sampleBody)
	p := protocol.Params{SdkAppid: appID, CallbackCommand: cmd,
		ContentType: "json", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}
	p.Sign, p.RequestTime = protocol.SignAt(newToken, time.Now())
	raw := fmt.Appendf(nil, "POST /im/callback?%s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: %d\r\n\r\n%s",
		p.Encode(), len(body), body)
	src := bytes.NewReader(raw)
	br := bufio.NewReader(src)
	out := bufio.NewWriter(io.Discard)
	w := &wireWriter{header: make(http.Header, 4)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		src.Reset(raw)
		br.Reset(src)
		req, err := http.ReadRequest(br)
		if err != nil {
			b.Fatal(err)
		}
		req.RemoteAddr = "127.0.0.1:40000"
		clear(w.header)
		w.status, w.body = 0, bytes.Buffer{}
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		fmt.Fprintf(out, "HTTP/1.1 %d %s\r\n", w.status, http.StatusText(w.status))
		w.header.Set("Content-Length", strconv.Itoa(w.body.Len()))
		_ = w.header.Write(out)
		out.WriteString("\r\n")
		out.Write(w.body.Bytes())
		_ = out.Flush()
	}
}

// BenchmarkLoopbackBareEcho and BenchmarkLoopbackFullChain send the same
// signed request over one keep-alive loopback connection: the cost of a
// request as the service really receives it, HTTP parsing and TCP included.
func BenchmarkLoopbackBareEcho(b *testing.B) {
	e := echo.New()
	e.POST("/im/callback", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	runLoopback(b, srv.URL)
}

func BenchmarkLoopbackFullChain(b *testing.B) {
	app, pub := fullChainApp(b)
	if err := app.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer app.Stop(context.Background())
	runLoopback(b, "http://"+pub.Addr().String())
}

func runLoopback(b *testing.B, base string) {
	body := []byte(sampleBody)
	p := protocol.Params{SdkAppid: appID, CallbackCommand: "Group.CallbackAfterCreateTopic",
		ContentType: "json", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}
	p.Sign, p.RequestTime = protocol.SignAt(newToken, time.Now())
	url := base + "/im/callback?" + p.Encode()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkFullChain is the whole in-process path of imcallback.Module:
// recover, request id, access log (JSON, info level, to io.Discard), body
// limit, IP allowlist, SdkAppid, signature, dispatch and the typed decode of
// Tencent's AfterCreateTopic sample in an inline after-handler.
func BenchmarkFullChain(b *testing.B) {
	_, pub := fullChainApp(b)
	runRequests(b, pub.Echo())
}

// BenchmarkFullChainTraced is BenchmarkFullChain with tracing on: every
// request sampled, its spans batched to an exporter that drops them (the
// cost of recording, not of a network). BenchmarkFullChain is tracing off,
// the default without OTEL_* variables.
func BenchmarkFullChainTraced(b *testing.B) {
	benchmarkTraced(b, sdktrace.AlwaysSample())
}

// BenchmarkFullChainTraced1pct samples one trace in a hundred
// (OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.01).
func BenchmarkFullChainTraced1pct(b *testing.B) {
	benchmarkTraced(b, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))
}

func benchmarkTraced(b *testing.B, sampler sdktrace.Sampler) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	_, pub := fullChainApp(b, fx.Decorate(func(*tracing.Tracer) *tracing.Tracer { return tracing.New(tp) }))
	runRequests(b, pub.Echo())
}

// fullChainApp builds imcallback.Module with a token, an allowlist, an
// info-level JSON access log to io.Discard and an inline after-handler that
// decodes Tencent's AfterCreateTopic sample.
func fullChainApp(b *testing.B, opts ...fx.Option) (*fx.App, *server.Public) {
	var pub *server.Public
	app := fx.New(fx.NopLogger,
		fx.Supply(config.Source{Environ: func() []string {
			return []string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=" + newToken,
				"IMCALLBACK_ALLOW_CIDRS=127.0.0.0/8", "IMCALLBACK_DATA_DIR=" + b.TempDir(),
				"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0"}
		}}),
		imcallback.Module,
		fx.Decorate(func() *zap.Logger { return logging.NewWithSink(zapcore.InfoLevel, "json", zapcore.AddSync(io.Discard)) }),
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After(group.AfterCreateTopicCommand.Name(), func(_ context.Context, ev *dispatcher.Event[group.AfterCreateTopic]) error {
				if ev.Payload.TopicID == "" {
					return io.ErrUnexpectedEOF
				}
				return nil
			})
		})),
		fx.Options(opts...),
		fx.Populate(&pub),
	)
	if err := app.Err(); err != nil {
		b.Fatal(err)
	}
	return app, pub
}
