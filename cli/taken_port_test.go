package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/plugins/topicsync"
)

// TestATakenPortStopsServeBeforeItTouchesTheData: serve on an address
// another process listens on (the public listener's, the admin
// listener's, the embedded NATS server's) fails naming the setting and
// what to do, as before, but now before the start has created the data
// directory, set JetStream's streams up in it and migrated the topic
// store: the listeners bound last, so a second instance started by
// mistake (or a new version while the old one still runs) created a
// stray ./data, or migrated the store another process uses, only to fail.
// A misspelt variable and an empty one, often why the address is the one
// taken (the default's), are noted after the error, as the start's log
// said them.
func TestATakenPortStopsServeBeforeItTouchesTheData(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, setting := range []string{"IMCALLBACK_LISTEN", "IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_NATS_LISTEN"} {
		t.Run(setting, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			for _, kv := range []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS=secret",
				"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0", "IMCALLBACK_DATA_DIR=" + data,
				"IMCALLBACK_DELIVERY=durable", "IMCALLBACK_LOG_LEVEL=error",
				"GOGC=100", "GOMEMLIMIT=off", // serve leaves the test binary's collector alone (tuneGC)
				"IMCALLBACK_LISTN=127.0.0.1:0", "IMCALLBACK_PATH=",
				setting + "=" + busy.Addr().String()} {
				name, value, _ := strings.Cut(kv, "=")
				t.Setenv(name, value)
			}
			// A serve that starts runs until the context ends, and its nil
			// error fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out bytes.Buffer
			root := newRootCmd(&out, &out, topicsync.Module)
			root.SetArgs([]string{"serve"})
			err := root.ExecuteContext(ctx)
			if err == nil || !strings.Contains(err.Error(), setting) || !strings.Contains(err.Error(), "another process listens there") {
				t.Fatalf("serve: %v; want an error naming %s and saying another process listens there\n%s", err, setting, out.String())
			}
			for _, note := range []string{"\nnote: IMCALLBACK_LISTN is not a setting; did you mean IMCALLBACK_LISTEN?",
				"\nnote: IMCALLBACK_PATH is set but empty"} {
				if !strings.Contains(err.Error(), note) {
					t.Errorf("serve: %v; want it to note %q", err, note)
				}
			}
			if left, _ := os.ReadDir(data); len(left) > 0 || fileExists(data) {
				var names []string
				for _, e := range left {
					names = append(names, e.Name())
				}
				t.Errorf("the failed start left the data directory behind, holding %q", names)
			}
		})
	}
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
