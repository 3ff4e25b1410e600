package middleware

import (
	"sync"
	"time"

	"github.com/imcallback/imcallback/protocol"
	"github.com/labstack/echo/v4"
)

// RecentSize is how many answered requests Recent keeps.
const RecentSize = 1000

// Callback is one answered request, as the admin API's /v1/recent and the
// console's live view show it: never the body or the query string.
type Callback struct {
	// Time is when the request arrived.
	Time time.Time `json:"time"`
	// Command is the request's CallbackCommand: the one it was routed on
	// (the body's when the URL had none), else the URL's; cut to 128
	// bytes, marked with "…", and each character that is not graphic (a
	// control, a format character such as U+202E) replaced by U+FFFD.
	Command string `json:"command"`
	// App is the URL's SdkAppid (unverified for a rejected request), cut
	// as Command is.
	App string `json:"app_id"`
	// Outcome is the label SetOutcome recorded (allow, deny, queued, ok,
	// unknown …); without one, "rejected" for a request answered with an
	// error, else empty.
	Outcome string `json:"outcome"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// LatencyMS is the time from arrival to answer in milliseconds, to
	// the microsecond.
	LatencyMS float64 `json:"latency_ms"`
	// RequestID is the X-Request-Id of the answer: the client's own when
	// short and plain, otherwise generated.
	RequestID string `json:"request_id"`
	// Reason is the protocol error's reason of a request answered with an
	// error; absent otherwise.
	Reason string `json:"reason,omitempty"`
}

// Recent keeps the last RecentSize answered requests in memory, in both
// delivery modes. It is safe for concurrent use.
type Recent struct {
	mu   sync.Mutex
	buf  [RecentSize]Callback
	next int
	n    int
}

// NewRecent returns an empty Recent.
func NewRecent() *Recent { return &Recent{} }

// Add records cb, dropping the oldest when full.
func (r *Recent) Add(cb Callback) {
	r.mu.Lock()
	r.buf[r.next] = cb
	r.next = (r.next + 1) % RecentSize
	r.n = min(r.n+1, RecentSize)
	r.mu.Unlock()
}

// Last returns up to n records, newest first.
func (r *Recent) Last(n int) []Callback {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(max(n, 0), r.n)
	out := make([]Callback, n)
	for i := range n {
		out[i] = r.buf[(r.next-1-i+RecentSize)%RecentSize]
	}
	return out
}

// outcomeKey holds the outcome the dispatcher chose for a request.
const outcomeKey = "imcallback.outcome"

// SetOutcome records the outcome label of a handled callback (allow, deny,
// queued, ok, unknown …) for the access log and Recent.
func SetOutcome(c echo.Context, outcome string) { c.Set(outcomeKey, outcome) }

// outcomeOf is the outcome set with SetOutcome, "rejected" for a rejection
// and "" when none was set.
func outcomeOf(c echo.Context, rejected bool) string {
	if o, ok := c.Get(outcomeKey).(string); ok {
		return o
	}
	if rejected {
		return "rejected"
	}
	return ""
}

// commandKey holds the command the dispatcher routed a request on when the
// URL did not name it (docs/protocol.md §7: the body's CallbackCommand).
const commandKey = "imcallback.command"

// SetCommand records the command a request was routed on when it is not
// the URL's CallbackCommand (the URL lacks it and the body names it), so
// the access log, Recent and the request's span name the command the
// metrics count rather than an empty one.
func SetCommand(c echo.Context, command string) { c.Set(commandKey, command) }

// commandOf is the command of the request: the one SetCommand recorded,
// else the URL's CallbackCommand.
func commandOf(c echo.Context, p *protocol.Params) string {
	if cmd, ok := c.Get(commandKey).(string); ok && cmd != "" {
		return cmd
	}
	return p.CallbackCommand
}
