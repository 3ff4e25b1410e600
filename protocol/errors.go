package protocol

import (
	"fmt"
	"net/http"
)

// Error is a rejection of a callback request: the HTTP status, the project
// error code placed in the envelope's ErrorCode, a stable reason used as a
// metric label, and the short text placed in ErrorInfo. It never carries
// text from internals.
type Error struct {
	Status int
	Code   int
	Reason string
	Info   string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d, code %d): %s", e.Reason, e.Status, e.Code, e.Info)
}

// Is makes errors.Is match two rejections with the same code, so a wrapped
// copy still matches its sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The project's rejection codes. The README's "Error codes" table lists them;
// keep the two in step. Codes are HTTP status × 100 + a running number.
var (
	ErrMalformedJSON    = &Error{http.StatusBadRequest, 40001, "malformed_json", "request body is not valid JSON"}
	ErrMissingCommand   = &Error{http.StatusBadRequest, 40002, "missing_command", "CallbackCommand is missing"}
	ErrCommandMismatch  = &Error{http.StatusBadRequest, 40003, "command_mismatch", "CallbackCommand in body differs from the URL"}
	ErrUnreadableBody   = &Error{http.StatusBadRequest, 40004, "unreadable_body", "request body could not be read"}
	ErrBadRequest       = &Error{http.StatusBadRequest, 40005, "bad_request", "malformed HTTP request"}
	ErrMissingSign      = &Error{http.StatusUnauthorized, 40101, "missing_signature", "Sign and RequestTime are required"}
	ErrBadSign          = &Error{http.StatusUnauthorized, 40102, "bad_signature", "Sign does not match"}
	ErrStaleRequest     = &Error{http.StatusUnauthorized, 40103, "stale_request", "RequestTime is outside the allowed window"}
	ErrAppIDNotAllowed  = &Error{http.StatusForbidden, 40301, "appid_not_allowed", "SdkAppid is missing or not allowed"}
	ErrIPNotAllowed     = &Error{http.StatusForbidden, 40302, "ip_not_allowed", "source address is not allowed"}
	ErrNotFound         = &Error{http.StatusNotFound, 40401, "not_found", "not found"}
	ErrMethodNotAllowed = &Error{http.StatusMethodNotAllowed, 40501, "method_not_allowed", "method not allowed"}
	ErrBodyTooLarge     = &Error{http.StatusRequestEntityTooLarge, 41301, "body_too_large", "request body is over the limit"}
	ErrHeaderTooLarge   = &Error{http.StatusRequestHeaderFieldsTooLarge, 43101, "header_too_large", "request headers are over the limit"}
	ErrInternal         = &Error{http.StatusInternalServerError, 50001, "internal", "internal error"}
	ErrNotImplemented   = &Error{http.StatusNotImplemented, 50101, "not_implemented", "unsupported transfer encoding"}
	ErrUnavailable      = &Error{http.StatusServiceUnavailable, 50301, "unavailable", "event could not be stored, try again"}
	ErrHandlerFailed    = &Error{http.StatusServiceUnavailable, 50302, "handler_failed", "handler failed, try again"}
	ErrTooManyConns     = &Error{http.StatusServiceUnavailable, 50303, "too_many_connections", "too many connections, try again"}
)

// AllErrors lists every rejection, for documentation and tests.
func AllErrors() []*Error {
	return []*Error{
		ErrMalformedJSON, ErrMissingCommand, ErrCommandMismatch, ErrUnreadableBody, ErrBadRequest,
		ErrMissingSign, ErrBadSign, ErrStaleRequest,
		ErrAppIDNotAllowed, ErrIPNotAllowed, ErrNotFound, ErrMethodNotAllowed,
		ErrBodyTooLarge, ErrHeaderTooLarge, ErrInternal, ErrNotImplemented,
		ErrUnavailable, ErrHandlerFailed, ErrTooManyConns,
	}
}
