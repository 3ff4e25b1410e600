package topicsync

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
)

// ListResponse is the body of GET /v1/topics: one page of topics, and
// the cursor of the next page ("" on the last one).
type ListResponse struct {
	Topics     []Topic `json:"topics"`      // the page, in Store.List's order; never null
	NextCursor string  `json:"next_cursor"` // the cursor query parameter of the next page
}

// Page sizes of GET /v1/topics.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// MaxPageBytes bounds the text a page of ListPage (GET /v1/topics) holds:
// the page ends once its topics hold this many bytes of ids, names,
// introductions, custom data and the rest, with the cursor of the next page;
// a single topic larger than that comes alone. A topic can hold several
// callback bodies' worth (IMCALLBACK_BODY_LIMIT: its create's custom data,
// then each info change's introduction or notification), so a page of
// MaxPageSize of them held gigabytes.
const MaxPageBytes = 8 << 20

// pageBytes is the budget of ListPage's pages: MaxPageBytes, which the
// tests lower.
var pageBytes = MaxPageBytes

// pageCut is ListPage's byte budget for a page, handed to the store in
// ListFilter.page, and the store's answer: List stops adding topics once
// those it holds have bytes of text (topicBytes), keeping one at least, and
// sets more when it stopped so with topics left to list. A List that does
// not know it (a Store of another package, or a wrapper that builds a new
// filter) lists f.Limit topics as before, which ListPage pages on as well.
type pageCut struct {
	bytes int  // the budget, at least 1
	more  bool // set by List: it stopped for the budget before the topics selected ran out
}

// EncodeCursor is the opaque cursor of the page after p.
func EncodeCursor(p *Position) string {
	if p == nil {
		return ""
	}
	raw := cursorWithApp + strconv.FormatInt(p.CreatedAt.UnixMicro(), 10) + "|" + p.SdkAppID + "|" + p.TopicID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// cursorWithApp begins every cursor that names an app. A cursor made before
// topics were kept per app (micros|topic id) begins with a digit or a minus,
// so the two are never taken for each other, whatever the topic id holds.
const cursorWithApp = "a|"

// ErrBadCursor reports a cursor EncodeCursor did not make.
var ErrBadCursor = errors.New("topic: cursor is not one this API returned")

// The range of a cursor's time, in microseconds since 1970.
var (
	minCursorMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// DecodeCursor reads a cursor of EncodeCursor; "" is the first page (nil).
// A cursor made before topics were kept per app (micros|topic id) still
// reads, as a position in app "" (which the topics of a single-app service
// left at its first start after the upgrade: such a cursor may show topics
// of its page again).
func DecodeCursor(cursor string) (*Position, error) {
	if cursor == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, ErrBadCursor
	}
	rest, withApp := strings.CutPrefix(string(raw), cursorWithApp)
	micros, rest, ok := strings.Cut(rest, "|")
	app, id := LegacyAppID, rest
	if withApp {
		var found bool
		if app, id, found = strings.Cut(rest, "|"); !found || CheckAppID(app) != nil {
			return nil, ErrBadCursor
		}
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	// A time outside what both stores hold (years 1 to 9999) was no store's.
	if !ok || err != nil || id == "" || us < minCursorMicros || us > maxCursorMicros || checkText(id) != nil {
		return nil, ErrBadCursor
	}
	return &Position{CreatedAt: time.UnixMicro(us).UTC(), SdkAppID: app, TopicID: id}, nil
}

// ListPage returns the page of f (f.Limit topics after f.After; all of
// them when f.Limit is 0) and the cursor of the next page, "" when this
// page is the last. A page of f.Limit topics ends early once its topics
// hold MaxPageBytes of text (at least one topic), with the cursor of the
// next page: paging on lists each topic once, however large.
func ListPage(ctx context.Context, store Store, f ListFilter) (ListResponse, error) {
	want := f.Limit
	cut := &pageCut{bytes: pageBytes}
	if want > 0 {
		f.Limit = want + 1 // one more tells whether another page follows
		f.page = cut       // and so does a page the store ended for its bytes
	}
	topics, err := store.List(ctx, f)
	if err != nil {
		return ListResponse{}, err
	}
	res := ListResponse{Topics: topics}
	switch {
	case want > 0 && len(topics) > want:
		res.Topics = topics[:want]
		res.NextCursor = EncodeCursor(PositionOf(topics[want-1]))
	case cut.more && len(topics) > 0:
		res.NextCursor = EncodeCursor(PositionOf(topics[len(topics)-1]))
	}
	return res, nil
}

// ErrAmbiguous reports a topic id that more than one app holds, asked for
// without naming the app.
var ErrAmbiguous = errors.New("topic: the topic id exists under more than one app")

// GetAnyApp returns the topic topicID of app *appID, or, when appID is nil,
// of whichever app holds it: ErrNotFound when none does, ErrAmbiguous
// (naming the apps) when more than one does. An empty topicID names no
// topic: ErrNotFound (to List it would mean every topic of every app).
func GetAnyApp(ctx context.Context, store Store, appID *string, topicID string) (Topic, error) {
	if appID != nil {
		return store.Get(ctx, *appID, topicID)
	}
	if topicID == "" {
		return Topic{}, fmt.Errorf("topic: get %q: %w", topicID, ErrNotFound)
	}
	rows, err := store.List(ctx, ListFilter{TopicID: topicID, IncludeDeleted: true})
	if err != nil {
		return Topic{}, err
	}
	switch len(rows) {
	case 0:
		return Topic{}, fmt.Errorf("topic: get %q: %w", topicID, ErrNotFound)
	case 1:
		return rows[0], nil
	}
	apps := make([]string, len(rows))
	for i, t := range rows {
		apps[i] = strconv.Quote(t.SdkAppID)
	}
	return Topic{}, fmt.Errorf("%w: topic id %q is held by apps %s; name one with sdk_app_id (the command line's --appid)",
		ErrAmbiguous, topicID, strings.Join(apps, ", "))
}

// CheckAppFilter reports whether id can select topics: LegacyAppID (the
// topics stored before apps were kept), or an SdkAppid as IM sends one and
// the configuration takes one (config.IsSdkAppID: decimal digits without a
// leading zero, at most 2^64-1). Every callback writes under such an app, so
// another id (01400000001, say) would select nothing, an empty answer that
// looks like an app without topics. The error wraps ErrInvalid.
func CheckAppFilter(id string) error {
	if id == LegacyAppID || config.IsSdkAppID(id) {
		return nil
	}
	return fmt.Errorf("%w: app id %q is no SdkAppid (decimal digits without a leading zero, at most %d)", ErrInvalid, cutID(id, MaxAppIDBytes), uint64(math.MaxUint64))
}

// emptyIsValue lists the read API's parameters whose empty value is a
// value, not an absence: sdk_app_id= selects the topics stored before apps
// were kept, so sdk_app_id=&sdk_app_id=A asks for two apps and is refused,
// where limit=&limit=5 is limit=5.
var emptyIsValue = []string{"sdk_app_id"}

// appParam reads the sdk_app_id query parameter: nil when absent (every
// app), else the app, which may be "" (LegacyAppID: the topics stored
// before apps were kept).
func appParam(c echo.Context) (*string, error) {
	v, ok := c.QueryParams()["sdk_app_id"]
	if !ok {
		return nil, nil
	}
	if CheckAppFilter(v[0]) != nil { // given once: the routes' CheckQueryWithEmpty refuses a repeat
		return nil, echo.NewHTTPError(http.StatusBadRequest,
			"sdk_app_id must be an SDKAppID, a decimal number such as 1400000000 without a leading zero "+
				"(or empty for the topics stored before apps were kept)")
	}
	return &v[0], nil
}

// Routes returns the read API for the admin listener:
//
//	GET /v1/topics?[sdk_app_id=A][&group_id=G][&include_deleted=true][&limit=N][&cursor=C]  → {"topics":[…],"next_cursor":"…"}
//	GET /v1/topics/<TopicId, path-escaped>[?sdk_app_id=A]  → the topic, 404, or 409 when the id is under several apps and A is not given
//	GET /v1/topics/  → 404 "topic not found", as for any id no topic has
//
// Without sdk_app_id the list holds every app's topics, each with its
// sdk_app_id; sdk_app_id= (empty) selects the topics stored before apps
// were kept. A page holds limit topics, or fewer, with a next_cursor, once
// they hold MaxPageBytes.
func Routes(store Store) []admin.Route {
	get := func(c echo.Context) error {
		if err := admin.CheckQueryWithEmpty(c.QueryParams(), emptyIsValue, "sdk_app_id"); err != nil {
			return err
		}
		// The id is "" on /v1/topics/.
		id := c.Param("id")
		if c.Request().URL.RawPath != "" { // echo routed on the escaped path
			unescaped, err := url.PathUnescape(id)
			if err != nil {
				return echo.NewHTTPError(http.StatusBadRequest, "topic id is not a valid path-escaped string")
			}
			id = unescaped
		}
		app, err := appParam(c)
		if err != nil {
			return err
		}
		if id == "" || checkIDs(id) != nil { // no store holds such an id
			return echo.NewHTTPError(http.StatusNotFound, "topic not found")
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), readTimeout)
		defer cancel()
		t, err := GetAnyApp(ctx, store, app, id)
		if errors.Is(err, ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "topic not found")
		}
		if errors.Is(err, ErrAmbiguous) {
			return echo.NewHTTPError(http.StatusConflict, strings.TrimPrefix(err.Error(), "topic: "))
		}
		if err != nil {
			return readError(ctx, store, err)
		}
		return c.JSON(http.StatusOK, t)
	}
	return []admin.Route{
		{Method: http.MethodGet, Path: "/v1/topics", Handler: func(c echo.Context) error {
			if err := admin.CheckQueryWithEmpty(c.QueryParams(), emptyIsValue, "sdk_app_id", "group_id", "include_deleted", "limit", "cursor"); err != nil {
				return err
			}
			includeDeleted := false
			if v := c.QueryParam("include_deleted"); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					// strconv.ParseBool's spellings, all of them named: a
					// message of "true or false" alone hid that 1 and t work.
					return echo.NewHTTPError(http.StatusBadRequest,
						"include_deleted must be true or false (also accepted: 1, t, T, TRUE, True; 0, f, F, FALSE, False)")
				}
				includeDeleted = b
			}
			limit := DefaultPageSize
			if v := c.QueryParam("limit"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > MaxPageSize {
					return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", MaxPageSize))
				}
				limit = n
			}
			after, err := DecodeCursor(c.QueryParam("cursor"))
			if err != nil {
				return echo.NewHTTPError(http.StatusBadRequest, "cursor is not one this API returned")
			}
			if checkIDs(c.QueryParam("group_id")) != nil {
				return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("group_id must be valid UTF-8 without NUL, at most %d bytes", MaxIDBytes))
			}
			app, err := appParam(c)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Request().Context(), readTimeout)
			defer cancel()
			page, err := ListPage(ctx, store, ListFilter{
				SdkAppID: app, GroupID: c.QueryParam("group_id"), IncludeDeleted: includeDeleted, After: after, Limit: limit,
			})
			if err != nil {
				return readError(ctx, store, err)
			}
			return c.JSON(http.StatusOK, page)
		}},
		{Method: http.MethodGet, Path: "/v1/topics/:id", Handler: get},
		// The router answered an empty id its own {"error":"Not Found"}
		// (no route), where every other id no topic has is "topic not found".
		{Method: http.MethodGet, Path: "/v1/topics/", Handler: get},
	}
}

// ReadTimeout bounds a read of the read API (GET /v1/topics and a topic):
// a store that does not answer it (a hung PostgreSQL server, which takes the
// query and never replies) is answered 503 once it has passed, to try again.
// It is below the console's wait for an answer (20 s) and the admin
// listener's write timeout (IMCALLBACK_READ_HEADER_TIMEOUT + 30 s), past
// which no answer reaches the caller.
const ReadTimeout = 15 * time.Second

// readTimeout is ReadTimeout, which the tests lower.
var readTimeout = ReadTimeout

// readPingTimeout bounds readError's look at the store.
const readPingTimeout = 2 * time.Second

// readError is the answer to a read of the store under ctx (bounded by
// readTimeout) that failed: 503 when the store does not answer a ping either
// (PostgreSQL down or hung, the store closed), so a caller knows to try
// again, as the events API answers while the stream is out of reach; 503 too
// when the read ran out of its time while the store answers a ping (a read
// held by a lock), and when ctx was canceled (the admin listener's stop ends
// the requests still running, endAtStop: another replica, or this one once
// started again, answers; or the caller left, who reads no answer), as the
// events API answers; else the error itself, a 500.
func readError(ctx context.Context, store Store, err error) error {
	if errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled) {
		return echo.NewHTTPError(http.StatusServiceUnavailable,
			admin.CutShort(ctx)+", try again: "+err.Error()).SetInternal(err)
	}
	pingCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readPingTimeout)
	defer cancel()
	if pingErr := store.Ping(pingCtx); pingErr != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable,
			"the topic store is not reachable now, try again: "+pingErr.Error()).SetInternal(err)
	}
	if errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return echo.NewHTTPError(http.StatusServiceUnavailable,
			fmt.Sprintf("the topic store did not answer within %v, try again", readTimeout)).SetInternal(err)
	}
	return err
}
