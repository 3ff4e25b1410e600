package forward_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
)

// BenchmarkBefore compares a before-callback decided by a Go handler with
// the same callback forwarded to a local destination that allows at once:
// the request over loopback, 8 senders in parallel. The share in the
// closing note and docs/performance.md is go_handler's ns/op over
// forwarded's.
func BenchmarkBefore(b *testing.B) {
	dest := newDest(nil, func(w http.ResponseWriter, _ int) {
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
	})
	defer dest.Close()
	body := mustSample(b, beforeCommand)
	goHandler := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return c2c.BeforeSendMsgCommand.Handle(func(context.Context, *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
			return c2c.BeforeSendMsgCommand.Allow(), nil
		})
	}))
	for _, bc := range []struct {
		name string
		env  []string
		opts []fx.Option
	}{
		{"go_handler", nil, []fx.Option{goHandler}},
		{"forwarded", []string{"IMCALLBACK_FORWARD_URL=" + dest.URL, "IMCALLBACK_FORWARD_SECRET=" + secret,
			"IMCALLBACK_FORWARD_MATCH=" + beforeCommand}, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := imtest.Start(b, append([]string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_LOG_LEVEL=error"}, bc.env...), bc.opts...)
			b.SetParallelism(4) // with GOMAXPROCS 2: 8 senders
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := s.Sender.Send(context.Background(), beforeCommand, body)
					if err != nil || res.Status != http.StatusOK || res.Header.Get("Content-Type") == "" {
						b.Errorf("answered %v %v", res, err)
						return
					}
				}
			})
		})
	}
}
