package middleware

import (
	"errors"
	"fmt"
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
// error, as any other error is. So is a nil *protocol.Error or
// *echo.HTTPError returned as an error (a typed nil: a non-nil error
// holding a nil pointer), which has no status to send, and an error whose
// Unwrap or As panics (*echo.HTTPError's Unwrap does on a nil one): the
// error handler runs outside recover, where a panic drops the connection.
func AsProtocolError(err error) (mapped *protocol.Error) {
	defer func() {
		if recover() != nil {
			mapped = protocol.ErrInternal
		}
	}()
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe == nil || pe.Status < 400 || pe.Status > 599 {
			return protocol.ErrInternal
		}
		return pe
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && he != nil {
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

// errNoAnswer is the error of a request whose chain returned nil without
// answering: a middleware of the user's that neither called next nor
// wrote an answer. It is answered 500 internal, as another error of the
// user's is, rather than with net/http's empty 200, which IM would count
// as neither an answer nor a failure it can see.
var errNoAnswer = fmt.Errorf("%w: the middleware chain returned without an answer (a middleware that neither called next nor answered)", protocol.ErrInternal)

// answered is next's error, or errNoAnswer when next returned nil without
// sending an answer.
func answered(c echo.Context, err error) error {
	if err == nil && !c.Response().Committed {
		return errNoAnswer
	}
	return err
}
