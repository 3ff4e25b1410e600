package tracing

import "go.opentelemetry.io/otel/attribute"

// The attributes of the service's spans, in one place so that every span
// names the same thing the same way. None holds the Sign, a token, the
// query string or a body.
const (
	// The request's span (middleware).
	AttrMethod  = attribute.Key("http.request.method")
	AttrRoute   = attribute.Key("url.path")
	AttrStatus  = attribute.Key("http.response.status_code")
	AttrApp     = attribute.Key("imcallback.app_id")
	AttrRequest = attribute.Key("imcallback.request_id")
	AttrOutcome = attribute.Key("imcallback.outcome") // also a delivery's, as imcallback_delivery_processed_total counts it
	AttrReason  = attribute.Key("imcallback.rejection_reason")

	// Every span of a callback: its CallbackCommand.
	AttrCommand = attribute.Key("imcallback.command")

	// The before-handler's span (dispatcher).
	AttrDecision  = attribute.Key("imcallback.decision")
	AttrErrorCode = attribute.Key("imcallback.error_code")

	// The append and delivery spans (durable delivery).
	AttrDestination = attribute.Key("imcallback.destination")
	AttrSeq         = attribute.Key("imcallback.seq")
	AttrDelivery    = attribute.Key("imcallback.delivery")

	// The topic store's spans.
	AttrTopic = attribute.Key("imcallback.topic_id")
)
