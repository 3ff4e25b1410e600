package e2e_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
)

// loadConcurrency is the number of client connections of the load run.
const loadConcurrency = 64

// runID keeps topic ids unique across benchmark runs on one database.
var runID = time.Now().UnixNano()

// BenchmarkHTTPLoad sends Group.CallbackAfterCreateTopic requests shaped like Tencent's sample
// requests with unique topic ids from 64 keep-alive connections to the real
// binary, one sub-benchmark per configuration, in the same run as the bare
// echo baseline. b.N is the number of requests: run it with a fixed count,
// e.g. -benchtime 20000x. It reports req/s and p50/p99 latency in ms.
func BenchmarkHTTPLoad(b *testing.B) {
	bin := buildBinary(b, "./cmd/imcallback")
	baseline := buildBinary(b, "./bench/echo")
	common := []string{"IMCALLBACK_SDKAPPID=" + imtest.AppID, "IMCALLBACK_TOKENS=" + imtest.Token, "IMCALLBACK_LOG_LEVEL=warn"}
	configs := []struct {
		name   string
		bin    string
		env    []string
		admin  bool
		needPG bool
	}{
		{name: "baseline-bare-echo", bin: baseline},
		{name: "inline-sqlite", bin: bin, env: []string{"IMCALLBACK_DELIVERY=inline"}, admin: true},
		{name: "inline-postgres", bin: bin, env: []string{"IMCALLBACK_DELIVERY=inline"}, admin: true, needPG: true},
		{name: "durable-sqlite", bin: bin, env: []string{"IMCALLBACK_DELIVERY=durable"}, admin: true},
	}
	var counter atomic.Int64
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			env := append(append([]string{}, common...), c.env...)
			env = append(env, "IMCALLBACK_DATA_DIR="+b.TempDir())
			if c.needPG {
				dsn := os.Getenv("IMCALLBACK_TEST_POSTGRES_DSN")
				if dsn == "" {
					b.Skip("set IMCALLBACK_TEST_POSTGRES_DSN to include the PostgreSQL store in the load run")
				}
				env = append(env, "IMCALLBACK_STORE_DSN="+dsn)
			}
			p := startProcess(b, c.bin, env, c.admin)
			sender := &imtest.Sender{URL: p.public + "/im/callback", AppID: imtest.AppID, Token: imtest.Token}
			b.ResetTimer()
			rep, err := sender.Run(b.Context(), imtest.Load{
				Command:     "Group.CallbackAfterCreateTopic",
				Requests:    b.N,
				Concurrency: loadConcurrency,
				Body: func(int) []byte {
					n := counter.Add(1)
					return fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#2J4SZEAEL",`+
						`"TopicId":"@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_bench-%d-%d","Operator_Account":"group_root","Owner_Account":"leckie",`+
						`"Type":"Community","Name":"MyFirstTopic","UserDefinedDataList":[{"Key":"UserDefined1","Value":"hello"},`+
						`{"Key":"UserDefined2","Value":"world"}]}`, runID, n)
				},
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if rep.Failures > 0 {
				b.Fatalf("%s: %s (first: %s)\n%s", c.name, rep, rep.FirstError, p.output())
			}
			b.ReportMetric(rep.RPS, "req/s")
			b.ReportMetric(float64(rep.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(rep.P99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(0, "ns/op") // wall time per request is not meaningful under concurrency
			if err := p.stop(30 * time.Second); err != nil {
				b.Errorf("%s did not stop cleanly: %v\n%s", c.name, err, p.output())
			}
		})
	}
}
