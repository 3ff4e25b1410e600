package middleware

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/protocol"
)

// ErrorHandler writes every error of the public listener as the protocol's
// FAIL envelope with its HTTP status, and counts rejections by reason. A
// callback the dispatcher already counted as its command's outcome (a
// handler's failure, an event durable delivery could not store) is not
// counted again as a rejection. It logs nothing: the access log's one line
// per request carries the reason and, for a 5xx, the error. Internal error
// text is never sent.
func ErrorHandler(log *zap.Logger, m *metrics.Callbacks) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		pe := AsProtocolError(err)
		if _, counted := c.Get(outcomeKey).(string); !counted {
			m.Rejections.WithLabelValues(pe.Reason, m.AppLabel(ParamsOf(c).SdkAppid)).Inc()
		}
		body, _ := protocol.AppendEnvelope(make([]byte, 0, 96), protocol.StatusFail, pe.Code, pe.Info, nil)
		if c.Request().Method == http.MethodHead {
			err = c.NoContent(pe.Status)
		} else {
			err = c.Blob(pe.Status, echo.MIMEApplicationJSON, body)
		}
		if err != nil {
			log.Debug("writing the error answer failed", zap.Error(err))
		}
	}
}

// AsProtocolError maps any error of the request path to the rejection sent.
// A *protocol.Error is sent as it is when its Status is a refusal's, 4xx
// or 5xx; one of a middleware of the user's with another (none, a 200 that
// IM would read as a deny of a before-callback, a redirect) is an internal
// error, as any other error is.
func AsProtocolError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.Status < 400 || pe.Status > 599 {
			return protocol.ErrInternal
		}
		return pe
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return protocol.ErrNotFound
		case http.StatusMethodNotAllowed:
			return protocol.ErrMethodNotAllowed
		case http.StatusRequestEntityTooLarge:
			return protocol.ErrBodyTooLarge
		case http.StatusBadRequest: // a middleware of the user's: echo's key auth without a key, say
			return protocol.ErrBadRequest
		case http.StatusServiceUnavailable: // a middleware of the user's: a load shedder
			return protocol.ErrServiceUnavailable
		case http.StatusUnauthorized: // a middleware of the user's: key auth, say
			return protocol.ErrUnauthorized
		case http.StatusForbidden:
			return protocol.ErrForbidden
		case http.StatusTooManyRequests: // a rate limiter
			return protocol.ErrTooManyRequests
		}
	}
	return protocol.ErrInternal
}
