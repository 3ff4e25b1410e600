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
//  1. an event of a command PauseCommand holds back is given back (a Nak
//     delayed by HoldRecheck), not counted as an attempt;
//  2. a delivery past the limit (an earlier last attempt was interrupted,
//     its dead letter's write failed in another process, or the deliveries
//     a per-command pause gave back were counted by a process that did not
//     give them back: after a restart, another replica), or of an event
//     whose dead letter could not be stored (its error kept in this
//     process's memory), goes straight to the dead-letter stream; past the
//     limit, its letter is looked for first: one that failed write stored
//     all the same (its acknowledgement lost) is not stored twice;
//     one this process dead-lettered whose Term was lost is terminated
//     again, its dead letter a duplicate;
//  3. an undecodable message goes to the dead-letter stream (retrying cannot help);
//  4. dispatcher.Process runs under HandlerTimeout (panics come back as errors);
//  5. success → Ack; dispatcher.ErrNoHandler → Ack, counted as no_handler;
//     an error wrapping dispatcher.ErrDecode, ErrUnroutable or ErrPermanent
//     → dead letter at once, then Term (retrying cannot help);
//  6. a handler cut short because the shutdown timeout passed (the
//     service's own stop, not the handler's deadline) → Nak at once, so
//     another replica (or the next start) takes it, counted with outcome
//     interrupted and not as an attempt when this process delivers it again
//     (after a Pause, or a restart of the embedded server); a failure within
//     the shutdown's graceful window is handled as 7 and 8;
//  7. failure on the last allowed delivery → dead letter, then Term;
//  8. other failures → Nak with the Backoff delay of that delivery, or,
//     once three quarters of the consumer's window (MaxAckPending) are
//     held, dead letter at once, then Term.
//
// A dead letter the dead-letter stream does not store is no Term: the
// event is nakked, with the Backoff counted from its first delay, and its
// next delivery in this process dead-letters it with the kept error (2),
// unless it was shed from a full window (8): that one is attempted again.
//
// The engine is an embedded nats-server with file storage under the data
// directory, reached in-process, unless Options.URL names a NATS cluster.
package delivery
