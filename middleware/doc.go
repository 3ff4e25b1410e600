// Package middleware holds the echo middleware of the callback endpoint and
// the order they run in.
//
// Each middleware follows echo's own style: an XxxConfig with a Skipper, a
// DefaultXxxConfig, and XxxWithConfig(cfg) returning an echo.MiddlewareFunc.
// Rejections are returned as *protocol.Error values and written by the one
// ErrorHandler as the protocol's JSON envelope.
//
// The chain is assembled from the fx value group "middleware": built-ins and
// users' middleware alike are Ordered values, and the chain runs them by
// their Order number, never by provide order (fx groups are unordered).
//
// The values the chain shares per request (ParamsOf's parsed query, the
// outcome of SetOutcome, a rejection's reason) live in the echo context's
// store; on the public listener, RequestState runs first and keeps them in
// fields of the context instead, without echo's per-request map.
package middleware
