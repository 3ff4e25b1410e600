package topic

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/server"
)

// ListResponse is the body of GET /v1/topics.
type ListResponse struct {
	Topics []Topic `json:"topics"`
}

// Routes returns the read API for the admin listener:
//
//	GET /v1/topics?group_id=G[&include_deleted=true]  → {"topics":[…]}
//	GET /v1/topics/<TopicId, path-escaped>            → the topic, or 404
func Routes(store Store) []server.Route {
	return []server.Route{
		{Method: http.MethodGet, Path: "/v1/topics", Handler: func(c echo.Context) error {
			includeDeleted := false
			if v := c.QueryParam("include_deleted"); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return echo.NewHTTPError(http.StatusBadRequest, "include_deleted must be true or false")
				}
				includeDeleted = b
			}
			topics, err := store.List(c.Request().Context(), ListFilter{GroupID: c.QueryParam("group_id"), IncludeDeleted: includeDeleted})
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, ListResponse{Topics: topics})
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
