// Package drain reads and closes the body of an HTTP answer whose status
// has decided the call, within a bound of bytes and of time: a short body
// that comes with the headers is read to its end, so that the client keeps
// the connection for the next request; a longer one, or one that trickles
// or never ends, is left and its connection closed, instead of holding the
// call until its timeout. The gateway's clients and the IM REST client
// share it.
package drain

import (
	"context"
	"io"
	"time"
)

// Body reads what is left of body, at most most bytes and for at most
// within, cutting a slow one short with cancel (the cancel of its
// request's context), and closes it. The body of a 101 Switching Protocols
// is the upgraded connection itself, which Go hands to the caller out of
// reach of the request's context: it is closed at once, unread (reading it
// would wait until the other end closed it, past any timeout).
func Body(body io.ReadCloser, cancel context.CancelFunc, most int64, within time.Duration) {
	if _, upgraded := body.(io.Writer); upgraded {
		body.Close()
		return
	}
	t := time.AfterFunc(within, cancel)
	defer t.Stop()
	// One byte more than the bound tells a body of most bytes, read to its
	// end, from a longer one.
	_, _ = io.Copy(io.Discard, io.LimitReader(body, most+1))
	body.Close()
}
