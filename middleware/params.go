package middleware

import (
	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/protocol"
)

const paramsKey = "imcallback.params"

// ParamsOf returns the request's callback parameters, parsing the query
// string on first use and caching the result on the echo context, so the
// middleware chain and the dispatcher parse it once per request.
func ParamsOf(c echo.Context) *protocol.Params {
	if p, ok := c.Get(paramsKey).(*protocol.Params); ok {
		return p
	}
	p := protocol.ParseParams(c.Request().URL.RawQuery)
	c.Set(paramsKey, &p)
	return &p
}
