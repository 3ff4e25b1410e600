package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// closeUnreadBody wraps the public listener's error handler. A request
// refused before its body was read (unsigned, a foreign SdkAppid, another
// path …) is answered with Connection: close, and what is left of its body
// gets grace to arrive before the connection closes. Otherwise net/http
// reads the rest of the body before it writes the answer, to keep the
// connection: a client that sends the headers of a signed-looking request
// and then nothing held its connection, and a place under
// IMCALLBACK_MAX_CONNS, until the read timeout (ReadHeaderTimeout + 30 s),
// and got its answer only then, if at all.
func closeUnreadBody(next echo.HTTPErrorHandler, grace time.Duration) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Request().ContentLength != 0 && !c.Response().Committed && refusedUnread(err) {
			c.Response().Header().Set(echo.HeaderConnection, "close")
			// Bounds net/http's discarding of the rest after the answer. In
			// memory (a test's recorder) there is no connection to bound.
			_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now().Add(grace))
			// The stop closes it meanwhile: nothing of it was acted on.
			markRefusedUnread(c.Request())
		}
		next(err, c)
	}
}

// refusedUnread reports whether err is a rejection answered before the
// body is read, or partly read (over the limit; a panic, wherever it was;
// a middleware of the user's refusing with 400, 401, 403, 429 or 503,
// which runs before the dispatcher reads the body, or, for a 503, perhaps
// after it: the connection of a service shedding load is closed either
// way). The others (malformed JSON, a store that is unavailable …) come
// after the whole body was read, and keep the connection, as IM expects.
func refusedUnread(err error) bool {
	switch middleware.AsProtocolError(err) {
	case protocol.ErrNotFound, protocol.ErrMethodNotAllowed, protocol.ErrIPNotAllowed, protocol.ErrAppIDNotAllowed,
		protocol.ErrMissingSign, protocol.ErrBadSign, protocol.ErrStaleRequest, protocol.ErrBodyTooLarge, protocol.ErrInternal,
		protocol.ErrBadRequest, protocol.ErrUnauthorized, protocol.ErrForbidden, protocol.ErrTooManyRequests,
		protocol.ErrServiceUnavailable:
		return true
	}
	return false
}
