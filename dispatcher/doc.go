// Package dispatcher routes a verified Tencent IM callback to the command
// registered for its CallbackCommand and turns the handler's result into the
// protocol's answer.
//
// Handlers are written with a command's typed descriptor, whose Handle
// method builds the Command: the catalogue's (c2c.BeforeSendMsgCommand and
// the others of the command packages), or, for a command the catalogue
// lacks, one of NewBeforeCommand or NewAfterCommand (Before and After do
// both in one call). A handler receives a typed *Event[T] and never
// type-asserts a payload, and answers with its descriptor's verbs (Allow,
// DenyWithCode, Modify …).
// Commands reach the dispatcher only through the fx value group "commands"
// (see AsCommand); there is no global registry.
//
// After-callbacks are handed to an AfterSink. Without one, they run inline
// and their error is answered with a FAIL envelope; a durable sink stores
// them first and runs them later through Dispatcher.Process, with the same
// handler code. This package knows nothing about SQL or NATS.
package dispatcher
