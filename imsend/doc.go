// Package imsend calls a callback endpoint exactly as Tencent IM does: a
// Sender computes the query parameters, Sign and RequestTime like IM (with
// an injectable clock), sends over HTTP or straight into an http.Handler in
// memory, and a Result reads the answer. It also holds the catalogue's
// sample bodies, IM's retry and batch shapes, and a load runner.
//
// The imcallback binary's send command is built on it; tests use it
// through the imtest kit, which adds a loopback service.
//
//	s := imsend.Sender{URL: "http://127.0.0.1:8080/im/callback", AppID: "1400000000", Token: "t"}
//	res, err := s.Send(ctx, "C2C.CallbackBeforeSendMsg", body)
//	if err != nil {
//		return err // no answer (res is nil), or one that is not IM's envelope
//	}
//	if code, denied := res.Denied(); !denied || code != 120001 { … }
package imsend
