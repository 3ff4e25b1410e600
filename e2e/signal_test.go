package e2e_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
)

// TestSIGTERMExitsZero runs the real binary, serves Tencent's AfterCreateTopic sample,
// then sends SIGTERM: the process drains, logs its stop and exits 0.
func TestSIGTERMExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t, "./cmd/imcallback")
	p := startProcess(t, bin, []string{
		"IMCALLBACK_SDKAPPID=" + imtest.AppID, "IMCALLBACK_TOKENS=" + imtest.Token,
		"IMCALLBACK_DATA_DIR=" + t.TempDir(),
	}, true)
	sample, err := os.ReadFile("../plugins/topicsync/testdata/after_create_topic_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	s := &imtest.Sender{URL: p.public + "/im/callback", AppID: imtest.AppID, Token: imtest.Token, Client: client}
	if res, err := s.Send(t.Context(), "Group.CallbackAfterCreateTopic", sample); err != nil || !res.OK() {
		t.Fatalf("%v %+v", err, res)
	}
	if err := p.stop(20 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.output())
	}
	if out := p.output(); !strings.Contains(out, `"msg":"stopped","listener":"public"`) {
		t.Fatalf("no clean stop in the log:\n%s", out)
	}
}
