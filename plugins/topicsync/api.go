package topicsync

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/admin"
)

// ListResponse is the body of GET /v1/topics: one page of topics, and
// the cursor of the next page ("" on the last one).
type ListResponse struct {
	Topics     []Topic `json:"topics"`
	NextCursor string  `json:"next_cursor"`
}

// Page sizes of GET /v1/topics.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// EncodeCursor is the opaque cursor of the page after p.
func EncodeCursor(p *Position) string {
	if p == nil {
		return ""
	}
	raw := strconv.FormatInt(p.CreatedAt.UnixMicro(), 10) + "|" + p.TopicID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ErrBadCursor reports a cursor EncodeCursor did not make.
var ErrBadCursor = errors.New("topic: cursor is not one this API returned")

// The range of a cursor's time, in microseconds since 1970.
var (
	minCursorMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// DecodeCursor reads a cursor of EncodeCursor; "" is the first page (nil).
func DecodeCursor(cursor string) (*Position, error) {
	if cursor == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, ErrBadCursor
	}
	micros, id, ok := strings.Cut(string(raw), "|")
	us, err := strconv.ParseInt(micros, 10, 64)
	// A time outside what both stores hold (years 1 to 9999) was no store's.
	if !ok || err != nil || id == "" || us < minCursorMicros || us > maxCursorMicros || checkText(id) != nil {
		return nil, ErrBadCursor
	}
	return &Position{CreatedAt: time.UnixMicro(us).UTC(), TopicID: id}, nil
}

// ListPage returns the page of f (f.Limit topics after f.After; all of
// them when f.Limit is 0) and the cursor of the next page, "" when this
// page is the last.
func ListPage(ctx context.Context, store Store, f ListFilter) (ListResponse, error) {
	want := f.Limit
	if want > 0 {
		f.Limit = want + 1 // one more tells whether another page follows
	}
	topics, err := store.List(ctx, f)
	if err != nil {
		return ListResponse{}, err
	}
	res := ListResponse{Topics: topics}
	if want > 0 && len(topics) > want {
		res.Topics = topics[:want]
		res.NextCursor = EncodeCursor(PositionOf(topics[want-1]))
	}
	return res, nil
}

// Routes returns the read API for the admin listener:
//
//	GET /v1/topics?group_id=G[&include_deleted=true][&limit=N][&cursor=C]  → {"topics":[…],"next_cursor":"…"}
//	GET /v1/topics/<TopicId, path-escaped>            → the topic, or 404
func Routes(store Store) []admin.Route {
	return []admin.Route{
		{Method: http.MethodGet, Path: "/v1/topics", Handler: func(c echo.Context) error {
			includeDeleted := false
			if v := c.QueryParam("include_deleted"); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return echo.NewHTTPError(http.StatusBadRequest, "include_deleted must be true or false")
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
			page, err := ListPage(c.Request().Context(), store, ListFilter{
				GroupID: c.QueryParam("group_id"), IncludeDeleted: includeDeleted, After: after, Limit: limit,
			})
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, page)
		}},
		{Method: http.MethodGet, Path: "/v1/topics/:id", Handler: func(c echo.Context) error {
			id := c.Param("id")
			if c.Request().URL.RawPath != "" { // echo routed on the escaped path
				unescaped, err := url.PathUnescape(id)
				if err != nil {
					return echo.NewHTTPError(http.StatusBadRequest, "topic id is not a valid path-escaped string")
				}
				id = unescaped
			}
			if checkIDs(id) != nil { // no store holds such an id
				return echo.NewHTTPError(http.StatusNotFound, "topic not found")
			}
			t, err := store.Get(c.Request().Context(), id)
			if errors.Is(err, ErrNotFound) {
				return echo.NewHTTPError(http.StatusNotFound, "topic not found")
			}
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, t)
		}},
	}
}
