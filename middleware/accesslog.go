package middleware

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/internal/textcut"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/tracing"
)

// AccessLogConfig configures AccessLogWithConfig.
type AccessLogConfig struct {
	// Skipper skips logging for some requests.
	Skipper middleware.Skipper
	// Logger receives one line per request.
	Logger *zap.Logger
	// Recent, when set, keeps the last answered requests for the admin API.
	Recent *Recent
}

// DefaultAccessLogConfig logs nothing until a Logger is set.
var DefaultAccessLogConfig = AccessLogConfig{Skipper: middleware.DefaultSkipper, Logger: zap.NewNop()}

// AccessLogWithConfig logs one line per request: method, path, command, app
// id, status, latency, remote IP, request id and, for a rejection, its reason.
// The remote IP is the request's source as IPAllow checks it (RealIP);
// when a trusted proxy's forwarding header named no address, it is the TCP
// peer, that proxy, and the header's entry that is no address follows
// (appendBadEntries).
// It never logs the query string (it carries Sign), a token or the body.
// Errors from the inner chain are written here, through the echo error
// handler, so the logged status is the one sent; one returned after the
// answer was sent is no refusal: the line carries it as its error, without
// a reason, and the Recent record is not a rejection's. A panic is logged as the
// 500 that Recover, further out in the chain, answers it with, or, after
// an answer was sent, as that answer's status. A chain that returns nil
// without answering through echo's Response (a middleware that neither
// called next nor answered) is answered 500 internal and logged so: a route
// that answers past echo's Response, hijacking the connection (a WebSocket)
// or writing to Response().Writer, is left out with the Skipper.
func AccessLogWithConfig(cfg AccessLogConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = DefaultAccessLogConfig.Skipper
	}
	if cfg.Logger == nil {
		cfg.Logger = DefaultAccessLogConfig.Logger
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			start := ArrivedAt(c) // RequestState's clock read serves the latency too
			if start.IsZero() {
				start = time.Now()
			}
			defer func() {
				if r := recover(); r != nil {
					// Recover, further out, answers a panic with the 500
					// envelope and logs its stack; the request's line and
					// record come first, then the panic goes on to it.
					if r != http.ErrAbortHandler {
						cfg.record(c, start, panicStatus(c), protocol.ErrInternal, nil)
					}
					panic(r)
				}
			}()
			err := answered(c, next(c))
			if err == nil {
				cfg.record(c, start, c.Response().Status, nil, nil)
				return nil
			}
			// An error after the answer was sent (a middleware of the
			// user's that fails once the handler answered, a write to a
			// client gone) is no refusal, and the error handler writes
			// and logs nothing for it: the line carries it instead.
			answered := c.Response().Committed
			c.Error(err)
			if answered {
				cfg.record(c, start, c.Response().Status, nil, err)
			} else {
				cfg.record(c, start, c.Response().Status, err, nil)
			}
			return nil
		}
	}
}

// panicStatus is the status of a request whose chain panicked: the 500
// Recover answers it with, unless an answer was sent before the panic,
// which Recover then leaves as it is.
func panicStatus(c echo.Context) int {
	if res := c.Response(); res.Committed {
		return res.Status
	}
	return protocol.ErrInternal.Status
}

// record writes the access line and the Recent record of a request
// answered with status; err is the inner chain's error the answer was
// made of, if any, and late its error returned after an answer was sent,
// which the line carries without a rejection's reason.
func (cfg *AccessLogConfig) record(c echo.Context, start time.Time, status int, err, late error) {
	latency := time.Since(start)
	if err != nil {
		c.Set(reasonKey, AsProtocolError(err).Reason) // for the request's span
	}
	p := ParamsOf(c)
	req := c.Request()
	line := requestLine(req)
	command, app := loggable(commandOf(c, p), line), loggable(p.SdkAppid, line)
	if cfg.Recent != nil {
		cb := Callback{Time: start, Command: command, App: app, Status: status,
			LatencyMS: float64(latency.Microseconds()) / 1000,
			RequestID: c.Response().Header().Get(echo.HeaderXRequestID), Outcome: outcomeOf(c, err != nil)}
		if err != nil {
			cb.Reason = AsProtocolError(err).Reason
		}
		cfg.Recent.Add(cb)
	}
	level := zapcore.InfoLevel
	switch {
	case status >= 500:
		level = zapcore.ErrorLevel
	case status >= 400:
		level = zapcore.WarnLevel
	}
	ce := cfg.Logger.Check(level, "request")
	if ce == nil {
		return
	}
	ip := c.RealIP()
	unknown := ip == "" && c.Echo() != nil && c.Echo().IPExtractor != nil
	if unknown {
		// A trusted proxy's forwarding header named no address: the
		// line names the proxy, which sent it.
		ip = echo.ExtractIPDirect()(req)
	}
	fields := []zap.Field{
		zap.String("method", loggable(req.Method, line)),
		zap.String("path", loggablePath(req.URL.Path, line)),
		zap.String("command", command),
		zap.String("app_id", app),
		zap.Int("status", status),
		zap.Duration("latency", latency),
		zap.String("remote_ip", ip),
		zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
	}
	if unknown {
		fields = appendBadEntries(fields, req.Header)
	}
	if err != nil {
		fields = append(fields, zap.String("reason", AsProtocolError(err).Reason))
		if status >= http.StatusInternalServerError {
			fields = append(fields, zap.Error(err))
		}
	}
	if late != nil {
		fields = append(fields, zap.Error(late))
	}
	ce.Write(append(fields, tracing.LogFields(req.Context())...)...)
}

// badEntryFields are the access-line fields naming each forwarding
// header's entry that is no address.
var badEntryFields = [...]struct {
	header, field string
	split         bool // X-Forwarded-For's lines are comma-separated lists
}{
	{echo.HeaderXForwardedFor, "bad_x_forwarded_for", true},
	{echo.HeaderXRealIP, "bad_x_real_ip", false},
}

// appendBadEntries appends to fields, for a request whose source a
// trusted proxy's forwarding header left unknown, the nearest entry of
// each forwarding header that is no address (bounded as LoggedValue, for
// a client behind the proxy writes what comes before the proxy's own),
// so that an operator sees what the proxy sent. Which of the two headers
// was believed is the configuration's (IMCALLBACK_PROXY_HEADER).
func appendBadEntries(fields []zap.Field, h http.Header) []zap.Field {
	for _, b := range badEntryFields {
		for entry := range entriesFromEnd(h[b.header], b.split) {
			if _, ok := forwardedAddr(entry); !ok {
				fields = append(fields, zap.String(b.field, LoggedValue(strings.TrimSpace(entry))))
				break
			}
		}
	}
	return fields
}

// maxLoggedValue bounds the command and the app id an access line and a
// Recent record keep: both come from the query string, which anyone can
// send, before anything is verified. IM's longest command is under 60 bytes.
const maxLoggedValue = 128

// maxSharedLine is the longest request line a kept value may share memory
// with; IM's own are about 300 bytes.
const maxSharedLine = 1024

// maxLoggedPath bounds the path an access line and a span keep: every
// request is logged, 404s of any path included, before any verification,
// and net/http takes a request line of up to its 64 KiB header limit.
const maxLoggedPath = 256

// requestLine is the length of req's request line. net/http parses the
// method, the URI (path and query) and the protocol out of that one
// string, so a value cut from any of them shares the whole line's memory.
func requestLine(req *http.Request) int {
	return len(req.Method) + len(req.RequestURI) + len(req.Proto) + 2
}

// loggable is v, a value parsed from the request line of line bytes (the
// method, or a query parameter), cut to maxLoggedValue bytes (marked with
// "…"). It never shares memory with a request line longer than
// maxSharedLine: a Recent record and a span outlive their request, and a
// short value pointing into a long line (a long path, say, before a short
// query) would keep the whole line alive.
func loggable(v string, line int) string { return bounded(v, line, maxLoggedValue) }

// LoggedValue is v cut to the bytes the access log keeps of a command or
// app id (marked with "…"), for other log lines that name one taken from
// an unverified request.
func LoggedValue(v string) string { return bounded(v, 0, maxLoggedValue) }

// loggablePath is the request's path as loggable keeps a value, cut to
// maxLoggedPath bytes.
func loggablePath(path string, line int) string { return bounded(path, line, maxLoggedPath) }

// bounded is v cut to limit bytes (marked with "…"), never sharing memory
// with a request line of line bytes when that is longer than maxSharedLine.
// It is valid UTF-8, cut between two characters and with any invalid bytes
// (a query value is percent-decoded into any bytes) replaced by U+FFFD: a
// span carries it to OTLP as a protobuf string, and one string that is not
// UTF-8 fails the export of its whole batch of spans. Every character that
// is not graphic is replaced by U+FFFD too: zap escapes the C0 controls
// only, and a C1 control (U+009B is CSI to a terminal), DEL, a format
// character (U+202E reverses the text after it on a screen) or a line
// separator written by whoever reached the port would reach a terminal,
// a log viewer and the console as it is.
func bounded(v string, line, limit int) string {
	switch {
	case len(v) > limit:
		return graphicOnly(textcut.Cut(v, limit))
	case !isGraphic(v):
		return graphicOnly(v)
	case line > maxSharedLine:
		return strings.Clone(v)
	default:
		return v
	}
}

// isGraphic reports whether v is UTF-8 of graphic characters only
// (strconv.IsGraphic: letters, marks, numbers, punctuation, symbols and
// spaces), which graphicOnly leaves as they are. Printable ASCII, all IM
// sends, is decided byte by byte.
func isGraphic(v string) bool {
	for i := 0; i < len(v); {
		if c := v[i]; c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if size == 1 && r == utf8.RuneError || !strconv.IsGraphic(r) {
			return false
		}
		i += size
	}
	return true
}

// graphicOnly is s with each run of bytes that are not UTF-8, and each
// character that is not graphic, replaced by U+FFFD (textcut.Graphic).
func graphicOnly(s string) string { return textcut.Graphic(s) }
