package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// lateBodyAnswer is how long the answer to a request whose body was still
// arriving at the listener's read deadline has to be written.
const lateBodyAnswer = time.Second

// answerLateBody gives the answer to a request whose body's read timed out
// (the body still arriving when the listener's ReadTimeout, counted from
// the request's start, passed) lateBodyAnswer to be written. The
// listener's WriteTimeout, the same span counted from the end of the
// headers, passes at about the same moment: the answer (40004
// unreadable_body on the public listener) was logged and never sent, the
// connection closed without a word.
func answerLateBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &lateBody{ReadCloser: r.Body, rc: http.NewResponseController(w)}
		}
		next.ServeHTTP(w, r)
	})
}

// lateBody is a request's body that moves the answer's write deadline on
// once its read times out.
type lateBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

func (b *lateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// Not supported: no connection's deadline to move (a recorder).
		b.once.Do(func() { _ = b.rc.SetWriteDeadline(time.Now().Add(lateBodyAnswer)) })
	}
	return n, err
}
