// Package imtest is imcallback's test kit: a loopback service (Start), the
// filesystem helpers of the fault tests, FreeAddr (a loopback port for a
// server a test starts, or restarts, later), and, from package imsend, a
// Sender that calls a callback
// endpoint exactly as Tencent IM does (query parameters, Sign and
// RequestTime computed like IM, an injectable clock), over HTTP or straight
// into an http.Handler in memory, and a Result that reads the answer.
//
// Start fails the test on a configuration it cannot mean (an env entry
// that sets nothing) and puts what the service warns about as it starts in
// the test's log, hidden otherwise by the service's log level; Start's doc
// says which is which, and why.
//
// Use it in your own handlers' tests:
//
//	s := imtest.Sender{URL: srv.URL + "/im/callback", AppID: "1400000000", Token: "t"}
//	res, err := s.Send(ctx, "C2C.CallbackBeforeSendMsg", body)
//	if code, denied := res.Denied(); !denied || code != 120001 { … }
package imtest
