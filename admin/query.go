package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// pretty is the query parameter echo reads itself: ?pretty indents a JSON
// answer. Every route takes it.
const pretty = "pretty"

// CheckQuery refuses, with a 400 naming the parameter, a query that holds
// a parameter the route does not read or gives one more than once. A
// listing that ignored them would answer a misspelt filter (app_id for
// app) with everything, and a parameter given twice (a script appending
// &cursor=<next> to the previous page's URL) with the first value's page
// again: a 200 that looks right. known lists what the route reads (none
// for one event's); pretty (echo's) is always allowed.
func CheckQuery(q url.Values, known ...string) error {
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // the first of several, whatever the map's order
	for _, name := range names {
		switch {
		case name != pretty && !slices.Contains(known, name):
			if len(known) == 0 {
				return echo.NewHTTPError(http.StatusBadRequest,
					fmt.Sprintf("unknown parameter %q: this route takes none", name))
			}
			return echo.NewHTTPError(http.StatusBadRequest,
				fmt.Sprintf("unknown parameter %q: this listing takes %s", name, strings.Join(known, ", ")))
		case len(q[name]) > 1:
			return echo.NewHTTPError(http.StatusBadRequest, name+" is given more than once: give each parameter once")
		}
	}
	return nil
}
