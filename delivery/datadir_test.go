package delivery_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/delivery"
)

// TestEmbeddedStoreDirErrorNamesTheVariable: when the embedded server
// cannot use its data directory (a file in its way, its jetstream
// directory a file), the error names IMCALLBACK_DATA_DIR, which sets it,
// and the directory, so the operator knows what to change. (Files stand in
// for an unwritable directory, which the tests' root user could write.)
func TestEmbeddedStoreDirErrorNamesTheVariable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the data directory
	}{
		{"the directory is a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "data")
			writeFile(t, p)
			return p
		}},
		{"a file where its parent should be", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			writeFile(t, p)
			return filepath.Join(p, "data")
		}},
		{"its lock file is a directory", func(t *testing.T) string {
			p := t.TempDir()
			if err := os.Mkdir(filepath.Join(p, "jetstream.lock"), 0o750); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"its jetstream directory is a file", func(t *testing.T) string {
			p := t.TempDir()
			writeFile(t, filepath.Join(p, "jetstream"))
			return p
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := delivery.DefaultOptions()
			o.StoreDir = tc.setup(t)
			c, err := delivery.Connect(context.Background(), o, zap.NewNop())
			if err == nil {
				c.Close(context.Background())
				t.Fatal("connected, want an error")
			}
			for _, want := range []string{"IMCALLBACK_DATA_DIR", o.StoreDir} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedTakenListenPortNamesNATSListen: a client port another
// process listens on stops the embedded server's start with an error
// naming IMCALLBACK_NATS_LISTEN and the address, which are what the
// operator changes; it was reported as a problem of IMCALLBACK_DATA_DIR,
// whose directory was fine.
func TestEmbeddedTakenListenPortNamesNATSListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o := delivery.DefaultOptions()
	o.StoreDir = t.TempDir()
	o.Listen = ln.Addr().String()
	c, err := delivery.Connect(context.Background(), o, zap.NewNop())
	if err == nil {
		c.Close(context.Background())
		t.Fatal("connected on a taken port, want an error")
	}
	for _, want := range []string{"IMCALLBACK_NATS_LISTEN", o.Listen} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "IMCALLBACK_DATA_DIR") {
		t.Errorf("error %q blames IMCALLBACK_DATA_DIR, which is fine", err)
	}
}
