package delivery_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// BenchmarkAccept appends distinct events from parallel callers to the
// embedded server over the in-process connection, as concurrent HTTP
// requests do; ns/op is the throughput cost of one stored event.
func BenchmarkAccept(b *testing.B) { benchmarkAccept(b, nil) }

// BenchmarkAcceptForwarded is BenchmarkAccept in gateway mode: each event
// is stored as two copies, one for the Go handler and one for a forward
// destination.
func BenchmarkAcceptForwarded(b *testing.B) { benchmarkAccept(b, []string{"", "backend"}) }

func benchmarkAccept(b *testing.B, targets []string) {
	o := delivery.DefaultOptions()
	o.StoreDir = b.TempDir()
	s, err := delivery.New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Stop(ctx); err != nil {
			b.Error(err)
		}
	}()
	params := protocol.Params{SdkAppid: "1400000000", CallbackCommand: "Group.CallbackAfterCreateTopic",
		ContentType: "json", ClientIP: "10.0.0.1", OptPlatform: "Web", Sign: "x", RequestTime: "1700000000"}
	var n atomic.Int64
	b.SetParallelism(16) // many requests in flight, as under HTTP load
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := &dispatcher.Request{
				Command: params.CallbackCommand,
				Params:  params,
				Body: fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#_bench",`+
					`"TopicId":"@TGS#_bench@TOPIC#_%d","Operator_Account":"admin","Type":"Community","Name":"bench"}`, n.Add(1)),
				ReceivedAt: time.Now(),
				Targets:    targets,
			}
			if err := s.Accept(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
