package delivery

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/jsonnames"
)

// The states of an event in the admin API.
const (
	// StatePending is an event above the consumer's ack floor without a
	// dead letter: not processed yet, waiting for a retry, or processed
	// while an older event still waits (held by a paused command, or
	// retrying). JetStream tells which events were acknowledged only up
	// to the floor.
	StatePending = "pending"
	// StateProcessed is an event at or below the ack floor without a dead
	// letter: its handler succeeded (or it had none), or it was
	// dead-lettered and its letter replayed or purged since.
	StateProcessed = "processed"
	StateDead      = "dead" // in the dead-letter stream
)

// EventInfo is one event as GET /v1/events lists it.
type EventInfo struct {
	// Seq is the event's sequence in the work stream, the <seq> of
	// GET /v1/events/<seq> and of a replay.
	Seq uint64 `json:"seq"`
	// Command is the callback's CallbackCommand.
	Command string `json:"command"`
	// AppID is the callback's SdkAppid.
	AppID string `json:"app_id"`
	// ReceivedAt is when the service read the callback request.
	ReceivedAt time.Time `json:"received_at"`
	// RequestID is the X-Request-Id of the callback's HTTP request; empty
	// when it had none.
	RequestID string `json:"request_id"`
	// Destination is the forward destination of this copy (gateway mode);
	// absent for the Go handler's.
	Destination string `json:"destination,omitempty"`
	// State is StatePending, StateProcessed or StateDead.
	State string `json:"state"`
	// Deliveries is a dead event's deliveries counted as attempts when it
	// was dead-lettered, as its dead letter holds them. No count is kept
	// for an event that is not dead: 0 for a pending or processed event
	// means not known, not that it was never delivered.
	Deliveries uint64 `json:"deliveries"`
	// LastError is a dead event's last handler error; empty otherwise.
	LastError string `json:"last_error"`
	// ReplayOf names the original of a replayed copy ("<stream>:<seq>");
	// absent for an original.
	ReplayOf string `json:"replay_of,omitempty"`
}

// EventDetail is one event with what it carried, as GET /v1/events/<seq>
// answers: the query parameters (Sign is never stored) and the body.
type EventDetail struct {
	EventInfo
	// Params are the callback's query parameters, the first value of
	// each, Sign left out.
	Params map[string]string `json:"params"`
	// Body is the callback's body as received; a JSON string holding it
	// when it is not valid JSON.
	Body json.RawMessage `json:"body"`
}

// DeadLetterInfo is one dead letter as GET /v1/dead-letters lists it;
// Deliveries is as in DeadLetter.
type DeadLetterInfo struct {
	// Seq is the event's sequence in the work stream (not the dead
	// letter's), as GET /v1/events/<seq> and a replay take it.
	Seq uint64 `json:"seq"`
	// Command is the event's CallbackCommand.
	Command string `json:"command"`
	// AppID is the event's SdkAppid.
	AppID string `json:"app_id"`
	// FailedAt is when the event was dead-lettered.
	FailedAt time.Time `json:"failed_at"`
	// Deliveries is DeadLetter.Deliveries: the deliveries counted as
	// attempts when it was dead-lettered.
	Deliveries uint64 `json:"deliveries"`
	// LastError is the last handler (or destination) error.
	LastError string `json:"last_error"`
	// Destination is the forward destination that failed (gateway mode).
	Destination string `json:"destination,omitempty"`
}

// EventRoute is the method and path of one of the event log's admin routes.
type EventRoute struct {
	// Method is the route's HTTP method, GET or POST.
	Method string
	// Path is the route's echo path on the admin listener.
	Path string
}

// EventRoutes are the event log's admin routes, the Service's routes
// without their handlers: without durable delivery the admin listener
// answers them 409, and another method on their paths 405, as it does with
// durable delivery.
var EventRoutes = []EventRoute{
	{http.MethodGet, "/v1/events"},
	{http.MethodGet, "/v1/events/:seq"},
	{http.MethodGet, "/v1/events/"},
	{http.MethodGet, "/v1/dead-letters"},
	{http.MethodPost, "/v1/events/replay"},
	{http.MethodGet, "/v1/delivery"},
	{http.MethodPost, "/v1/delivery/pause"},
	{http.MethodPost, "/v1/delivery/resume"},
}

// maxEventPage bounds a page of GET /v1/events.
const maxEventPage = 1000

// apiRoutes are the event log's admin routes.
func apiRoutes(s *Service) []admin.Route {
	routes := []admin.Route{
		{Method: http.MethodGet, Path: "/v1/events", Handler: s.listEvents},
		{Method: http.MethodGet, Path: "/v1/events/:seq", Handler: s.getEvent},
		// An empty sequence: the router answered it its own 404 "Not
		// Found", where every other one that is no number is a 400.
		{Method: http.MethodGet, Path: "/v1/events/", Handler: s.getEvent},
		{Method: http.MethodGet, Path: "/v1/dead-letters", Handler: s.listDeadLetters},
		{Method: http.MethodPost, Path: "/v1/events/replay", Handler: s.untilDone(s.replayEvents)},
		{Method: http.MethodGet, Path: "/v1/delivery", Handler: s.deliveryStatus},
		{Method: http.MethodPost, Path: "/v1/delivery/pause", Handler: s.untilDone(s.pauseResume(true))},
		{Method: http.MethodPost, Path: "/v1/delivery/resume", Handler: s.untilDone(s.pauseResume(false))},
	}
	for i := range routes {
		routes[i].Handler = withStatus(routes[i].Handler)
	}
	return routes
}

// answerWriteTimeout bounds the write of the answer of a route that runs
// until its work is done (untilDone), counted from the answer's start.
const answerWriteTimeout = 30 * time.Second

// untilDone serves h, a route that answers when its work is done, past
// the admin listener's write timeout (35 s, counted from the request's
// start): a replay of a large selection (since, every dead letter: some
// 4,000 events a second) or a pause waiting for slow handlers (up to
// IMCALLBACK_SHUTDOWN_TIMEOUT) takes longer, and the answer of what it
// did was dropped. The listener's deadline is lifted while h works, and
// the answer, an error's too, gets answerWriteTimeout from its start.
func (s *Service) untilDone(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		rc := http.NewResponseController(c.Response())
		deadline := func(t time.Time) {
			// Not supported: no listener's deadline to lift (a recorder).
			if err := rc.SetWriteDeadline(t); err != nil && !errors.Is(err, http.ErrNotSupported) {
				s.log.Warn("the admin answer's write deadline could not be set", zap.String("path", c.Path()), zap.Error(err))
			}
		}
		deadline(time.Time{})
		c.Response().Before(func() { deadline(time.Now().Add(answerWriteTimeout)) })
		return h(c)
	}
}

// withStatus gives the errors a caller can act on their own status instead
// of the admin listener's 500: the stream not reachable now (not started,
// restarting, not set up, a NATS timeout) is 503, and so is a request cut
// short by the service's stop (its context ended: endAtStop), a body over
// its limit 413, a replay of dead letters that could not be removed
// (ErrDeadLettersKept) 409.
func withStatus(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := h(c)
		var tooLarge *http.MaxBytesError
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrNotStarted), errors.Is(err, errRestarting), errors.Is(err, errReopening), errors.Is(err, errNotEnsured),
			errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
			connectionDown(err),
			errors.Is(err, jetstream.ErrStreamNotFound): // deleted: the supervisor sets it up again
			return unavailable("the event log is not reachable now", err)
		case errors.Is(err, context.Canceled):
			// The service is stopping (or the caller left, who reads no
			// answer, and the log says so): not an internal error, and
			// another replica, or this one once started again, answers.
			return unavailable(admin.CutShort(c.Request().Context()), err)
		case errors.Is(err, ErrBadFilter):
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		case errors.Is(err, ErrDeadLettersKept):
			return echo.NewHTTPError(http.StatusConflict, err.Error())
		case errors.As(err, &tooLarge):
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", tooLarge.Limit))
		}
		return err
	}
}

// unavailable is the 503 of err, why first: "why, try again: err". A
// replay that stopped part way (replayStopped, the only echo.HTTPError
// that reaches withStatus wrapping an error) says how many it replayed and
// what to run, which a "try again" would contradict for a selection of
// events: its answer is "why: its message", not echo's rendering of it
// ("code=500, message=…, internal=…").
func unavailable(why string, err error) error {
	if he := (*echo.HTTPError)(nil); errors.As(err, &he) {
		return echo.NewHTTPError(http.StatusServiceUnavailable, fmt.Sprintf("%s: %v", why, he.Message)).SetInternal(err)
	}
	return echo.NewHTTPError(http.StatusServiceUnavailable, why+", try again: "+err.Error()).SetInternal(err)
}

// eventStates is what the state of an event is read from: the event log,
// its dead letters by work-stream sequence (the latest of each), every dead
// letter counted by command, and the consumer's ack floor.
func (s *Service) eventStates(ctx context.Context) (*Events, deadView, uint64, error) {
	e, err := s.Events()
	if err != nil {
		return nil, deadView{}, 0, err
	}
	dead, err := s.deadLetters(ctx, e)
	if err != nil {
		return nil, deadView{}, 0, err
	}
	floor, err := s.ackFloor(ctx)
	if err != nil {
		return nil, deadView{}, 0, err
	}
	return e, dead, floor, nil
}

// deadView is the dead letters as the admin API reads them; see deadLetters.
type deadView struct {
	cache          *deadCache     // the latest letter of an event: letters
	details        *deadDetails   // the cache's when the view was taken
	perCommand     map[string]int // every dead letter, by command
	perDestination map[string]int // every dead letter of a forward destination, by destination
	total          int            // every dead letter
	// first and last are the dead-letter stream's sequences the view
	// reaches from and to: its letters are those stored up to last.
	first, last uint64
}

// ackFloor is the highest stream sequence below which every event was
// acknowledged by the shared consumer.
func (s *Service) ackFloor(ctx context.Context) (uint64, error) {
	js := s.js.Load()
	if js == nil {
		return 0, s.notConnected()
	}
	c, err := (*js).Consumer(ctx, s.opts.Stream, s.opts.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return c.CachedInfo().AckFloor.Stream, nil
}

// info is the EventInfo of ev given its latest dead letter (nil: none)
// and the ack floor.
func info(ev Event, d *deadEntry, floor uint64) EventInfo {
	out := EventInfo{Seq: ev.Seq, Command: ev.Command, AppID: ev.AppID, ReceivedAt: ev.ReceivedAt,
		RequestID: ev.RequestID, Destination: ev.Destination, State: StatePending, ReplayOf: ev.ReplayOf}
	switch {
	case d != nil && d.msgID == msgIDHash(ev.MsgID): // not an older event's at this sequence, before the stream was recreated
		out.State, out.Deliveries, out.LastError = StateDead, d.deliveries, d.err
	case ev.Seq <= floor:
		out.State = StateProcessed
	}
	return out
}

// listDead calls fn for each event e.List(f) gives, with its latest dead
// letter (nil: none), listing as far as each look-up of the letters
// reaches (deadView.letters): deadChunk sequences at a time where letters
// whose details are no longer held may be, the rest at once.
func listDead(ctx context.Context, e *Events, f Filter, dead deadView, fn func(Event, *deadEntry) error) error {
	for from := max(f.FromSeq, 1); f.ToSeq == 0 || from < f.ToSeq; {
		letters, to, err := dead.letters(ctx, e, from, f.ToSeq)
		if err != nil {
			return err
		}
		g := f
		g.FromSeq, g.ToSeq = from, to
		if err := e.List(ctx, g, func(ev Event) error { return fn(ev, letters[ev.Seq]) }); err != nil {
			return err
		}
		if to == 0 {
			return nil
		}
		from = to
	}
	return nil
}

// ParseSince reads a since of the event log: a duration back from now,
// written as a setting's is (config.ParseDuration: "1h", "30m", "7d" with
// d for a day), or an RFC 3339 time; "" is the zero time (no bound). Its
// error quotes v for its caller to name: the API's since, the CLI's
// --since.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	d, derr := config.ParseDuration(v)
	if derr == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q must be a positive duration (1h: the last hour)", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err == nil {
		return t, nil
	}
	if errors.Is(derr, config.ErrDurationRange) {
		return time.Time{}, fmt.Errorf("%q is longer than the longest duration (about 292 years): give an RFC 3339 time instead", v)
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (1h, 30m, 7d) nor an RFC 3339 time", v)
}

// checkCommandCase refuses a command filter (of GET /v1/events, of a
// since replay) that selects none of the service's after-commands as
// written but some when case is ignored: CheckCommandCase with them.
func (s *Service) checkCommandCase(filter string) error {
	s.holds.mu.Lock()
	known := slices.Clone(s.holds.known)
	s.holds.mu.Unlock()
	return CheckCommandCase(filter, known)
}

// CheckCommandCase refuses a command filter that selects none of commands
// (after-commands) as written but some when case is ignored
// (group.callbackaftersendmsg, group.*): command names are case-sensitive,
// so it would select none of their events, answered as if they had none
// (no events, nothing replayed). The error, an ErrBadFilter, names the
// commands in their spelling. A filter of none of them in any case (a
// command handled before) is left alone.
func CheckCommandCase(filter string, commands []string) error {
	var folded []string
	for _, command := range commands {
		if filterSelects(filter, command, false) {
			return nil
		}
		if filterSelects(filter, command, true) {
			folded = append(folded, command)
		}
	}
	if len(folded) == 0 {
		return nil
	}
	return fmt.Errorf("%w %q: it selects no after-command of this service, command names being case-sensitive; "+
		"it would in this case: %s", ErrBadFilter, filter, strings.Join(folded, ", "))
}

// spelling is the after-command of the service that command names in
// another case, "" when there is none.
func (s *Service) spelling(command string) string {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	for _, known := range s.holds.known {
		if strings.EqualFold(known, command) {
			return known
		}
	}
	return ""
}

// filterSelects reports whether the command filter (a command, or a
// pattern of its dot-separated parts with "*" for one part and ">" for the
// rest) selects command, comparing the parts without regard to case when
// fold is set.
func filterSelects(filter, command string, fold bool) bool {
	parts, names := strings.Split(filter, "."), strings.Split(command, ".")
	for i, p := range parts {
		switch {
		case p == ">":
			return len(names) > i
		case i >= len(names):
			return false
		case p == "*":
		case fold && !strings.EqualFold(p, names[i]), !fold && p != names[i]:
			return false
		}
	}
	return len(parts) == len(names)
}

// isRFC3339 reports whether v is an RFC 3339 time.
func isRFC3339(v string) bool {
	_, err := time.Parse(time.RFC3339, v)
	return err == nil
}

// bodyOnly refuses a query parameter (echo's pretty aside) on a route that
// takes what it acts on in its body, must saying what that body is:
// ignored, curl's ?command=… would pause, resume or replay every command
// instead of one.
func bodyOnly(c echo.Context, must string) error {
	for _, name := range slices.Sorted(maps.Keys(c.QueryParams())) {
		if name != "pretty" {
			return badRequest("unknown parameter %q: this route takes its selection in the body, not the query: %s", name, must)
		}
	}
	return nil
}

func badRequest(format string, args ...any) error {
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// badBody is the answer to a body that did not decode: a body over its
// limit stays that error (withStatus answers it 413), any other is a 400
// saying what the body must be.
func badBody(err error, must string) error {
	if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
		return err
	}
	return badRequest("%s: %v", must, err)
}

// listEvents answers GET /v1/events?command=&app=&since=&state=&limit=&before_seq=
// newest first: {"events":[…],"next_before_seq":N}, next_before_seq 0 on the
// last page. It reads the stream backwards from its end (or before_seq) in
// windows that double (newestEvents), so a page costs about a page however
// long the retention, and a since ends the walk. A page reads at most
// EventPageBudget events of the stream: a filter that matches few or none
// is answered with what that found, fewer than limit events or none, and
// next_before_seq where the walk stopped, for the next page to go on below.
func (s *Service) listEvents(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	if err := admin.CheckQuery(q, "command", "app", "since", "state", "limit", "before_seq"); err != nil {
		return err
	}
	since, err := ParseSince(q.Get("since"), time.Now())
	if err != nil {
		// A query string reads "+" as a space: the offset of a time as curl
		// sends it, unescaped.
		if plussed := strings.ReplaceAll(q.Get("since"), " ", "+"); isRFC3339(plussed) {
			return badRequest("since %v: a \"+\" in a query string reads as a space; escape a time's offset as %%2B (%s)",
				err, strings.ReplaceAll(url.QueryEscape(plussed), "%3A", ":"))
		}
		return badRequest("since %v", err)
	}
	limit, err := intParam(q, "limit", 100, 1, maxEventPage)
	if err != nil {
		return err
	}
	before := uint64(0)
	if v := q.Get("before_seq"); v != "" {
		if before, err = strconv.ParseUint(v, 10, 64); err != nil || before == 0 {
			return badRequest("before_seq must be a positive sequence number")
		}
	}
	if app := q.Get("app"); app != "" && !config.IsSdkAppID(app) {
		// An app id is what IM sends: decimal digits without a leading
		// zero. Anything else matches no event and listed none, as if
		// the app had none.
		return badRequest("app must be an SdkAppid, a decimal number such as 1400000000, not %q", app)
	}
	state := q.Get("state")
	if state != "" && state != StatePending && state != StateProcessed && state != StateDead {
		return badRequest("state must be pending, processed or dead")
	}
	if command := q.Get("command"); command != "" {
		// Checked here too: on an empty stream the listing reads nothing,
		// and a bad filter would pass unseen.
		if err := checkCommandFilter(command); err != nil {
			return badRequest("%v", err)
		}
		if err := s.checkCommandCase(command); err != nil {
			return badRequest("%v", err)
		}
	}
	e, dead, floor, err := s.eventStates(ctx)
	if err != nil {
		return err
	}
	// The newest limit+1 matches, newest first: one more than the page
	// tells whether another page follows.
	page, stopped, err := newestEvents(ctx, e, Filter{Command: q.Get("command"), Since: since, ToSeq: before}, limit+1, dead,
		func(ev Event, d *deadEntry) (EventInfo, bool) {
			if app := q.Get("app"); app != "" && ev.AppID != app {
				return EventInfo{}, false
			}
			in := info(ev, d, floor)
			return in, state == "" || in.State == state
		})
	if err != nil {
		return err
	}
	next := uint64(0)
	switch {
	case len(page) > limit:
		page = page[:limit]
		next = page[limit-1].Seq
	case stopped != 0:
		// The budget ran out first: older events may match, below where
		// the walk stopped.
		next = stopped
	}
	if page == nil {
		page = []EventInfo{}
	}
	return c.JSON(http.StatusOK, map[string]any{"events": page, "next_before_seq": next})
}

// firstWindow is how many sequences newestEvents reads first, per match
// wanted; each further window back is twice the one before.
const firstWindow = 4

// EventPageBudget is how many sequences of the work stream one page of
// GET /v1/events reads back at most. A filter that matches few events or
// none (an app without events, state=dead with none) would otherwise walk
// the whole retention on every request: seconds per million events, and
// the console repeats its search every 5 seconds. Past it the page is
// answered with what it found and next_before_seq where the walk stopped.
const EventPageBudget = 50_000

// newestEvents returns up to n of the newest events that f selects and
// keep accepts, newest first. It reads the stream backwards from f.ToSeq
// (or its end) in windows that double, so a page of recent events costs
// about the page, not the stream's length; a rare match costs about the
// distance back to it, and f.Since ends the walk at the window that
// reaches past it. It holds about 2n events at most, however many a
// window far back selects. It reads at most e's page budget
// (EventPageBudget) of sequences: when that runs out before it has n
// events and before the stream's start or f.Since, stopped is the lowest
// sequence it read, above which it read all (else 0).
func newestEvents(ctx context.Context, e *Events, f Filter, n int, dead deadView,
	keep func(Event, *deadEntry) (EventInfo, bool)) (page []EventInfo, stopped uint64, err error) {
	first, last, err := e.bounds(ctx)
	if err != nil || last == 0 {
		return nil, 0, err
	}
	end := last + 1 // exclusive
	if f.ToSeq != 0 {
		end = min(end, f.ToSeq)
	}
	budget := uint64(cmp.Or(e.pageBudget, EventPageBudget))
	walked := uint64(0) // sequences the windows so far covered
	for w := uint64(firstWindow * n); end > first && len(page) < n; w *= 2 {
		if walked >= budget {
			return page, end, nil
		}
		span := min(w, budget-walked)
		start := first
		if end-first > span {
			start = end - span
		}
		walked += end - start
		// The window's matches, oldest first: only its newest need can make
		// the page, so it holds 2*need at most, however many match in it (a
		// window far back can hold a great many).
		need := n - len(page)
		var chunk []EventInfo
		older := false // the window holds an event from before f.Since
		wf := Filter{Command: f.Command, FromSeq: start, ToSeq: end}
		err := listDead(ctx, e, wf, dead, func(ev Event, d *deadEntry) error {
			if ev.Time.Before(f.Since) {
				older = true
				return nil
			}
			if in, ok := keep(ev, d); ok {
				if len(chunk) == 2*need {
					chunk = append(chunk[:0], chunk[need:]...)
				}
				chunk = append(chunk, in)
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		e.noteHeld(len(chunk))
		for i := len(chunk) - 1; i >= 0 && len(page) < n; i-- {
			page = append(page, chunk[i])
		}
		if older {
			break // events are stored in time order: none further back is newer
		}
		end = start
	}
	return page, 0, nil
}

// noteHeld keeps n as the most events a page held at once when it is more
// than those before (Events.held).
func (e *Events) noteHeld(n int) {
	if e.held == nil {
		return
	}
	for {
		most := e.held.Load()
		if uint64(n) <= most || e.held.CompareAndSwap(most, uint64(n)) {
			return
		}
	}
}

// getEvent answers GET /v1/events/<seq>: the event with its parameters and body
// (and GET /v1/events/, whose sequence is "": a 400, as for any that is no
// positive number).
func (s *Service) getEvent(c echo.Context) error {
	ctx := c.Request().Context()
	if c.Param("seq") == "replay" {
		// POST /v1/events/replay's path, not an event: echo routes another
		// method here.
		c.Response().Header().Set(echo.HeaderAllow, http.MethodPost)
		return echo.ErrMethodNotAllowed
	}
	if err := admin.CheckQuery(c.QueryParams()); err != nil {
		return err // it reads none: /v1/events/2?state=dead is no dead letter's
	}
	seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return badRequest("the sequence is too large: at most %d", uint64(math.MaxUint64))
	}
	if err != nil || seq == 0 {
		return badRequest("the sequence must be a positive number")
	}
	js := s.js.Load()
	if js == nil {
		return s.notConnected()
	}
	if err := s.downNow(); err != nil {
		return err
	}
	st, err := (*js).Stream(ctx, s.opts.Stream)
	if err != nil {
		return err
	}
	raw, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return s.eventGone(ctx, seq)
	}
	if err != nil {
		return err
	}
	if raw.Header.Get(HeaderCommand) == "" {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("message %d is not an event", seq))
	}
	e, dead, floor, err := s.eventStates(ctx)
	if err != nil {
		return err
	}
	letters, _, err := dead.letters(ctx, e, seq, seq+1)
	if err != nil {
		return err
	}
	ev := storedEventOf(s.opts.Stream, raw)
	params := map[string]string{}
	values, _ := url.ParseQuery(raw.Header.Get(HeaderQuery))
	for k, v := range values {
		if len(v) > 0 && !strings.EqualFold(k, "Sign") { // never stored; never shown either
			params[k] = v[0]
		}
	}
	body := json.RawMessage(raw.Data)
	if !json.Valid(body) {
		body, _ = json.Marshal(string(raw.Data))
	}
	return c.JSON(http.StatusOK, EventDetail{EventInfo: info(ev, letters[seq], floor), Params: params, Body: body})
}

// eventGone is GET /v1/events/<seq>'s 404 for an event the work stream
// does not hold. Dead letters are kept past the work stream's retention:
// when one of seq is kept, the answer says where to find it rather than
// leave the event for lost.
func (s *Service) eventGone(ctx context.Context, seq uint64) error {
	msg := fmt.Sprintf("event %d not found (never stored, or past the retention)", seq)
	if e, dead, _, err := s.eventStates(ctx); err == nil {
		if letters, _, err := dead.letters(ctx, e, seq, seq+1); err == nil && letters[seq] != nil {
			msg = fmt.Sprintf("event %d is past the work stream's retention; its dead letter is kept "+
				"(dead-letter sequence %d): GET /v1/dead-letters lists it, POST /v1/events/replay with "+
				"{\"dead\":true,\"seqs\":[%d]} replays it", seq, letters[seq].seq, seq)
		}
	}
	return echo.NewHTTPError(http.StatusNotFound, msg)
}

// listDeadLetters answers GET /v1/dead-letters?limit= with the oldest
// limit dead letters (default 1000, at most maxDeadPage), oldest first:
// {"dead_letters":[…],"total":N} plus "truncated":true when there are more,
// and "by_destination" counting every dead letter of a forward destination
// (gateway mode). The counts come from the dead letters the admin API
// keeps counted (deadLetters); the list reads about limit letters from the
// stream's start (oldestDead), not the whole stream, and holds no more.
func (s *Service) listDeadLetters(c echo.Context) error {
	ctx := c.Request().Context()
	if err := admin.CheckQuery(c.QueryParams(), "limit"); err != nil {
		return err
	}
	limit, err := intParam(c.QueryParams(), "limit", defaultDeadPage, 1, maxDeadPage)
	if err != nil {
		return err
	}
	e, err := s.Events()
	if err != nil {
		return err
	}
	dead, err := s.deadLetters(ctx, e)
	if err != nil {
		return err
	}
	list := []DeadLetterInfo{}
	more := false
	if dead.total > 0 {
		// One more than the list tells whether more follow. The read ends at
		// the counts' last sequence: every letter it finds is counted there.
		list, more, err = oldestDead(ctx, e, dead.first, dead.last, limit)
		if err != nil {
			return err
		}
	}
	total, byDest := dead.total, dead.perDestination
	if !more {
		// The whole list: counted from itself, it agrees with it even when
		// letters were replayed since the counts were read.
		total, byDest = len(list), map[string]int{}
		for _, d := range list {
			if d.Destination != "" {
				byDest[d.Destination]++
			}
		}
	}
	out := map[string]any{"dead_letters": list, "total": total}
	if more {
		out["truncated"] = true
	}
	if len(byDest) > 0 {
		out["by_destination"] = byDest
	}
	return c.JSON(http.StatusOK, out)
}

// defaultDeadPage and maxDeadPage bound a list of GET /v1/dead-letters.
const (
	defaultDeadPage = 1000
	maxDeadPage     = 10000
)

// oldestDead returns up to n of the dead letters stored from the
// dead-letter stream's sequence first to last, oldest first, and whether
// more follow. It reads forward in windows of sequences that double from
// n+1, so it reads about n letters when the stream holds little else (the
// letters of another subject prefix, removed ones), and stops at the
// (n+1)th.
func oldestDead(ctx context.Context, e *Events, first, last uint64, n int) ([]DeadLetterInfo, bool, error) {
	errEnough := errors.New("enough dead letters")
	list := []DeadLetterInfo{}
	more := false
	from := max(first, 1)
	for w := uint64(n) + 1; from <= last && !more; w *= 2 {
		to := last + 1 // exclusive
		if to-from > w {
			to = from + w
		}
		err := e.deadIn(ctx, scanRange{from: from, to: to}, func(d DeadLetter) error {
			if len(list) == n {
				more = true
				return errEnough
			}
			list = append(list, DeadLetterInfo{Seq: d.OriginalSeq, Command: d.Command, AppID: d.AppID,
				FailedAt: d.DeadAt, Deliveries: d.Deliveries, LastError: d.Error, Destination: d.Destination})
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return nil, false, err
		}
		from = to
	}
	return list, more, nil
}

// replayRequest is the body of POST /v1/events/replay: exactly one of
// seqs, since (with an optional command) or dead (with optional seqs).
// A command without since is refused, never ignored.
type replayRequest struct {
	Seqs    seqList `json:"seqs"`
	Since   string  `json:"since"`
	Command string  `json:"command"`
	Dead    bool    `json:"dead"`
}

// seqList is the seqs of a replay's body. A null is refused, as an empty
// list is, rather than read as absent: an empty selection in a Go client
// (a nil slice) marshals to null, and {"dead":true} without seqs replays
// every dead letter.
type seqList []uint64

// UnmarshalJSON reads a list of sequences, refusing null.
func (l *seqList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return errors.New("seqs is null: it selects no event (leave it out for {\"dead\":true}, every dead letter)")
	}
	return json.Unmarshal(b, (*[]uint64)(l))
}

// replayEvents answers POST /v1/events/replay with {"replayed":N} (and
// "missing" when some sequences are gone, "already_replayed" when some
// dead letters were replayed already: a second replay of one is no error,
// and does not run it twice; see replayAnswer).
func (s *Service) replayEvents(c echo.Context) error {
	ctx := c.Request().Context()
	const must = "the body must be {\"seqs\":[…]}, {\"since\":\"1h\",\"command\":\"…\"} or {\"dead\":true} (with \"seqs\": those dead letters)"
	if err := bodyOnly(c, must); err != nil {
		return err
	}
	var req replayRequest
	if err := decodeOne(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20), &req); err != nil {
		return badBody(err, must)
	}
	// An empty list selects nothing: with dead it must not read as "every
	// dead letter", as an empty selection in a script or a UI would send it.
	if req.Seqs != nil && len(req.Seqs) == 0 {
		return badRequest("seqs is empty: it selects no event (leave it out for {\"dead\":true}, every dead letter)")
	}
	chosen := 0
	for _, set := range []bool{len(req.Seqs) > 0 && !req.Dead, req.Since != "", req.Dead} {
		if set {
			chosen++
		}
	}
	if chosen != 1 {
		return badRequest("give exactly one of seqs, since (with an optional command) or dead")
	}
	// Streams number from 1: a 0 is a mistake, which the stream would refuse
	// only once the sequences before it were replayed (a 500 then).
	if slices.Contains(req.Seqs, 0) {
		return badRequest("sequences start at 1: 0 is no event's")
	}
	// Each event once, in stream order: a sequence given twice must not run
	// its handler (or forward it) twice.
	seqs := slices.Compact(slices.Sorted(slices.Values(req.Seqs)))
	// command narrows since only: with seqs or dead it would be ignored, and
	// {"dead":true,"command":"C"} would replay every command's dead letters.
	if req.Command != "" && req.Since == "" {
		return badRequest("command goes with since only: seqs and dead select their events themselves")
	}
	// Read before the stream is: a since that does not read is a 400, also
	// while the event log is out of reach (a 503 says to try again).
	since, err := ParseSince(req.Since, time.Now())
	if err != nil {
		return badRequest("since %v", err)
	}
	if req.Command != "" {
		// Checked here, not only by the replay: while the event log is out
		// of reach a bad filter would be a 503, which no retry mends.
		if err := checkCommandFilter(req.Command); err != nil {
			return badRequest("%v", err)
		}
	}
	if err := s.checkCommandCase(req.Command); err != nil {
		return badRequest("%v", err)
	}
	e, err := s.Events()
	if err != nil {
		return err
	}
	var res ReplayResult
	switch {
	case req.Dead && len(req.Seqs) > 0:
		res, err = s.replayDeadOf(ctx, e, seqs)
	case req.Dead:
		res, err = e.replayDead(ctx, nil, &s.dead)
	case req.Since != "":
		res, err = e.ReplaySelection(ctx, Filter{Command: req.Command, Since: since}, nil)
	default:
		res, err = e.Replay(ctx, seqs, nil)
	}
	if err != nil && res.Replayed > 0 {
		return replayStopped(req.Dead, res.Replayed, err)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, replayAnswer(res))
}

// replayStopped is the answer of a replay that failed with err after
// replaying n events: not a plain 503, since a retry of events (seqs,
// since) would replay the ones already done again. A retry of dead
// letters is what to do: those replayed were removed from the
// dead-letter stream, so it goes on with the rest. A letter whose removal
// failed after its copy was stored is still there: within the dedup
// window its copy's message id keeps it from running again; past the
// window it is copied and run again (the search for copies among the work
// stream's newest messages, CopySearchHeaders, covers letters already
// removed only), so the retry should come soon.
func replayStopped(dead bool, n int, err error) error {
	what := "replaying the same selection again repeats them"
	if dead {
		what = fmt.Sprintf("replay the dead letters again for the rest, within %s: a letter replayed "+
			"but not removed is then recognised and not run again", config.EnvName("dedup_window"))
	}
	return echo.NewHTTPError(http.StatusInternalServerError, fmt.Sprintf(
		"the replay stopped after %d events (%s): %v", n, what, err)).SetInternal(err)
}

// replayAnswer is the body of a replay's 200: {"replayed":N}, with
// "missing" and "already_replayed" when they list sequences, and
// "missing_count" and "already_replayed_count" when those lists were cut
// (a replay of every dead letter lists ReplayListMost of each at most).
func replayAnswer(res ReplayResult) map[string]any {
	out := map[string]any{"replayed": res.Replayed}
	if len(res.Missing) > 0 {
		out["missing"] = res.Missing
	}
	if len(res.AlreadyReplayed) > 0 {
		out["already_replayed"] = res.AlreadyReplayed
	}
	if res.MissingCount > 0 {
		out["missing_count"] = res.MissingCount
	}
	if res.AlreadyReplayedCount > 0 {
		out["already_replayed_count"] = res.AlreadyReplayedCount
	}
	return out
}

// decodeOne decodes a request body that holds one JSON value into v: a
// field v does not have, or anything but white space after the value, is
// an error, so a mistake is refused rather than read as an absent field.
// So are two things Go's decoder would take: a name given twice (it keeps
// the last, another reader the first: {"dead":true,"seqs":[5],"dead":false}
// would replay event 5 itself, not its dead letter) and a name in another
// case ("Dead"), which the documented names are not. An empty body is
// io.EOF, as json.Decoder.Decode says.
func decodeOne(r io.Reader, v any) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	switch _, err := dec.Token(); {
	case err == nil:
		return errors.New("the body holds more than one JSON value")
	case !errors.Is(err, io.EOF):
		return err
	}
	if name, ok := jsonnames.Repeated(body, true); ok {
		return fmt.Errorf("the name %q is given more than once", name)
	}
	return exactNames(body, v)
}

// exactNames refuses a name of the JSON object body that matches a field
// of v (a pointer to a struct, or to a pointer to one) only in another
// case. body decoded into v, so each of its names is one of v's fields in
// some case.
func exactNames(body []byte, v any) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil // null, which the caller refuses itself
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	for _, got := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(names, got) {
			for _, name := range names {
				if strings.EqualFold(got, name) {
					return fmt.Errorf("unknown field %q: the name is %q (names are case-sensitive)", got, name)
				}
			}
		}
	}
	return nil
}

// intParam reads a bounded whole number query parameter.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s must be from %d to %d", name, lo, hi)
	}
	return n, nil
}

// CommandState is one command's line of GET /v1/delivery.
type CommandState struct {
	// Command is the CallbackCommand.
	Command string `json:"command"`
	// State is "running", or "paused" when the command or all delivery is.
	State string `json:"state"`
	// Pending is how many of its events are StatePending: stored, not
	// processed yet or being retried.
	Pending int `json:"pending"`
	// DeadLetters is how many of its events are in the dead-letter stream.
	DeadLetters int `json:"dead_letters"`
	// AfterCommand says whether the command is an after-command of this
	// service, one its workers handle and POST /v1/delivery/pause takes;
	// false for another command with events (one whose handler a later
	// version left out, seen in its dead letters), which pausing would
	// refuse.
	AfterCommand bool `json:"after_command"`
}

// deliveryStatus answers GET /v1/delivery: whether the workers run, the
// commands paused one by one, the state, pending and dead-letter counts
// per command (every after-command, and any other with events), and the
// dead letters of messages without a command (dead_letters_without_command).
func (s *Service) deliveryStatus(c echo.Context) error {
	list, unnamed, err := s.commandStates(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.deliveryAnswer(list, unnamed))
}

// deliveryAnswer is the answer of GET /v1/delivery with the commands'
// lines and the count of dead letters without a command: the state and the
// paused commands are the process's own, read without the stream.
func (s *Service) deliveryAnswer(commands []CommandState, unnamed int) map[string]any {
	st := "running"
	if s.Paused() {
		st = "paused"
	}
	return map[string]any{"state": st, "paused_commands": s.PausedCommands(), "commands": commands,
		"dead_letters_without_command": unnamed}
}

// commandStates are the lines of GET /v1/delivery, sorted by command: the
// counts of a read (statusCounts), the states as they are now. The dead
// letters of work-stream messages without the command header (no events:
// published to the stream's subjects by something else, dead-lettered by
// the workers) are no command's line: unnamed counts them.
func (s *Service) commandStates(ctx context.Context) (list []CommandState, unnamed int, err error) {
	counts, err := s.status.get(ctx, s.readCounts)
	if err != nil {
		return nil, 0, err
	}
	by := map[string]*CommandState{}
	state := func(cmd string) *CommandState {
		if by[cmd] == nil {
			by[cmd] = &CommandState{Command: cmd, State: "running"}
			if s.commandPaused(cmd) {
				by[cmd].State = "paused"
			}
		}
		return by[cmd]
	}
	s.holds.mu.Lock()
	known := slices.Clone(s.holds.known)
	s.holds.mu.Unlock()
	for _, cmd := range known {
		state(cmd).AfterCommand = true
	}
	for cmd, n := range counts.dead {
		if cmd == "" {
			unnamed += n
			continue
		}
		state(cmd).DeadLetters += n
	}
	for cmd, n := range counts.pending {
		if cmd == "" { // never counted (readCounts skips non-events): kept out all the same
			continue
		}
		state(cmd).Pending += n
	}
	list = make([]CommandState, 0, len(by))
	for _, st := range by {
		list = append(list, *st)
	}
	slices.SortFunc(list, func(a, b CommandState) int { return strings.Compare(a.Command, b.Command) })
	return list, unnamed, nil
}

// pauseCommand reads the body of POST /v1/delivery/pause and /resume: the
// command of {"command":"…"}, or "" for all delivery when the body is
// empty or {}. A misspelt field, a null body, a body of whitespace alone,
// or a command that is null or empty is a 400, never read as "no command":
// that would pause or resume all delivery instead of one command's. So is
// a query parameter (?command=…): the body names the command.
func pauseCommand(c echo.Context) (string, error) {
	const must = "the body must be empty, {} or {\"command\":\"…\"}"
	if err := bodyOnly(c, must); err != nil {
		return "", err
	}
	if c.Request().ContentLength == 0 {
		return "", nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<16))
	switch {
	case err != nil:
		return "", badBody(err, must)
	case len(body) == 0: // a chunked body that held nothing
		return "", nil
	case len(bytes.TrimSpace(body)) == 0:
		return "", badRequest("%s, not whitespace alone", must)
	}
	var req *struct {
		Command json.RawMessage `json:"command"` // nil when absent
	}
	err = decodeOne(bytes.NewReader(body), &req)
	switch {
	case err != nil:
		return "", badBody(err, must)
	case req == nil:
		return "", badRequest("%s, not null", must)
	case req.Command == nil:
		return "", nil
	}
	var command *string
	if err := json.Unmarshal(req.Command, &command); err != nil {
		return "", badRequest("%s: command must be a string: %v", must, err)
	}
	if command == nil || *command == "" {
		return "", badRequest("command is empty: name an after-command, or send an empty body (or {}) for all delivery")
	}
	return *command, nil
}

// pauseResume answers POST /v1/delivery/pause and /resume: all delivery
// with an empty body (or {}), one command with {"command":"…"}
// (PauseCommand); any other body is a 400 and changes nothing. The answer
// is GET /v1/delivery's. Once the pause or resume happened it is a 200:
// when the commands' counts cannot be read then (the stream restarting, a
// NATS timeout), "commands" is empty and "status_error" says why, so the
// caller does not take the action for failed.
func (s *Service) pauseResume(pause bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		command, err := pauseCommand(c)
		if err != nil {
			return err
		}
		switch {
		case command != "" && pause:
			err = s.PauseCommand(command)
		case command != "":
			err = s.ResumeCommand(command)
		case pause:
			// The wait for the running handlers is the shutdown timeout's,
			// not the caller's: a caller that goes away (interrupted, past
			// its own timeout or the listener's read timeout) must not cut
			// the handlers short.
			err = s.Pause(context.WithoutCancel(c.Request().Context()))
			switch {
			case errors.Is(err, ErrNoWorkers):
			case !s.Paused():
				// The service's stop (StopWorkers) took the workers while
				// the pause waited for their handlers: the answer must not
				// say the pause was done, with the state "running".
				return echo.NewHTTPError(http.StatusServiceUnavailable,
					"delivery is not paused: the service is stopping, and its stop ended the pause while it waited for the running handlers")
			case err != nil:
				// Paused all the same: only the wait for the running handlers
				// ran out, and they were cancelled (their events come back).
				s.log.Warn("delivery paused; handlers still running at the shutdown timeout were cancelled", zap.Error(err))
				err = nil
			}
		default:
			err = s.Resume()
		}
		if errors.Is(err, ErrUnknownCommand) {
			if spelt := s.spelling(command); spelt != "" {
				return badRequest("%q is not an after-command of this service: command names are case-sensitive: %q is", command, spelt)
			}
			return badRequest("%q is not an after-command of this service", command)
		}
		if errors.Is(err, ErrNoWorkers) {
			return echo.NewHTTPError(http.StatusConflict, "the delivery workers are not started")
		}
		if err != nil {
			return err
		}
		list, unnamed, err := s.commandStates(c.Request().Context())
		if err != nil {
			out := s.deliveryAnswer([]CommandState{}, 0)
			out["status_error"] = "done, but the delivery status could not be read: " + err.Error()
			return c.JSON(http.StatusOK, out)
		}
		return c.JSON(http.StatusOK, s.deliveryAnswer(list, unnamed))
	}
}
