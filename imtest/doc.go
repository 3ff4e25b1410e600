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
// Use it in your own handlers' tests: Start runs the service with your
// module (examples/moderation's here), and Service.Send signs a callback
// as IM does, for the first app (SenderFor gives another app's Sender),
// failing the test on a transport error:
//
//	func TestFilter(t *testing.T) {
//		s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_MODERATION_WORDS=spam"}, moderation.Module)
//		body, err := imtest.SampleWith("C2C.CallbackBeforeSendMsg", map[string]any{
//			"MsgBody": []any{map[string]any{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": "buy spam"}}},
//		})
//		if err != nil {
//			t.Fatal(err)
//		}
//		res := s.Send(t, "C2C.CallbackBeforeSendMsg", body)
//		if code, denied := res.Denied(); !denied || code != 120001 {
//			t.Fatalf("not denied with 120001: %d %s", res.Status, res.Body)
//		}
//	}
//
// A before-handler that fails (an error, a panic, its deadline) is answered
// with the fallback decision, an allow unless IMCALLBACK_BEFORE_FALLBACK=deny,
// which reads as Allowed as the handler's own allow does: a test that
// expects an allow passes on a handler that fails as well. The service
// counts each, the outcome="fallback" series of imcallback_callbacks_total
// in s.Metrics(t), and logs it at error on stderr (go test shows it for a
// failed test, or with -v).
//
// A Sender of your own, imtest.Sender{URL: …, AppID: …, Token: …}, calls
// any other endpoint the same way; its Send takes a context and returns
// the transport error.
//
// Start stops the service in a t.Cleanup, which runs after the test's
// defers: a goroutine-leak check of the test itself (go.uber.org/goleak)
// belongs in goleak.VerifyTestMain, or in a t.Cleanup registered before
// Start, not in a defer, which would run while the service is still up.
// A check in a test's Cleanup sees every goroutine of the process: beside
// t.Parallel tests (their services still up, their tests waiting) it
// fails, so parallel tests leave the check to goleak.VerifyTestMain.
package imtest
