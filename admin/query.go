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
//
// An empty value is the same as an absent one, so a parameter given more
// than once with one value at most that is not empty (limit=&limit=5) is
// taken: CheckQuery removes its empty values from q, keeping one when all
// are, so that q.Get (echo's QueryParam, which reads the same cached
// url.Values) reads the value given. pretty, whose presence counts, is
// not: given twice, it is refused as before.
func CheckQuery(q url.Values, known ...string) error {
	return CheckQueryWithEmpty(q, nil, known...)
}

// CheckQueryWithEmpty is CheckQuery for a route where an empty value of
// the parameters emptyIsValue is a value, not an absence (topicsync's
// sdk_app_id=, the topics stored before apps were kept): such a parameter
// given more than once is refused, whatever its values.
func CheckQueryWithEmpty(q url.Values, emptyIsValue []string, known ...string) error {
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // the first of several, whatever the map's order
	for _, name := range names {
		if name != pretty && !slices.Contains(known, name) {
			if len(known) == 0 {
				return echo.NewHTTPError(http.StatusBadRequest,
					fmt.Sprintf("unknown parameter %q: this route takes none", name))
			}
			return echo.NewHTTPError(http.StatusBadRequest,
				fmt.Sprintf("unknown parameter %q: this listing takes %s", name, strings.Join(known, ", ")))
		}
		if len(q[name]) < 2 {
			continue
		}
		if name == pretty || slices.Contains(emptyIsValue, name) {
			return givenTwice(name)
		}
		given := slices.DeleteFunc(slices.Clone(q[name]), func(v string) bool { return v == "" })
		switch len(given) {
		case 0:
			q[name] = []string{""}
		case 1:
			q[name] = given
		default:
			return givenTwice(name)
		}
	}
	return nil
}

// givenTwice is the 400 of a parameter given more than once.
func givenTwice(name string) error {
	return echo.NewHTTPError(http.StatusBadRequest, name+" is given more than once: give each parameter once")
}
