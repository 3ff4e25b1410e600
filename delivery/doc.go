// Package delivery makes after-callbacks durable on NATS JetStream.
//
// A Service is a dispatcher.AfterSink: Accept appends the verified
// after-callback to a JetStream stream and returns only once JetStream has
// acknowledged the write, so the HTTP answer is OK only for a stored event.
// Workers on a durable pull consumer then run dispatcher.Process for each
// stored event, ack it on success, nak it with a backoff on failure and move
// it to a dead-letter stream after the last allowed delivery. The stream
// keeps every event for the retention period: it is the audit log that
// Events lists and replays.
//
// Layout, for Stream S and SubjectPrefix P:
//
//	stream S         subjects P.>        P.<SdkAppid>.<CallbackCommand>   (e.g. imcallback.1400000000.Group.CallbackAfterCreateTopic)
//	                 and P_probe         the readiness probe's writes, which the consumer does not read
//	stream S_DEAD    subjects P_dead.>   P_dead.<SdkAppid>.<CallbackCommand>
//	consumer         durable pull consumer on S, filter P.>, shared by every replica
//
// One message is one event: the raw body is the message data, and the
// headers carry the rest (see the Header constants): the command, the query
// parameters (Sign left out: it is derived from the token), the receive time
// and the request id. Nats-Msg-Id is 128 bits of the SHA-256 of the
// length-prefixed SdkAppid, command and body, and, when the body has no
// EventTime, the second the request was made in: its RequestTime, or
// unsigned the Unix second of its receive time (RequestMsgID). So a repeat
// of the same request inside the stream's duplicate window is acknowledged
// without being stored or processed again, while a body without EventTime
// that repeats for a new event in a later second (a topic renamed back) is
// stored; two in the same second are one event.
//
// The processing order for one delivery of one message:
//
//  1. a delivery past the limit (an earlier last attempt was interrupted)
//     goes straight to the dead-letter stream;
//  2. an undecodable message goes to the dead-letter stream (retrying cannot help);
//  3. dispatcher.Process runs under HandlerTimeout (panics come back as errors);
//  4. success → Ack; dispatcher.ErrNoHandler → Ack, counted as no_handler;
//     an error wrapping dispatcher.ErrDecode, ErrUnroutable or ErrPermanent
//     → dead letter at once, then Term (retrying cannot help);
//  5. a handler cut short because the shutdown timeout passed (the
//     service's own stop, not the handler's deadline) → Nak at once, so
//     another replica (or the next start) takes it, counted with outcome
//     interrupted and not as an attempt when this process delivers it again
//     (after a Pause, or a restart of the embedded server); a failure within
//     the shutdown's graceful window is handled as 6 and 7;
//  6. failure on the last allowed delivery → dead letter, then Term;
//  7. other failures → Nak with the Backoff delay of that delivery.
//
// The engine is an embedded nats-server with file storage under the data
// directory, reached in-process, unless Options.URL names a NATS cluster.
package delivery
