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
	Status int    // the HTTP status of the answer
	Code   int    // the envelope's ErrorCode: Status × 100 + a running number
	Reason string // a stable snake_case name ("bad_signature"), the metric label
	Info   string // the envelope's ErrorInfo, a short fixed text
	// When says, for the README's error-code table, when it is answered.
	When string
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

// The project's rejection codes. The README's "Error codes" table is
// generated from them (go generate ./protocol); a test fails when it is
// stale. Codes are HTTP status × 100 + a running number.
//
//go:generate go run ./internal/errtable ../README.md
var (
	ErrMalformedJSON = &Error{http.StatusBadRequest, 40001, "malformed_json", "request body is not a valid JSON object",
		"the body is not a JSON object, nests objects and arrays deeper than 64 levels, or names `CallbackCommand` twice (in any case)"}
	ErrMissingCommand = &Error{http.StatusBadRequest, 40002, "missing_command", "CallbackCommand is missing",
		"no `CallbackCommand` in the URL or body"}
	ErrCommandMismatch = &Error{http.StatusBadRequest, 40003, "command_mismatch", "CallbackCommand in body differs from the URL",
		"the body's `CallbackCommand` differs from the URL's"}
	ErrUnreadableBody = &Error{http.StatusBadRequest, 40004, "unreadable_body", "request body could not be read",
		"the body could not be read (the client stopped sending, or a read timeout)"}
	ErrBadRequest = &Error{http.StatusBadRequest, 40005, "bad_request", "malformed HTTP request",
		"net/http refused the request before any handler (a malformed request line or header), or a middleware of your own refused it with 400 (`echo.ErrBadRequest`; echo's key auth without a key)"}
	ErrMissingSign = &Error{http.StatusUnauthorized, 40101, "missing_signature", "Sign and RequestTime are required",
		"a token is configured and `Sign` or `RequestTime` is missing"}
	ErrBadSign = &Error{http.StatusUnauthorized, 40102, "bad_signature", "Sign does not match",
		"`Sign` matches none of the configured tokens"}
	ErrStaleRequest = &Error{http.StatusUnauthorized, 40103, "stale_request", "RequestTime is outside the allowed window",
		"`RequestTime` is outside ±`IMCALLBACK_SIGN_WINDOW` (or not a number)"}
	ErrUnauthorized = &Error{http.StatusUnauthorized, 40104, "unauthorized", "not authorized",
		"a middleware of your own refused the request with 401 (`echo.ErrUnauthorized`)"}
	ErrAppIDNotAllowed = &Error{http.StatusForbidden, 40301, "appid_not_allowed", "SdkAppid is missing or not allowed",
		"`SdkAppid` is missing or not an accepted app (`IMCALLBACK_SDKAPPID` and the `apps` entries)"}
	ErrIPNotAllowed = &Error{http.StatusForbidden, 40302, "ip_not_allowed", "source address is not allowed",
		"the source address is outside the app's allowlist (`IMCALLBACK_ALLOW_CIDRS`, the app's `allow_cidrs`, or Tencent's published addresses with `iplist`), or a trusted proxy's forwarding header holds an entry that is no address"}
	ErrForbidden = &Error{http.StatusForbidden, 40303, "forbidden", "forbidden",
		"a middleware of your own refused the request with 403 (`echo.ErrForbidden`)"}
	ErrNotFound = &Error{http.StatusNotFound, 40401, "not_found", "not found",
		"another path"}
	ErrMethodNotAllowed = &Error{http.StatusMethodNotAllowed, 40501, "method_not_allowed", "method not allowed",
		"a method other than POST"}
	ErrBodyTooLarge = &Error{http.StatusRequestEntityTooLarge, 41301, "body_too_large", "request body is over the limit",
		"the body is over `IMCALLBACK_BODY_LIMIT` (checked on Content-Length and while reading; never truncated), or with durable delivery over what the stream keeps in one message: an external NATS server's `max_payload`, and at most 32 MiB, JetStream's file store's largest message, with the event's headers"}
	ErrHeaderTooLarge = &Error{http.StatusRequestHeaderFieldsTooLarge, 43101, "header_too_large", "request headers are over the limit",
		"the request's line and headers are over 64 KiB (65,536 bytes, the blank line that ends them included; the next request of a keep-alive connection may have up to 4 KiB more, the first bytes of it net/http reads to see it begin, before its limit applies); or, with durable delivery, the query parameters are too long for the stored event's headers, which NATS bounds at 64 KiB, with room for its dead letter's"}
	ErrExpectationFailed = &Error{http.StatusExpectationFailed, 41701, "expectation_failed", "unsupported Expect header",
		"an `Expect` header other than `100-continue` (net/http refuses it before any handler)"}
	ErrTooManyRequests = &Error{http.StatusTooManyRequests, 42901, "too_many_requests", "too many requests, try again later",
		"a middleware of your own refused the request with 429 (`echo.ErrTooManyRequests`), a rate limit say"}
	ErrInternal = &Error{http.StatusInternalServerError, 50001, "internal", "internal error",
		"a bug (a recovered panic outside a handler)"}
	ErrNotImplemented = &Error{http.StatusNotImplemented, 50101, "not_implemented", "unsupported transfer encoding",
		"a transfer encoding net/http does not implement"}
	ErrHTTPVersion = &Error{http.StatusHTTPVersionNotSupported, 50501, "http_version_not_supported", "HTTP version not supported",
		"a request line whose HTTP version net/http does not serve (e.g. `HTTP/3.0`)"}
	ErrUnavailable = &Error{http.StatusServiceUnavailable, 50301, "unavailable", "event could not be stored, try again",
		"durable delivery did not get the stream's acknowledgement in time: the event may or may not be stored (if it is, it is processed); nothing was acknowledged to IM"}
	ErrHandlerFailed = &Error{http.StatusServiceUnavailable, 50302, "handler_failed", "handler failed, try again",
		"inline delivery: the after-handler failed or missed `IMCALLBACK_INLINE_TIMEOUT`; IM may retry"}
	ErrServiceUnavailable = &Error{http.StatusServiceUnavailable, 50304, "service_unavailable", "service unavailable, try again",
		"a middleware of your own refused the request with 503 (`echo.ErrServiceUnavailable`), a load shedder say; the connection is closed"}
	ErrTooManyConns = &Error{http.StatusServiceUnavailable, 50303, "too_many_connections", "too many connections, try again",
		"the public listener already holds `IMCALLBACK_MAX_CONNS` connections; the connection is answered and closed"}
)

// AllErrors lists every rejection in code order, for documentation (the
// README's error-code table) and tests.
func AllErrors() []*Error {
	return []*Error{
		ErrMalformedJSON, ErrMissingCommand, ErrCommandMismatch, ErrUnreadableBody, ErrBadRequest,
		ErrMissingSign, ErrBadSign, ErrStaleRequest, ErrUnauthorized,
		ErrAppIDNotAllowed, ErrIPNotAllowed, ErrForbidden, ErrNotFound, ErrMethodNotAllowed,
		ErrBodyTooLarge, ErrExpectationFailed, ErrTooManyRequests, ErrHeaderTooLarge,
		ErrInternal, ErrNotImplemented, ErrUnavailable, ErrHandlerFailed, ErrTooManyConns, ErrServiceUnavailable,
		ErrHTTPVersion,
	}
}
