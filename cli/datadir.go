package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/filelock"
)

// dataDirLockName is the file in the data directory whose lock a running
// serve holds (see lockDataDir).
const dataDirLockName = "serve.lock"

// errDataDirInUse is serve's error on a data directory another serve holds.
var errDataDirInUse = errors.New("the data directory is in use by another imcallback serve")

// usesDataDir reports whether the service of cfg keeps a store in its data
// directory: the SQLite topic store (IMCALLBACK_STORE_DSN empty) or the
// embedded JetStream (durable delivery without IMCALLBACK_NATS_URL). With
// PostgreSQL and a NATS cluster it holds no more than the iplist cache,
// which its writes replace whole, and which several services may share.
func usesDataDir(cfg *config.Config) bool {
	return cfg.StoreDSN == "" || cfg.Delivery == config.DeliveryDurable && cfg.NATSURL == ""
}

// lockDataDir takes the data directory of cfg for this serve, before the
// service is built and anything in the directory opened: an exclusive lock
// on dataDirLockName, which release gives back once the service has
// stopped. A second serve on the directory fails at once, naming it and
// the holder's pid: it opened the SQLite topic store, and ran its
// migrations, before the embedded JetStream's own lock refused it (with a
// newer binary, under the running older one), and with inline delivery
// nothing refused it at all. A data directory the service keeps no store
// in (usesDataDir) is not locked. Where flock(2) is missing (Windows)
// nothing is locked.
func lockDataDir(cfg *config.Config) (release func(), err error) {
	if !usesDataDir(cfg) {
		return func() {}, nil
	}
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%s %s: %w", config.EnvName("data_dir"), dir, err)
	}
	path := filepath.Join(dir, dataDirLockName)
	lock, err := filelock.Try(path)
	if errors.Is(err, filelock.ErrLocked) {
		holder := ""
		if pid := holderPid(path); pid > 0 {
			holder = fmt.Sprintf(" (pid %d)", pid)
		}
		return nil, fmt.Errorf("%w%s: %s %s (its lock %s is held); this one left the stores there untouched. "+
			"Stop the other one first, or give each service a data directory of its own",
			errDataDirInUse, holder, config.EnvName("data_dir"), dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: lock: %w", config.EnvName("data_dir"), dir, err)
	}
	// The pid is only said in the error of another serve: a write that
	// fails leaves the lock held all the same.
	_ = os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	return lock.Release, nil
}

// holderPid is the pid the holder of the lock at path wrote in it, 0 if
// none can be read.
func holderPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 32 {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
